"""insightface detection models (SCRFD and others) as sk-emotion detectors.

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

import os
from collections.abc import Sequence
from numbers import Real
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from .._sklearn_compat import Interval
from ..exceptions import DetectorError
from ..identity import file_identity
from .types import Detections, as_detections, check_rgb

__all__ = ["DEFAULT_DET_THRESH", "InsightFaceDetector", "SCRFD_PACKS", "find_insightface_model"]

#: insightface model packs searched, in this order, for ``detector="scrfd"``;
#: each holds an SCRFD detector (``det_10g.onnx``, ``det_2.5g.onnx``,
#: ``det_500m.onnx``, ``scrfd_10g_bnkps.onnx``).
SCRFD_PACKS: tuple[str, ...] = ("buffalo_l", "buffalo_m", "buffalo_s", "buffalo_sc", "antelopev2")

_INSIGHTFACE_HOME_ENV = "INSIGHTFACE_HOME"

#: Minimum face score of insightface's detectors (insightface's own default).
DEFAULT_DET_THRESH = 0.5


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
    if direct.exists() and not direct.is_dir():
        raise DetectorError(f"insightface detection model '{direct}' is not a regular file (a device or a pipe?)")
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

    _parameter_constraints: dict = {
        "model": [str, os.PathLike],
        "det_thresh": [Interval(Real, 0, 1, closed="both")],
        "input_size": ["array-like"],  # and (width, height) ints >= 32, checked in _check_params
        "nms_thresh": [Interval(Real, 0, 1, closed="right")],
        "root": [None, str, os.PathLike],
    }

    def __init__(self, model: str | os.PathLike = "scrfd", *, det_thresh: float = DEFAULT_DET_THRESH,
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
        """Locate the ONNX model file (see :func:`find_insightface_model`).

        Returns
        -------
        pathlib.Path
            Absolute path of the ONNX detection model.

        Raises
        ------
        FileNotFoundError
            When the model is not found.
        """
        return find_insightface_model(self.model, self.root)

    @property
    def identity(self) -> str:
        """Model file identity and thresholds (for caches)."""
        return (f"insightface:{file_identity(self.model_path())}:thr={float(self.det_thresh)!r}"
                f":size={tuple(int(v) for v in self.input_size)}:nms={float(self.nms_thresh)!r}")

    def _check_params(self) -> None:
        self._validate_params()  # the declarative _parameter_constraints
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

                try:
                    model = get_model(str(path), providers=["CPUExecutionProvider"])
                except Exception as exc:  # onnxruntime and insightface raise many types for a bad file
                    reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
                    raise DetectorError(f"detector '{path}' cannot be loaded as an insightface detection "
                                        f"model: {reason}") from exc
                if model is None or getattr(model, "taskname", None) != "detection":
                    raise DetectorError(f"detector '{path}' is not an insightface detection model")
                model.prepare(ctx_id=-1, input_size=tuple(int(v) for v in self.input_size),
                              det_thresh=float(self.det_thresh), nms_thresh=float(self.nms_thresh))
                if len(_LOADED_MODELS) >= 4:  # a few sessions at most per process
                    _LOADED_MODELS.pop(next(iter(_LOADED_MODELS)))
                _LOADED_MODELS[key] = model
            self._model, self._model_key = model, key
        return self._model

    def detect(self, image: np.ndarray) -> Detections:
        """Detect the faces of one RGB image.

        The model is loaded on first use (once per process and settings).

        Parameters
        ----------
        image : numpy.ndarray of shape (H, W, 3), uint8
            RGB image (flip OpenCV's BGR images first: ``image[..., ::-1]``).

        Returns
        -------
        Detections
            Faces scored at least ``det_thresh``, by decreasing score, with
            insightface's five keypoints as landmarks (NaN for models
            without keypoints).

        Raises
        ------
        ValueError
            If ``image`` is not an (H, W, 3) uint8 array, a parameter is
            invalid, or the model is not an insightface detection model.
        FileNotFoundError
            When the model is not found.
        """
        image = check_rgb(image, "image")
        model = self._get_model()
        bgr = np.ascontiguousarray(image[..., ::-1])
        det, kpss = model.detect(bgr, det_thresh=float(self.det_thresh))
        det = np.asarray(det, dtype=np.float32).reshape(-1, 5)
        return as_detections(det[:, :4], kpss, det[:, 4], where=f"insightface model {self.model!r}")

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[Detections]:
        """Detect faces in each image (insightface models take one image at a time).

        Parameters
        ----------
        images : sequence of numpy.ndarray of shape (H, W, 3), uint8
            RGB images; sizes may differ.

        Returns
        -------
        list of Detections
            One per image, in order (see :meth:`detect`).
        """
        return [self.detect(image) for image in images]


# --------------------------------------------------------------- callable
#: onnxruntime sessions already prepared in this process, by model file identity
#: and settings: each unpickled detector copy in a worker reuses them instead
#: of loading the model again (they are not changed after ``prepare``).
_LOADED_MODELS: dict[tuple, Any] = {}
