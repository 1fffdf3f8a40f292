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
frame instead of 10-30 ms for a whole 720x576 frame.  Frames ahead are
re-detected in the same batch, each aimed where the motion so far puts the
subject, and kept if the track still expects the face there when it reaches
them (:data:`REDETECT_AHEAD`, :data:`SAME_AIM_IOU`).  Whenever that does not
find a face that continues the track -- the subject left, turned away, was
occluded or moved too fast -- the frame is searched whole and the track
continues from what the search found.  The per-frame ``tracked`` flags say
which frames were found which way.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import numpy as np

from .association import (
    LOOSE_SCALE,
    LOOSE_SHIFT,
    MAX_SCALE,
    MAX_SHIFT,
    MIN_IOU,
    associate,
    extrapolate,
    landmark_box,
    lone_match,
    motion_box,
    redetection_continues,
)
from .boxes import box_iou
from .cutting import nearest_detected
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

#: The main face is chosen in this many sampled frames from the first with faces.
SEED_WINDOW = 3

#: In ``search="track"`` mode, when the first frame shows no face, one sampled
#: frame in this many is searched whole before every other frame is.
SCAN_EVERY = 5

#: In ``search="track"`` mode, a re-detection runs on up to this many
#: unsearched frames at once: the frame the track has reached and the next
#: ones, each aimed where the subject's motion so far puts it.
REDETECT_AHEAD = 8

#: A face re-detected ahead is kept when it continues the track and, once the
#: track reaches its frame, its landmark box overlaps the box where the track
#: expects the subject by at least this IoU: re-detection started there would
#: find the same face.  Otherwise the frame is re-detected again, aimed anew.
SAME_AIM_IOU = 0.8

#: Any re-detection made ahead (a failure too) is kept when the box it aimed
#: at overlaps the box the track aims at by at least this IoU: the same aim.
SAME_AIM_IOU_EXACT = 0.99


def _weight(dets: Detections) -> np.ndarray:
    """Size-and-confidence weight of each face: score x box area."""
    b = dets.boxes.astype(np.float64)
    return dets.scores.astype(np.float64) * (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])


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
    limits = {"min_iou": min_iou, "max_shift": max_shift, "max_scale": max_scale}
    return _follow(list(detections), seed, limits=limits, loose=(loose_shift, loose_scale))


#: ``redetect(t, aim, reference, direction) -> index``: look for the subject in
#: the unsearched frame ``t`` near ``aim(t)`` (filling in its detections), and
#: return the index of the face that continues the track there, or -1.
#: ``aim(u)`` is where the subject's landmark box is expected in any frame
#: ``u`` from the track so far; ``direction`` (+1 or -1) is where the loop goes
#: next, so frames ahead may be re-detected in the same batch.
_Redetect = Callable[[int, Callable[[int], np.ndarray], np.ndarray, int], int]


def _aim(moves: list[tuple[int, np.ndarray]], t: int) -> np.ndarray:
    """Where the subject's landmark box is expected in frame ``t``: moved as it was moving, else where it was."""
    expected = extrapolate(moves, t)
    return moves[-1][1] if expected is None else expected


def _follow(detections: list[Detections | None], seed: tuple[int, int], *, limits: dict | None = None,
            loose: tuple[float, float] = (LOOSE_SHIFT, LOOSE_SCALE),
            redetect: _Redetect | None = None) -> np.ndarray:
    """The one follow loop: from the seed forwards, then backwards (see :func:`follow`).

    With ``redetect``, a frame not searched yet (None) is first given to it,
    aimed at where the subject's landmark box is expected; it may fill in
    ``detections[t]``.
    """
    limits = {} if limits is None else limits
    n = len(detections)
    chosen = np.full(n, -1, np.int64)
    t0, k0 = seed
    chosen[t0] = k0
    for direction in (1, -1):
        history = [(t0, detections[t0].boxes[k0].astype(np.float64))]  # detector boxes, for association
        moves = [(t0, motion_box(detections[t0].boxes[k0], detections[t0].landmarks[k0]))]
        t = t0 + direction
        while 0 <= t < n:
            predicted = extrapolate(history, t)
            reference = history[-1][1] if predicted is None else predicted
            j = -1
            if redetect is not None and detections[t] is None:
                j = redetect(t, partial(_aim, moves), reference, direction)  # used within the call only
            if j < 0:
                for candidate in ([predicted] if predicted is not None else []) + [history[-1][1]]:
                    j = associate(candidate, detections[t], **limits)
                    if j >= 0:
                        break
            if j < 0:
                j = lone_match(reference, detections[t], max_shift=loose[0], max_scale=loose[1])
            if j >= 0:
                chosen[t] = j
                history.append((t, detections[t].boxes[j].astype(np.float64)))
                moves.append((t, motion_box(detections[t].boxes[j], detections[t].landmarks[j])))
            t += direction
    return chosen


