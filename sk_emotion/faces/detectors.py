"""Face detectors behind one interface, and the registry of their names.

:class:`~sk_emotion.estimators.extractor.VideoFaceExtractor` accepts a
detector *specification* -- a registered name (``"mtcnn"``, ``"scrfd"``),
the path of an insightface ONNX detection model or a model-pack name, a
callable, or a detector object (:class:`~sk_emotion.faces.types.Detector`)
-- and :func:`make_detector` turns it into a :class:`FrameDetector`: an
object whose :meth:`~FrameDetector.detect_batch` maps RGB frames to
:class:`~sk_emotion.faces.types.Detections` (boxes, scores and the five
landmarks: left eye, right eye, nose, left and right mouth corner, "left"
meaning the smaller image x).

Adding a detector is one class with ``detect_batch`` and one
:func:`register_detector` entry.  Every detector here is picklable and loads
its model lazily, so a detector can be sent to worker processes cheaply.
:attr:`FrameDetector.identity` is a string that changes whenever the
detector's output could change (model file, thresholds, ...); the
extractor's disk cache keys on it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np

from .callable import CallableDetector
from .insightface import DEFAULT_DET_THRESH, InsightFaceDetector
from .mtcnn_detector import DEFAULT_THRESHOLDS, SMALLEST_MIN_FACE_SIZE, MTCNNDetector
from .types import Detections, RefiningDetector, RegionDetector, TrackingDetector

__all__ = [
    "DEFAULT_MIN_FACE_SIZE",
    "DETECTORS",
    "SMALLEST_MIN_FACE_SIZE",
    "FrameDetector",
    "as_frame_detector",
    "filter_detections",
    "make_detector",
    "register_detector",
]

_Factory = TypeVar("_Factory", bound=Callable[..., Any])

#: Smallest face (box side, frame pixels) the extractor and :func:`make_detector`
#: look for by default: the faces of the emotion datasets are larger, and
#: MTCNN's cost grows as ``1 / min_face_size**2``.
DEFAULT_MIN_FACE_SIZE = 40


def filter_detections(dets: Detections, *, min_face_size: float = 0.0,
                      min_confidence: float | None = None) -> Detections:
    """Drop faces whose box's larger side is below ``min_face_size`` or whose score is too low.

    Parameters
    ----------
    dets : Detections
        Faces of one image.
    min_face_size : float, default=0.0
        Faces whose box's larger side (pixels) is smaller are dropped.
    min_confidence : float, optional
        Faces scored lower are dropped; None keeps every score.

    Returns
    -------
    Detections
        The faces kept, in their order; ``dets`` itself when none is dropped.
    """
    if len(dets) == 0:
        return dets
    side = np.maximum(dets.boxes[:, 2] - dets.boxes[:, 0], dets.boxes[:, 3] - dets.boxes[:, 1])
    keep = side >= min_face_size
    if min_confidence is not None:
        keep &= dets.scores >= min_confidence
    if keep.all():
        return dets
    return Detections(dets.boxes[keep], dets.scores[keep], dets.landmarks[keep])


#: Detector name -> factory ``f(min_face_size, min_confidence) -> detector``.
DETECTORS: dict[str, Callable[[float, float | None], Any]] = {}


def register_detector(name: str) -> Callable[[_Factory], _Factory]:
    """Decorator: make a detector factory available as ``VideoFaceExtractor(detector=name)``.

    The factory takes ``(min_face_size, min_confidence)`` (the extractor's
    parameters; ``min_confidence`` may be None for the detector's default)
    and returns an object with ``detect_batch``; a class whose ``__init__``
    takes those two keywords is a factory.

    Parameters
    ----------
    name : str
        The detector's name, stored lower-case in :data:`DETECTORS` (names
        are matched case-insensitively); an existing entry is replaced.

    Returns
    -------
    callable
        The decorator: it registers the factory and returns it unchanged.

    Examples
    --------
    >>> @register_detector("everything")
    ... class WholeImage:
    ...     def __init__(self, min_face_size, min_confidence):
    ...         pass
    ...     def detect_batch(self, images):
    ...         return [Detections(np.array([[0, 0, i.shape[1], i.shape[0]]], np.float32),
    ...                            np.ones(1, np.float32), np.full((1, 5, 2), np.nan, np.float32))
    ...                 for i in images]
    >>> "everything" in DETECTORS
    True
    >>> del DETECTORS["everything"]
    """
    def decorate(factory: _Factory) -> _Factory:
        DETECTORS[str(name).lower()] = factory
        return factory

    return decorate


@register_detector("mtcnn")
def _mtcnn(min_face_size: float, min_confidence: float | None) -> MTCNNDetector:
    # min_confidence is the O-Net threshold, the last stage's.
    thresholds = (*DEFAULT_THRESHOLDS[:2], DEFAULT_THRESHOLDS[2] if min_confidence is None else float(min_confidence))
    return MTCNNDetector(min_face_size=float(min_face_size), thresholds=thresholds)


def _insightface(model: str | os.PathLike, min_confidence: float | None) -> InsightFaceDetector:
    det_thresh = DEFAULT_DET_THRESH if min_confidence is None else float(min_confidence)
    return InsightFaceDetector(model, det_thresh=det_thresh)


@register_detector("scrfd")
def _scrfd(min_face_size: float, min_confidence: float | None) -> InsightFaceDetector:
    return _insightface("scrfd", min_confidence)


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
        """Whether :meth:`refine_batch` is available: the detector is a :class:`.RefiningDetector`."""
        return isinstance(self.detector, RefiningDetector)

    def _filter(self, dets: list[Detections]) -> list[Detections]:
        return [filter_detections(d, min_face_size=self.min_face_size,
                                  min_confidence=self.min_confidence) for d in dets]

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[Detections]:
        """Detect faces in whole frames (one call over the batch), then filter them.

        Parameters
        ----------
        images : sequence of numpy.ndarray of shape (H, W, 3), uint8
            RGB frames.

        Returns
        -------
        list of Detections
            One per frame, in order, without the faces smaller than
            ``min_face_size`` or scored below ``min_confidence``.

        Raises
        ------
        ValueError
            If the detector returns a different number of results than images.
        """
        images = list(images)
        if not images:
            return []
        dets = self.detector.detect_batch(images)
        if len(dets) != len(images):
            raise ValueError(f"detector returned {len(dets)} results for {len(images)} images")
        return self._filter(dets)

    @property
    def supports_regions(self) -> bool:
        """Whether :meth:`detect_regions` is available: the detector is a :class:`.RegionDetector`."""
        return isinstance(self.detector, RegionDetector)

    def detect_regions(self, image: np.ndarray, regions: np.ndarray) -> Detections:
        """Detect faces within regions of one frame, filtered like :meth:`detect_batch`.

        Parameters
        ----------
        image : numpy.ndarray of shape (H, W, 3), uint8
            RGB frame.
        regions : array-like of shape (k, 4)
            Boxes ``x1, y1, x2, y2`` (pixels) to search.

        Returns
        -------
        Detections
            The faces found there, in frame pixels.

        Raises
        ------
        RuntimeError
            If the detector has no ``detect_regions`` (see :attr:`supports_regions`).
        """
        if not self.supports_regions:
            raise RuntimeError("this detector cannot search regions of a frame")
        return self._filter([self.detector.detect_regions(image, np.asarray(regions))])[0]

    def refine_batch(self, images: Sequence[np.ndarray], boxes: np.ndarray) -> list[Detections]:
        """Find the face near each candidate box (at most one per image), filtered like :meth:`detect_batch`.

        Parameters
        ----------
        images : sequence of numpy.ndarray of shape (H, W, 3), uint8
            RGB frames.
        boxes : array-like of shape (n_images, 4)
            One candidate box ``x1, y1, x2, y2`` (pixels) per frame.

        Returns
        -------
        list of Detections
            One per frame, in order, each holding zero or one face.

        Raises
        ------
        RuntimeError
            If the detector has no ``refine_batch`` (see :attr:`supports_refine`).
        """
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


def as_frame_detector(detector: Any) -> TrackingDetector:
    """The detector as the trackers run it, with its capabilities stated.

    Parameters
    ----------
    detector : object
        A :class:`FrameDetector` (or any
        :class:`~sk_emotion.faces.types.TrackingDetector`), returned
        unchanged; or a bare detector (anything with ``detect_batch``),
        wrapped in a :class:`FrameDetector` without filters.

    Returns
    -------
    TrackingDetector
        ``detector`` itself, or its wrapper.
    """
    if isinstance(detector, TrackingDetector):
        return detector
    return FrameDetector(detector, _estimator_identity(detector))


def make_detector(spec: Any, *, min_face_size: float = DEFAULT_MIN_FACE_SIZE,
                  min_confidence: float | None = None) -> FrameDetector | None:
    """Build the :class:`FrameDetector` for a detector specification.

    Parameters
    ----------
    spec : str, path-like, callable, detector object or None
        A name of :data:`DETECTORS`: ``"mtcnn"`` (the PyTorch MTCNN, offline,
        MIT weights, the default), ``"scrfd"`` (insightface's SCRFD, found in
        its model packs), or one you registered.  Another string or a path:
        an insightface ONNX detection model, a pack folder or a pack name
        (:class:`~sk_emotion.faces.insightface.InsightFaceDetector`).  An
        object with ``detect_batch`` (an ``MTCNNDetector``, an
        ``InsightFaceDetector``, yours): used as is.  Any other callable:
        :class:`~sk_emotion.faces.callable.CallableDetector`.  None: no
        detection (returns None).
    min_face_size : float, default=40
        Smallest face side in frame pixels (also MTCNN's search size);
        :data:`DEFAULT_MIN_FACE_SIZE`, as the extractor's.
    min_confidence : float, optional
        Minimum face score; for MTCNN the O-Net threshold (default 0.8), for
        insightface models ``det_thresh`` (default 0.5).

    Returns
    -------
    FrameDetector or None
        The detector with its identity (cache key) and filters; None when
        ``spec`` is None.

    Raises
    ------
    TypeError
        If ``spec`` is none of the accepted kinds.
    """
    if spec is None:
        return None
    filters = {"min_face_size": min_face_size, "min_confidence": min_confidence}
    if isinstance(spec, str) and spec.lower() in DETECTORS:
        name = spec.lower()
        det = DETECTORS[name](float(min_face_size), min_confidence)
        return FrameDetector(det, f"{name}:" + _estimator_identity(det), **filters)
    if isinstance(spec, (str, os.PathLike)):
        det = _insightface(spec, min_confidence)
        return FrameDetector(det, det.identity, **filters)
    if hasattr(spec, "detect_batch") and not isinstance(spec, type):
        return FrameDetector(spec, _estimator_identity(spec), **filters)
    if callable(spec):
        det = CallableDetector(spec)
        return FrameDetector(det, det.identity, **filters)
    raise TypeError(
        f"detector must be a registered name ({sorted(DETECTORS)}), the path of an insightface ONNX "
        "model or pack, a callable, a detector object with detect_batch, or None; "
        f"got {type(spec).__name__}"
    )
