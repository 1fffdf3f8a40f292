"""Follow one subject's face across the sampled frames of a clip.

A video of the emotion datasets (AFEW, CK+...) shows one subject, but other
people may be visible.  :func:`track_main_face` picks the *main face* -- the
largest and most confident face of the first frames where faces are found --
and follows it from frame to frame by overlap with its previous box (or the
box its motion predicts), so a second person never swaps in, however
confident the detector is about them; a face further away continues the
track only when it is the only candidate (fast motion).
Frames where the subject is not found borrow the box and landmarks of the
nearest frame (in time) where it was.

:func:`search_and_track` decides where to run the detector.  With
``search="full"`` every sampled frame is searched whole.  With
``search="track"`` (for detectors that can re-detect a face near a known
box, i.e. MTCNN) the first frame is searched whole, and the subject is then
followed from frame to frame by running only MTCNN's last two networks
(R-Net, then O-Net) on the box where the subject is expected, derived from
its landmarks in the previous frame and moved as it was moving: about 2 ms a
frame instead of 10-30 ms for a whole 720x576 frame.  Whenever that does not
find a face that continues the track -- the subject left, turned away, was
occluded or moved too fast -- the frame is searched whole and the track
continues from what the search found.  The per-frame ``tracked`` flags say
which frames were found which way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .boxes import box_iou
from .types import Detections

if TYPE_CHECKING:
    from .detectors import FrameDetector

__all__ = [
    "Track",
    "associate",
    "box_iou",
    "fill_missing",
    "follow",
    "landmark_box",
    "search_and_track",
    "select_main_face",
    "track_main_face",
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

#: Looser association between anchor frames, which are several samples apart.
ANCHOR_MIN_IOU = 0.1
ANCHOR_MAX_SHIFT = 1.5
ANCHOR_MAX_SCALE = 2.0

#: The main face is chosen in this many sampled frames from the first with faces.
SEED_WINDOW = 3

#: In ``search="track"`` mode, when the first frame shows no face, one sampled
#: frame in this many is searched whole before every other frame is.
ANCHOR_EVERY = 5

#: Box of a face from its five landmarks, as MTCNN frames it: side = this many
#: times hypot(eye-to-mouth distance, eye distance), centre this many sides
#: above the landmarks' centroid (medians over 241 MTCNN detections of real
#: and generated faces; relative IQR of the side 6%, against 11-16% for either
#: distance alone).  Tracking moves this box rather than the regressed box,
#: whose small errors would otherwise accumulate from frame to frame.
LANDMARK_BOX_SIDE = 2.0
LANDMARK_BOX_RISE = 0.089

#: A re-detected face scored below this is not trusted to continue the track
#: (the frame is searched whole instead).  Tracked faces score 0.99 and more
#: when the box sits on the face; on the generated clips, re-detections that
#: scored 0.8-0.95 carried landmark errors up to 0.38 of the eye distance,
#: and this gate brought the worst frame down to the full search's own (0.23).
TRACK_MIN_SCORE = 0.95


# ------------------------------------------------------------------ basics
def _side(boxes: np.ndarray) -> np.ndarray:
    boxes = np.asarray(boxes, np.float64)
    return np.maximum(boxes[..., 2] - boxes[..., 0], boxes[..., 3] - boxes[..., 1])


def _centre(boxes: np.ndarray) -> np.ndarray:
    boxes = np.asarray(boxes, np.float64)
    return (boxes[..., :2] + boxes[..., 2:]) / 2.0


def _weight(dets: Detections) -> np.ndarray:
    """Size-and-confidence weight of each face: score x box area."""
    b = dets.boxes.astype(np.float64)
    return dets.scores.astype(np.float64) * (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])


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
    previous = np.asarray(previous, np.float64).reshape(4)
    iou = box_iou(previous[None], dets.boxes)[0]
    side_prev = max(float(_side(previous)), 1e-6)
    dist = np.abs(_centre(dets.boxes) - _centre(previous)).max(axis=1) / side_prev
    ratio = _side(dets.boxes) / side_prev
    near = (dist <= max_shift) & (ratio <= max_scale) & (ratio >= 1.0 / max_scale)
    ok = (iou >= min_iou) | near
    if not ok.any():
        return -1
    candidates = np.flatnonzero(ok)
    order = np.lexsort((dist[candidates], -iou[candidates]))
    return int(candidates[order[0]])


# ------------------------------------------------------------------- track
@dataclass
class Track:
    """The main face in every sampled frame.

    The parameters are stored as attributes of the same names.

    Parameters
    ----------
    boxes : ndarray of shape (n_frames, 4), float32
        Face box per frame (borrowed from the nearest detected frame when
        the face was not found there); NaN when no frame has a face.
    landmarks : ndarray of shape (n_frames, 5, 2), float32
        The five landmarks, same borrowing; NaN when the detector gives none.
    scores : ndarray of shape (n_frames,), float32
        Detector score of the face used (0 where nothing was found anywhere).
    detected : ndarray of shape (n_frames,), bool
        Whether the face was found in that very frame.
    source : ndarray of shape (n_frames,), int64
        The frame whose detection is used (-1 when none).
    tracked : ndarray of shape (n_frames,), bool, optional
        Whether the face of that frame was found by re-detection near its
        expected position rather than by a whole-frame search; None (the
        default) is stored as all False.
    n_full_searched : int, default=0
        Frames searched whole.
    n_tracked : int, default=0
        Frames where a re-detection near the expected box was tried.
    """

    boxes: np.ndarray
    landmarks: np.ndarray
    scores: np.ndarray
    detected: np.ndarray
    source: np.ndarray
    tracked: np.ndarray | None = None
    n_full_searched: int = 0
    n_tracked: int = 0

    def __post_init__(self) -> None:
        if self.tracked is None:
            self.tracked = np.zeros(len(self.detected), bool)

    @property
    def coverage(self) -> float:
        """Share of the sampled frames where the face was detected."""
        return float(self.detected.mean()) if self.detected.size else 0.0

    @property
    def found(self) -> bool:
        """Whether the face was found in at least one frame."""
        return bool(self.detected.any())


def select_main_face(detections: Sequence[Detections | None], *, window: int = SEED_WINDOW,
                     min_iou: float = MIN_IOU, max_shift: float = MAX_SHIFT,
                     max_scale: float = MAX_SCALE) -> tuple[int, int] | None:
    """Choose the main face: largest and most confident in the first frames with faces.

    Every face of the first frame with faces is followed through the frames
    searched within the next ``window - 1`` sampled frames; its weight is
    the sum of ``score x area`` along the way.  The heaviest wins, so a
    brief false detection or a small, more confident face in the background
    does not; what happens later in the clip (another face growing bigger)
    does not matter.

    Parameters
    ----------
    detections : sequence of Detections or None
        Faces of each sampled frame, in time order (None = frame not searched).
    window : int, default=3
        Number of sampled frames, from the first with faces, that weigh in.
    min_iou, max_shift, max_scale : float, default=0.3, 0.5, 1.6
        How a face is followed across those frames, see :func:`associate`.

    Returns
    -------
    (frame, index) or None
        Frame of the seed and index of the face in ``detections[frame]``;
        None when no frame has a face.
    """
    frames = [t for t, d in enumerate(detections) if d is not None and len(d)]
    if not frames:
        return None
    first = frames[0]
    rest = [t for t in frames[1:] if t < first + window]
    seeds = detections[first]
    support = _weight(seeds)
    for k in range(len(seeds)):
        box = seeds.boxes[k]
        for t in rest:
            j = associate(box, detections[t], min_iou=min_iou, max_shift=max_shift,
                          max_scale=max_scale)
            if j >= 0:
                support[k] += _weight(detections[t])[j]
                box = detections[t].boxes[j]
    return first, int(np.argmax(support))


def _loose_match(reference: np.ndarray, dets: Detections | None, max_shift: float,
                 max_scale: float) -> int:
    """The only face of ``dets`` within the loose limits of ``reference``, or -1 (none or several)."""
    if dets is None or len(dets) == 0 or max_shift <= 0:
        return -1
    side_ref = max(float(_side(reference)), 1e-6)
    dist = np.abs(_centre(dets.boxes) - _centre(reference)).max(axis=1) / side_ref
    ratio = _side(dets.boxes) / side_ref
    ok = np.flatnonzero((dist <= max_shift) & (ratio <= max_scale) & (ratio >= 1.0 / max_scale))
    return int(ok[0]) if ok.size == 1 else -1


def _extrapolate(history: list[tuple[int, np.ndarray]], t: int) -> np.ndarray | None:
    """Box expected at frame ``t`` from the last two tracked boxes (constant velocity)."""
    if len(history) < 2:
        return None
    (t1, b1), (t2, b2) = history[-2], history[-1]
    box = b2 + (b2 - b1) * ((t - t2) / (t2 - t1))
    if box[2] <= box[0] or box[3] <= box[1]:
        return None
    return box


def follow(detections: Sequence[Detections | None], seed: tuple[int, int], *,
           min_iou: float = MIN_IOU, max_shift: float = MAX_SHIFT,
           max_scale: float = MAX_SCALE, loose_shift: float = LOOSE_SHIFT,
           loose_scale: float = LOOSE_SCALE) -> np.ndarray:
    """Follow the seed face forwards and backwards; index of the face per frame (-1: not found).

    In each frame, the face that :func:`associate` matches with the box
    predicted from the subject's last two positions (constant velocity), or
    else with its last box, continues the track.  When neither matches, a
    face within the loose limits (centre moved by at most ``loose_shift``
    box sides, size changed by at most ``loose_scale``) is taken only if it
    is the only one there, so fast motion is followed but another person
    is never mistaken for the subject.  Frames without a match keep the
    last box, so the track survives missed detections.

    Parameters
    ----------
    detections : sequence of Detections or None
        Faces of each sampled frame, in time order (None = frame not searched).
    seed : (int, int)
        ``(frame, index)`` of the face to follow, e.g. from
        :func:`select_main_face`.
    min_iou, max_shift, max_scale : float, default=0.3, 0.5, 1.6
        Association limits, see :func:`associate`.
    loose_shift : float, default=1.5
        Largest centre move, in box sides, of a lone face that continues the
        track.
    loose_scale : float, default=2.0
        Largest size factor of a lone face that continues the track.

    Returns
    -------
    numpy.ndarray of shape (n_frames,), int64
        Index of the subject's face in ``detections[t]`` for each frame
        ``t``; -1 where it was not found.
    """
    n = len(detections)
    chosen = np.full(n, -1, np.int64)
    t0, k0 = seed
    chosen[t0] = k0
    for direction in (1, -1):
        history = [(t0, detections[t0].boxes[k0].astype(np.float64))]
        t = t0 + direction
        while 0 <= t < n:
            dets = detections[t]
            predicted = _extrapolate(history, t)
            references = ([predicted] if predicted is not None else []) + [history[-1][1]]
            j = -1
            for reference in references:
                j = associate(reference, dets, min_iou=min_iou, max_shift=max_shift,
                              max_scale=max_scale)
                if j >= 0:
                    break
            if j < 0:
                j = _loose_match(references[0], dets, loose_shift, loose_scale)
            if j >= 0:
                chosen[t] = j
                history.append((t, dets.boxes[j].astype(np.float64)))
            t += direction
    return chosen


def fill_missing(detections: Sequence[Detections | None], chosen: np.ndarray) -> Track:
    """Build the :class:`Track`: frames without the face borrow the nearest detected frame's.

    Ties (equally near before and after) take the earlier frame.  Boxes and
    landmarks are borrowed unchanged.

    Parameters
    ----------
    detections : sequence of Detections or None
        Faces of each sampled frame, in time order.
    chosen : numpy.ndarray of shape (n_frames,), int
        Index of the subject's face in each frame, -1 where it was not found
        (as :func:`follow` returns).

    Returns
    -------
    Track
        The subject's box, landmarks and score in every frame (NaN boxes
        and landmarks, zero scores, when no frame has it).
    """
    n = len(chosen)
    boxes = np.full((n, 4), np.nan, np.float32)
    landmarks = np.full((n, 5, 2), np.nan, np.float32)
    scores = np.zeros(n, np.float32)
    detected = chosen >= 0
    source = np.full(n, -1, np.int64)
    hits = np.flatnonzero(detected)
    if hits.size:
        for t in range(n):
            s = int(hits[np.argmin(np.abs(hits - t))])  # argmin takes the first (earlier) on ties
            d, j = detections[s], int(chosen[s])
            boxes[t], landmarks[t], scores[t], source[t] = d.boxes[j], d.landmarks[j], d.scores[j], s
    return Track(boxes, landmarks, scores, detected, source)


def track_main_face(detections: Sequence[Detections | None], *,
                    seed: tuple[int, int] | None = None) -> Track:
    """Main face per frame from per-frame detections (None = frame not searched).

    Parameters
    ----------
    detections : sequence of Detections or None
        Faces of each sampled frame, in time order.
    seed : (frame, index), optional
        Main face; default :func:`select_main_face`.

    Returns
    -------
    Track
        The main face in every frame, borrowed from the nearest frame where
        it was not found (see :func:`fill_missing`).
    """
    detections = list(detections)
    if seed is None:
        seed = select_main_face(detections)
    if seed is None:
        return fill_missing(detections, np.full(len(detections), -1, np.int64))
    return fill_missing(detections, follow(detections, seed))


# ------------------------------------------------------------------ search
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


def _first_faces(frames: list[np.ndarray], detector, dets: list, full: np.ndarray,
                 anchor_every: int) -> tuple[int, int] | None:
    """Search whole frames until the main face is found: the first, then a sparse set, then all."""
    n = len(frames)
    sparse = sorted(set(range(0, n, max(1, int(anchor_every)))) | {n - 1})
    for batch in ([0], sparse, list(range(n))):
        todo = [t for t in batch if not full[t]]
        for t, d in zip(todo, detector.detect_batch([frames[t] for t in todo])):
            dets[t] = d
        full[todo] = True
        seed = select_main_face(dets)
        if seed is not None:
            return seed
    return None


def search_and_track(frames: Sequence[np.ndarray], detector: FrameDetector, *, search: str = "track",
                     anchor_every: int = ANCHOR_EVERY) -> Track:
    """Detect the main face in the sampled frames of one clip and follow it.

    Parameters
    ----------
    frames : sequence of (H, W, 3) uint8 RGB arrays
        The sampled frames, in time order.
    detector : FrameDetector
        See :func:`sk_emotion.faces.detectors.make_detector`.
    search : {"track", "full"}, default="track"
        ``"full"``: search every frame whole (one batched call).
        ``"track"``: search the first frame whole, then follow the subject
        by re-detection near its expected box, searching a frame whole only
        where that fails (see the module docstring).  Falls back to
        ``"full"`` for detectors that cannot re-detect (insightface,
        callables).
    anchor_every : int, default=5
        When the first frame shows no face: one frame in ``anchor_every``
        (and the last) is searched whole before every other frame is.

    Returns
    -------
    Track
        The main face in every frame, with the ``tracked`` flags and the
        counts of frames searched whole (``n_full_searched``) and of
        re-detections tried (``n_tracked``).

    Raises
    ------
    ValueError
        If ``search`` is not ``"track"`` or ``"full"``.
    """
    frames = list(frames)
    n = len(frames)
    if search not in ("track", "full"):
        raise ValueError(f"search must be 'track' or 'full', got {search!r}")
    if search == "full" or not getattr(detector, "supports_refine", False) or n < 2:
        track = track_main_face(detector.detect_batch(frames))
        track.n_full_searched = n
        return track

    dets: list[Detections | None] = [None] * n
    full = np.zeros(n, bool)
    tried = np.zeros(n, bool)
    seed = _first_faces(frames, detector, dets, full, anchor_every)
    if seed is None:
        track = track_main_face(dets)
        track.n_full_searched = n
        return track
    chosen = np.full(n, -1, np.int64)
    t0, k0 = seed
    chosen[t0] = k0

    def anchor_box(t: int, j: int) -> np.ndarray:
        """Where the face is, for the next re-detection: from its landmarks when it has them."""
        box = landmark_box(dets[t].landmarks[j])
        return dets[t].boxes[j].astype(np.float64) if box is None else box

    for direction in (1, -1):
        history = [(t0, dets[t0].boxes[k0].astype(np.float64))]  # detector boxes, for association
        moves = [(t0, anchor_box(t0, k0))]  # landmark boxes, for the expected position
        t = t0 + direction
        while 0 <= t < n:
            predicted = _extrapolate(history, t)
            reference = history[-1][1] if predicted is None else predicted
            expected = _extrapolate(moves, t)
            expected = moves[-1][1] if expected is None else expected
            j = -1
            if dets[t] is None:
                tried[t] = True
                found = detector.refine_batch([frames[t]], expected[None])[0]
                if associate(reference, found) >= 0 and found.scores[0] >= TRACK_MIN_SCORE:
                    dets[t], j = found, 0  # the same face, not a neighbour's
                else:  # lost: search the whole frame
                    dets[t] = detector.detect_batch([frames[t]])[0]
                    full[t] = True
            if j < 0:
                for candidate in ([predicted] if predicted is not None else []) + [history[-1][1]]:
                    j = associate(candidate, dets[t])
                    if j >= 0:
                        break
                if j < 0:
                    j = _loose_match(reference, dets[t], LOOSE_SHIFT, LOOSE_SCALE)
            if j >= 0:
                chosen[t] = j
                history.append((t, dets[t].boxes[j].astype(np.float64)))
                moves.append((t, anchor_box(t, j)))
            t += direction
    track = fill_missing(dets, chosen)
    track.tracked = (chosen >= 0) & ~full
    track.n_full_searched = int(full.sum())
    track.n_tracked = int(tried.sum())
    return track
