"""VideoFaceExtractor on real video files made from real face photos.

Videos (320x240 MPEG-4 AVI) are written once per module with PyAV from the
photos that ship with insightface (``Tom_Hanks_54745.png``, ``t1.jpg``) and
scikit-image (the astronaut), pasted on a plain background, moving and
changing scale.  Positions and scales are known, so the landmarks the
extractor uses can be checked against the photo's landmarks carried along.
"""

from __future__ import annotations

import importlib.util
import os
import pickle
from pathlib import Path

import av
import cv2
import numpy as np
import pandas as pd
import pytest
from _helpers import astronaut_head
from sklearn.base import clone
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

import sk_emotion.estimators._extraction as extraction_module
import sk_emotion.estimators.extractor as extractor_module
from sk_emotion.estimators.extractor import (
    REPORT_COLUMNS,
    ExtractionError,
    ExtractionWarning,
    VideoFaceExtractor,
)
from sk_emotion.faces import MTCNNDetector, canonical_template
from sk_emotion.faces.detectors import make_detector
from sk_emotion.faces.tracking import search_and_track
from sk_emotion.video import read_frames, write_video

IMAGES = Path(importlib.util.find_spec("insightface").submodule_search_locations[0]) / "data" / "images"
H, W = 240, 320
N = 8  # sampled frames in most tests
BG = (70, 110, 140)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ---------------------------------------------------------------- sources
def hanks_head() -> np.ndarray:
    img = cv2.imread(str(IMAGES / "Tom_Hanks_54745.png"))[..., ::-1]
    return np.ascontiguousarray(cv2.copyMakeBorder(img, 20, 20, 20, 20, cv2.BORDER_REPLICATE))


def t1_head() -> np.ndarray:
    img = cv2.imread(str(IMAGES / "t1.jpg"))[..., ::-1]
    return np.ascontiguousarray(img[20:260, 840:1080])  # one face of the group photo


