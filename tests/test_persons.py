"""PersonTracker: stable ids for every face of a stream of frames.

The logic is tested with a scripted detector (faces given per frame, so that
exits, returns, crossings and misses happen exactly when intended); the real
MTCNN runs in tests/test_timeline.py on generated videos.
"""

from __future__ import annotations

import numpy as np
import pytest

from sk_emotion.faces.persons import PersonTracker
from sk_emotion.faces.types import Detections


def _face(cx: float, cy: float, side: float = 80.0) -> tuple[np.ndarray, np.ndarray]:
    box = np.array([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2])
    s = side / 4
    landmarks = np.array([[cx - s, cy - s / 2], [cx + s, cy - s / 2], [cx, cy + s / 4],
                          [cx - s * 0.8, cy + s * 1.2], [cx + s * 0.8, cy + s * 1.2]])
    return box, landmarks


class ScriptedDetector:
    """Faces per frame index (frame[0, 0, 0] holds the index); counts the calls.

    A search restricted to regions (``detect_regions``) finds the faces whose
    centre lies in one of them.
    """

    supports_refine = True

    def __init__(self, script: list[list[tuple[float, float]]], *, refine: bool = True) -> None:
        self.script = script
        self.supports_refine = refine
        self.n_detect = 0
        self.n_refine = 0

    supports_regions = True

    def _faces(self, frame: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        return [_face(cx, cy, *side) for cx, cy, *side in self.script[int(frame[0, 0, 0])]]

    def detect_regions(self, frame, regions):
        self.n_regions = getattr(self, "n_regions", 0) + 1
        inside = [f for f in self._faces(frame)
                  if any(x1 <= (f[0][0] + f[0][2]) / 2 < x2 and y1 <= (f[0][1] + f[0][3]) / 2 < y2
                         for x1, y1, x2, y2 in regions)]
        return self._detections(inside)

    @staticmethod
    def _detections(faces) -> Detections:
        if not faces:
            return Detections.empty()
        return Detections(np.array([f[0] for f in faces], np.float32), np.full(len(faces), 0.999, np.float32),
                          np.array([f[1] for f in faces], np.float32))

    def detect_batch(self, frames):
        self.n_detect += len(frames)
        return [self._detections(self._faces(f)) for f in frames]

    def refine_batch(self, frames, boxes):
        self.n_refine += len(frames)
        out = []
        for frame, box in zip(frames, boxes):
            near = [f for f in self._faces(frame)
                    if np.abs((f[0][:2] + f[0][2:]) / 2 - (box[:2] + box[2:]) / 2).max() < 0.3 * (box[2] - box[0])]
            out.append(self._detections(near[:1]))
        return out


def _run(script, **kwargs) -> tuple[list[dict[int, np.ndarray]], PersonTracker]:
    detector = ScriptedDetector(script, refine=kwargs.pop("refine", True))
    tracker = PersonTracker(detector, **kwargs)
    seen = []
    for t in range(len(script)):
        frame = np.zeros((4, 4, 3), np.uint8)
        frame[0, 0, 0] = t
        seen.append({o.person: (o.box[:2] + o.box[2:]) / 2 for o in tracker.update(frame, t * 0.125)})
    return seen, tracker


def test_two_people_keep_their_ids_while_moving_and_a_third_gets_a_new_one():
    script = [[(100 + 2 * t, 200), (400 - 2 * t, 200)] + ([(250, 400)] if t >= 12 else []) for t in range(24)]
    seen, tracker = _run(script, anchor_every=8)
    for t, people in enumerate(seen):
        assert people[0][0] == pytest.approx(100 + 2 * t, abs=1e-3)
        assert people[1][0] == pytest.approx(400 - 2 * t, abs=1e-3)
    # The third person appears at frame 12 and is found at the next anchor (frame 16).
    assert [2 in people for people in seen] == [t >= 16 for t in range(24)]
    assert tracker.n_persons == 3
    # Between anchors the persons were re-detected, not searched for.
    assert tracker.n_full_searched == 3 and tracker.detector.n_detect == 3


def test_a_person_who_leaves_and_returns_to_the_same_place_regains_the_id():
    script = [[(100, 200)] + ([(400, 200)] if not 8 <= t < 20 else []) for t in range(40)]
    seen, tracker = _run(script, anchor_every=4, reid_max_gap_s=5.0)
    assert [1 in people for people in seen] == [not 8 <= t < 20 for t in range(40)]
    assert tracker.n_persons == 2  # the same id back after 1.5 s away


def test_a_person_lost_while_moving_is_looked_for_where_last_seen():
    # Moving 12 px per sample, then not detected for 8 samples (1 s), then back where last seen:
    # extrapolating the motion would put them 108 px (1.35 face sides) away.
    script = [[(100, 200), (300 + 12 * min(t, 5), 200)] if not 6 <= t < 14 else [(100, 200)] for t in range(20)]
    seen, tracker = _run(script, anchor_every=2)
    assert tracker.n_persons == 2 and all(1 in people for people in seen[14:])
    assert seen[-1][1][0] == pytest.approx(360)


@pytest.mark.parametrize("side, same", [(144.0, True), (200.0, False)])
def test_a_cut_to_a_closer_shot_of_the_same_place_keeps_the_id_up_to_twice_the_size(side, same):
    # An 80 px face, then 1 s without a face, then a face of `side` px at the same place.
    script = [[(300, 240)] if t < 8 else [] if t < 16 else [(300, 240, side)] for t in range(24)]
    seen, tracker = _run(script, anchor_every=8)
    assert tracker.n_persons == (1 if same else 2)
    assert all((0 if same else 1) in people for people in seen[16:])


def test_a_small_face_found_inside_a_larger_one_is_not_a_person():
    # MTCNN sometimes also fires on part of a face (an eye and brow): a 30 px box inside an 80 px face.
    script = [[(300, 240), (285, 228, 30.0)] for t in range(16)]
    seen, tracker = _run(script, anchor_every=8)
    assert tracker.n_persons == 1 and all(list(people) == [0] for people in seen)
    # Side by side, a small face is a person.
    apart = [[(300, 240), (420, 240, 30.0)] for t in range(8)]
    assert _run(apart, anchor_every=8)[1].n_persons == 2


def test_after_too_long_away_or_elsewhere_a_returning_face_is_a_new_person():
    away = [[(100, 200)] + ([(400, 200)] if not 4 <= t < 60 else []) for t in range(64)]
    seen, tracker = _run(away, anchor_every=4, reid_max_gap_s=5.0)  # 7 s away
    assert 1 in seen[0] and 2 in seen[-1] and tracker.n_persons == 3
    moved = [[(100, 200)] + ([(400, 200)] if t < 4 else [(400, 420)] if t >= 12 else []) for t in range(16)]
    seen, tracker = _run(moved, anchor_every=4)
    assert tracker.n_persons == 3 and 2 in seen[-1]


def test_two_people_crossing_keep_their_ids():
    # Faces 80 px wide move 6 px per sample towards and past each other.
    script = [[(100 + 6 * t, 200), (340 - 6 * t, 230)] for t in range(40)]
    seen, _ = _run(script, anchor_every=8)
    for t, people in enumerate(seen):
        if 0 in people:
            assert people[0][0] == pytest.approx(100 + 6 * t, abs=1e-3), t
        if 1 in people:
            assert people[1][0] == pytest.approx(340 - 6 * t, abs=1e-3), t
    assert sum(0 in p for p in seen) >= 36 and sum(1 in p for p in seen) >= 36


def test_detectors_without_refinement_search_every_frame():
    script = [[(100 + t, 200), (300, 200)] for t in range(10)]
    seen, tracker = _run(script, refine=False, anchor_every=8)
    assert tracker.n_full_searched == 10 and tracker.detector.n_refine == 0
    assert all(set(people) == {0, 1} for people in seen)
    assert seen[-1][0][0] == pytest.approx(109)


def test_a_cut_just_before_an_anchor_keeps_the_id():
    # A cut at frame 7 to a smaller face 40 px to the right; frame 8 is an anchor, where the jump
    # extrapolated would expect a 20 px face 80 px away: the person's last box is matched instead.
    script = [[(100, 200, 120.0)] if t < 7 else [(140, 200, 70.0)] for t in range(12)]
    seen, tracker = _run(script, anchor_every=8)
    assert all(list(people) == [0] for people in seen) and tracker.n_persons == 1
    assert seen[8][0][0] == pytest.approx(140) and tracker.n_full_searched == 2


@pytest.mark.parametrize("local_search", [3.0, 0.0])
def test_a_missed_re_detection_falls_back_to_a_search_around_the_person(local_search):
    # The face (80 px) jumps 60 px at frame 5, too far for re-detection; the search finds it again.
    script = [[(100 + (60 if t >= 5 else 0), 200)] for t in range(10)]
    seen, tracker = _run(script, anchor_every=100, local_search=local_search)
    assert all(0 in people for people in seen) and tracker.n_persons == 1
    assert seen[-1][0][0] == pytest.approx(160, abs=1e-3)
    # Frame 5, and frame 6 (where the jump's velocity overshoots once); then re-detected again.
    if local_search:  # a 240 px region around the expected box
        assert (tracker.n_full_searched, tracker.n_local_searched) == (1, 2)
    else:
        assert (tracker.n_full_searched, tracker.n_local_searched) == (3, 0)


def test_a_face_jumping_beyond_the_region_is_lost_until_the_next_anchor_and_new_faces_wait_for_it():
    # At frame 3 the face jumps 300 px (beyond 1.5 face sides) and a second face appears.
    script = [[(100, 200)] if t < 3 else [(400, 200), (100, 400)] for t in range(10)]
    seen, tracker = _run(script, anchor_every=6)
    assert [sorted(people) for people in seen] == [[0]] * 3 + [[]] * 3 + [[1, 2]] * 4
    # At the anchor the jumped face is too far from where person 0 was to be them again.
    assert seen[6][1][0] == pytest.approx(400) and seen[6][2][1] == pytest.approx(400)
    # Frames 0 and 6 searched whole; frame 3 around the person; frames 4 and 5 not at all.
    assert (tracker.n_full_searched, tracker.n_local_searched) == (2, 1)


@pytest.mark.parametrize("kwargs, message", [
    ({"anchor_every": 0}, "anchor_every"),
    ({"reid_max_gap_s": -1.0}, "reid_max_gap_s"),
    ({"local_search": 0.5}, "local_search must be 0 or at least 1"),
])
def test_bad_parameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PersonTracker(ScriptedDetector([[]]), **kwargs)
