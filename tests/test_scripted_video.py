"""Scripted long videos: ground truth, file format, visibility, identities, ramps, determinism, script checks."""


import numpy as np
import pytest
from _helpers import sha256_file

from sk_emotion.datasets import PersonScript, make_scripted_video
from sk_emotion.datasets.synthetic import face_sources
from sk_emotion.video import probe_video, read_frame_indices

SIZE = (320, 240)
FPS = 25.0


def _make(path, people, duration_s=3.0, **kwargs):
    kwargs = {"frame_size": SIZE, "fps": FPS, **kwargs}
    return make_scripted_video(path, people, duration_s=duration_s, **kwargs)


def _rows(table):
    return [(r.person, round(r.start_s, 6), round(r.end_s, 6), r.emotion) for r in table.itertuples()]


@pytest.fixture(scope="module")
def two_people(tmp_path_factory):
    """Person 0 always visible with two segments; person 1 leaves the frame from 1 s to 2 s."""
    path = tmp_path_factory.mktemp("scripted") / "two.avi"
    people = [
        PersonScript(segments=[(0.5, 1.5, "happy"), (2.0, 3.0, "surprise")], position=(0.27, 0.5), face_size=90),
        PersonScript(segments=[(0.0, 1.4, "sad")], position=(0.73, 0.5), face_size=90,
                     visible=[(0.0, 1.0), (2.0, 3.0)], mirrored=True),
    ]
    return path, people, _make(path, people)


def test_ground_truth_matches_the_script(two_people):
    _, _, truth = two_people
    assert list(truth.columns) == ["person", "identity", "start_s", "end_s", "emotion"]
    assert _rows(truth) == [
        (0, 0.0, 0.5, "neutral"), (0, 0.5, 1.5, "happy"), (0, 1.5, 2.0, "neutral"), (0, 2.0, 3.0, "surprise"),
        # Person 1: the segment is cut where the person leaves; neutral once back.
        (1, 0.0, 1.0, "sad"), (1, 2.0, 3.0, "neutral"),
    ]
    assert truth.groupby("person")["identity"].nunique().tolist() == [1, 1]


def test_file_has_the_frames_size_and_rate(two_people):
    path, _, truth = two_people
    info = probe_video(path, count_frames=True)
    assert (info.n_frames, info.width, info.height) == (75, *SIZE)
    assert info.fps == pytest.approx(FPS)
    assert truth.attrs["n_frames"] == 75 and truth.attrs["landmarks"].shape == (75, 2, 5, 2)
    assert truth.attrs["intensity"].shape == (75, 2)


def test_landmarks_put_each_face_at_its_scripted_place(two_people):
    _, people, truth = two_people
    landmarks = truth.attrs["landmarks"]
    for p, script in enumerate(people):
        seen = landmarks[:, p][~np.isnan(landmarks[:, p, 0, 0])]
        centre = np.array(script.position) * SIZE
        # The five points' centroid sits near the box centre; the face sways only a little.
        assert np.abs(seen.mean(axis=1) - centre).max() < 0.25 * script.face_size
        eye_distance = np.linalg.norm(seen[:, 1] - seen[:, 0], axis=1)
        assert 0.2 * script.face_size < eye_distance.min() <= eye_distance.max() < 0.6 * script.face_size


def test_a_hidden_person_is_not_drawn(two_people, tmp_path):
    path, people, truth = two_people
    hidden = (np.arange(75) / FPS >= 1.0) & (np.arange(75) / FPS < 2.0)
    landmarks = truth.attrs["landmarks"]
    assert np.isnan(landmarks[hidden, 1]).all() and not np.isnan(landmarks[~hidden, 1]).any()
    assert not np.isnan(landmarks[:, 0]).any()
    assert np.isnan(truth.attrs["intensity"][hidden, 1]).all()
    # The same video without person 1: same scene (its own random stream), same person 0.
    alone = _make(tmp_path / "alone.avi", people[:1])
    np.testing.assert_array_equal(alone.attrs["landmarks"][:, 0], landmarks[:, 0])
    x, y, half = int(0.73 * SIZE[0]), int(0.5 * SIZE[1]), 45
    region = (slice(None), slice(y - half, y + half), slice(x - half, x + half))
    both = read_frame_indices(path, range(75)).frames[region].astype(float)
    one = read_frame_indices(tmp_path / "alone.avi", range(75)).frames[region].astype(float)
    diff = np.abs(both - one).mean(axis=(1, 2, 3))
    assert diff[hidden].max() < 5.0, diff[hidden]  # background only (up to the codec: ~2)
    assert diff[~hidden].min() > 15.0, diff[~hidden]  # a face (~47)