def paste(frame, source, x, y, scale):
    patch = cv2.resize(source, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    h, w = patch.shape[:2]
    frame[y:y + h, x:x + w] = patch[: frame.shape[0] - y, : frame.shape[1] - x]
    return frame


def moving(source, n, *, x, y, scale, present=None):
    """Frames with ``source`` at x[t], y[t] scaled by scale[t] (linear from start to end)."""
    frames, placements = [], []
    for t in range(n):
        a = t / (n - 1)
        xt = int(round(x[0] + a * (x[1] - x[0])))
        yt = int(round(y[0] + a * (y[1] - y[0])))
        st = scale[0] + a * (scale[1] - scale[0])
        frame = np.full((H, W, 3), BG, np.uint8)
        if present is None or present(t):
            paste(frame, source, xt, yt, st)
        frames.append(frame)
        placements.append((xt, yt, st))
    return np.stack(frames), placements


def zero_frame_video(path):
    with av.open(str(path), "w") as c:
        s = c.add_stream("mpeg4", rate=25)
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        c.start_encoding()
        for p in s.encode():
            c.mux(p)
    return str(path)


@pytest.fixture(scope="module")
def source_landmarks():
    """MTCNN landmarks of the astronaut head photo itself (at scale 1, on the background)."""
    head = astronaut_head()
    canvas = np.full((300, 300, 3), BG, np.uint8)
    canvas[40:260, 50:250] = head
    found = MTCNNDetector(min_face_size=40).detect(canvas)
    return found.landmarks[0] - np.array([50, 40])


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("videos")
    out = {}
    head = astronaut_head()
    frames, out["astro_placements"] = moving(head, 24, x=(10, 150), y=(10, 40), scale=(0.45, 0.8))
    out["astro"] = write_video(folder / "astro.avi", frames)
    frames, _ = moving(hanks_head(), 16, x=(60, 120), y=(30, 50), scale=(1.0, 1.2))
    out["hanks"] = write_video(folder / "hanks.avi", frames)
    frames, _ = moving(t1_head(), 16, x=(40, 60), y=(10, 20), scale=(0.8, 0.8))
    out["t1"] = write_video(folder / "t1.avi", frames)
    # The face is on screen in the first half only.
    frames, _ = moving(head, 24, x=(60, 80), y=(20, 20), scale=(0.6, 0.6), present=lambda t: t < 12)
    out["half"] = write_video(folder / "half.avi", frames)
    # Two people: the subject (astronaut, big, left) and another face on the
    # right that grows bigger than the subject.
    two = []
    for t in range(24):
        frame = np.full((H, W, 3), BG, np.uint8)
        paste(frame, head, 5, 20, 0.7)
        paste(frame, hanks_head(), 155, 10, 0.5 + 0.55 * t / 23)
        two.append(frame)
    out["two"] = write_video(folder / "two.avi", np.stack(two))
    ramp = np.linspace(0, 255, W, dtype=np.uint8)
    gradient = np.repeat(np.repeat(ramp[None, :, None], H, 0)[None], 10, 0).repeat(3, axis=3)
    out["noface"] = write_video(folder / "gradient.avi", gradient)
    corrupt = folder / "corrupt.avi"
    corrupt.write_bytes(np.random.default_rng(0).bytes(20_000))
    out["corrupt"] = str(corrupt)
    out["zero"] = zero_frame_video(folder / "zero.avi")
    out["missing"] = str(folder / "does_not_exist.avi")
    return out


@pytest.fixture(scope="module")
def astro_result(videos):
    ex = VideoFaceExtractor(n_frames=N)
    faces, report = ex.transform_with_report([videos["astro"], videos["hanks"], videos["t1"]])
    return faces, report


# ------------------------------------------------------------- happy path
def test_output_shape_dtype_and_report(astro_result, videos):
    faces, report = astro_result
    assert faces.shape == (3, N, 1, 64, 64) and faces.dtype == np.uint8
    assert list(report.columns) == list(REPORT_COLUMNS)
    assert report["path"].tolist() == [videos["astro"], videos["hanks"], videos["t1"]]
    assert (report["face_coverage"] == 1.0).all()
    assert report["error"].isna().all() and not report["fallback_used"].any()
    row = report.iloc[0]
    assert row["frames_in_video"] == 24 and row["fps"] == 25.0
    assert row["duration_s"] == pytest.approx(24 / 25)
    assert (row["width"], row["height"]) == (W, H)
    assert 0 < row["frames_decoded"] <= 24
    assert faces.std() > 20  # real content, not a blank


def test_landmarks_follow_the_face(videos, source_landmarks):
    clip = read_frames(videos["astro"], N)
    track = search_and_track(list(clip.frames), make_detector("mtcnn", min_face_size=40))
    assert track.detected.all()
    placements = videos["astro_placements"]
    for t, index in enumerate(clip.indices):
        x, y, s = placements[index]
        expected = source_landmarks * s + [x, y]
        eye_distance = np.linalg.norm(expected[1] - expected[0])
        error = np.linalg.norm(track.landmarks[t] - expected, axis=1)
        assert error.max() < 0.2 * eye_distance, (t, error, eye_distance)


def test_aligned_eyes_and_mouth_land_on_the_template(videos):
    size, margin = 128, 0.3
    ex = VideoFaceExtractor(n_frames=4, face_size=size, margin=margin, color="rgb")
    faces = ex.transform([videos["astro"], videos["hanks"]])
    template = canonical_template(size, margin)
    detector = MTCNNDetector(min_face_size=40)
    eye_distance = np.linalg.norm(template[1] - template[0])
    for clip in faces:
        for face in clip:
            found = detector.detect(np.ascontiguousarray(face.transpose(1, 2, 0)))
            assert len(found) >= 1
            error = np.linalg.norm(found.landmarks[0] - template, axis=1)
            # Eyes on their fixed positions; nose and mouth as close as the
            # face's shape allows a similarity to bring them.
            assert error[:2].max() < 0.12 * eye_distance, error
            assert error.max() < 0.3 * eye_distance, error


def test_default_framing_is_fer2013_s_and_arcface_is_looser(videos):
    """The default puts the landmarks where FER2013 has them; "arcface" frames the face smaller."""
    detector = MTCNNDetector(min_face_size=20)
    distances = {}
    for template in ("fer2013", "arcface"):
        faces = VideoFaceExtractor(n_frames=3, face_size=128, template=template,
                                   color="rgb").transform([videos["astro"]])[0]
        found = [detector.detect(np.ascontiguousarray(f.transpose(1, 2, 0))) for f in faces]
        distances[template] = np.mean([np.linalg.norm(d.landmarks[0][1] - d.landmarks[0][0]) for d in found])
    target = canonical_template(128, 0.0, "fer2013")
    assert distances["fer2013"] == pytest.approx(np.linalg.norm(target[1] - target[0]), rel=0.12)
    assert distances["arcface"] < 0.95 * distances["fer2013"]  # templates: 0.85


def test_frames_without_the_face_borrow_the_nearest(videos):
    ex = VideoFaceExtractor(n_frames=N)
    faces, report = ex.transform_with_report([videos["half"]])
    assert report["face_coverage"].iloc[0] == pytest.approx(0.5)
    assert report["error"].isna().all()
    clip = read_frames(videos["half"], N)
    track = search_and_track(list(clip.frames), make_detector("mtcnn", min_face_size=40))
    assert track.detected.tolist() == [True] * 4 + [False] * 4
    assert track.source.tolist() == [0, 1, 2, 3, 3, 3, 3, 3]
    np.testing.assert_array_equal(track.boxes[4:], np.repeat(track.boxes[3:4], 4, axis=0))
    # The report says which frames were detected and which borrowed.
    assert report["frame_detected"].iloc[0] == [True] * 4 + [False] * 4


def test_a_face_in_too_few_frames_fails_instead_of_answering(videos, tmp_path):
    """The defect: one detection in 1 of 16 frames gave a confident 'neutral' (coverage 0.062)."""
    frames, _ = moving(astronaut_head(), 32, x=(60, 60), y=(20, 20), scale=(0.6, 0.6),
                       present=lambda t: t < 2)  # the face shows in 1 of 16 sampled frames
    path = write_video(tmp_path / "glimpse.avi", frames)
    with pytest.raises(ExtractionError, match="no face found in 15 of 16 sampled frames") as err:
        VideoFaceExtractor(n_frames=16).transform([path])
    assert err.value.report["face_coverage"].iloc[0] == pytest.approx(1 / 16)
    assert sum(err.value.report["frame_detected"].iloc[0]) == 1
    # The threshold is a parameter: with min_face_coverage=0.05 the one frame suffices.
    faces, report = VideoFaceExtractor(n_frames=16, min_face_coverage=0.05).transform_with_report([path])
    assert report["error"].isna().all()


def test_second_person_never_swaps_in(videos):
    clip = read_frames(videos["two"], N)
    det = make_detector("mtcnn", min_face_size=40)
    found = det.detect_batch(list(clip.frames))
    assert all(len(d) == 2 for d in found)  # both faces are visible throughout
    last = found[-1]
    sides = last.boxes[:, 2] - last.boxes[:, 0]
    assert sides[np.argmax(last.boxes[:, 0])] > sides[np.argmin(last.boxes[:, 0])]  # other grew bigger
    for search in ("track", "full"):
        track = search_and_track(list(clip.frames), det, search=search)
        assert track.detected.all()
        centres_x = (track.boxes[:, 0] + track.boxes[:, 2]) / 2
        assert (centres_x < W / 2).all(), (search, centres_x)


def test_callable_detector_follows_the_subject_when_the_other_gets_more_confident(tmp_path):
    # Bright square = subject, dark square = other person; the callable makes
    # the other more confident (and finally bigger) over time.
    n = 12
    frames = np.full((n, H, W, 3), 128, np.uint8)
    boxes = []
    for t in range(n):
        subject = [30 + 4 * t, 60, 110 + 4 * t, 140]
        grow = 50 + 8 * t
        other = [200, 40, 200 + grow, 40 + grow]
        frames[t, subject[1]:subject[3], subject[0]:subject[2]] = 240
        frames[t, other[1]:other[3], other[0]:min(other[2], W)] = 15
        boxes.append((subject, other, 0.90, 0.80 if t < 3 else 0.999))
    path = write_video(tmp_path / "squares.avi", frames)

    def squares(image):
        t = int(np.argmin([np.abs(image.astype(int) - f).mean() for f in frames]))
        subject, other, s_score, o_score = boxes[t]
        return np.array([subject + [s_score], other + [o_score]], float), None

    ex = VideoFaceExtractor(n_frames=6, detector=squares, margin=0.0)
    faces, report = ex.transform_with_report([path])
    assert report["face_coverage"].iloc[0] == 1.0
    # Every crop is the bright subject, never the dark other person.
    assert faces[..., 8:-8, 8:-8].min() > 200


def test_gray_is_bt601_luma_of_rgb(videos):
    gray = VideoFaceExtractor(n_frames=4, color="gray").transform([videos["hanks"]])
    rgb = VideoFaceExtractor(n_frames=4, color="rgb").transform([videos["hanks"]])
    assert gray.shape == (1, 4, 1, 64, 64) and rgb.shape == (1, 4, 3, 64, 64)
    luma = 0.299 * rgb[:, :, 0] + 0.587 * rgb[:, :, 1] + 0.114 * rgb[:, :, 2]
    assert np.abs(gray[:, :, 0].astype(float) - luma).mean() < 1.5


def test_detector_none_only_resizes_and_converts():
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 256, (5, 80, 80, 3), dtype=np.uint8)
    faces = VideoFaceExtractor(n_frames=5, detector=None, color="rgb", face_size=40).transform([crops])
    expected = np.stack([cv2.resize(c, (40, 40), interpolation=cv2.INTER_AREA) for c in crops])
    np.testing.assert_array_equal(faces[0], expected.transpose(0, 3, 1, 2))
    ex = VideoFaceExtractor(n_frames=5, detector=None)
    gray, report = ex.transform_with_report([crops])
    assert gray.shape == (1, 5, 1, 64, 64) and np.isnan(report["face_coverage"].iloc[0])
    assert report["path"].iloc[0] == "<array 0>"


