"""The stage-1 rules both followers share: association, motion, cutting, coverage, borrowing."""

from __future__ import annotations

import numpy as np
import pytest

from sk_emotion.faces.association import (
    TRACK_MIN_SCORE,
    extrapolate,
    lone_match,
    match_scores,
    motion_box,
    redetection_continues,
)
from sk_emotion.faces.cutting import FaceCutter, enough_faces, nearest_detected
from sk_emotion.faces.detectors import FrameDetector, as_frame_detector, make_detector
from sk_emotion.faces.persons import PersonTracker
from sk_emotion.faces.tracking import fill_missing, search_and_track
from sk_emotion.faces.types import Detections, RefiningDetector, RegionDetector


def _dets(boxes, landmarks=None) -> Detections:
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    lm = np.full((len(boxes), 5, 2), np.nan, np.float32) if landmarks is None else np.asarray(landmarks, np.float32)
    return Detections(boxes, np.full(len(boxes), 0.99, np.float32), lm)


def test_match_scores_measure_shift_and_size_in_the_reference_larger_side():
    reference = np.array([0, 0, 100, 50.0])  # side 100 (the larger side), centre (50, 25)
    iou, shift, ratio = match_scores(reference, [[10, 0, 110, 50], [0, 0, 50, 50]])
    assert iou == pytest.approx([90 * 50 / (110 * 50), 0.5])
    assert shift == pytest.approx([0.1, 0.25])
    assert ratio == pytest.approx([1.0, 0.5])


def test_a_lone_face_continues_a_track_but_not_one_of_two_or_a_taken_one():
    reference = np.array([0, 0, 100, 100.0])
    far = [120, 0, 220, 100]  # 1.2 sides away: beyond associate's limits, within the loose ones
    assert lone_match(reference, _dets([far])) == 0
    assert lone_match(reference, _dets([far, [-120, 0, -20, 100]])) == -1  # two candidates: none
    assert lone_match(reference, _dets([far, [-120, 0, -20, 100]]), free=np.array([True, False])) == 0
    assert lone_match(reference, _dets([[400, 0, 500, 100]])) == -1
    assert lone_match(reference, None) == -1


def test_a_re_detection_continues_the_track_when_sure_and_near():
    def one(box, score):
        return Detections(np.array([box], np.float32), np.array([score], np.float32),
                          np.full((1, 5, 2), np.nan, np.float32))

    reference = np.array([0, 0, 100, 100.0])
    assert redetection_continues(reference, one([5, 0, 105, 100], TRACK_MIN_SCORE))
    assert not redetection_continues(reference, one([0, 0, 100, 100], TRACK_MIN_SCORE - 0.01))  # unsure
    assert not redetection_continues(reference, one([300, 0, 400, 100], 0.999))  # someone else
    assert not redetection_continues(reference, Detections.empty())


def test_extrapolation_moves_the_last_box_at_constant_velocity_or_gives_up():
    points = [(0.0, np.array([0, 0, 10, 10.0])), (0.5, np.array([5, 0, 15, 10.0]))]
    np.testing.assert_allclose(extrapolate(points, 1.0), [10, 0, 20, 10])
    assert extrapolate(points[:1], 1.0) is None  # one point: no velocity
    assert extrapolate([points[0], (0.0, points[1][1])], 1.0) is None  # no time between them
    shrinking = [(0, np.array([0, 0, 100, 100.0])), (1, np.array([40, 40, 60, 60.0]))]
    assert extrapolate(shrinking, 3) is None  # the box would be empty


def test_motion_box_is_the_landmark_box_when_there_are_landmarks():
    box = np.array([0, 0, 10, 10.0])
    np.testing.assert_array_equal(motion_box(box, np.full((5, 2), np.nan)), box)
    landmarks = np.array([[40, 40], [60, 40], [50, 50], [42, 60], [58, 60.0]])
    square = motion_box(box, landmarks)
    assert square[2] - square[0] == pytest.approx(square[3] - square[1])
    assert square[2] - square[0] == pytest.approx(2.0 * np.hypot(20, 20))


def test_nearest_detected_borrows_from_the_nearest_frame_earlier_on_ties():
    assert nearest_detected(np.array([0, 0, 1, 0, 0, 0, 1, 0], bool)).tolist() == [2, 2, 2, 2, 2, 6, 6, 6]
    assert nearest_detected(np.zeros(3, bool)).tolist() == [-1, -1, -1]
    # The rule the loop it replaced applied: argmin of the distance, the first on ties.
    rng = np.random.default_rng(0)
    for _ in range(50):
        detected = rng.random(12) < 0.3
        hits = np.flatnonzero(detected)
        expected = [int(hits[np.argmin(np.abs(hits - t))]) for t in range(12)] if hits.size else [-1] * 12
        assert nearest_detected(detected).tolist() == expected


