"""Face detectors behind one interface: MTCNN, insightface (SCRFD) models, user callables.

:class:`~sk_emotion.estimators.extractor.VideoFaceExtractor` accepts a
detector *specification* -- ``"mtcnn"``, ``"scrfd"``, the path of an ONNX
detection model, an insightface model-pack name, a callable, or a detector
object -- and :func:`make_detector` turns it into a :class:`FrameDetector`:
an object whose :meth:`~FrameDetector.detect_batch` maps RGB frames to
:class:`~sk_emotion.faces.mtcnn.Detections` (boxes, scores and the five
landmarks: left eye, right eye, nose, left and right mouth corner, "left"
meaning the smaller image x).

Every detector here is picklable and loads its model lazily, so a detector
can be sent to worker processes cheaply.  :attr:`FrameDetector.identity`
is a string that changes whenever the detector's output could change (model
file, thresholds, ...); the extractor's disk cache keys on it.

insightface models
------------------
SCRFD and the other insightface detection models are ONNX files run with
onnxruntime through insightface's own model zoo
(``insightface.model_zoo.get_model``), so insightface's decoding of the
network outputs is used unchanged.  insightface downloads its model packs
(``buffalo_l``, ``buffalo_s``, ``antelopev2``...) when it is online, into
``~/.insightface/models/<pack>/``; :class:`InsightFaceDetector` finds them
there (or under ``$INSIGHTFACE_HOME``) but never downloads anything.  Those
pretrained models are licensed for **non-commercial research use only**.
"""

from __future__ import annotations

import hashlib
import inspect
import os
import pickle
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from .mtcnn import Detections, MTCNNDetector

__all__ = [
    "CallableDetector",
    "FrameDetector",
    "InsightFaceDetector",
    "SCRFD_PACKS",
    "file_identity",
    "filter_detections",
    "find_insightface_model",
    "make_detector",
]

#: insightface model packs searched, in this order, for ``detector="scrfd"``;
#: each holds an SCRFD detector (``det_10g.onnx``, ``det_2.5g.onnx``,
#: ``det_500m.onnx``, ``scrfd_10g_bnkps.onnx``).
SCRFD_PACKS: tuple[str, ...] = ("buffalo_l", "buffalo_m", "buffalo_s", "buffalo_sc", "antelopev2")

_INSIGHTFACE_HOME_ENV = "INSIGHTFACE_HOME"


# ---------------------------------------------------------------- helpers
def file_identity(path: str | os.PathLike) -> str:
    """``"<absolute path>:<size>:<mtime_ns>"`` of a file: changes when the file does."""
    path = os.path.abspath(os.fspath(path))
    st = os.stat(path)
    return f"{path}:{st.st_size}:{st.st_mtime_ns}"


def filter_detections(dets: Detections, *, min_face_size: float = 0.0,
                      min_confidence: float | None = None) -> Detections:
    """Drop faces whose box's larger side is below ``min_face_size`` or whose score is too low."""
    if len(dets) == 0:
        return dets
    side = np.maximum(dets.boxes[:, 2] - dets.boxes[:, 0], dets.boxes[:, 3] - dets.boxes[:, 1])
    keep = side >= min_face_size
    if min_confidence is not None:
        keep &= dets.scores >= min_confidence
    if keep.all():
        return dets
    return Detections(dets.boxes[keep], dets.scores[keep], dets.landmarks[keep])