def test_scrfd_model_through_the_extractor(tmp_path):
    from _helpers import build_fake_scrfd

    frames, placements = moving(hanks_head(), 10, x=(90, 90), y=(40, 40), scale=(1.0, 1.0))
    path = write_video(tmp_path / "static.avi", frames)
    truth = MTCNNDetector(min_face_size=40).detect(read_frames(path, 1).frames[0])
    model = build_fake_scrfd(tmp_path / "det_fake.onnx", truth.boxes[0] * 2, truth.landmarks[0] * 2)
    ex = VideoFaceExtractor(n_frames=4, detector=str(model), color="rgb", face_size=96)
    faces, report = ex.transform_with_report([path])
    assert report["face_coverage"].iloc[0] == 1.0 and report["error"].isna().all()
    reference = VideoFaceExtractor(n_frames=4, color="rgb", face_size=96).transform([path])
    assert np.abs(faces.astype(int) - reference).mean() < 12  # same alignment, landmarks within MTCNN jitter
    assert faces.std() > 20


# ------------------------------------------------------------ input forms
def test_input_types_give_the_same_result():
    rng = np.random.default_rng(1)
    clips = rng.integers(0, 256, (3, 6, 48, 48, 3), dtype=np.uint8)
    ex = VideoFaceExtractor(n_frames=3, detector=None)
    expected = ex.transform(clips)
    assert expected.shape == (3, 3, 1, 64, 64)
    np.testing.assert_array_equal(ex.transform(list(clips)), expected)
    np.testing.assert_array_equal(ex.transform(tuple(clips)), expected)
    np.testing.assert_array_equal(ex.transform(pd.Series(list(clips))), expected)