@pytest.mark.parametrize("peak", [1.0, 1.3])
def test_intensity_ramps_inside_segments(tmp_path, peak):
    ramp = 0.4
    script = PersonScript(segments=[(1.0, 3.0, "happy")], face_size=80, intensity=peak)
    truth = _make(tmp_path / "ramp.avi", [script], duration_s=3.2, ramp_s=ramp)
    a = truth.attrs["intensity"][:, 0]
    t = np.arange(a.size) / FPS
    assert (a[t < 1.0] == 0).all() and (a[t >= 3.0] == 0).all()
    assert a[(t >= 1.0 + ramp) & (t <= 3.0 - ramp)] == pytest.approx(peak)
    onset = a[(t >= 1.0) & (t < 1.0 + ramp)]
    assert onset[0] == 0.0 and (np.diff(onset) > 0).all() and onset[-1] < peak
    assert (np.diff(a[(t > 3.0 - ramp) & (t < 3.0)]) < 0).all()


@pytest.mark.parametrize("explicit", [None, "astronaut"])
def test_unnamed_people_get_distinct_identities(tmp_path, explicit):
    if len(face_sources()) < 4:
        pytest.skip("insightface's photos are not installed: a single face")
    people = [PersonScript(identity=explicit, position=(0.2, 0.5), face_size=40),
              PersonScript(position=(0.5, 0.5), face_size=40), PersonScript(position=(0.8, 0.5), face_size=40)]
    truth = _make(tmp_path / "three.avi", people, duration_s=0.2)
    identities = truth.groupby("person")["identity"].first()
    assert identities.nunique() == 3
    if explicit:
        assert identities[0] == explicit


def test_same_seed_same_file_other_seed_differs(tmp_path):
    people = [PersonScript(segments=[(0.2, 0.8, "angry")], face_size=80)]
    paths = [tmp_path / f"{name}.avi" for name in "abc"]
    tables = [_make(p, people, duration_s=1.0, random_state=s) for p, s in zip(paths, (7, 7, 8))]
    assert sha256_file(paths[0]) == sha256_file(paths[1]) != sha256_file(paths[2])
    np.testing.assert_array_equal(tables[0].attrs["landmarks"], tables[1].attrs["landmarks"])
    assert tables[0].equals(tables[1])


def test_stream_writer_handles_other_containers_and_odd_sizes(tmp_path):
    path = tmp_path / "odd.mkv"
    _make(path, [PersonScript(segments=[(0.0, 0.4, "fear")], face_size=60)], duration_s=0.4,
          frame_size=(161, 121), background="gradient")
    info = probe_video(path, count_frames=True)
    assert info.n_frames == 10 and (info.width, info.height) in ((161, 121), (162, 122))


@pytest.mark.parametrize("script, match", [
    ({"segments": [(0.0, 1.5, "happy"), (1.0, 2.0, "sad")]}, r"people\[0\]\.segments: .* overlap"),
    ({"segments": [(0.0, 1.0, "joy")]}, r"unknown emotion 'joy'"),
    ({"segments": [(1.0, 5.0, "happy")]}, r"outside the video \[0, 2\]"),
    ({"segments": [(1.0, 0.5, "happy")]}, r"start_s < end_s"),
    ({"segments": [(0.0, 1.0)]}, r"\(start_s, end_s, emotion\)"),
    ({"visible": [(0.0, 1.0), (0.5, 2.0)]}, r"people\[0\]\.visible: .* overlap"),
    ({"visible": [(-1.0, 1.0)]}, r"outside the video"),
    ({"position": (1.2, 0.5)}, r"position must be within \[0, 1\]"),
    ({"position": (0.5,)}, r"position must be \(x, y\)"),
    ({"face_size": 300.0}, r"face_size 300 px is too large for the 320x240 frame"),
    ({"face_size": 5.0}, r"face_size must be at least"),
    ({"identity": "nobody"}, r"unknown identity 'nobody'"),
    ({"intensity": 2.0}, r"intensity must be in \(0, 1.5\]"),
])
def test_bad_scripts_raise_naming_the_problem(tmp_path, script, match):
    path = tmp_path / "bad.avi"
    people = [PersonScript(**{"face_size": 80.0, **script})]
    with pytest.raises(ValueError, match=match):
        _make(path, people, duration_s=2.0)
    assert not path.exists()  # checked before anything is written


@pytest.mark.parametrize("kwargs, match", [
    ({"people": []}, "non-empty sequence of PersonScript"),
    ({"people": [PersonScript()] * 9}, "9 people without an identity"),
    ({"path": "video.webm"}, r"\.avi, \.mp4, \.mov or \.mkv"),
    ({"duration_s": 0.0}, "must be positive"),
    ({"background": "beach"}, "background must be one of"),
    ({"ramp_s": -0.1}, "ramp_s must be >= 0"),
])
def test_bad_parameters_raise(tmp_path, kwargs, match):
    args = {"path": tmp_path / "bad.avi", "people": [PersonScript(face_size=40.0)], "duration_s": 1.0, **kwargs}
    if isinstance(args["path"], str):
        args["path"] = tmp_path / args["path"]
    with pytest.raises(ValueError, match=match):
        make_scripted_video(args.pop("path"), args.pop("people"), frame_size=SIZE, **args)