def _as_detections(boxes: Any, landmarks: Any, scores: Any = None, *, where: str) -> Detections:
    """Validate raw detector output and pack it into :class:`Detections`.

    ``boxes`` is (N, 4) or (N, 5) (last column = score); missing landmarks
    are NaN (the extractor then crops the box instead of aligning).
    """
    boxes = np.asarray(boxes if boxes is not None else np.zeros((0, 4)), dtype=np.float32)
    if boxes.size == 0:
        boxes = boxes.reshape(0, 4)
    if boxes.ndim != 2 or boxes.shape[1] not in (4, 5):
        raise ValueError(f"{where}: boxes must have shape (N, 4) or (N, 5), got {boxes.shape}")
    n = boxes.shape[0]
    if scores is None:
        scores = boxes[:, 4] if boxes.shape[1] == 5 else np.ones(n, np.float32)
    scores = np.asarray(scores, dtype=np.float32).reshape(-1)
    if scores.shape != (n,):
        raise ValueError(f"{where}: expected {n} scores, got shape {scores.shape}")
    if landmarks is None:
        landmarks = np.full((n, 5, 2), np.nan, np.float32)
    landmarks = np.asarray(landmarks, dtype=np.float32)
    if landmarks.size == 0 and n == 0:
        landmarks = landmarks.reshape(0, 5, 2)
    if landmarks.shape == (n, 10):
        landmarks = landmarks.reshape(n, 5, 2)
    if landmarks.shape != (n, 5, 2):
        raise ValueError(
            f"{where}: landmarks must have shape (N, 5, 2) matching {n} boxes, got {landmarks.shape}"
        )
    boxes = boxes[:, :4]
    finite = np.isfinite(boxes).all(axis=1) & (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    order = np.argsort(-scores[finite], kind="stable")
    return Detections(np.ascontiguousarray(boxes[finite][order]),
                      np.ascontiguousarray(scores[finite][order]),
                      np.ascontiguousarray(landmarks[finite][order]))


def _check_rgb(image: Any, name: str) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 \
            or image.dtype != np.uint8:
        shape = getattr(image, "shape", None)
        dtype = getattr(image, "dtype", type(image).__name__)
        raise ValueError(f"{name} must be an (H, W, 3) uint8 RGB image, got shape {shape} dtype {dtype}")
    return image


# ------------------------------------------------------------ insightface
def _insightface_root(root: str | os.PathLike | None) -> Path:
    if root is None:
        root = os.environ.get(_INSIGHTFACE_HOME_ENV, "~/.insightface")
    return Path(os.fspath(root)).expanduser()


def _onnx_output_count(path: Path) -> int:
    import onnx

    try:
        model = onnx.load_model(str(path), load_external_data=False)
    except Exception:  # not an ONNX file: not a detector
        return 0
    return len(model.graph.output)


def _detection_model_in(folder: Path) -> Path | None:
    """The detection model of an insightface pack folder (``det_*.onnx`` or ``scrfd*.onnx``)."""
    files = sorted(folder.glob("*.onnx"))
    named = [f for f in files if f.name.lower().startswith(("det_", "scrfd"))]
    for f in named + [f for f in files if f not in named]:
        # insightface routes ONNX files with >= 5 outputs to its detectors.
        if _onnx_output_count(f) >= 5:
            return f
    return None


def find_insightface_model(model: str | os.PathLike, root: str | os.PathLike | None = None) -> Path:
    """Locate an insightface detection model file, without downloading anything.

    Parameters
    ----------
    model : str or path-like
        An ONNX file; a folder holding one (an unpacked model pack); a pack
        name (``"buffalo_l"``, ``"antelopev2"``...) or ONNX file name under
        ``<root>/models``; or ``"scrfd"`` for the first pack of
        :data:`SCRFD_PACKS` found there.
    root : path-like, optional
        insightface's home folder; default ``$INSIGHTFACE_HOME`` or
        ``~/.insightface``.

    Returns
    -------
    pathlib.Path
        Absolute path of the ONNX detection model.

    Raises
    ------
    FileNotFoundError
        When nothing is found; the message lists the places tried and how
        to obtain the models.
    """
    text = os.fspath(model)
    models = _insightface_root(root) / "models"
    tried: list[str] = []
    direct = Path(text).expanduser()
    if direct.is_file():
        return direct.resolve()
    if direct.is_dir():
        found = _detection_model_in(direct)
        if found is not None:
            return found.resolve()
        tried.append(f"'{direct}' (folder without a detection model)")
    else:
        tried.append(f"'{direct}'")
    names = SCRFD_PACKS if text.lower() == "scrfd" else (text,)
    for name in names:
        for candidate in (models / name, models / f"{name}.onnx"):
            if candidate.is_file():
                return candidate.resolve()
            if candidate.is_dir():
                found = _detection_model_in(candidate)
                if found is not None:
                    return found.resolve()
            tried.append(f"'{candidate}'")
    raise FileNotFoundError(
        f"insightface detection model {text!r} not found; tried " + ", ".join(tried) + ". "
        "Pass the path of an SCRFD .onnx file, or let insightface download a pack while online "
        "(e.g. `python -c \"from insightface.app import FaceAnalysis; FaceAnalysis(name='buffalo_l')\"`), "
        f"or set ${_INSIGHTFACE_HOME_ENV}. Note: insightface's pretrained models are licensed "
        "for non-commercial research use only."
    )


class InsightFaceDetector(BaseEstimator):
    """An insightface detection model (SCRFD, RetinaFace) run with onnxruntime on CPU.

    The model is loaded with ``insightface.model_zoo.get_model(path,
    providers=["CPUExecutionProvider"])`` and prepared with
    ``prepare(ctx_id=-1, input_size=input_size, det_thresh=det_thresh)``;
    frames are converted from RGB to the BGR order insightface expects.
    insightface letterboxes every frame into ``input_size`` and maps boxes
    and keypoints back to frame pixels.

    Parameters
    ----------
    model : str or path-like, default="scrfd"
        ONNX file, unpacked pack folder, pack name or ``"scrfd"``; see
        :func:`find_insightface_model`.
    det_thresh : float, default=0.5
        Minimum face score.
    input_size : tuple of 2 ints, default=(640, 640)
        Network input (width, height); ignored by models with a fixed input.
    nms_thresh : float, default=0.4
        IoU threshold of insightface's non-maximum suppression.
    root : path-like, optional
        insightface's home folder (default ``$INSIGHTFACE_HOME`` or
        ``~/.insightface``).

    Notes
    -----
    insightface's pretrained models are for non-commercial research use
    only; check the licence of the file you use.  The loaded model is not
    pickled (each process reloads it on first use).
    """

    def __init__(self, model: str | os.PathLike = "scrfd", *, det_thresh: float = 0.5,
                 input_size: tuple[int, int] = (640, 640), nms_thresh: float = 0.4,
                 root: str | os.PathLike | None = None) -> None:
        self.model = model
        self.det_thresh = det_thresh
        self.input_size = input_size
        self.nms_thresh = nms_thresh
        self.root = root

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        state.pop("_model", None)
        state.pop("_model_key", None)
        return state

    def model_path(self) -> Path:
        """Absolute path of the ONNX model file (see :func:`find_insightface_model`)."""
        return find_insightface_model(self.model, self.root)

    @property
    def identity(self) -> str:
        """Model file identity and thresholds (for caches)."""
        return (f"insightface:{file_identity(self.model_path())}:thr={float(self.det_thresh)!r}"
                f":size={tuple(int(v) for v in self.input_size)}:nms={float(self.nms_thresh)!r}")

    def _check_params(self) -> None:
        if not (isinstance(self.det_thresh, (int, float, np.floating)) and 0 <= self.det_thresh <= 1):
            raise ValueError(f"det_thresh must be in [0, 1], got {self.det_thresh!r}")
        if not (isinstance(self.nms_thresh, (int, float, np.floating)) and 0 < self.nms_thresh <= 1):
            raise ValueError(f"nms_thresh must be in (0, 1], got {self.nms_thresh!r}")
        size = tuple(self.input_size) if isinstance(self.input_size, (tuple, list)) else ()
        if len(size) != 2 or not all(isinstance(v, (int, np.integer)) and v >= 32 for v in size):
            raise ValueError(f"input_size must be (width, height) ints >= 32, got {self.input_size!r}")

    def _get_model(self):
        self._check_params()
        path = self.model_path()
        key = (file_identity(path), float(self.det_thresh), tuple(self.input_size),
               float(self.nms_thresh))
        if getattr(self, "_model_key", None) != key:
            model = _LOADED_MODELS.get(key)
            if model is None:
                from insightface.model_zoo import get_model  # slow import: only when used

                model = get_model(str(path), providers=["CPUExecutionProvider"])
                if model is None or getattr(model, "taskname", None) != "detection":
                    raise ValueError(f"'{path}' is not an insightface detection model")
                model.prepare(ctx_id=-1, input_size=tuple(int(v) for v in self.input_size),
                              det_thresh=float(self.det_thresh), nms_thresh=float(self.nms_thresh))
                if len(_LOADED_MODELS) >= 4:  # a few sessions at most per process
                    _LOADED_MODELS.pop(next(iter(_LOADED_MODELS)))
                _LOADED_MODELS[key] = model
            self._model, self._model_key = model, key
        return self._model

    def detect(self, image: np.ndarray) -> Detections:
        """Detect the faces of one (H, W, 3) uint8 RGB image."""
        image = _check_rgb(image, "image")
        model = self._get_model()
        bgr = np.ascontiguousarray(image[..., ::-1])
        det, kpss = model.detect(bgr, det_thresh=float(self.det_thresh))
        det = np.asarray(det, dtype=np.float32).reshape(-1, 5)
        return _as_detections(det[:, :4], kpss, det[:, 4], where=f"insightface model {self.model!r}")

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[Detections]:
        """Detect faces in each image (insightface models take one image at a time)."""
        return [self.detect(image) for image in images]


# --------------------------------------------------------------- callable
def _hash_code(code, digest) -> None:
    digest.update(code.co_code)
    digest.update(repr(code.co_names).encode())
    for const in code.co_consts:
        if hasattr(const, "co_code"):  # nested function or comprehension
            _hash_code(const, digest)
        else:
            digest.update(repr(const).encode())


def _hash_value(value, digest) -> None:
    try:
        digest.update(pickle.dumps(value, protocol=4))
    except Exception:
        digest.update(repr(value).encode())


def _callable_identity(func: Callable) -> str:
    """A string that changes when a user callable's code or captured values change.

    Functions are identified by their qualified name, bytecode, constants,
    defaults and the values their closure captures; other callables by
    their pickled state.  Global state a function reads is not seen.
    """
    target = getattr(func, "__func__", func)
    name = f"{getattr(target, '__module__', '?')}.{getattr(target, '__qualname__', type(target).__name__)}"
    digest = hashlib.sha256()
    code = getattr(target, "__code__", None)
    if code is not None:
        _hash_code(code, digest)
        for cell in getattr(target, "__closure__", None) or ():
            try:
                _hash_value(cell.cell_contents, digest)
            except ValueError:  # empty cell
                pass
        _hash_value(getattr(target, "__defaults__", None), digest)
        _hash_value(getattr(target, "__kwdefaults__", None), digest)
        if target is not func:  # bound method: the instance matters too
            _hash_value(getattr(func, "__self__", None), digest)
    else:
        _hash_value(func, digest)
        try:
            digest.update(inspect.getsource(type(func)).encode())
        except (OSError, TypeError):
            pass
    return f"callable:{name}:{digest.hexdigest()[:16]}"


class CallableDetector(BaseEstimator):
    """Wrap a user function ``f(rgb_image) -> (boxes, landmarks)`` as a detector.

    Parameters
    ----------
    func : callable
        Takes one (H, W, 3) uint8 RGB image.  Returns ``(boxes, landmarks)``:
        ``boxes`` of shape (N, 4) ``x1, y1, x2, y2`` or (N, 5) with a score
        column, and ``landmarks`` of shape (N, 5, 2) (left eye, right eye,
        nose, left and right mouth corner, "left" = smaller x) or None when
        the function gives no landmarks (faces are then cropped from their
        boxes instead of aligned).  A :class:`Detections` is accepted too.
        With ``n_jobs > 1`` it reaches the worker processes through
        joblib's cloudpickle, so lambdas and closures work.
    """

    def __init__(self, func: Callable) -> None:
        self.func = func

    @property
    def identity(self) -> str:
        return _callable_identity(self.func)

    def detect(self, image: np.ndarray) -> Detections:
        image = _check_rgb(image, "image")
        out = self.func(image)
        name = getattr(self.func, "__qualname__", repr(self.func))
        if isinstance(out, Detections):
            return _as_detections(out.boxes, out.landmarks, out.scores, where=f"detector {name}")
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            raise ValueError(f"detector {name} must return (boxes, landmarks), got {type(out).__name__}")
        return _as_detections(out[0], out[1], where=f"detector {name}")

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[Detections]:
        batch = getattr(self.func, "detect_batch", None)
        if callable(batch):
            return [_as_detections(d.boxes, d.landmarks, d.scores, where="detect_batch")
                    for d in batch(list(images))]
        return [self.detect(image) for image in images]


#: onnxruntime sessions already prepared in this process, by model file identity
#: and settings: each unpickled detector copy in a worker reuses them instead
#: of loading the model again (they are not changed after ``prepare``).
_LOADED_MODELS: dict[tuple, Any] = {}


# ----------------------------------------------------------- FrameDetector
class FrameDetector:
    """What the extractor runs: a detector plus its face-size and score filters.

    Parameters
    ----------
    detector : object
        Anything with ``detect_batch(list of RGB images) -> list[Detections]``;
        detectors that also have ``refine_batch(images, boxes)`` (MTCNN: its
        last stage alone, near a known box) let the tracker follow a face
        without searching whole frames.
    identity : str
        Identity of the detector's behaviour (cache key part).
    min_face_size : float
        Faces whose box's larger side is smaller (in frame pixels) are dropped.
    min_confidence : float or None
        Faces scored lower are dropped.
    """

    def __init__(self, detector: Any, identity: str, *, min_face_size: float = 0.0,
                 min_confidence: float | None = None) -> None:
        self.detector = detector
        self.identity = identity
        self.min_face_size = float(min_face_size)
        self.min_confidence = min_confidence

    @property
    def supports_refine(self) -> bool:
        """Whether :meth:`refine_batch` is available (cheap re-detection near a known box)."""
        return callable(getattr(self.detector, "refine_batch", None))

    def _filter(self, dets: list[Detections]) -> list[Detections]:
        return [filter_detections(d, min_face_size=self.min_face_size,
                                  min_confidence=self.min_confidence) for d in dets]

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[Detections]:
        """Detect faces in whole frames (one call over the batch)."""
        images = list(images)
        if not images:
            return []
        dets = self.detector.detect_batch(images)
        if len(dets) != len(images):
            raise ValueError(f"detector returned {len(dets)} results for {len(images)} images")
        return self._filter(dets)

    def refine_batch(self, images: Sequence[np.ndarray], boxes: np.ndarray) -> list[Detections]:
        """The face near each candidate box (at most one per image), filtered like :meth:`detect_batch`."""
        if not self.supports_refine:
            raise RuntimeError("this detector cannot re-detect a face near a known box")
        images = list(images)
        if not images:
            return []
        return self._filter(self.detector.refine_batch(images, np.asarray(boxes)))


def _estimator_identity(obj: Any) -> str:
    ident = getattr(obj, "identity", None)
    if isinstance(ident, str):
        return ident
    params = obj.get_params(deep=False) if hasattr(obj, "get_params") else {}
    return f"{type(obj).__module__}.{type(obj).__qualname__}:{sorted(params.items())!r}"


def make_detector(spec: Any, *, min_face_size: float = 20.0,
                  min_confidence: float | None = None) -> FrameDetector | None:
    """Build the :class:`FrameDetector` for a detector specification.

    Parameters
    ----------
    spec : str, path-like, callable, detector object or None
        ``"mtcnn"``: :class:`~sk_emotion.faces.mtcnn.MTCNNDetector` (offline,
        MIT weights).  ``"scrfd"``, an ONNX path, a pack folder or a pack
        name: :class:`InsightFaceDetector`.  An object with ``detect_batch``
        (an ``MTCNNDetector``, ``InsightFaceDetector``...): used as is.
        Any other callable: :class:`CallableDetector`.  None: no detection
        (returns None).
    min_face_size : float, default=20
        Smallest face side in frame pixels (also MTCNN's search size).
    min_confidence : float, optional
        Minimum face score; for MTCNN the O-Net threshold (default 0.8), for
        insightface models ``det_thresh`` (default 0.5).

    Returns
    -------
    FrameDetector or None
    """
    if spec is None:
        return None
    if isinstance(spec, (str, os.PathLike)) and os.fspath(spec).lower() == "mtcnn":
        thresholds = (0.6, 0.7, 0.8 if min_confidence is None else float(min_confidence))
        full = MTCNNDetector(min_face_size=float(min_face_size), thresholds=thresholds)
        return FrameDetector(full, "mtcnn:" + _estimator_identity(full),
                             min_face_size=min_face_size, min_confidence=min_confidence)
    if isinstance(spec, (str, os.PathLike)):
        det = InsightFaceDetector(spec, det_thresh=0.5 if min_confidence is None else float(min_confidence))
        return FrameDetector(det, det.identity, min_face_size=min_face_size,
                             min_confidence=min_confidence)
    if hasattr(spec, "detect_batch") and not isinstance(spec, type):
        return FrameDetector(spec, _estimator_identity(spec), min_face_size=min_face_size,
                             min_confidence=min_confidence)
    if callable(spec):
        det = CallableDetector(spec)
        return FrameDetector(det, det.identity, min_face_size=min_face_size,
                             min_confidence=min_confidence)
    raise TypeError(
        "detector must be 'mtcnn', 'scrfd', the path of an insightface ONNX model or pack, "
        f"a callable, a detector object with detect_batch, or None; got {type(spec).__name__}"
    )