def test_paths_as_list_series_dataframe_and_array(videos):
    paths = [videos["hanks"], videos["t1"]]
    ex = VideoFaceExtractor(n_frames=3, detector=None)
    expected = ex.transform(paths)
    np.testing.assert_array_equal(ex.transform(pd.Series(paths)), expected)
    np.testing.assert_array_equal(ex.transform(np.array(paths)), expected)
    np.testing.assert_array_equal(ex.transform([Path(p) for p in paths]), expected)
    df = pd.DataFrame({"video": paths, "label": ["a", "b"]})
    np.testing.assert_array_equal(
        VideoFaceExtractor(n_frames=3, detector=None, path_column="video").transform(df), expected)
    with pytest.raises(ValueError, match=r"path_column='path'.*\['video', 'label'\]"):
        ex.transform(df)


@pytest.mark.parametrize("X,error,match", [
    ("clip.avi", TypeError, "wrap it in a list"),
    (np.zeros((4, 8, 8, 3), np.uint8), ValueError, r"for a single clip pass X\[None\]"),
    (np.zeros((2, 4, 8, 8, 3), np.float32), ValueError, r"\(n_videos, T, H, W, 3\) with dtype uint8"),
    ([], ValueError, "X is empty"),
    ([3.5], TypeError, r"X\[0\] must be a video path"),
    ({"a": 1}, TypeError, "X must be a list"),
])
def test_bad_input_forms(X, error, match):
    with pytest.raises(error, match=match):
        VideoFaceExtractor(detector=None).transform(X)


