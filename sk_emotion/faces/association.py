"""Which face of a frame continues a face of an earlier frame: the rules every follower shares.

Both followers use these rules: the clip tracker
(:mod:`sk_emotion.faces.tracking`, one subject per clip) and
:class:`~sk_emotion.faces.persons.PersonTracker` (every person of a long
video).  A face continues a track when it overlaps the box where the track
is expected, or when its centre moved little and its size changed little
(:func:`match_scores`, :func:`associate`); a lone face within looser limits
continues it too (fast motion, :func:`lone_match`).  Where the track is
expected comes from its last two positions (constant velocity,
:func:`extrapolate`); re-detection is aimed at the box the face's landmarks
give (:func:`landmark_box`), which does not accumulate the regressed box's
small errors from frame to frame.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .boxes import box_iou
from .types import Detections

__all__ = [
    "LANDMARK_BOX_RISE",
    "LANDMARK_BOX_SIDE",
    "LOOSE_SCALE",
    "LOOSE_SHIFT",
    "MAX_SCALE",
    "MAX_SHIFT",
    "MIN_IOU",
    "TRACK_MIN_SCORE",
    "associate",
    "box_centre",
    "continues",
    "box_side",
    "extrapolate",
    "landmark_box",
    "lone_match",
    "match_scores",
    "motion_box",
    "redetection_continues",
]

#: Association between consecutive sampled frames: IoU with the previous box
#: at least this much ...
MIN_IOU = 0.3
#: ... or centre moved by at most this fraction of the previous box's side,
MAX_SHIFT = 0.5
#: with the box side changing by at most this factor.
MAX_SCALE = 1.6

#: A face that is the only one within these looser limits (centre shift in
#: box sides, size factor) also continues the track: fast motion.
LOOSE_SHIFT = 1.5
LOOSE_SCALE = 2.0

#: Box of a face from its five landmarks, as MTCNN frames it: side = this many
#: times hypot(eye-to-mouth distance, eye distance), centre this many sides
#: above the landmarks' centroid (medians over 241 MTCNN detections of real
#: and generated faces; relative IQR of the side 6%, against 11-16% for either
#: distance alone).  Tracking moves this box rather than the regressed box,
#: whose small errors would otherwise accumulate from frame to frame.
LANDMARK_BOX_SIDE = 2.0
LANDMARK_BOX_RISE = 0.089

#: A re-detected face scored below this is not trusted to continue the track
#: (the frame is searched instead).  Tracked faces score 0.99 and more when
#: the box sits on the face; on the generated clips, re-detections that
#: scored 0.8-0.95 carried landmark errors up to 0.38 of the eye distance,
#: and this gate brought the worst frame down to the full search's own (0.23).
TRACK_MIN_SCORE = 0.95


def box_side(boxes: np.ndarray) -> np.ndarray:
    """Larger side of each box ``x1, y1, x2, y2`` (the side a face's size is measured by).

    Parameters
    ----------
    boxes : array-like of shape (..., 4)
        Boxes in pixels.

    Returns
    -------
    numpy.ndarray of shape (...), float64
        ``max(x2 - x1, y2 - y1)`` of each box.
    """
    boxes = np.asarray(boxes, np.float64)
    return np.maximum(boxes[..., 2] - boxes[..., 0], boxes[..., 3] - boxes[..., 1])


def box_centre(boxes: np.ndarray) -> np.ndarray:
    """Centre ``(x, y)`` of each box ``x1, y1, x2, y2``.

    Parameters
    ----------
    boxes : array-like of shape (..., 4)
        Boxes in pixels.

    Returns
    -------
    numpy.ndarray of shape (..., 2), float64
        The centres.
    """
    boxes = np.asarray(boxes, np.float64)
    return (boxes[..., :2] + boxes[..., 2:]) / 2.0


def match_scores(reference: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """How far each box is from ``reference``: IoU, centre shift and size ratio.

    Parameters
    ----------
    reference : array-like of shape (4,)
        Where the track is (or is expected), ``x1, y1, x2, y2``.
    boxes : array-like of shape (n, 4)
        Candidate faces.

    Returns
    -------
    iou : numpy.ndarray of shape (n,)
        IoU of each box with ``reference``.
    shift : numpy.ndarray of shape (n,)
        Largest centre move along x or y, in sides of ``reference``.
    ratio : numpy.ndarray of shape (n,)
        Side of each box over the side of ``reference``.
    """
    reference = np.asarray(reference, np.float64).reshape(4)
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    side = max(float(box_side(reference)), 1e-6)
    iou = box_iou(reference[None], boxes)[0]
    shift = np.abs(box_centre(boxes) - box_centre(reference)).max(axis=1) / side
    return iou, shift, box_side(boxes) / side


def _near(shift: np.ndarray, ratio: np.ndarray, max_shift: float, max_scale: float) -> np.ndarray:
    return (shift <= max_shift) & (ratio <= max_scale) & (ratio >= 1.0 / max_scale)


def continues(iou: np.ndarray, shift: np.ndarray, ratio: np.ndarray, *, min_iou: float = MIN_IOU,
              max_shift: float = MAX_SHIFT, max_scale: float = MAX_SCALE) -> np.ndarray:
    """Which faces, scored by :func:`match_scores`, may continue the track.

    Parameters
    ----------
    iou, shift, ratio : numpy.ndarray of shape (n,)
        As :func:`match_scores` returns them.
    min_iou : float, default=0.3
        IoU with the reference that suffices.
    max_shift : float, default=0.5
        Otherwise: largest centre move, in sides of the reference ...
    max_scale : float, default=1.6
        ... with the sides differing by at most this factor.

    Returns
    -------
    numpy.ndarray of shape (n,), bool
        True for the faces within the limits.
    """
    return (iou >= min_iou) | _near(shift, ratio, max_shift, max_scale)


def associate(previous: np.ndarray, dets: Detections | None, *, min_iou: float = MIN_IOU,
              max_shift: float = MAX_SHIFT, max_scale: float = MAX_SCALE) -> int:
    """Index of the face of ``dets`` that continues the track box ``previous``, or -1.

    A face continues the track when its IoU with ``previous`` is at least
    ``min_iou``, or when its centre moved by at most ``max_shift`` times the
    previous box's side and its side changed by at most a factor
    ``max_scale``.  Among those, the highest IoU wins (then the nearest).

    Parameters
    ----------
    previous : array-like of shape (4,)
        The track's box ``x1, y1, x2, y2`` in the previous frame (or where it
        is expected).
    dets : Detections or None
        Faces of the current frame; None (frame not searched) matches nothing.
    min_iou : float, default=0.3
        IoU with ``previous`` that suffices.
    max_shift : float, default=0.5
        Largest centre move (along x or y), in sides of ``previous``.
    max_scale : float, default=1.6
        Largest factor between the box sides.

    Returns
    -------
    int
        Index of the matching face in ``dets``, or -1 when none matches.
    """
    if dets is None or len(dets) == 0:
        return -1
    iou, shift, ratio = match_scores(previous, dets.boxes)
    ok = continues(iou, shift, ratio, min_iou=min_iou, max_shift=max_shift, max_scale=max_scale)
    if not ok.any():
        return -1
    candidates = np.flatnonzero(ok)
    order = np.lexsort((shift[candidates], -iou[candidates]))
    return int(candidates[order[0]])


def redetection_continues(reference: np.ndarray, dets: Detections) -> bool:
    """Whether a re-detection (zero or one face) continues the track: the gate both followers use.

    It does when the face scored at least :data:`TRACK_MIN_SCORE` and
    :func:`associate` matches it to ``reference``.

    Parameters
    ----------
    reference : array-like of shape (4,)
        Where the track's detector box is expected.
    dets : Detections
        The re-detection, holding zero or one face.

    Returns
    -------
    bool
        True when the re-detected face continues the track.
    """
    return bool(len(dets) and dets.scores[0] >= TRACK_MIN_SCORE and associate(reference, dets) == 0)


def lone_match(reference: np.ndarray, dets: Detections | None, *, free: np.ndarray | None = None,
               max_shift: float = LOOSE_SHIFT, max_scale: float = LOOSE_SCALE) -> int:
    """The only face of ``dets`` within the loose limits of ``reference``, or -1 (none or several).

    Fast motion takes a face further than :func:`associate` allows; it still
    continues the track when no other face is as near, so that another
    person is never mistaken for the subject.

    Parameters
    ----------
    reference : array-like of shape (4,)
        Where the track is expected.
    dets : Detections or None
        Faces of the current frame; None matches nothing.
    free : numpy.ndarray of shape (n_faces,), bool, optional
        Faces that may be taken (default: all).
    max_shift : float, default=1.5
        Largest centre move, in sides of ``reference``.
    max_scale : float, default=2.0
        Largest factor between the sides.

    Returns
    -------
    int
        Index of that face in ``dets``, or -1.
    """
    if dets is None or len(dets) == 0 or max_shift <= 0:
        return -1
    _, shift, ratio = match_scores(reference, dets.boxes)
    near = _near(shift, ratio, max_shift, max_scale)
    if free is not None:
        near &= free
    found = np.flatnonzero(near)
    return int(found[0]) if found.size == 1 else -1


def extrapolate(points: Sequence[tuple[float, np.ndarray]], t: float) -> np.ndarray | None:
    """Box expected at time ``t`` from the last two ``(time, box)`` points (constant velocity).

    Parameters
    ----------
    points : sequence of (float, numpy.ndarray of shape (4,))
        Times (sample indices or seconds) and boxes of the track, in time order.
    t : float
        The time of the prediction.

    Returns
    -------
    numpy.ndarray of shape (4,), float64, or None
        The last box moved as it was moving; None with fewer than two
        points, two points at the same time, or when the box would be empty.
    """
    if len(points) < 2:
        return None
    (t1, b1), (t2, b2) = points[-2], points[-1]
    if t2 == t1:
        return None
    box = b2 + (b2 - b1) * ((t - t2) / (t2 - t1))
    if box[2] <= box[0] or box[3] <= box[1]:
        return None
    return box


def landmark_box(landmarks: np.ndarray) -> np.ndarray | None:
    """The square box MTCNN would put around a face with these five landmarks.

    Parameters
    ----------
    landmarks : array-like of shape (5, 2)
        ``(x, y)`` of left eye, right eye, nose, left and right mouth corners.

    Returns
    -------
    numpy.ndarray of shape (4,), float64, or None
        ``x1, y1, x2, y2`` of the square box; None when a landmark is not
        finite or the box would be empty.
    """
    points = np.asarray(landmarks, np.float64).reshape(5, 2)
    if not np.isfinite(points).all():
        return None
    eyes, mouth = (points[0] + points[1]) / 2, (points[3] + points[4]) / 2
    side = LANDMARK_BOX_SIDE * float(np.hypot(np.linalg.norm(mouth - eyes),
                                              np.linalg.norm(points[1] - points[0])))
    if side <= 0:
        return None
    centre = points.mean(axis=0) - np.array([0.0, LANDMARK_BOX_RISE * side])
    return np.r_[centre - side / 2, centre + side / 2]


def motion_box(box: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """The box whose motion predicts where to re-detect a face: its landmark box, else its box.

    Parameters
    ----------
    box : array-like of shape (4,)
        The detector's box.
    landmarks : array-like of shape (5, 2)
        The face's landmarks (NaN when the detector gives none).

    Returns
    -------
    numpy.ndarray of shape (4,), float64
        :func:`landmark_box` of ``landmarks``, or ``box`` when there is none.
    """
    found = landmark_box(landmarks)
    return np.asarray(box, np.float64) if found is None else found
