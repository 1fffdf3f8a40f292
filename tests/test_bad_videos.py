"""Bad videos a careless user hands over (issue 18, items 9-12), as real files.

* a video cut in half, as an interrupted download leaves it (MPEG-4 AVI, and
  H.264 MP4 in both layouts: index first, "faststart", and index last);
* ``n_frames=100000`` on a 72-frame clip;
* one long video with a progress bar;
* ``/dev/stdin`` fed by a pipe, a named pipe, file objects, and a folder of
  frame images given to the timeline.

The face videos are 19.7 s at 10 fps, as in the issue's measurement, made
from scikit-image's astronaut photo drifting across a plain background.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tracemalloc
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from _helpers import astronaut_head, index_frames, read_frame_index

from sk_emotion import VideoFaceExtractor
from sk_emotion.estimators.classifier import EmotionClassifier
from sk_emotion.estimators.extractor import ExtractionError
from sk_emotion.limits import MAX_N_FRAMES
from sk_emotion.pipeline import make_emotion_pipeline, predict_table
from sk_emotion.timeline import emotion_timeline
from sk_emotion.video import (
    FrameSampler,
    TruncatedVideoWarning,
    VideoDecodeError,
    check_video_path,
    probe_video,
    read_frames,
    write_video,
)

FPS = 10
N_WHOLE = 197  # 19.7 s
H, W = 240, 320
STATED = "a stated 19.7 s"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def face_frames(n: int) -> np.ndarray:
    head = cv2.resize(astronaut_head(), None, fx=0.6, fy=0.6)
    frames = np.full((n, H, W, 3), (70, 110, 140), np.uint8)
    for t in range(n):
        x = 40 + 100 * t // n
        frames[t, 50:50 + head.shape[0], x:x + head.shape[1]] = head
    return frames


def remux_faststart(src: str, dst: str) -> str:
    """Copy an MP4's packets into a new MP4 whose index (moov) precedes the media data."""
    with av.open(src) as source, av.open(dst, "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream_from_template(source.streams.video[0])
        for packet in source.demux(source.streams.video[0]):
            if packet.dts is None:
                continue
            packet.stream = stream
            out.mux(packet)
    return dst


def top_level_boxes(path: str) -> list[bytes]:
    data = Path(path).read_bytes()
    boxes, offset = [], 0
    while offset + 8 <= len(data):
        boxes.append(data[offset + 4:offset + 8])
        offset += int.from_bytes(data[offset:offset + 4], "big")
    return boxes


def first_half(path: str) -> str:
    data = Path(path).read_bytes()
    cut = str(Path(path).with_name("cut_" + Path(path).name))
    Path(cut).write_bytes(data[: len(data) // 2])
    return cut


def complete_part_s(whole: str, cut: str | int) -> float:
    """Where a cut file's video ends, found from the whole file: its frames stored wholly before the cut.

    ``cut`` is the cut file, or the byte offset where the file's data stops.
    """
    size = cut if isinstance(cut, int) else os.path.getsize(cut)
    with av.open(whole) as container:
        stream = container.streams.video[0]
        pts = [p.pts for p in container.demux(stream) if p.size and p.pos + p.size <= size]
        return float((max(pts) - min(pts)) * stream.time_base) + 1 / FPS


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bad_videos")
    frames = face_frames(N_WHOLE)
    v = {"avi": write_video(folder / "face.avi", frames, fps=FPS)}
    # Keyframes every second, as cameras write them: the bytes spread evenly over time.
    v["mp4_index_last"] = write_video(folder / "face_index_last.mp4", frames, fps=FPS, gop_size=FPS)
    v["mp4_faststart"] = remux_faststart(v["mp4_index_last"], str(folder / "face_faststart.mp4"))
    # The two MP4 layouts really are what their names say.
    boxes = top_level_boxes(v["mp4_index_last"])
    assert boxes.index(b"mdat") < boxes.index(b"moov")
    boxes = top_level_boxes(v["mp4_faststart"])
    assert boxes.index(b"moov") < boxes.index(b"mdat")
    for layout in ("avi", "mp4_index_last", "mp4_faststart"):
        v[f"cut_{layout}"] = first_half(v[layout])
    v["missing"] = str(folder / "missing.avi")
    return v


@pytest.fixture(scope="module")
def zero_shot():
    return EmotionClassifier.from_pretrained()


def truncation_message(end: float) -> str:
    return f"decoding stopped at {end:.1f} s of {STATED}: the file is probably truncated"


# ------------------------------------------------------------ item 9: truncated files
@pytest.mark.parametrize("layout", ["avi", "mp4_faststart"])
def test_the_first_half_of_a_video_is_sampled_over_that_half_and_says_so(videos, layout):
    whole, cut = videos[layout], videos[f"cut_{layout}"]
    end = complete_part_s(whole, cut)
    assert 8.0 < end < 11.0  # about the first half of 19.7 s
    message = truncation_message(end)

    clip = read_frames(cut, 8)
    assert clip.truncation == message
    assert clip.info.duration_s == pytest.approx(end) and clip.info.stated_duration_s == pytest.approx(19.7)
    # The samples are spread over the part that decodes, at the centres of 8 segments of it.
    np.testing.assert_allclose(clip.timestamps_s, (np.arange(8) + 0.5) * end / 8, atol=1 / FPS)
    assert read_frames(whole, 8).truncation is None

    # The extractor: not a failure (the faces are real), but a warning naming the file and the times.
    with pytest.warns(TruncatedVideoWarning) as caught:
        faces, report = VideoFaceExtractor(n_frames=8).transform_with_report([whole, cut])
    assert len(caught) == 1
    assert "1 of 2 videos end before their stated duration" in str(caught[0].message)
    assert f"'{cut}': {message}" in str(caught[0].message)
    assert caught[0].filename == __file__
    assert report["warning"].tolist() == [None, message]
    assert report["error"].tolist() == [None, None] and not report["fallback_used"].any()
    assert report.loc[1, "duration_s"] == pytest.approx(end)
    assert report.loc[0, "duration_s"] == pytest.approx(19.7)
    assert (report["face_coverage"] == 1.0).all() and faces.std() > 20


def test_a_truncated_video_is_a_warning_under_both_error_policies_and_is_cached_with_it(videos, tmp_path):
    cut = videos["cut_avi"]
    message = truncation_message(complete_part_s(videos["avi"], cut))
    ex = VideoFaceExtractor(n_frames=8, on_error="fallback", cache_dir=tmp_path)
    with pytest.warns(TruncatedVideoWarning, match="decoding stopped"):
        _, report = ex.transform_with_report([cut])
    assert report["warning"].tolist() == [message] and report["error"].tolist() == [None]
    with pytest.warns(TruncatedVideoWarning, match="decoding stopped"):
        _, again = ex.transform_with_report([cut])
    assert again["cached"].tolist() == [True] and again["warning"].tolist() == [message]


@pytest.mark.parametrize("on_error, bad_status", [("raise", "failed"), ("fallback", "fallback")])
def test_predict_table_marks_truncated_videos_partial(videos, zero_shot, on_error, bad_status):
    pipe = make_emotion_pipeline(extractor={"n_frames": 8, "on_error": on_error}, classifier=zero_shot,
                                 cache=False)
    paths = [videos["avi"], videos["cut_avi"], videos["cut_mp4_faststart"], videos["cut_mp4_index_last"],
             videos["missing"]]
    with pytest.warns(TruncatedVideoWarning):
        table, frames = predict_table(pipe, paths, return_frames=True)
    assert table["status"].tolist() == ["ok", "partial", "partial", bad_status, bad_status]
    ends = [complete_part_s(videos["avi"], videos["cut_avi"]),
            complete_part_s(videos["mp4_faststart"], videos["cut_mp4_faststart"])]
    assert table["error"].tolist()[1:3] == [truncation_message(e) for e in ends]
    assert table.loc[3, "error"].startswith("truncated MP4/MOV: the file ends")
    # A partial video gets the label of what it shows (the astronaut smiles throughout), as the whole one.
    assert table["label"].tolist()[:3] == ["happy"] * 3 and table["label"].tolist()[3:] == [None, None]
    probabilities = table.filter(like="p_").to_numpy()
    np.testing.assert_allclose(probabilities[:3].sum(axis=1), 1.0, atol=1e-5)
    assert np.isnan(probabilities[3:]).all()
    # Its sampled frames lie in the part that decodes.
    for path, end in zip(paths[1:3], ends):
        stamps = frames.loc[frames["video"] == path, "timestamp_s"].to_numpy()
        assert len(stamps) == 8 and stamps.max() < end
    assert frames.loc[frames["video"] == paths[0], "timestamp_s"].max() > 18


def test_an_mp4_cut_before_its_index_fails_naming_the_file(videos):
    cut = videos["cut_mp4_index_last"]
    reason = "truncated MP4/MOV: the file ends"
    for read in (read_frames, probe_video, lambda p: FrameSampler(p, 0.5), emotion_timeline):
        with pytest.raises(VideoDecodeError, match=reason) as err:
            read(cut)
        assert err.value.path == cut and f"'{cut}'" in str(err.value)
    with pytest.raises(ExtractionError) as err:
        VideoFaceExtractor(n_frames=4).transform([videos["avi"], cut])
    assert "1 of 2 videos failed" in str(err.value) and f"'{cut}': {reason}" in str(err.value)
    # Garbage named .mp4 is still "not a video file": only a cut ISO media file is called truncated.
    garbage = Path(cut).with_name("garbage.mp4")
    garbage.write_bytes(np.random.default_rng(0).bytes(20_000))
    with pytest.raises(VideoDecodeError, match="not a video file"):
        read_frames(garbage)


def test_the_timeline_of_a_truncated_video_says_where_it_ended(videos, zero_shot):
    pipe = make_emotion_pipeline(extractor={"n_frames": 4}, classifier=zero_shot, cache=False)
    cut = videos["cut_avi"]
    end = complete_part_s(videos["avi"], cut)
    with pytest.warns(TruncatedVideoWarning) as caught:
        windows = emotion_timeline(cut, pipe, window=2.0, hop=1.0, max_thumbnails=0)
    assert len(caught) == 1
    assert str(caught[0].message) == f"'{cut}': {truncation_message(end)}; the timeline ends there, at {end:.1f} s"
    assert windows.attrs["warning"] == truncation_message(end)
    assert windows.attrs["end_s"] == pytest.approx(end)
    assert windows.attrs["stated_duration_s"] == pytest.approx(19.7)
    assert windows["end_s"].max() == pytest.approx(end) and windows["start_s"].max() == int(end) - 1
    assert set(windows["label"]) == {"happy"}
    # The whole video: no warning, windows up to 19.7 s.
    whole = emotion_timeline(videos["avi"], pipe, window=2.0, hop=1.0, max_thumbnails=0)
    assert whole.attrs["warning"] is None and whole["end_s"].max() == pytest.approx(19.7)


def zeros_after_half(path: str) -> tuple[str, int]:
    """The file as an unfinished download leaves it: download managers preallocate it with zeros."""
    data = bytearray(Path(path).read_bytes())
    half = len(data) // 2
    data[half:] = bytes(len(data) - half)
    out = str(Path(path).with_name("zeros_" + Path(path).name))
    Path(out).write_bytes(bytes(data))
    return out, half


def test_an_unfinished_download_full_of_zeros_is_sampled_over_what_decodes(videos):
    # MP4 with its index first: every frame is listed, half of them are zeros: the decoder gives up there.
    path, half = zeros_after_half(videos["mp4_faststart"])
    end = complete_part_s(videos["mp4_faststart"], half)
    clip = read_frames(path, 8)
    # The frame the zeros start in may still decode, concealed: within a frame of the complete part.
    assert clip.info.duration_s == pytest.approx(end, abs=1 / FPS + 1e-6)
    assert clip.truncation == (f"decoding stopped at {clip.info.duration_s:.1f} s of {STATED}: "
                               "the rest of the file cannot be decoded (damaged data)")
    end = clip.info.duration_s
    # Sampled again over the part that decodes, not the last good frame repeated.
    np.testing.assert_allclose(clip.timestamps_s, (np.arange(8) + 0.5) * end / 8, atol=1 / FPS)
    assert len(set(clip.indices.tolist())) == 8
    # AVI: the demuxer itself stops at the zeros (after the frame they start in).
    path, half = zeros_after_half(videos["avi"])
    clip = read_frames(path, 8)
    assert clip.info.duration_s == pytest.approx(complete_part_s(videos["avi"], half), abs=1 / FPS + 1e-6)
    assert clip.truncation == truncation_message(clip.info.duration_s)
    # MP4 with its index last: the index is zeros too.
    path, half = zeros_after_half(videos["mp4_index_last"])
    with pytest.raises(VideoDecodeError, match=r"truncated MP4/MOV: the file holds only zeros from byte "
                                               r"[\d,]+ on, before the index \(moov box\)"):
        read_frames(path)


@pytest.mark.parametrize("decoded, stated, flagged", [
    (18.7, 19.7, False), (18.6, 19.7, True),  # below 20 s: 1 s of tolerance
    (95.0, 100.0, False), (94.9, 100.0, True),  # above: 5 %
    (0.5, 1.4, False), (3.0, None, False),  # a short clip; nothing stated
])
def test_the_truncation_tolerance_is_max_of_1_s_and_5_percent(decoded, stated, flagged):
    from sk_emotion.video._container import TRUNCATION_FRACTION, TRUNCATION_MIN_S
    from sk_emotion.video._container import truncation_reason as _truncation_reason

    assert (TRUNCATION_MIN_S, TRUNCATION_FRACTION) == (1.0, 0.05)
    reason = _truncation_reason(decoded, stated)
    assert (reason is not None) == flagged
    if flagged:
        assert reason == (f"decoding stopped at {decoded:.1f} s of a stated {stated:.1f} s: "
                          "the file is probably truncated")


# ------------------------------------------------------------ item 10: n_frames
@pytest.fixture(scope="module")
def clip72(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("short") / "short.avi", index_frames(72, 64, 64), fps=25)


def test_n_frames_100000_fails_fast_with_a_clear_message_and_allocates_nothing(clip72):
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"The 'n_frames' parameter of VideoFaceExtractor must be an int "
                                             r"in the range \[1, 1024\]\. Got 100000 instead"):
            VideoFaceExtractor(n_frames=100000, detector=None).transform([clip72])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # Sampling 100000 frames of 64x64 would hold 1.2 GB; the refusal needs a few MB at most.
    assert peak < 20 * 2**20
    with pytest.raises(ValueError, match="n_frames"):
        VideoFaceExtractor(n_frames=MAX_N_FRAMES + 1).fit()


def test_the_largest_n_frames_repeats_the_frames_of_a_short_clip(clip72):
    faces = VideoFaceExtractor(n_frames=MAX_N_FRAMES, detector=None, color="rgb", face_size=64).transform([clip72])
    assert faces.shape == (1, MAX_N_FRAMES, 3, 64, 64)
    # Each of the 72 frames is repeated about 1024 / 72 times, in order.
    shown = [read_frame_index(f.transpose(1, 2, 0)) for f in faces[0]]
    assert shown == sorted(shown) and set(shown) == set(range(72))


def test_read_frames_refuses_a_clip_larger_than_its_memory_limit_before_decoding(tmp_path):
    path = write_video(tmp_path / "v480.avi", np.zeros((72, 480, 480, 3), np.uint8), fps=25)
    tracemalloc.start()
    try:
        with pytest.raises(VideoDecodeError, match=r"100000 sampled frames of 480x480 would take 64\.4 GiB, "
                                                   r"more than the 8 GiB limit of one clip; sample fewer frames"):
            read_frames(path, 100000)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20
    assert read_frames(path, 100).frames.shape == (100, 480, 480, 3)


def test_the_timeline_checks_the_extractor_parameters_before_decoding(zero_shot, tmp_path):
    pipe = make_emotion_pipeline(extractor={"n_frames": 100000}, classifier=zero_shot, cache=False)
    with pytest.raises(ValueError, match=r"'n_frames' parameter of VideoFaceExtractor must be an int"):
        emotion_timeline(tmp_path / "missing.avi", pipe)


# ------------------------------------------------------------ item 11: progress
def test_one_video_shows_progress_over_its_sampled_frames(videos, capsys):
    VideoFaceExtractor(n_frames=8, verbose=1).transform([videos["avi"]])
    err = capsys.readouterr().err
    assert "extracting faces from face.avi" in err and "8/8" in err and "frame" in err
    assert "finding faces" in err
    VideoFaceExtractor(n_frames=8, verbose=0).transform([videos["avi"]])
    assert capsys.readouterr().err == ""


def test_read_frames_reports_each_decoded_and_converted_sample(clip72, tmp_path):
    calls = []
    read_frames(clip72, 8, progress=lambda *call: calls.append(call))
    assert calls == [("decoding", i, 8) for i in range(1, 9)] + [("converting", i, 8) for i in range(1, 9)]
    calls.clear()
    clip = read_frames(clip72, 100, progress=lambda *call: calls.append(call))
    # 100 samples of 72 frames: each frame decoded and converted once, then repeated.
    assert calls == [("decoding", i, 72) for i in range(1, 73)] + [("converting", i, 72) for i in range(1, 73)]
    assert [read_frame_index(f) for f in clip.frames] == clip.indices.tolist()
    folder = save_frames(tmp_path / "frames", index_frames(6, 64, 96))
    calls.clear()
    read_frames(folder, 4, progress=lambda *call: calls.append(call))
    assert calls == [("decoding", i, 4) for i in range(1, 5)]


# ------------------------------------------------------------ item 12: pipes, folders, file objects
PIPE_SCRIPT = """
import json, warnings
from sk_emotion import VideoFaceExtractor
from sk_emotion.timeline import emotion_timeline
from sk_emotion.video import read_frames
out = {}
for name, call in [("read_frames", lambda: read_frames("/dev/stdin")),
                   ("timeline", lambda: emotion_timeline("/dev/stdin"))]:
    try:
        call()
    except Exception as exc:
        out[name] = [type(exc).__name__, str(exc)]
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    _, report = VideoFaceExtractor(on_error="fallback", cache_dir=%r,
                                   cache_key="content").transform_with_report(["/dev/stdin"])
out["extractor"] = report.loc[0, "error"]
print(json.dumps(out))
"""


def test_a_video_piped_to_dev_stdin_is_refused_with_what_to_do(videos, tmp_path):
    script = PIPE_SCRIPT % str(tmp_path / "cache")
    result = subprocess.run([sys.executable, "-c", script], input=Path(videos["avi"]).read_bytes(),
                            capture_output=True, timeout=300, check=True)
    out = json.loads(result.stdout.decode().strip().splitlines()[-1])
    reason = ("a pipe, not a file: reading a video from standard input or a pipe is not supported "
              "(it is read more than once); save it to a file first")
    assert out["read_frames"] == ["VideoDecodeError", f"cannot decode '/dev/stdin': {reason}"]
    assert out["timeline"] == ["VideoDecodeError", f"cannot decode '/dev/stdin': {reason}"]
    assert out["extractor"] == reason  # and hashing it for the cache did not wait on the pipe


@pytest.mark.timeout(120)
def test_a_named_pipe_is_refused_without_waiting_for_a_writer(tmp_path):
    fifo = tmp_path / "video.avi"
    os.mkfifo(fifo)
    with pytest.raises(VideoDecodeError, match="a pipe, not a file"):
        check_video_path(fifo)
    _, report = VideoFaceExtractor(on_error="fallback", cache_dir=tmp_path / "cache",
                                   cache_key="content").transform_with_report([fifo])
    assert report.loc[0, "error"].startswith("a pipe, not a file")


def test_file_objects_are_refused_by_type_not_by_their_repr(videos):
    buffer = io.BytesIO(Path(videos["avi"]).read_bytes())
    calls = [read_frames, probe_video, lambda x: FrameSampler(x, 0.5), emotion_timeline, check_video_path]
    for call in calls:
        with pytest.raises(TypeError) as err:
            call(buffer)
        assert str(err.value) == ("a video is given by its path (str or os.PathLike), got BytesIO: file "
                                  "objects and bytes in memory cannot be decoded; save the video to a file")
    with open(videos["avi"], "rb") as handle, pytest.raises(TypeError, match="got BufferedReader"):
        read_frames(handle)


def save_frames(folder: Path, frames: np.ndarray) -> Path:
    folder.mkdir()
    for i, frame in enumerate(frames):
        cv2.imwrite(str(folder / f"frame{i}.png"), frame[..., ::-1])
    return folder


def test_frame_sampler_reads_a_folder_of_frames_at_its_frame_rate(tmp_path):
    folder = save_frames(tmp_path / "frames", index_frames(25, 64, 96))
    sampler = FrameSampler(folder, 0.1, folder_fps=25)
    samples = list(sampler)
    # Target t shows image floor(t * 25): t = 0.05, 0.15, ..., 0.95.
    expected = [int(Fraction(2 * j + 1, 20) * 25) for j in range(10)]
    assert [s.frame_index for s in samples] == expected == [1, 3, 6, 8, 11, 13, 16, 18, 21, 23]
    assert [read_frame_index(s.image) for s in samples] == expected  # the right image, decoded
    assert [s.frame_time_s for s in samples] == pytest.approx([i / 25 for i in expected])
    assert sampler.end_time_s == 1.0 and sampler.truncation is None and sampler.n_decoded == 10
    # The frames read_frames samples from the folder, as the extractor sees them.
    clip = read_frames(folder, 5)
    window = FrameSampler(folder, 1 / 30 * 25 / 5)  # default 30 fps: 25 frames last 5/6 s
    assert [s.frame_index for s in window] == clip.indices.tolist()
    # Mixed sizes are refused naming the image, as read_frames does.
    cv2.imwrite(str(folder / "frame3.png"), np.zeros((10, 10, 3), np.uint8))  # shown at t = 0.15 s
    with pytest.raises(VideoDecodeError, match="image 'frame3.png' is 10x10 but earlier frames are 96x64"):
        list(FrameSampler(folder, 0.1, folder_fps=25))


def test_the_timeline_of_a_folder_of_frames(tmp_path, zero_shot):
    frames = face_frames(40)  # 4 s at 10 fps
    folder = save_frames(tmp_path / "frames", frames)
    pipe = make_emotion_pipeline(extractor={"n_frames": 4}, classifier=zero_shot, cache=False)
    windows = emotion_timeline(folder, pipe, window=2.0, hop=1.0, max_thumbnails=0, folder_fps=FPS)
    assert windows[["person", "start_s", "end_s"]].values.tolist() == [[0, 0.0, 2.0], [0, 1.0, 3.0], [0, 2.0, 4.0]]
    assert windows.attrs["end_s"] == 4.0 and windows.attrs["warning"] is None
    # The same frames as a video give the same labels.
    video = write_video(tmp_path / "same.avi", frames, fps=FPS)
    from_video = emotion_timeline(video, pipe, window=2.0, hop=1.0, max_thumbnails=0)
    assert windows["label"].tolist() == from_video["label"].tolist() == ["happy"] * 3
    np.testing.assert_allclose(windows.filter(like="p_"), from_video.filter(like="p_"), atol=0.05)
    with pytest.raises(ValueError, match="folder_fps must be a positive number"):
        emotion_timeline(folder, pipe, folder_fps=0)


def test_the_command_line_shows_a_partial_answer_with_a_warning_and_fails_only_for_failures(
        videos, capsys, tmp_path):
    from sk_emotion.cli import main

    out = tmp_path / "t.csv"
    assert main(["predict", videos["avi"], videos["cut_avi"], "--n-frames", "8", "--csv", str(out)]) == 0
    captured = capsys.readouterr()
    printed = [line for line in captured.out.splitlines() if "cut" in line]
    assert len(printed) == 1 and "partial" in printed[0] and "happy" in printed[0]
    warning_lines = [line for line in captured.err.splitlines() if line.startswith("sk-emotion: warning:")]
    assert any(videos["cut_avi"] in line and "probably truncated" in line for line in warning_lines)
    assert not any(line.startswith("sk-emotion: error:") for line in captured.err.splitlines())
    assert main(["predict", videos["cut_avi"], videos["missing"], "--n-frames", "8"]) == 1