def test_wrong_array_shape_is_a_per_video_failure():
    good = np.full((4, 32, 32, 3), 90, np.uint8)
    bad = np.zeros((4, 32, 32), np.uint8)
    ex = VideoFaceExtractor(n_frames=2, detector=None)
    with pytest.raises(ExtractionError) as err:
        ex.transform([good, bad])
    msg = str(err.value)
    assert "1 of 2 videos failed" in msg and "'<array 1>'" in msg and "got shape (4, 32, 32)" in msg
    assert err.value.failed_indices == [1]
    np.testing.assert_array_equal(err.value.results[0], ex.transform([good])[0])


# --------------------------------------------------------------- failures
BAD = {
    "missing": "no such file or directory",
    "corrupt": "not a video file",
    "zero": "no video frames",
    "noface": "no face found in 8 of 8 sampled frames",
}


def test_one_error_lists_every_failed_video_and_keeps_the_good_ones(videos, astro_result, tmp_path):
    paths = [videos["astro"], videos["missing"], videos["corrupt"], videos["zero"], videos["noface"]]
    ex = VideoFaceExtractor(n_frames=N, cache_dir=tmp_path / "cache")
    with pytest.raises(ExtractionError) as err:
        ex.transform(paths)
    e = err.value
    assert isinstance(e, ValueError)
    msg = str(e)
    assert "4 of 5 videos failed" in msg
    for key, reason in BAD.items():
        assert f"'{videos[key]}': {reason}" in msg
    assert [p for p, _ in e.failures] == paths[1:] and e.failed_indices == [1, 2, 3, 4]
    assert e.results.shape == (5, N, 1, 64, 64)
    np.testing.assert_array_equal(e.results[0], astro_result[0][0])
    assert e.report["error"].notna().tolist() == [False, True, True, True, True]
    assert e.report.attrs["cache_info"].writes == 2  # good video + no-face video
    # The good video was cached despite the error; the no-face verdict too.
    with pytest.raises(ExtractionError) as again:
        ex.transform(paths)
    assert again.value.report.attrs["cache_info"].hits == 2
    assert again.value.report["cached"].tolist() == [True, False, False, False, True]
    clone_e = pickle.loads(pickle.dumps(e))
    assert str(clone_e) == msg and clone_e.failures == e.failures


def test_fallback_substitutes_and_warns(videos):
    paths = [videos["hanks"], videos["missing"], videos["noface"], videos["corrupt"]]
    ex = VideoFaceExtractor(n_frames=4, on_error="fallback")
    with pytest.warns(ExtractionWarning, match="3 of 4 videos replaced") as record:
        faces, report = ex.transform_with_report(paths)
    assert videos["missing"] in str(record[0].message)
    with pytest.warns(ExtractionWarning) as through_sklearn:  # set_output's wrapper sits in between
        ex.fit_transform(paths)
    assert record[0].filename == through_sklearn[0].filename == __file__  # the user's line
    assert faces.shape == (4, 4, 1, 64, 64)
    assert report["fallback_used"].tolist() == [False, True, True, True]
    assert (faces[1] == 128).all() and (faces[3] == 128).all()  # unreadable: grey clip
    # No face: centred square crop of each sampled frame (a horizontal gradient).
    clip = read_frames(videos["noface"], 4).frames
    centre = cv2.cvtColor(clip[0][:, 40:280], cv2.COLOR_RGB2GRAY)
    expected = cv2.resize(centre, (64, 64), interpolation=cv2.INTER_AREA)
    assert np.abs(faces[2, 0, 0].astype(int) - expected).mean() < 3
    assert report.loc[2, "face_coverage"] == 0.0 and "no face" in report.loc[2, "error"]


