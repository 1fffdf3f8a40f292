"""The types every face detector and the tracker share."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = ["Detections", "Detector", "RefiningDetector", "RegionDetector", "TrackingDetector", "as_detections",
           "check_rgb"]


@dataclass(eq=False)  # arrays have no single truth value: compare fields explicitly
class Detections:
    """Faces found in one image, sorted by decreasing score.

    The parameters are stored as attributes of the same names.

    Parameters
    ----------
    boxes : numpy.ndarray of shape (n_faces, 4), float32
        ``x1, y1, x2, y2`` in pixels, clipped to the image.
    scores : numpy.ndarray of shape (n_faces,), float32
        Face scores of the detector (for MTCNN, O-Net face probabilities).
    landmarks : numpy.ndarray of shape (n_faces, 5, 2), float32
        ``(x, y)`` of the left eye, right eye, nose, left mouth corner and
        right mouth corner, in image pixels ("left" = smaller x in the image,
        i.e. the subject's right side for a frontal face); not clipped.
    """

    boxes: np.ndarray
    scores: np.ndarray
    landmarks: np.ndarray

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    @classmethod
    def empty(cls) -> Detections:
        """No face.

        Returns
        -------
        Detections
            Zero faces: arrays of shapes (0, 4), (0,) and (0, 5, 2), float32.
        """
        return cls(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32),
                   np.zeros((0, 5, 2), np.float32))


@runtime_checkable
class Detector(Protocol):
    """What the extractor needs of a face detector: the faces of each RGB image.

    :func:`sk_emotion.faces.detectors.register_detector` makes a class of this
    kind available by name to ``VideoFaceExtractor(detector=name)``.  An
    ``identity`` string attribute, when present, names the detector's
    behaviour in the extractor's cache key (otherwise its parameters do).

    Parameters
    ----------
    *args, **kwargs : Any
        Not accepted: a protocol cannot be instantiated.  Implement
        ``detect_batch`` in a class of your own (subclassing this protocol is
        optional); ``isinstance(obj, Detector)`` checks for the method.
    """

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[Detections]:
        """Find the faces of each image.

        Parameters
        ----------
        images : sequence of numpy.ndarray of shape (H, W, 3), uint8
            RGB images; sizes may differ.

        Returns
        -------
        list of Detections
            One per image, in order.
        """


@runtime_checkable
class RefiningDetector(Detector, Protocol):
    """A detector that can also find a face near a known box (used for tracking, e.g. MTCNN).

    Parameters
    ----------
    *args, **kwargs : Any
        Not accepted: a protocol cannot be instantiated.  Implement
        ``detect_batch`` and ``refine_batch`` in a class of your own.
    """

    def refine_batch(self, images: Sequence[np.ndarray], boxes: np.ndarray) -> list[Detections]:
        """Find the face near each candidate box, at most one per image.

        Parameters
        ----------
        images : sequence of numpy.ndarray of shape (H, W, 3), uint8
            RGB images.
        boxes : numpy.ndarray of shape (n_images, 4)
            One candidate box ``x1, y1, x2, y2`` (pixels) per image.

        Returns
        -------
        list of Detections
            One per image, in order, each holding zero or one face.
        """


@runtime_checkable
class RegionDetector(Detector, Protocol):
    """A detector that can also search only regions of a frame (used by the person tracker, e.g. MTCNN).

    Parameters
    ----------
    *args, **kwargs : Any
        Not accepted: a protocol cannot be instantiated.  Implement
        ``detect_batch`` and ``detect_regions`` in a class of your own.
    """

    def detect_regions(self, image: np.ndarray, regions: np.ndarray) -> Detections:
        """Find the faces a whole-frame search would find, within regions of one image.

        Parameters
        ----------
        image : numpy.ndarray of shape (H, W, 3), uint8
            RGB image.
        regions : numpy.ndarray of shape (k, 4)
            Boxes ``x1, y1, x2, y2`` (pixels) to search.

        Returns
        -------
        Detections
            The faces found there, in image pixels.
        """


@runtime_checkable
class TrackingDetector(Protocol):
    """What the face trackers run: searches, re-detection and region searches, with their availability.

    :class:`~sk_emotion.faces.detectors.FrameDetector` is one: its
    ``supports_refine`` and ``supports_regions`` say whether the detector it
    wraps is a :class:`RefiningDetector` and a :class:`RegionDetector`.  The
    trackers call ``refine_batch`` only when ``supports_refine`` is true, and
    ``detect_regions`` only when ``supports_regions`` is.

    Parameters
    ----------
    *args, **kwargs : Any
        Not accepted: a protocol cannot be instantiated.

    Attributes
    ----------
    supports_refine : bool
        Whether ``refine_batch`` may be called.
    supports_regions : bool
        Whether ``detect_regions`` may be called.
    """

    supports_refine: bool
    supports_regions: bool

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[Detections]:
        """Find the faces of each whole image; see :meth:`Detector.detect_batch`.

        Parameters
        ----------
        images : sequence of numpy.ndarray of shape (H, W, 3), uint8
            RGB images.

        Returns
        -------
        list of Detections
            One per image, in order.
        """

    def refine_batch(self, images: Sequence[np.ndarray], boxes: np.ndarray) -> list[Detections]:
        """Find the face near each candidate box; see :meth:`RefiningDetector.refine_batch`.

        Parameters
        ----------
        images : sequence of numpy.ndarray of shape (H, W, 3), uint8
            RGB images.
        boxes : numpy.ndarray of shape (n_images, 4)
            One candidate box per image.

        Returns
        -------
        list of Detections
            One per image, each holding zero or one face.
        """

    def detect_regions(self, image: np.ndarray, regions: np.ndarray) -> Detections:
        """Find the faces within regions of one image; see :meth:`RegionDetector.detect_regions`.

        Parameters
        ----------
        image : numpy.ndarray of shape (H, W, 3), uint8
            RGB image.
        regions : numpy.ndarray of shape (k, 4)
            Boxes to search.

        Returns
        -------
        Detections
            The faces found there.
        """


def as_detections(boxes: Any, landmarks: Any, scores: Any = None, *, where: str) -> Detections:
    """Validate raw detector output and pack it into :class:`Detections`.

    Parameters
    ----------
    boxes : array-like of shape (N, 4) or (N, 5), or None
        ``x1, y1, x2, y2`` in pixels, optionally followed by a score column;
        None or empty means no face.
    landmarks : array-like of shape (N, 5, 2) or (N, 10), or None
        The five ``(x, y)`` landmarks of each face; None gives NaN landmarks
        (the extractor then crops the box instead of aligning).
    scores : array-like of shape (N,), optional
        Face scores; default the fifth column of ``boxes``, else 1.
    where : str
        Name of the source, used in error messages.

    Returns
    -------
    Detections
        The faces as float32 arrays, sorted by decreasing score (stable);
        faces whose box is not finite or has zero or negative width or
        height are dropped.

    Raises
    ------
    ValueError
        If the shapes of ``boxes``, ``scores`` and ``landmarks`` do not match.
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


def check_rgb(image: Any, name: str) -> np.ndarray:
    """Check that ``image`` is an (H, W, 3) uint8 array, as detectors take.

    Parameters
    ----------
    image : Any
        The value to check.
    name : str
        Its name in the error message.

    Returns
    -------
    numpy.ndarray
        ``image`` itself, unchanged.

    Raises
    ------
    ValueError
        If ``image`` is not a numpy array of shape (H, W, 3) and dtype uint8.
    """
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 \
            or image.dtype != np.uint8:
        shape = getattr(image, "shape", None)
        dtype = getattr(image, "dtype", type(image).__name__)
        raise ValueError(f"{name} must be an (H, W, 3) uint8 RGB image, got shape {shape} dtype {dtype}")
    return image
