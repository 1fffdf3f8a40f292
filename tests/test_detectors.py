"""Detectors behind one interface (MTCNN, insightface SCRFD, callables) and main-face tracking.

The SCRFD path is tested offline with a small ONNX model built here: it has
SCRFD's input and its 9 outputs (scores, box distances and keypoint offsets
for strides 8, 16 and 32 with 2 anchors per position, in the order
insightface's ``SCRFD.forward`` reads them), whose constant values encode a
known face, so that insightface's model zoo, its decoding code and
onnxruntime all run for real.
"""

from __future__ import annotations

import importlib.util
import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest
from _helpers import astronaut_head, build_fake_scrfd

from sk_emotion.faces import tracking
from sk_emotion.faces.boxes import box_iou
from sk_emotion.faces.callable import CallableDetector
from sk_emotion.faces.detectors import (
    DETECTORS,
    FrameDetector,
    filter_detections,
    make_detector,
    register_detector,
)
from sk_emotion.faces.insightface import InsightFaceDetector, find_insightface_model
from sk_emotion.faces.mtcnn_detector import MTCNNDetector
from sk_emotion.faces.tracking import (
    associate,
    fill_missing,
    follow,
    search_and_track,
    select_main_face,
    track_main_face,
)
from sk_emotion.faces.types import Detections, Detector, RefiningDetector

IMAGES = Path(importlib.util.find_spec("insightface").submodule_search_locations[0]) / "data" / "images"

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ------------------------------------------------------------ fake SCRFD
FRAME_H, FRAME_W = 240, 320
DET_SCALE = 2.0  # 320x240 letterboxed into 640x640 -> 640x480
FACE_BOX = np.array([100.0, 60.0, 180.0, 160.0])
FACE_KPS = np.array([[122, 98], [158, 97], [140, 118], [125, 138], [155, 137]], np.float64)