# ------------------------------------------------------------------ cache
def cache_info(extractor, X):
    """The cache's (hits, misses, writes) of one transform call."""
    return extractor.transform_with_report(X)[1].attrs["cache_info"]


def test_cache_hits_are_counted_and_skip_decoding(videos, tmp_path, monkeypatch):
    decoded = []
    real = extraction_module.read_frames
    monkeypatch.setattr(extraction_module, "read_frames",
                        lambda path, *a, **k: decoded.append(path) or real(path, *a, **k))
    paths = [videos["hanks"], videos["t1"]]
    ex = VideoFaceExtractor(n_frames=4, cache_dir=tmp_path)
    state = dict(ex.__dict__)
    first, report = ex.transform_with_report(paths)
    assert ex.__dict__ == state  # transform has no side effects
    assert report.attrs["cache_info"] == (0, 2, 2) and len(decoded) == 2
    second = clone(ex).transform(paths)  # a clone (as in grid search) shares the cache
    np.testing.assert_array_equal(first, second)
    assert len(decoded) == 2  # nothing decoded again
    _, report = ex.transform_with_report(paths)
    assert report.attrs["cache_info"].hits == 2 and report.attrs["cache_info"].misses == 0
    assert report["cached"].all() and (report["frames_decoded"] == 0).all()
    assert report["fps"].tolist() == [25.0, 25.0]
    # Any output-changing parameter is a different entry.
    for params in ({"color": "rgb"}, {"margin": 0.2}, {"min_face_size": 30}, {"n_frames": 3},
                   {"template": "arcface"}):
        other = clone(ex).set_params(**params)
        assert cache_info(other, paths[:1]) == (0, 1, 1), params
    # n_jobs, verbose and on_error do not change the output: same entries.
    same = clone(ex).set_params(on_error="fallback", verbose=0)
    assert cache_info(same, paths).hits == 2


def test_cache_notices_a_changed_file_and_supports_content_keys(tmp_path):
    frames, _ = moving(hanks_head(), 8, x=(60, 70), y=(30, 30), scale=(1.0, 1.0))
    path = write_video(tmp_path / "v.avi", frames)
    ex = VideoFaceExtractor(n_frames=2, detector=None, cache_dir=tmp_path / "c")
    ex.transform([path])
    write_video(path, frames[::-1].copy())  # same name, new content
    assert cache_info(ex, [path]).misses == 1
    by_content = clone(ex).set_params(cache_key="content")
    by_content.transform([path])
    copy = tmp_path / "copy.avi"
    copy.write_bytes(Path(path).read_bytes())
    assert cache_info(by_content, [str(copy)]).hits == 1  # same bytes, another path


def test_arrays_are_cached_by_content(tmp_path):
    clip = np.random.default_rng(2).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    ex = VideoFaceExtractor(n_frames=2, detector=None, cache_dir=tmp_path)
    ex.transform([clip])
    assert cache_info(ex, [clip.copy()]).hits == 1
    assert cache_info(ex, [clip[::-1].copy()]).misses == 1


def test_no_cache_means_no_counters(videos):
    ex = VideoFaceExtractor(n_frames=2, detector=None)
    _, report = ex.transform_with_report([videos["hanks"]])
    assert report.attrs["cache_info"] == (0, 0, 0) and not report["cached"].any()