def fill_missing(detections: Sequence[Detections | None], chosen: np.ndarray) -> Track:
    """Build the :class:`Track`: frames without the face borrow the nearest detected frame's.

    Ties (equally near before and after) take the earlier frame (see
    :func:`~sk_emotion.faces.cutting.nearest_detected`).  Boxes and
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
    detected = np.asarray(chosen) >= 0
    source = nearest_detected(detected)
    for t, s in enumerate(source):
        if s >= 0:
            d, j = detections[s], int(chosen[s])
            boxes[t], landmarks[t], scores[t] = d.boxes[j], d.landmarks[j], d.scores[j]
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
def _first_faces(frames: list[np.ndarray], detector, dets: list, full: np.ndarray,
                 scan_every: int) -> tuple[int, int] | None:
    """Search whole frames until the main face is found: the first, then a sparse set, then all."""
    n = len(frames)
    sparse = sorted(set(range(0, n, max(1, int(scan_every)))) | {n - 1})
    for batch in ([0], sparse, list(range(n))):
        todo = [t for t in batch if not full[t]]
        for t, d in zip(todo, detector.detect_batch([frames[t] for t in todo])):
            dets[t] = d
        full[todo] = True
        seed = select_main_face(dets)
        if seed is not None:
            return seed
    return None


def _still_valid(aimed: np.ndarray, found: Detections, expected: np.ndarray, reference: np.ndarray) -> bool:
    """Whether a re-detection made ahead stands once the track expects the subject at ``expected``.

    It does when it was aimed where the track now aims (then it is what
    re-detecting now would give), or when it found a face that continues the
    track where the track now expects the subject (see :data:`SAME_AIM_IOU`).
    A failure aimed elsewhere is redone: aimed anew, it may succeed.
    """
    if float(box_iou(aimed, expected)[0, 0]) >= SAME_AIM_IOU_EXACT:
        return True
    return redetection_continues(reference, found) and float(
        box_iou(motion_box(found.boxes[0], found.landmarks[0]), expected)[0, 0]) >= SAME_AIM_IOU


def search_and_track(frames: Sequence[np.ndarray], detector: FrameDetector, *, search: str = "track",
                     scan_every: int = SCAN_EVERY, anchor_every: int | None = None) -> Track:
    """Detect the main face in the sampled frames of one clip and follow it.

    Parameters
    ----------
    frames : sequence of (H, W, 3) uint8 RGB arrays
        The sampled frames, in time order.
    detector : FrameDetector
        See :func:`sk_emotion.faces.detectors.make_detector` (a bare
        detector is wrapped in a :class:`~sk_emotion.faces.detectors.FrameDetector`).
    search : {"track", "full"}, default="track"
        ``"full"``: search every frame whole (one batched call).
        ``"track"``: search the first frame whole, then follow the subject
        by re-detection near its expected box, searching a frame whole only
        where that fails (see the module docstring).  Falls back to
        ``"full"`` for detectors that cannot re-detect (insightface,
        callables).
    scan_every : int, default=5
        When the first frame shows no face: one frame in ``scan_every``
        (and the last) is searched whole before every other frame is.
    anchor_every : int, optional
        Deprecated name of ``scan_every`` (``anchor_every`` of
        :class:`~sk_emotion.faces.persons.PersonTracker` means something
        else: how often a whole-frame search looks for new persons).

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
    from .detectors import as_frame_detector

    if anchor_every is not None:
        warnings.warn("search_and_track's anchor_every was renamed scan_every; anchor_every will be removed",
                      FutureWarning, stacklevel=2)
        scan_every = anchor_every
    frames = list(frames)
    n = len(frames)
    if search not in ("track", "full"):
        raise ValueError(f"search must be 'track' or 'full', got {search!r}")
    detector = as_frame_detector(detector)
    if search == "full" or not detector.supports_refine or n < 2:
        track = track_main_face(detector.detect_batch(frames))
        track.n_full_searched = n
        return track

    dets: list[Detections | None] = [None] * n
    full = np.zeros(n, bool)
    tried = np.zeros(n, bool)
    seed = _first_faces(frames, detector, dets, full, scan_every)
    if seed is None:
        track = track_main_face(dets)
        track.n_full_searched = n
        return track

    # Re-detections made before the loop reached their frame: frame -> (box aimed at, what was found).
    ahead: dict[int, tuple[np.ndarray, Detections]] = {}

    def redetect(t: int, aim: Callable[[int], np.ndarray], reference: np.ndarray, direction: int) -> int:
        tried[t] = True
        expected = aim(t)
        held = ahead.pop(t, None)
        if held is not None and _still_valid(*held, expected, reference):
            found = held[1]
        else:
            # This frame and the next unsearched ones in one batch, each aimed
            # where the subject's motion so far puts it: batched, a
            # re-detection costs about 40% of one alone.
            batch = [t]
            while (len(batch) < REDETECT_AHEAD and 0 <= batch[-1] + direction < n
                   and dets[batch[-1] + direction] is None):
                batch.append(batch[-1] + direction)
            aims = np.stack([expected] + [aim(u) for u in batch[1:]])
            results = detector.refine_batch([frames[u] for u in batch], aims)
            ahead.clear()
            ahead.update(zip(batch[1:], zip(aims[1:], results[1:])))
            found = results[0]
        if redetection_continues(reference, found):
            dets[t] = found  # the same face, not a neighbour's
            return 0
        dets[t] = detector.detect_batch([frames[t]])[0]  # lost: search the whole frame
        full[t] = True
        return -1

    chosen = _follow(dets, seed, redetect=redetect)
    track = fill_missing(dets, chosen)
    track.tracked = (chosen >= 0) & ~full
    track.n_full_searched = int(full.sum())
    track.n_tracked = int(tried.sum())
    return track
