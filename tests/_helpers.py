"""Helpers the tests share (not fixtures): real face crops, clip builders, a fake SCRFD model, the public API.

Kept out of ``conftest.py`` so that tests import them by name, and out of
the package: users never need them.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import pkgutil
from pathlib import Path

import numpy as np

DATA = Path(__file__).parent / "data"


def load_real_faces() -> np.ndarray:
    """64x64 gray face crops of real photos shipped by insightface and scikit-image."""
    reference = np.load(DATA / "keras_mini_xception_reference.npz")
    keep = [i for i, kind in enumerate(reference["kinds"]) if str(kind).startswith("face")]
    return reference["images"][keep]


def astronaut_head() -> np.ndarray:
    """scikit-image's astronaut cropped to her head: 220 x 200 RGB, one face."""
    import skimage.data

    return np.ascontiguousarray(skimage.data.astronaut()[20:240, 130:330])


def render_figure(fig) -> np.ndarray:
    """Draw a matplotlib figure off screen; its RGBA pixels."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())


def make_face_clips(faces, n, *, n_frames, n_classes, stamp, seed, noise=10.0):
    """Clips of a real face with lighting and noise changes, stamped with class evidence.

    ``stamp(frames, label, rng)`` edits the float frames of one clip in place.
    """
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_classes, n)
    clips = np.empty((n, n_frames, 64, 64), np.float32)
    for i in range(n):
        base = faces[rng.integers(len(faces))].astype(np.float32)
        gains = rng.uniform(0.7, 1.1, n_frames)[:, None, None]
        clips[i] = base * gains + rng.normal(0, noise, (n_frames, 64, 64))
        stamp(clips[i], labels[i], rng)
    names = np.array(["angry", "happy", "sad", "surprise"])[:n_classes]
    return np.clip(clips, 0, 255).astype(np.uint8), names[labels]


def to_float(clips):
    """A real preprocessing step for pipelines: uint8 clips to float pixel values."""
    return np.asarray(clips, dtype=np.float32)


def bar_stamp(frames, label, rng):
    """Class evidence: a bright horizontal bar whose height encodes the class, in every frame."""
    row = 8 + 14 * label
    frames[:, row:row + 5, 8:56] = 255


def build_fake_scrfd(path, box, kps, *, score=0.9, input_size=(640, 640), stride=16,
                     with_kps=True) -> Path:
    """Write an ONNX model laid out like SCRFD whose outputs encode one face.

    ``box`` (x1, y1, x2, y2) and ``kps`` (5, 2) are in the network input's
    pixels (insightface letterboxes the frame into ``input_size`` at the
    top-left corner, scaled by ``det_scale``).
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    width, height = input_size
    n_anchors = 2
    box = np.asarray(box, np.float32)
    centre = (box[:2] + box[2:]) / 2
    arrays = {}
    kinds = (("score", 1), ("bbox", 4)) + ((("kps", 10),) if with_kps else ())
    for kind, size in kinds:
        for s in (8, 16, 32):
            arrays[f"{kind}_{s}"] = np.zeros(((height // s) * (width // s) * n_anchors, size), np.float32)
    # The anchor whose centre is nearest the face centre: rows run over
    # (y, x, anchor) with anchor centres at (x * stride, y * stride).
    gx, gy = int(round(centre[0] / stride)), int(round(centre[1] / stride))
    row = (gy * (width // stride) + gx) * n_anchors
    anchor = np.array([gx * stride, gy * stride], np.float32)
    arrays[f"score_{stride}"][row] = score
    arrays[f"bbox_{stride}"][row] = np.r_[anchor - box[:2], box[2:] - anchor] / stride
    if with_kps:
        arrays[f"kps_{stride}"][row] = ((np.asarray(kps, np.float32) - anchor) / stride).ravel()
    nodes, outputs = [], []
    for kind, _ in kinds:  # insightface reads outputs by position: all scores, all boxes, all kps
        for s in (8, 16, 32):
            name = f"{kind}_{s}"
            nodes.append(helper.make_node("Constant", [], [name],
                                          value=numpy_helper.from_array(arrays[name], name + "_value")))
            outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, list(arrays[name].shape)))
    graph = helper.make_graph(
        nodes, "fake_scrfd",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 3, "?", "?"])], outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return Path(path)


# ------------------------------------------------- frames that carry their index
# The index is drawn as a row of black/white blocks (one per bit) that survives
# lossy compression, so a test can tell exactly which source frame a decoded
# frame came from.
def index_frames(
    n: int, height: int = 80, width: int = 96, *, n_bits: int = 8, start: int = 0
) -> np.ndarray:
    """Make frames whose index is drawn as black/white blocks.

    The top half holds ``n_bits`` blocks side by side (most significant bit
    left, white = 1); the bottom half holds a mid-grey gradient that shifts
    with the index so that consecutive frames differ everywhere.

    Parameters
    ----------
    n : int
        Number of frames.
    height, width : int, default=80, 96
        Frame size; ``width`` should give blocks of >= 8 pixels.
    n_bits : int, default=8
        Bits drawn; indices are taken modulo ``2**n_bits``.
    start : int, default=0
        Index of the first frame.

    Returns
    -------
    frames : ndarray of shape (n, height, width, 3), dtype uint8
        RGB frames showing the indices ``start`` ... ``start + n - 1``.
    """
    frames = np.zeros((n, height, width, 3), dtype=np.uint8)
    bw = width // n_bits
    half = height // 2
    ramp = np.linspace(60, 190, width)
    for t in range(n):
        value = (start + t) % (2**n_bits)
        for b in range(n_bits):
            if (value >> (n_bits - 1 - b)) & 1:
                frames[t, :half, b * bw : (b + 1) * bw] = 255
        frames[t, half:] = np.roll(ramp, 3 * t)[None, :, None].astype(np.uint8)
        # Colour tint so RGB order mistakes are visible: red bar at the bottom.
        frames[t, height - 4 :, :, 0] = 220
        frames[t, height - 4 :, :, 1:] = 20
    return frames


def read_frame_index(frame: np.ndarray, *, n_bits: int = 8) -> int:
    """Recover the index drawn by :func:`index_frames`.

    Parameters
    ----------
    frame : ndarray of shape (H, W, 3), uint8
        Decoded frame, upright, same size as written.
    n_bits : int, default=8
        Bits drawn.

    Returns
    -------
    index : int
        The index drawn in the frame (modulo ``2**n_bits``).
    """
    height, width = frame.shape[:2]
    bw = width // n_bits
    half = height // 2
    # Block interiors only: compression smears edges by a few pixels.
    m = max(1, bw // 4)
    value = 0
    for b in range(n_bits):
        block = frame[m : half - m, b * bw + m : (b + 1) * bw - m]
        value = (value << 1) | int(block.mean() > 128)
    return value


# ------------------------------------------------------------------ the public API
# Public: the names in the ``__all__`` of a module whose dotted path has no
# ``_``-prefixed part, defined in that module, and the public methods and
# properties their classes define themselves.  A method that overrides a base
# class's (skorch's ``get_loss``, scikit-learn's ``set_params``...) keeps that
# base's documented contract.  tests/test_docstrings.py validates these
# objects' docstrings; tests/test_docs_build.py checks that the API reference
# renders every such module.
def public_modules() -> list[str]:
    """Dotted names of the package's modules with no ``_``-prefixed part."""
    import sk_emotion

    return [info.name for info in pkgutil.walk_packages(sk_emotion.__path__, "sk_emotion.")
            if not any(part.startswith("_") for part in info.name.split(".")[1:])]


def _overrides(cls: type, name: str) -> bool:
    return any(name in vars(base) for base in cls.__mro__[1:] if base is not object)


def public_objects() -> list[str]:
    """Dotted paths of the public classes, functions, methods and properties."""
    paths = []
    for module_name in public_modules():
        module = importlib.import_module(module_name)
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name, None)
            if not (inspect.isclass(obj) or inspect.isfunction(obj)) or obj.__module__ != module_name:
                continue
            paths.append(f"{module_name}.{name}")
            if not inspect.isclass(obj):
                continue
            for member, value in vars(obj).items():
                if member.startswith("_") or _overrides(obj, member):
                    continue
                if inspect.isfunction(value) or isinstance(value, (classmethod, staticmethod, property)):
                    paths.append(f"{module_name}.{name}.{member}")
    return sorted(set(paths))


def sha256_file(path) -> str:
    """Hex SHA-256 of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