# ---------------------------------------------------------------- parallel
def test_n_jobs_2_gives_identical_results_and_errors(videos, astro_result, monkeypatch):
    import psutil

    # Four videos would run in this process (a cold pool costs more than it saves):
    # lower the threshold so that the pool really runs them.
    monkeypatch.setattr(extractor_module, "COLD_POOL_MIN_VIDEOS", 1)
    paths = [videos["astro"], videos["hanks"], videos["missing"], videos["t1"]]
    ex = VideoFaceExtractor(n_frames=N, n_jobs=2, on_error="fallback")
    with pytest.warns(ExtractionWarning):
        faces, report = ex.transform_with_report(paths)
    assert len(psutil.Process().children(recursive=True)) >= 2  # the workers ran them
    np.testing.assert_array_equal(faces[[0, 1, 3]], astro_result[0])
    assert report["error"].notna().tolist() == [False, False, True, False]
    assert report["path"].tolist() == paths


def test_a_short_call_on_a_cold_pool_runs_in_this_process(videos, monkeypatch):
    monkeypatch.setattr(extractor_module, "pool_is_warm", lambda: False)
    ran_in = []
    real = extractor_module.extract_one
    monkeypatch.setattr(extractor_module, "extract_one",
                        lambda *a: ran_in.append(os.getpid()) or real(*a))
    VideoFaceExtractor(n_frames=4, n_jobs=2).transform([videos["hanks"], videos["t1"]])
    assert ran_in == [os.getpid()] * 2


def test_verbose_shows_a_progress_bar(capsys):
    clip = np.zeros((2, 16, 16, 3), np.uint8)
    VideoFaceExtractor(n_frames=1, detector=None, verbose=1).transform([clip, clip])
    assert "extracting faces" in capsys.readouterr().err


# ----------------------------------------------------------------- sklearn
def test_sklearn_conventions():
    ex = VideoFaceExtractor(n_frames=8, color="rgb", cache_dir="/tmp/x")
    params = ex.get_params()
    assert params["n_frames"] == 8 and params["detector"] == "mtcnn" and params["on_error"] == "raise"
    twin = clone(ex)
    assert twin.get_params() == params and twin is not ex
    restored = pickle.loads(pickle.dumps(ex))
    assert restored.get_params() == params
    assert ex.set_params(face_size=48) is ex and ex.face_size == 48
    with pytest.raises(TypeError):
        VideoFaceExtractor(8)  # keyword-only
    assert ex.fit(["anything"]) is ex
    assert not [k for k in vars(ex) if k.endswith("_")]  # fit learns nothing
    assert ex.__sklearn_tags__().requires_fit is False


def test_pickled_after_use(videos):
    ex = VideoFaceExtractor(n_frames=2)
    ex.transform([videos["hanks"]])
    restored = pickle.loads(pickle.dumps(ex))
    np.testing.assert_array_equal(restored.transform([videos["hanks"]]), ex.transform([videos["hanks"]]))


@pytest.mark.parametrize("params,match", [
    ({"n_frames": 0}, "n_frames"),
    ({"face_size": 4}, "face_size"),
    ({"color": "bgr"}, "color"),
    ({"min_face_size": -1}, "min_face_size"),
    ({"min_confidence": 2.0}, "min_confidence"),
    ({"margin": -0.6}, "margin"),
    ({"template": "imagenet"}, "template"),
    ({"search": "fast"}, "search"),
    ({"on_error": "ignore"}, "on_error"),
    ({"cache_key": "mtime"}, "cache_key"),
    ({"n_jobs": 0}, "n_jobs"),
    ({"detector": 3}, "detector. parameter of VideoFaceExtractor must be"),
])
def test_invalid_parameters_fail_in_fit_not_init(params, match):
    ex = VideoFaceExtractor(**params)  # stored as given
    with pytest.raises((ValueError, TypeError), match=match):
        ex.fit()
    with pytest.raises((ValueError, TypeError), match=match):
        ex.transform([np.zeros((2, 8, 8, 3), np.uint8)])


def test_missing_insightface_model_fails_in_fit(tmp_path):
    with pytest.raises(FileNotFoundError, match="non-commercial"):
        VideoFaceExtractor(detector=str(tmp_path / "nope.onnx")).fit()


def test_in_a_pipeline():
    clips = np.random.default_rng(3).integers(0, 256, (2, 4, 32, 32, 3), dtype=np.uint8)
    pipe = make_pipeline(VideoFaceExtractor(n_frames=2, detector=None, face_size=16),
                         FunctionTransformer(lambda X: X.reshape(len(X), -1)))
    assert pipe.fit_transform(clips).shape == (2, 2 * 16 * 16)