@pytest.fixture(scope="module")
def fake_scrfd(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("insightface")
    return build_fake_scrfd(folder / "det_fake.onnx", FACE_BOX * DET_SCALE, FACE_KPS * DET_SCALE)


def test_fake_scrfd_through_insightface(fake_scrfd):
    det = InsightFaceDetector(fake_scrfd)
    frame = np.zeros((FRAME_H, FRAME_W, 3), np.uint8)
    found = det.detect(frame)
    assert isinstance(found, Detections) and len(found) == 1
    np.testing.assert_allclose(found.boxes[0], FACE_BOX, atol=1e-3)
    np.testing.assert_allclose(found.landmarks[0], FACE_KPS, atol=1e-3)
    assert found.scores[0] == pytest.approx(0.9)
    # Batches are per image; a threshold above the score finds nothing.
    assert [len(d) for d in det.detect_batch([frame, frame])] == [1, 1]
    assert len(InsightFaceDetector(fake_scrfd, det_thresh=0.95).detect(frame)) == 0


def test_insightface_detector_pickles_without_its_session(fake_scrfd):
    det = InsightFaceDetector(fake_scrfd)
    frame = np.zeros((FRAME_H, FRAME_W, 3), np.uint8)
    det.detect(frame)
    assert hasattr(det, "_model")
    clone = pickle.loads(pickle.dumps(det))
    assert not hasattr(clone, "_model")
    np.testing.assert_allclose(clone.detect(frame).boxes, det.detect(frame).boxes)


def test_insightface_model_without_keypoints(tmp_path):
    path = build_fake_scrfd(tmp_path / "nokps.onnx", FACE_BOX * DET_SCALE, None, with_kps=False)
    found = InsightFaceDetector(path).detect(np.zeros((FRAME_H, FRAME_W, 3), np.uint8))
    np.testing.assert_allclose(found.boxes[0], FACE_BOX, atol=1e-3)
    assert np.isnan(found.landmarks).all()  # the extractor then crops the box


def test_find_insightface_model_pack_name_folder_and_scrfd(tmp_path, fake_scrfd, monkeypatch):
    pack = tmp_path / "models" / "buffalo_s"
    pack.mkdir(parents=True)
    target = pack / "det_500m.onnx"
    target.write_bytes(fake_scrfd.read_bytes())
    (pack / "w600k_mbf.onnx").write_bytes(b"not a detector")  # sorted last, must not be picked
    assert find_insightface_model("buffalo_s", root=tmp_path) == target.resolve()
    assert find_insightface_model(pack) == target.resolve()
    assert find_insightface_model("scrfd", root=tmp_path) == target.resolve()
    monkeypatch.setenv("INSIGHTFACE_HOME", str(tmp_path))
    assert find_insightface_model("scrfd") == target.resolve()
    assert find_insightface_model(str(fake_scrfd)) == fake_scrfd.resolve()


def test_find_insightface_model_missing_explains(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        find_insightface_model("scrfd", root=tmp_path)
    msg = str(err.value)
    assert "buffalo_l" in msg and "non-commercial" in msg and str(tmp_path) in msg


def test_a_file_that_is_not_a_detection_model_stops_the_batch_naming_the_detector(tmp_path):
    """Not a fault of any video: every video would fail alike, so the batch stops with the reason."""
    from sk_emotion import VideoFaceExtractor
    from sk_emotion.exceptions import DetectorError
    from sk_emotion.video import write_video

    text = tmp_path / "passwd"
    text.write_text("root:x:0:0:root:/root:/bin/bash\n")
    videos = [str(write_video(tmp_path / f"v{i}.mp4", np.zeros((4, 64, 64, 3), np.uint8))) for i in range(2)]
    for on_error in ("raise", "fallback"):
        extractor = VideoFaceExtractor(n_frames=4, detector=str(text), on_error=on_error, n_jobs=1)
        with pytest.raises(DetectorError, match=rf"^detector '{text}' is not an insightface detection model"):
            extractor.transform(videos)
    with pytest.raises(DetectorError, match=r"^insightface detection model '/dev/null' is not a regular file"):
        find_insightface_model("/dev/null")


def test_make_detector_specs(fake_scrfd):
    assert make_detector(None) is None
    mtcnn = make_detector("mtcnn", min_face_size=30, min_confidence=0.9)
    assert isinstance(mtcnn.detector, MTCNNDetector) and mtcnn.supports_refine
    assert mtcnn.detector.min_face_size == 30 and mtcnn.detector.thresholds[2] == 0.9
    scrfd = make_detector(str(fake_scrfd))
    assert isinstance(scrfd.detector, InsightFaceDetector) and not scrfd.supports_refine
    assert str(fake_scrfd.resolve()) in scrfd.identity
    own = MTCNNDetector(min_face_size=25)
    wrapped = make_detector(own)
    assert wrapped.detector is own and wrapped.supports_refine
    assert isinstance(make_detector(_boxes_only).detector, CallableDetector)
    with pytest.raises(TypeError, match="detector must be"):
        make_detector(42.0)
    # Identities change with what changes the output.
    assert make_detector("mtcnn", min_face_size=30).identity != make_detector("mtcnn").identity
    assert make_detector(_boxes_only).identity == make_detector(_boxes_only).identity
    assert make_detector(_boxes_only).identity != make_detector(_with_landmarks).identity


def _boxes_only(image):
    return np.array([[10, 10, 50, 60, 0.9]]), None


def _with_landmarks(image):
    return np.array([[10, 10, 50, 60]]), FACE_KPS[None] * 0.3


def test_callable_detector_validates_and_packs():
    det = CallableDetector(_boxes_only)
    found = det.detect(np.zeros((80, 80, 3), np.uint8))
    np.testing.assert_allclose(found.boxes, [[10, 10, 50, 60]])
    assert found.scores.tolist() == [pytest.approx(0.9)]
    assert np.isnan(found.landmarks).all() and found.landmarks.shape == (1, 5, 2)
    found = CallableDetector(_with_landmarks).detect(np.zeros((80, 80, 3), np.uint8))
    assert found.scores.tolist() == [1.0]
    bad = CallableDetector(lambda im: (np.zeros((2, 3)), None))
    with pytest.raises(ValueError, match=r"boxes must have shape \(N, 4\) or \(N, 5\)"):
        bad.detect(np.zeros((8, 8, 3), np.uint8))
    bad = CallableDetector(lambda im: np.zeros((1, 4)))
    with pytest.raises(ValueError, match=r"must return \(boxes, landmarks\)"):
        bad.detect(np.zeros((8, 8, 3), np.uint8))
    bad = CallableDetector(lambda im: (np.zeros((1, 4)) + [0, 0, 5, 5], np.zeros((2, 5, 2))))
    with pytest.raises(ValueError, match="landmarks must have shape"):
        bad.detect(np.zeros((8, 8, 3), np.uint8))


def test_filter_detections():
    d = Detections(np.array([[0, 0, 10, 10], [0, 0, 50, 40]], np.float32),
                   np.array([0.99, 0.85], np.float32), np.zeros((2, 5, 2), np.float32))
    assert len(filter_detections(d, min_face_size=20)) == 1
    assert len(filter_detections(d, min_confidence=0.9)) == 1
    assert len(filter_detections(d, min_face_size=20, min_confidence=0.9)) == 0
    assert filter_detections(d) is d


# ----------------------------------------------------------- MTCNN + ROI
@pytest.fixture(scope="module")
def astronaut_frame():
    frame = np.full((360, 480, 3), (70, 110, 140), np.uint8)
    frame[100:320, 200:400] = astronaut_head()
    return frame


def test_refine_finds_the_face_near_a_rough_box_as_a_full_search_does(astronaut_frame):
    det = make_detector("mtcnn", min_face_size=40)
    full = det.detect_batch([astronaut_frame])[0]
    assert len(full) == 1
    box = full.boxes[0].astype(np.float64)
    side = float(box[2] - box[0])
    # Boxes 20% too large, shifted by a fifth of the face, and shrunk: R-Net and O-Net pull them back.
    rough = [box + np.r_[-0.1, -0.1, 0.1, 0.1] * side, box + 0.2 * side, box + np.r_[0.1, 0.1, -0.1, -0.1] * side]
    found = det.refine_batch([astronaut_frame] * 3, np.array(rough))
    iod = float(np.linalg.norm(full.landmarks[0, 1] - full.landmarks[0, 0]))
    for d in found:
        assert len(d) == 1 and d.scores[0] > 0.95
        assert box_iou(d.boxes, full.boxes)[0, 0] > 0.8
        assert np.linalg.norm(d.landmarks[0] - full.landmarks[0], axis=1).max() < 0.15 * iod
    # Far from any face: nothing.
    empty = det.refine_batch([astronaut_frame], np.array([[0.0, 0.0, 60.0, 60.0]]))[0]
    assert len(empty) == 0
    with pytest.raises(RuntimeError, match="re-detect"):
        make_detector(_boxes_only).refine_batch([astronaut_frame], np.array([box]))


# --------------------------------------------------------------- tracking
def _dets(boxes, scores):
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    lm = np.repeat(((boxes[:, :2] + boxes[:, 2:]) / 2)[:, None], 5, axis=1)
    return Detections(boxes, np.asarray(scores, np.float32), lm.astype(np.float32))


BIG = [20, 20, 120, 120]
SMALL = [200, 30, 240, 70]


def test_main_face_is_largest_not_most_confident():
    dets = [_dets([SMALL, BIG], [0.999, 0.90]) for _ in range(3)]
    assert select_main_face(dets) == (0, 1)


def test_brief_false_detection_does_not_become_the_main_face():
    # A large spurious box in the first frame only loses to a face seen in all three.
    first = _dets([BIG, [150, 150, 260, 260]], [0.95, 0.95])
    rest = [_dets([BIG], [0.95]) for _ in range(2)]
    assert select_main_face([first] + rest) == (0, 0)


def test_track_never_swaps_to_a_more_confident_or_bigger_person():
    seq = []
    for t in range(8):
        main = np.add(BIG, [3 * t, 0, 3 * t, 0])
        # The other person grows past the subject's size and gets more confident.
        grow = 40 + 20 * t
        other = [200, 30, 200 + grow, 30 + grow]
        seq.append(_dets([other, main], [0.999, 0.90]) if t >= 2 else _dets([main, other], [0.9, 0.8]))
    track = track_main_face(seq)
    assert track.detected.all()
    np.testing.assert_allclose(track.boxes[:, 0], [20 + 3 * t for t in range(8)])


def test_missing_frames_borrow_the_nearest_detection():
    seq = [_dets([BIG], [0.9]), None, Detections.empty(), _dets([np.add(BIG, 6)], [0.9]),
           Detections.empty(), Detections.empty()]
    track = track_main_face(seq)
    assert track.detected.tolist() == [True, False, False, True, False, False]
    assert track.source.tolist() == [0, 0, 3, 3, 3, 3]  # ties take the earlier frame
    np.testing.assert_allclose(track.boxes[1], BIG)
    np.testing.assert_allclose(track.boxes[5], np.add(BIG, 6))
    assert track.coverage == pytest.approx(2 / 6)


def test_no_face_anywhere_gives_an_empty_track():
    track = track_main_face([Detections.empty(), None])
    assert not track.found and track.coverage == 0 and np.isnan(track.boxes).all()


def test_associate_and_follow_rules():
    prev = np.array(BIG, np.float64)
    assert associate(prev, _dets([np.add(BIG, [30, 0, 30, 0])], [0.9])) == 0  # moved 0.3 side
    assert associate(prev, _dets([np.add(BIG, [90, 0, 90, 0])], [0.9])) == -1  # too far
    assert associate(prev, _dets([[60, 60, 80, 80]], [0.9])) == -1  # much smaller, low IoU
    assert associate(prev, Detections.empty()) == -1
    chosen = follow([_dets([SMALL, BIG], [0.9, 0.9]), _dets([BIG], [0.9])], (0, 1))
    assert chosen.tolist() == [1, 0]
    track = fill_missing([_dets([BIG], [0.9])], np.array([0]))
    assert track.found and track.scores[0] == pytest.approx(0.9)


class _CountingDetector(FrameDetector):
    """Wrap a FrameDetector and count the frames it searches whole or re-detects in."""

    def __init__(self, inner):
        super().__init__(inner.detector, inner.identity, min_face_size=inner.min_face_size)
        self.full_frames = 0
        self.refined_frames = 0
        self.refine_calls = 0
        self.refined_ids: list[list[int]] = []  # the frames of each call

    def detect_batch(self, images):
        self.full_frames += len(images)
        return super().detect_batch(images)

    def refine_batch(self, images, boxes):
        self.refined_frames += len(images)
        self.refine_calls += 1
        self.refined_ids.append([id(image) for image in images])
        return super().refine_batch(images, boxes)


def _moving_face(astronaut_frame, n=10, step=15):
    frames = []
    for t in range(n):
        frame = np.full((360, 480, 3), (70, 110, 140), np.uint8)
        s = 0.6 + 0.03 * t
        head = cv2.resize(astronaut_frame[100:320, 200:400], None, fx=s, fy=s,
                          interpolation=cv2.INTER_AREA)
        x = 40 + step * t
        frame[80:80 + head.shape[0], x:x + head.shape[1]] = head
        frames.append(frame)
    return frames


def test_track_search_searches_one_frame_whole_and_agrees_with_full_search(astronaut_frame):
    """The accuracy guard: tracked landmarks stay within 0.15 eye distances of a full search."""
    frames = _moving_face(astronaut_frame)  # the face moves right and grows over 10 frames
    det = _CountingDetector(make_detector("mtcnn", min_face_size=40))
    tracked = search_and_track(frames, det, search="track")
    assert det.full_frames == 1  # one anchor, the rest tracked
    # In batches of frames ahead; a frame is redone only where the track's aim moved off the face found.
    assert det.refine_calls < 9 and 9 <= det.refined_frames <= 2 * 9
    assert tracked.n_full_searched == 1 and tracked.n_tracked == 9
    assert tracked.tracked.tolist() == [False] + [True] * 9
    full = search_and_track(frames, make_detector("mtcnn", min_face_size=40), search="full")
    assert tracked.detected.all() and full.detected.all() and not full.tracked.any()
    iod = np.linalg.norm(full.landmarks[:, 1] - full.landmarks[:, 0], axis=1)
    error = np.linalg.norm(tracked.landmarks - full.landmarks, axis=2).max(axis=1) / iod
    assert (error < 0.15).all(), error.round(3)


def test_batched_redetection_finds_what_one_frame_at_a_time_finds(astronaut_frame, monkeypatch):
    frames = _moving_face(astronaut_frame)
    detector = make_detector("mtcnn", min_face_size=40)
    batched = search_and_track(frames, detector, search="track")
    monkeypatch.setattr(tracking, "REDETECT_AHEAD", 1)  # each frame alone, aimed from all frames before it
    single = _CountingDetector(detector)
    alone = search_and_track(frames, single, search="track")
    assert single.refine_calls == single.refined_frames == 9
    assert batched.tracked.tolist() == alone.tracked.tolist() == [False] + [True] * 9
    iod = np.linalg.norm(alone.landmarks[:, 1] - alone.landmarks[:, 0], axis=1)
    error = np.linalg.norm(batched.landmarks - alone.landmarks, axis=2).max(axis=1) / iod
    assert error.max() < 0.1, error.round(3)


def test_a_face_gone_for_good_is_not_redetected_again_and_again(astronaut_frame):
    frames = _moving_face(astronaut_frame)
    frames[5:] = [np.full_like(frames[0], 90) for _ in range(5)]  # the subject leaves after frame 4
    det = _CountingDetector(make_detector("mtcnn", min_face_size=40))
    track = search_and_track(frames, det, search="track")
    assert track.detected.tolist() == [True] * 5 + [False] * 5
    assert det.full_frames == 1 + 5  # each frame without the face is searched whole once
    # Re-detections made ahead cover the frames after the loss, and a failure made
    # ahead stands while the track's aim stays: at most one batch starts there.
    index = {id(frame): t for t, frame in enumerate(frames)}
    calls = [[index[i] for i in call] for call in det.refined_ids]
    assert calls[-1][-1] == 9 and sum(call[0] >= 5 for call in calls) <= 1, calls


def test_a_face_that_appears_later_is_followed_back_to_its_first_frame(astronaut_frame):
    frames = _moving_face(astronaut_frame)
    frames[:3] = [np.full_like(frames[0], 90) for _ in range(3)]  # the subject enters at frame 3
    det = _CountingDetector(make_detector("mtcnn", min_face_size=40))
    track = search_and_track(frames, det, search="track")
    assert track.detected.tolist() == [False] * 3 + [True] * 7
    # Frame 0, then one in five (0, 5) and the last are searched whole; the seed is frame 5's face.
    # Re-detection runs forwards to frame 8 and backwards to frame 1 in batches that stop at
    # searched frames.  Where frame 3's face moved the track's aim, the failures made ahead in
    # frames 2 and 1 are redone once, aimed anew (here: [2, 1]); both are then searched whole.
    index = {id(frame): t for t, frame in enumerate(frames)}
    calls = [[index[i] for i in call] for call in det.refined_ids]
    assert calls[:2] == [[6, 7, 8], [4, 3, 2, 1]] and calls[2:] in ([], [[2, 1]], [[1]]), calls
    assert det.full_frames == 3 + 2
    assert track.tracked.tolist() == [False] * 3 + [True, True, False, True, True, True, False]


def test_a_lost_track_falls_back_to_a_whole_frame_search(astronaut_frame):
    frames = _moving_face(astronaut_frame)
    frames[5] = np.full_like(frames[5], 90)  # the face is gone for one frame (a cut, an occlusion)
    frames[6:] = _moving_face(astronaut_frame, step=25)[6:]  # and comes back further right
    det = _CountingDetector(make_detector("mtcnn", min_face_size=40))
    track = search_and_track(frames, det, search="track")
    assert det.full_frames >= 2  # frame 0, then the frame where re-detection failed
    assert not track.detected[5] and track.detected[[0, 1, 2, 3, 4, 6, 7, 8, 9]].all()
    assert not track.tracked[5]


def test_track_search_searches_whole_frames_when_no_frame_has_a_face():
    frames = [np.full((120, 160, 3), 90, np.uint8) for _ in range(6)]
    det = _CountingDetector(make_detector("mtcnn", min_face_size=40))
    track = search_and_track(frames, det, search="track")
    assert not track.found and det.full_frames == 6 and det.refined_frames == 0
    with pytest.raises(ValueError, match="search must be"):
        search_and_track(frames, det, search="fast")


def test_callable_identity_sees_captured_values():
    def make(offset):
        def detect(image):
            return np.array([[offset, 0, offset + 20, 20]]), None
        return detect

    assert make_detector(make(1)).identity == make_detector(make(1)).identity
    assert make_detector(make(1)).identity != make_detector(make(2)).identity


def test_adding_a_detector_is_one_class_and_one_registry_entry(tmp_path):
    """A registered name works everywhere a detector is named, the extractor included."""
    from sk_emotion import VideoFaceExtractor

    @register_detector("centre-square")
    class CentreSquare:
        """Claims a face in the central square of every frame (a stand-in for a real model)."""

        def __init__(self, min_face_size, min_confidence):
            self.min_face_size = min_face_size

        def detect_batch(self, images):
            out = []
            for image in images:
                h, w = image.shape[:2]
                side = min(h, w) / 2
                box = np.array([[w / 2 - side / 2, h / 2 - side / 2, w / 2 + side / 2, h / 2 + side / 2]],
                               np.float32)
                out.append(Detections(box, np.ones(1, np.float32), np.full((1, 5, 2), np.nan, np.float32)))
            return out

    try:
        assert isinstance(CentreSquare(20, None), Detector)
        assert not isinstance(CentreSquare(20, None), RefiningDetector)
        frame = make_detector("centre-square", min_face_size=10)
        assert frame.identity.startswith("centre-square:") and not frame.supports_refine
        clip = np.full((4, 80, 120, 3), 90, np.uint8)
        faces, report = VideoFaceExtractor(n_frames=4, detector="centre-square").transform_with_report(clip[None])
        assert faces.shape == (1, 4, 1, 64, 64) and report["face_coverage"].iloc[0] == 1.0
    finally:
        del DETECTORS["centre-square"]
    assert isinstance(MTCNNDetector(), RefiningDetector)
    with pytest.raises(TypeError, match="registered name"):
        make_detector(42)


def test_region_search_through_the_frame_detector_is_filtered_like_a_whole_search(astronaut_frame):
    det = make_detector("mtcnn", min_face_size=40)
    assert det.supports_regions and not make_detector(_boxes_only).supports_regions
    full = det.detect_batch([astronaut_frame])[0]
    region = full.boxes[0] + np.r_[-60, -60, 60, 60]
    found = det.detect_regions(astronaut_frame, [region])
    np.testing.assert_allclose(found.boxes, full.boxes, atol=1e-3)
    # The face is about 130 px: a 200 px minimum filters it out of both searches.
    strict = make_detector("mtcnn", min_face_size=200)
    assert len(strict.detect_batch([astronaut_frame])[0]) == len(strict.detect_regions(astronaut_frame, [region])) == 0
    with pytest.raises(RuntimeError, match="cannot search regions"):
        make_detector(_boxes_only).detect_regions(astronaut_frame, [region])