def test_fill_missing_borrows_boxes_through_nearest_detected():
    dets = [_dets([[0, 0, 10, 10]]), None, None, _dets([[5, 5, 15, 15]])]
    track = fill_missing(dets, np.array([0, -1, -1, 0]))
    assert track.source.tolist() == [0, 0, 3, 3]
    np.testing.assert_array_equal(track.boxes[2], [5, 5, 15, 15])


@pytest.mark.parametrize("n_found, n_sampled, coverage, enough", [
    (4, 16, 0.25, True), (3, 16, 0.25, False), (1, 16, 0.0, True), (0, 16, 0.0, False), (16, 16, 1.0, True),
    (2, 7, 0.3, False), (3, 10, 0.3, True),  # 0.3 * 10 is 3.0000000000000004 in floats: 3 is enough
])
def test_enough_faces(n_found, n_sampled, coverage, enough):
    assert enough_faces(n_found, n_sampled, coverage) is enough


def test_the_cutter_cuts_aligned_faces_and_converts_them():
    rng = np.random.default_rng(1)
    frame = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    template = np.array([[0.3, 0.35], [0.7, 0.35], [0.5, 0.55], [0.35, 0.75], [0.65, 0.75]])
    gray = FaceCutter(face_size=32, color="gray", template=template, margin=0.0)
    rgb = FaceCutter(face_size=32, color="rgb", template=template, margin=0.0)
    landmarks = np.array([[60, 50], [100, 50], [80, 70], [65, 90], [95, 90.0]])
    face_rgb = rgb.cut(frame, landmarks, None)
    face_gray = gray.cut(frame, landmarks, None)
    assert face_rgb.shape == (3, 32, 32) and face_gray.shape == (1, 32, 32)
    luma = face_rgb.astype(float).transpose(1, 2, 0) @ [0.299, 0.587, 0.114]
    assert np.abs(face_gray[0] - luma).max() <= 1.0  # gray is the luma of the RGB face
    clip = gray.cut_clip([frame, frame], np.stack([landmarks, landmarks]), np.full((2, 4), np.nan))
    np.testing.assert_array_equal(clip[1], face_gray)
    assert gray.resize_clip([frame]).shape == (1, 1, 32, 32)
    centre = rgb.centre_clip(frame[None])[0]  # the 120x120 square in the middle, shrunk
    assert np.abs(centre.astype(float).mean() - frame[:, 20:140].mean()) < 2


class _Bare:
    """A detector that states nothing about its capabilities."""

    def detect_batch(self, images):
        return [Detections.empty() for _ in images]

    def refine_batch(self, images, boxes):
        return [Detections.empty() for _ in images]


def test_capabilities_are_the_detector_protocols():
    wrapped = as_frame_detector(_Bare())
    assert isinstance(wrapped, FrameDetector) and wrapped.supports_refine and not wrapped.supports_regions
    assert isinstance(_Bare(), RefiningDetector) and not isinstance(_Bare(), RegionDetector)
    mtcnn = make_detector("mtcnn")
    assert as_frame_detector(mtcnn) is mtcnn and mtcnn.supports_regions
    # A bare detector given to the clip tracker is wrapped, not probed.
    track = search_and_track([np.zeros((32, 32, 3), np.uint8)] * 3, _Bare(), search="track")
    assert not track.found and track.n_full_searched == 3


def test_anchor_every_of_the_clip_tracker_is_now_scan_every():
    frames = [np.zeros((32, 32, 3), np.uint8)] * 3
    with pytest.warns(FutureWarning, match="scan_every"):
        track = search_and_track(frames, _Bare(), anchor_every=2)
    assert track.n_full_searched == 3


class _CountingMTCNN(FrameDetector):
    def __init__(self):
        inner = make_detector("mtcnn", min_face_size=40)
        super().__init__(inner.detector, inner.identity, min_face_size=40)
        self.n_detect = self.n_refine = 0

    def detect_batch(self, images):
        self.n_detect += len(images)
        return super().detect_batch(images)

    def refine_batch(self, images, boxes):
        self.n_refine += len(images)
        return super().refine_batch(images, boxes)


@pytest.mark.parametrize("search", ["track", "full"])
def test_person_tracker_search_full_searches_every_frame(search):
    from skimage import data

    frame = np.ascontiguousarray(data.astronaut()[:256, 100:356])
    detector = _CountingMTCNN()
    tracker = PersonTracker(detector, anchor_every=4, search=search)
    found = [tracker.update(frame, t / 8) for t in range(6)]
    assert all(len(f) == 1 and f[0].person == 0 for f in found)
    if search == "full":
        assert (detector.n_detect, detector.n_refine, tracker.n_full_searched) == (6, 0, 6)
    else:  # anchors at samples 0 and 4, re-detection in between
        assert (detector.n_detect, detector.n_refine, tracker.n_full_searched) == (2, 4, 2)
    with pytest.raises(ValueError, match="search must be"):
        PersonTracker(detector, search="auto")