# ------------------------------------------------------------- cache faults
def test_a_damaged_cache_entry_is_a_miss_recomputed_and_replaced(videos, tmp_path):
    """The defect: a truncated entry raised BadZipFile on every run and was never rewritten."""
    ex = VideoFaceExtractor(n_frames=4, cache_dir=tmp_path)
    good = ex.transform([videos["hanks"]])
    (entry,) = tmp_path.rglob("*.npz")
    original = entry.read_bytes()
    for damage in (lambda b: b[: len(b) // 2], lambda b: b"not a zip file", lambda b: b""):
        entry.write_bytes(damage(original))
        again, report = ex.transform_with_report([videos["hanks"]])
        np.testing.assert_array_equal(again, good)
        assert report["error"].isna().all() and not report["cached"].any()
        assert report.attrs["cache_info"] == (0, 1, 1)
        with np.load(entry) as data:  # replaced by a whole entry
            np.testing.assert_array_equal(data["faces"], good[0])
    assert not list(tmp_path.rglob(".tmp-*"))  # no temporary file left behind


def _extract_into(cache, path, queue):
    faces = VideoFaceExtractor(n_frames=4, cache_dir=cache).transform([path])
    queue.put(faces.tobytes())


def test_two_processes_writing_the_same_entry_leave_one_valid_entry(videos, tmp_path):
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    workers = [context.Process(target=_extract_into, args=(tmp_path, videos["t1"], queue)) for _ in range(2)]
    for worker in workers:
        worker.start()
    results = [queue.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    assert results[0] == results[1]
    (entry,) = tmp_path.rglob("*.npz")
    ex = VideoFaceExtractor(n_frames=4, cache_dir=tmp_path)
    faces, report = ex.transform_with_report([videos["t1"]])
    assert faces.tobytes() == results[0] and report.attrs["cache_info"].hits == 1


_SIGTERM_SCRIPT = """
import sys
from sk_emotion import VideoFaceExtractor
paths = sys.argv[2:]
print("started", flush=True)
VideoFaceExtractor(n_frames=16, n_jobs=2, cache_dir=sys.argv[1], search="full").transform(paths)
print("finished", flush=True)
"""


def test_sigterm_stops_every_worker_and_keeps_what_finished(videos, tmp_path):
    """The defect: after SIGTERM the loky workers lived on for minutes, writing the cache."""
    import signal
    import subprocess
    import sys
    import time

    import psutil

    # More videos than COLD_POOL_MIN_VIDEOS, so that the call starts a process pool.
    paths = [videos[k] for k in ("astro", "hanks", "t1", "half", "two")] * 9
    # Distinct files, so that every one is real work for the pool.
    copies = []
    for i, path in enumerate(paths):
        copy = tmp_path / f"v{i}.avi"
        copy.write_bytes(open(path, "rb").read())
        copies.append(str(copy))
    cache = tmp_path / "cache"
    parent = subprocess.Popen([sys.executable, "-c", _SIGTERM_SCRIPT, str(cache), *copies],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    process = psutil.Process(parent.pid)
    deadline = time.monotonic() + 120
    workers = []
    while time.monotonic() < deadline and not list(cache.rglob("*.npz")):
        workers = [p for p in process.children(recursive=True)]
        time.sleep(0.2)
    assert list(cache.rglob("*.npz")), "the pool never finished a video"
    workers = process.children(recursive=True)
    assert len(workers) >= 2
    parent.send_signal(signal.SIGTERM)
    parent.wait(timeout=30)
    assert parent.returncode == -signal.SIGTERM
    gone, alive = psutil.wait_procs(workers, timeout=15)
    assert not alive, f"workers still alive after SIGTERM: {[p.pid for p in alive]}"
    # What finished stays cached, and stays readable.
    entries = list(cache.rglob("*.npz"))
    assert 0 < len(entries) < len(copies)
    for entry in entries:
        with np.load(entry) as data:
            assert data["faces"].shape == (16, 1, 64, 64)
