"""Follow every person's face through a long video, each with a stable id.

Clip classification follows one subject (:mod:`sk_emotion.faces.tracking`).
A timeline of an interview or a meeting needs everyone, for minutes, frame
after frame, without holding frames: :class:`PersonTracker` takes the
sampled frames one at a time and says, for each, which persons are where.

Per sampled frame:

- An *anchor* frame (one every ``anchor_every`` samples, and any frame where
  following failed) is searched whole; its faces continue the persons they
  overlap (highest IoU first, with the clip tracker's association rules) and
  the others are new persons -- or persons seen before: a face that appears
  where a person was lost a short while ago (within ``reid_max_gap_s``,
  centre within ``reid_max_shift`` face sides, similar size) takes that
  person's id back, so a short occlusion, a turn of the head or a quick
  exit and return keep the id.
- Between anchors each person is re-detected near the box its landmarks and
  motion predict (MTCNN's R-Net and O-Net on one box per person, about 2 ms),
  as the clip tracker does.  Where that fails (a low score, a face that
  moved too far), the frame is searched as a whole search would, but only
  in a region ``local_search`` face sides wide around the expected box
  (MTCNN's ``detect_regions``: P-Net on that part of the whole frame's
  pyramid, so the face gets the same box and landmarks as in a whole-frame
  search, for about half the time at 720p).  New faces are only looked for
  on anchor frames (so a frame without anyone to follow costs nothing).
  Detectors that cannot re-detect search every frame whole; with
  ``local_search=0``, or a detector without ``detect_regions``, any failure
  and any frame without a person to follow is searched whole.
- A person not found by re-detection nor around their expected place is
  *lost*: no more re-detection is spent on them until an anchor's search
  finds them again.

Re-identification is by position and size only.  A face-identity embedding
would also recognise a person after a camera cut or a change of seat, but
the identity networks at hand (insightface's ArcFace) are licensed for
non-commercial research only and are not shipped; a person who comes back
elsewhere after ``reid_max_gap_s`` gets a new id.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .association import (
    box_centre,
    box_side,
    continues,
    extrapolate,
    lone_match,
    match_scores,
    motion_box,
    redetection_continues,
)
from .boxes import box_iou, overlap_with
from .types import Detections

if TYPE_CHECKING:
    from .detectors import FrameDetector

__all__ = ["Observation", "PersonTracker"]

#: A face found where a lost person was, within this many face sides of
#: their last centre ...
REID_MAX_SHIFT = 1.0
#: ... and with a side within this factor of theirs, is that person again
#: (2: a cut from a medium shot to a close-up of the same seat keeps the id).
REID_MAX_SCALE = 2.0
#: A new face whose box lies more than this share inside a larger face's box
#: is not a new person.
NESTED_MAX_OVERLAP = 0.5


@dataclass(frozen=True)
class Observation:
    """One person in one sampled frame.

    The parameters are stored as attributes of the same names.

    Parameters
    ----------
    person : int
        The person's id (0, 1, ... in order of first appearance).
    box : numpy.ndarray of shape (4,), float64
        ``x1, y1, x2, y2`` of the detector's box, in frame pixels.
    landmarks : numpy.ndarray of shape (5, 2), float64
        The five landmarks (NaN when the detector gives none).
    score : float
        The detector's face score.
    tracked : bool
        Found by re-detection near the predicted box (True) or by a
        whole-frame search (False).
    """

    person: int
    box: np.ndarray
    landmarks: np.ndarray
    score: float
    tracked: bool


@dataclass
class _Person:
    id: int
    history: list[tuple[float, np.ndarray]] = field(default_factory=list)  # (time, box), recent
    moves: list[tuple[float, np.ndarray]] = field(default_factory=list)  # (time, landmark box)
    last_time: float = -np.inf
    active: bool = True

    def seen(self, time_s: float, box: np.ndarray, landmarks: np.ndarray) -> None:
        self.history = [*self.history[-1:], (time_s, box)]
        self.moves = [*self.moves[-1:], (time_s, motion_box(box, landmarks))]
        self.last_time = time_s
        self.active = True

    def expected(self, time_s: float, moves: bool) -> np.ndarray:
        """Box expected at ``time_s``: the last one moved with the last velocity."""
        points = self.moves if moves else self.history
        predicted = extrapolate(points, time_s)
        return points[-1][1] if predicted is None else predicted


class PersonTracker:
    """Give every face of a stream of sampled frames a stable person id.

    Parameters
    ----------
    detector : FrameDetector
        From :func:`sk_emotion.faces.detectors.make_detector` (a bare
        detector is wrapped in a :class:`~sk_emotion.faces.detectors.FrameDetector`);
        with ``supports_refine`` (MTCNN) persons are followed by
        re-detection between anchor frames, otherwise every frame is
        searched whole.
    anchor_every : int, default=8
        A whole-frame search every this many sampled frames (new persons are
        found there); 8 is once a second at the timeline's default sampling.
    reid_max_gap_s : float, default=5.0
        How long a lost person's id can be given back to a face that appears
        where they were.
    local_search : float, default=3.0
        Side, in face sides, of the region searched around a person whose
        re-detection failed (covers a move of one face side per sample), for
        detectors with ``detect_regions``.  0 searches the whole frame instead.
    search : {"track", "full"}, default="track"
        ``"track"``: follow persons by re-detection between anchors when the
        detector can (as above).  ``"full"``: search every frame whole, as
        ``search="full"`` does in :func:`~sk_emotion.faces.tracking.search_and_track`.

    Attributes
    ----------
    n_full_searched : int
        Sampled frames searched whole so far.
    n_local_searched : int
        Regions searched around a person so far.
    n_refined : int
        Re-detections run so far (one per person and frame).
    """

    def __init__(self, detector: FrameDetector, *, anchor_every: int = 8, reid_max_gap_s: float = 5.0,
                 local_search: float = 3.0, search: str = "track") -> None:
        from .detectors import as_frame_detector

        if search not in ("track", "full"):
            raise ValueError(f"search must be 'track' or 'full', got {search!r}")
        if int(anchor_every) < 1:
            raise ValueError(f"anchor_every must be a positive integer, got {anchor_every!r}")
        if not reid_max_gap_s >= 0:
            raise ValueError(f"reid_max_gap_s must be >= 0, got {reid_max_gap_s!r}")
        if not (local_search == 0 or local_search >= 1):
            raise ValueError(f"local_search must be 0 or at least 1 face side, got {local_search!r}")
        self.detector = as_frame_detector(detector)
        self.search = search
        self.anchor_every = int(anchor_every)
        self.local_search = float(local_search)
        self.reid_max_gap_s = float(reid_max_gap_s)
        self._persons: list[_Person] = []
        self._n_updates = 0
        self.n_full_searched = 0
        self.n_local_searched = 0
        self.n_refined = 0

    @property
    def n_persons(self) -> int:
        """Number of person ids given so far."""
        return len(self._persons)

    def update(self, frame: np.ndarray, time_s: float) -> list[Observation]:
        """Find the persons in the next sampled frame.

        Parameters
        ----------
        frame : numpy.ndarray of shape (H, W, 3), uint8
            The RGB frame; frames must come in time order.
        time_s : float
            Its time in the video, in seconds.

        Returns
        -------
        list of Observation
            The persons found in this frame, by increasing id.
        """
        anchor = self._n_updates % self.anchor_every == 0
        self._n_updates += 1
        active = [p for p in self._persons if p.active]
        found: dict[int, Observation] = {}
        refines = self.detector.supports_refine and self.search == "track"
        local = bool(self.local_search) and self.detector.supports_regions
        if not anchor and not active and refines and local:
            return []  # nobody to follow; new faces are looked for on the next anchor
        if active and not anchor and refines:
            found = self._refine(frame, time_s, active)
            if len(found) == len(active):
                return self._commit(found, time_s)
            if local:
                missing = [p for p in active if p.id not in found]
                self._assign(self._search_near(frame, time_s, missing), time_s, found, new_persons=False)
                for person in active:
                    if person.id not in found:
                        person.active = False
                return self._commit(found, time_s)
        # An anchor (or someone was not re-detected, without local search): search the whole frame.
        dets = self.detector.detect_batch([frame])[0]
        self.n_full_searched += 1
        self._assign(dets, time_s, found)
        for person in active:
            if person.id not in found:
                person.active = False  # lost until a whole-frame search finds them again
        return self._commit(found, time_s)

    # ------------------------------------------------------------ internals
    def _refine(self, frame: np.ndarray, time_s: float, active: list[_Person]) -> dict[int, Observation]:
        expected = np.stack([p.expected(time_s, moves=True) for p in active])
        results = self.detector.refine_batch([frame] * len(active), expected)
        self.n_refined += len(active)
        found = {}
        for person, dets in zip(active, results):
            if redetection_continues(person.expected(time_s, moves=False), dets):
                found[person.id] = self._observation(person.id, dets, 0, tracked=True)
        # Two persons re-detected onto the same face (one occluding the other):
        # the one whose box moved less keeps it, the other is searched for.
        ids = sorted(found)
        for a in ids:
            for b in ids:
                if a < b and a in found and b in found and box_iou(found[a].box[None], found[b].box[None])[0, 0] > 0.5:
                    drop = max((a, b), key=lambda i: self._moved(i, found[i].box, time_s))
                    del found[drop]
        return found

    def _search_near(self, frame: np.ndarray, time_s: float, persons: list[_Person]) -> Detections:
        """A whole-frame search restricted to a region around each person's expected box."""
        regions = []
        for person in persons:
            box = person.expected(time_s, moves=True)
            half = self.local_search * float(box_side(box)) / 2
            regions.append(np.r_[box_centre(box) - half, box_centre(box) + half])
        self.n_local_searched += 1
        return self.detector.detect_regions(frame, np.array(regions))

    def _moved(self, person_id: int, box: np.ndarray, time_s: float) -> float:
        return float(match_scores(self._persons[person_id].expected(time_s, moves=False), box)[1][0])

    def _assign(self, dets: Detections | None, time_s: float, found: dict[int, Observation], *,
                new_persons: bool = True) -> None:
        """Match a search's faces to the persons; other faces become persons (or old ones again)."""
        if dets is None or len(dets) == 0:
            return
        free = np.ones(len(dets), bool)
        for obs in found.values():  # the face each re-detected person already is
            iou = box_iou(obs.box[None], dets.boxes)[0]
            if iou.max() >= 0.5:
                free[int(iou.argmax())] = False
        # Active persons first (they were here a sample ago), then lost ones by recency.
        candidates = sorted((p for p in self._persons if p.id not in found),
                            key=lambda p: (not p.active, -p.last_time))
        pairs = []
        for person in candidates:
            recent = person.active
            # A lost person is looked for where last seen: their motion then says
            # nothing about where they are seconds later.
            if recent:
                # Where the motion puts them, or where they were: as the clip tracker, since a
                # cut's jump (a new shot, a closer face) must not be extrapolated into the next frame.
                references = [person.expected(time_s, moves=False), person.history[-1][1]]
            else:
                references = [person.history[-1][1]]
            # An active person was seen one sample ago: the clip tracker's limits.  A lost
            # one may have been away for seconds: position and size only.
            limits = {} if recent else {"min_iou": np.inf, "max_shift": REID_MAX_SHIFT, "max_scale": REID_MAX_SCALE}
            if not recent and time_s - person.last_time > self.reid_max_gap_s:
                continue
            matched = {}
            for reference in references:
                iou, shift, ratio = match_scores(reference, dets.boxes)
                for k in np.flatnonzero(continues(iou, shift, ratio, **limits) & free):
                    matched.setdefault(int(k), (-float(iou[k]), float(shift[k])))  # the first reference's scores
            for k, (negative_iou, shift_k) in matched.items():
                pairs.append((0 if recent else 1, negative_iou, shift_k, person.id, k))
        taken_persons: set[int] = set()
        for _, _, _, person_id, k in sorted(pairs):
            if person_id in taken_persons or not free[k]:
                continue
            taken_persons.add(person_id)
            free[k] = False
            found[person_id] = self._observation(person_id, dets, k, tracked=False)
        # Fast motion: an active person still unmatched continues with the one free
        # face within the clip tracker's looser limits, if there is exactly one.
        for person in candidates:
            if person.id in found or not person.active or not free.any():
                continue
            k = lone_match(person.expected(time_s, moves=False), dets, free=free)
            if k >= 0:
                free[k] = False
                found[person.id] = self._observation(person.id, dets, k, tracked=False)
        areas = (dets.boxes[:, 2] - dets.boxes[:, 0]) * (dets.boxes[:, 3] - dets.boxes[:, 1])
        for k in np.flatnonzero(free) if new_persons else ():
            # Faces do not nest: a box lying mostly inside a larger face's box is one of
            # MTCNN's false detections on that face (an eye and brow, say), not a person.
            larger = areas > areas[k]
            if larger.any() and overlap_with(dets.boxes[k], dets.boxes[larger], "min").max() > NESTED_MAX_OVERLAP:
                continue
            person = _Person(id=len(self._persons))
            self._persons.append(person)
            found[person.id] = self._observation(person.id, dets, int(k), tracked=False)

    @staticmethod
    def _observation(person_id: int, dets: Detections, k: int, *, tracked: bool) -> Observation:
        return Observation(person=person_id, box=dets.boxes[k].astype(np.float64),
                           landmarks=dets.landmarks[k].astype(np.float64), score=float(dets.scores[k]),
                           tracked=tracked)

    def _commit(self, found: dict[int, Observation], time_s: float) -> list[Observation]:
        for person_id, obs in found.items():
            self._persons[person_id].seen(time_s, obs.box, obs.landmarks)
        return [found[i] for i in sorted(found)]
