"""Tests for sk_emotion.video.FrameSampler: streaming, regularly spaced frame sampling.

Frames carry their index as black/white blocks (``index_frames``), so each
test checks *which* source frame was yielded, not only the reported index.
The reference for "which frame" is read_frames / decode._FrameTable, the
decoder the clip classifier uses.
"""

from __future__ import annotations

import dataclasses
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from _helpers import index_frames, read_frame_index

from sk_emotion.video import (
    FrameSampler,
    SampledFrame,
    VideoDecodeError,
    VideoNotFoundError,
    apply_rotation,
    probe_video,
    read_frame_indices,
    read_frames,
    sample_array_frames,
    write_video,
)
from sk_emotion.video import stream as stream_mod

H, W = 80, 96
N = 120  # frames of the CFR test videos: 4.8 s at 25 fps
HAS_X264 = "libx264" in av.codecs_available

# 10 frames at 25 fps, a 100 fps burst of 20, then 10 frames at 10 fps.
VFR_PTS = np.concatenate([np.arange(10) * 0.04, 0.4 + np.arange(20) * 0.01,
                          0.6 + np.arange(10) * 0.1])


def codes(samples) -> list[int]:
    return [read_frame_index(s.image) for s in samples]


def summary(samples) -> list[tuple]:
    return [(s.index, s.time_s, s.frame_time_s, s.frame_index, read_frame_index(s.image))
            for s in samples]


@pytest.fixture(scope="module")
def vdir(tmp_path_factory):
    return tmp_path_factory.mktemp("stream_videos")


VIDEOS = {
    # H.264 with B-frames (libx264 defaults: keyframes only at scene cuts).
    "h264_default_gop.mp4": {},
    "h264_gop10.mp4": {"gop_size": 10},
    "h264_gop10.mkv": {"gop_size": 10},
    "mpeg4.avi": {"gop_size": 10},  # AFEW's format
    # MPEG-4 Part 2 with B-frames: open GOPs, frames stored after a
    # keyframe are displayed before it.
    "mpeg4_bframes.avi": {"codec": "mpeg4", "gop_size": 10, "options": {"bf": "2"}},
}


@pytest.fixture(scope="module")
def videos(vdir):
    return {name: write_video(vdir / name, index_frames(N, H, W), fps=25, **kw)
            for name, kw in VIDEOS.items()}


# --------------------------------------------------------------------------
# Same frames as read_frames
# --------------------------------------------------------------------------
@pytest.mark.parametrize("name", VIDEOS)
@pytest.mark.parametrize("n", [5, 7, 16, 50])
def test_grid_picks_the_frames_read_frames_picks(videos, name, n):
    # step = span / n, offset = step / 2: the targets of read_frames(path, n).
    # n = 7 puts target 3 exactly on frame 30's timestamp (1.2 s).
    path = videos[name]
    clip = read_frames(path, n)
    span = clip.info.duration_s
    sampler = FrameSampler(path, span / n)
    samples = list(sampler)
    assert [s.index for s in samples] == list(range(n))
    assert [s.frame_index for s in samples] == clip.indices.tolist() == codes(samples)
    np.testing.assert_allclose([s.time_s for s in samples], (np.arange(n) + 0.5) * span / n)
    np.testing.assert_allclose([s.frame_time_s for s in samples], clip.timestamps_s, atol=1e-9)
    assert sampler.end_time_s == pytest.approx(span) == pytest.approx(N / 25)
    # A GOP that ends before the first target is not decoded (10 frames with
    # gop_size=10, and an open GOP's 2 leading frames are dropped by the decoder);
    # in MP4 and MKV, B-frames no target shows are not decoded either.
    assert (N - 12 if name.endswith(".avi") else 0) <= sampler.n_decoded <= N
    assert sampler.n_converted == len(set(clip.indices.tolist()))
    for s in samples:
        assert s.image.shape == (H, W, 3) and s.image.dtype == np.uint8


def test_targets_on_frame_timestamps_are_exact(videos):
    # 0.12 s is 3 frames at 25 fps, but the float 0.12 is slightly below
    # 3/25: float arithmetic would pick frame 3j - 1 for every target.
    assert Fraction(0.12) < Fraction(3, 25)
    path = videos["h264_gop10.mp4"]
    samples = list(FrameSampler(path, 0.12, offset_s=0.0))
    expected = [3 * j for j in range(40)]
    assert [s.frame_index for s in samples] == expected == codes(samples)
    assert codes(samples[::7]) == [read_frame_index(f)
                                   for f in read_frame_indices(path, expected[::7]).frames]
    # Thirds of a second from 1/3: every third target is on a frame (frames 25k/3).
    thirds = list(FrameSampler(path, 1 / 3, offset_s=1 / 3))
    assert [s.frame_index for s in thirds] == [(25 * (j + 1)) // 3 for j in range(14)]


@pytest.mark.parametrize("name", ["vfr.mp4", "vfr.mkv", "vfr.avi"])
def test_variable_frame_rate(vdir, name):
    path = write_video(vdir / name, index_frames(40, H, W), pts_s=VFR_PTS)
    sampler = FrameSampler(path, 0.005, offset_s=0.0)  # every 5 ms: many targets on frames
    samples = list(sampler)
    pts_ms = np.round(VFR_PTS * 1000).astype(int)
    expected = [int(np.searchsorted(pts_ms, 5 * j, side="right") - 1) for j in range(len(samples))]
    assert [s.frame_index for s in samples] == expected == codes(samples)
    np.testing.assert_allclose([s.frame_time_s for s in samples], VFR_PTS[expected], atol=1e-12)
    # Frame times are the written pts: every frame is shown by some target.
    assert sorted(set(expected)) == list(range(40))
    # The video ends where read_frames says (last pts + its duration).
    clip = read_frames(path, 8)
    assert sampler.end_time_s == pytest.approx(clip.info.duration_s)
    assert len(samples) == int(np.ceil(clip.info.duration_s / 0.005 - 1e-9))
    # And a grid of 8 centred samples is read_frames' own choice.
    grid = list(FrameSampler(path, clip.info.duration_s / 8))
    assert [s.frame_index for s in grid] == clip.indices.tolist() == codes(grid)


def test_window_samples_equal_the_window_cut_as_a_clip(vdir):
    # The timeline property: with W = 2 s, N = 16 samples per window and a
    # hop of half a window, grid indices 8k ... 8k + 15 of a single pass are
    # the samples of frames [25k, 25k + 50) cut as their own clip.
    frames = index_frames(160, H, W)  # 6.4 s at 25 fps
    path = write_video(vdir / "timeline.mp4", frames, fps=25)
    window_s, n = 2.0, 16
    samples = list(FrameSampler(path, window_s / n, offset_s=window_s / (2 * n)))
    assert [s.index for s in samples] == list(range(len(samples)))
    got = codes(samples)
    assert got == [s.frame_index for s in samples]
    n_windows = 5  # k = 0..4: frames up to 150 of 160
    for k in range(n_windows):
        window = frames[25 * k:25 * k + 50]
        clip = sample_array_frames(window, n)
        assert got[8 * k:8 * k + n] == (clip.indices + 25 * k).tolist()
        assert got[8 * k:8 * k + n] == [read_frame_index(f) for f in clip.frames]
    # Also against the window written as its own video and read with read_frames.
    cut = write_video(vdir / "window3.mp4", frames[75:125], fps=25)
    assert got[24:40] == [read_frame_index(f) for f in read_frames(cut, n).frames]


# --------------------------------------------------------------------------
# Grid bounds
# --------------------------------------------------------------------------
def test_offset_defaults_to_half_a_step(videos):
    path = videos["mpeg4.avi"]
    default = list(FrameSampler(path, 0.4))
    assert [s.time_s for s in default][:3] == pytest.approx([0.2, 0.6, 1.0])
    assert [s.frame_index for s in default][:3] == [5, 15, 25]
    zero = list(FrameSampler(path, 0.4, offset_s=0))
    assert zero[0].time_s == 0 and zero[0].frame_index == 0 and zero[0].frame_time_s == 0
    # start_s = 0 drops negative targets; with an earlier start_s they show the first frame.
    assert list(FrameSampler(path, 0.05, offset_s=-0.1))[0].index == 2
    early = list(FrameSampler(path, 0.05, offset_s=-0.1, start_s=-1.0))
    assert [s.frame_index for s in early[:4]] == [0, 0, 0, 1]
    assert [s.time_s for s in early[:3]] == pytest.approx([-0.1, -0.05, 0.0])
    assert early[0].frame_time_s == 0.0 and early[0].index == 0


def test_targets_past_the_end_are_not_yielded(videos):
    path = videos["h264_gop10.mp4"]  # 4.8 s: last frame 4.76 s, ends at 4.8 s
    samples = list(FrameSampler(path, 1.0, offset_s=0.79))
    assert [s.time_s for s in samples] == pytest.approx([0.79, 1.79, 2.79, 3.79, 4.79])
    assert samples[-1].frame_index == N - 1
    assert list(FrameSampler(path, 1.0, offset_s=0.8))[-1].time_s == pytest.approx(3.8)
    assert list(FrameSampler(path, 1.0, offset_s=5.0)) == []


def test_start_and_end(videos):
    path = videos["mpeg4.avi"]
    full = FrameSampler(path, 0.25)
    everything = summary(full)
    sampler = FrameSampler(path, 0.25, start_s=1.0, end_s=2.5)
    part = summary(sampler)
    # 1.0 <= 0.125 + 0.25 j < 2.5; grid indices keep their numbering.
    assert [s[0] for s in part] == [4, 5, 6, 7, 8, 9]
    assert part == [s for s in everything if 1.0 <= s[1] < 2.5]
    # Decoding stops soon after the last target, so the end of the video is unknown.
    assert sampler.n_decoded < 70 and sampler.end_time_s is None
    assert full.end_time_s == pytest.approx(4.8) and full.n_decoded == N
    # Targets exactly on start_s are kept; exactly on end_s are not.
    on = list(FrameSampler(path, 0.25, start_s=1.125, end_s=1.625))
    assert [s.index for s in on] == [4, 5]
    assert list(FrameSampler(path, 0.25, start_s=2.0, end_s=2.0)) == []
    # end_s past the end of the video: the whole rest, and the end is known.
    tail = FrameSampler(path, 0.25, start_s=4.0, end_s=100.0)
    assert [s[0] for s in summary(tail)] == [16, 17, 18] and tail.end_time_s == pytest.approx(4.8)


@pytest.mark.parametrize("name", [*VIDEOS, "vfr.mkv"])
@pytest.mark.parametrize("start_s", [0.5, 1.3, 2.9, 4.1])
def test_start_skips_decoding_but_not_frames(vdir, videos, name, start_s):
    # Groups of pictures before start_s are read but not decoded; the frames
    # and their indices are those of a full pass.
    if name == "vfr.mkv":
        path = write_video(vdir / "skip_vfr.mkv", index_frames(40, H, W), pts_s=VFR_PTS,
                           gop_size=5)
        start_s = start_s / 3
    else:
        path = videos[name]
    everything = summary(FrameSampler(path, 0.05))
    sampler = FrameSampler(path, 0.05, start_s=start_s)
    part = summary(sampler)
    assert part == [s for s in everything if s[1] >= start_s]
    assert [s[3] for s in part] == [s[4] for s in part]
    assert sampler.end_time_s == pytest.approx(FrameSampler(path, 1.0).info.duration_s, abs=0.05)
    if "gop10" in name or name == "mpeg4.avi" or (name == "mpeg4_bframes.avi" and start_s > 1):
        first = part[0][3]
        assert sampler.n_decoded < N - first + 12  # at most ~a GOP before the first frame


def test_failed_skip_decodes_again_from_the_start(videos, monkeypatch):
    # If the decoder does not start at the keyframe where skipping says it
    # should, the pass falls back to decoding from the first packet.
    path = videos["h264_gop10.mp4"]
    expected = summary(FrameSampler(path, 0.1, start_s=3.0))
    real = stream_mod._skip_gops
    calls = []

    def wrong_entry(*args):
        buffered, entry_pts, n_before, p0 = real(*args)
        calls.append(entry_pts)
        return buffered, entry_pts + 1, n_before, p0

    monkeypatch.setattr(stream_mod, "_skip_gops", wrong_entry)
    sampler = FrameSampler(path, 0.1, start_s=3.0)
    assert summary(sampler) == expected
    assert calls and calls[0] is not None
    assert sampler.n_decoded > N - 30  # the second pass decoded from frame 0


@pytest.mark.parametrize("name", ["h264_default_gop.mp4", "h264_gop10.mkv", "mpeg4_bframes.avi"])
def test_frames_no_target_shows_are_not_decoded_and_the_others_are_exact(videos, name):
    path = videos[name]
    sparse = FrameSampler(path, 0.5)  # a target every 12.5 frames
    samples = list(sparse)
    indices = [s.frame_index for s in samples]
    assert indices == codes(samples) == [round(12.5 * j + 6.25 - 0.5) for j in range(10)]
    reference = read_frame_indices(path, indices).frames
    for sample, frame in zip(samples, reference):
        np.testing.assert_array_equal(sample.image, frame)  # exactly what a full decode gives
    assert sparse.end_time_s == N / 25
    if name.endswith(".avi"):
        assert sparse.n_decoded == N  # AVI stores no display times for B-frames: all are decoded
    else:
        # libx264's B-frames are non-reference frames: those no target shows are dropped.
        assert sparse.n_decoded < 0.8 * N
    dense = FrameSampler(path, 0.04 / 3)  # three targets per frame: every frame is shown
    assert len(list(dense)) == 3 * N and dense.n_decoded == N


@pytest.mark.parametrize("codec, name, options", [("libx265", "hevc_bpyramid.mp4", {}),
                                                   ("mpeg4", "mpeg4_bframes.mp4", {"bf": "2"}),
                                                   ("libvpx-vp9", "vp9.mkv", {})])
def test_other_codecs_drop_only_frames_no_target_shows(vdir, codec, name, options):
    if codec not in av.codecs_available:
        pytest.skip(f"this FFmpeg has no {codec} encoder")
    path = write_video(vdir / name, index_frames(N, H, W), fps=25, codec=codec, gop_size=30, options=options)
    sampler = FrameSampler(path, 0.5)
    samples = list(sampler)
    indices = [s.frame_index for s in samples]
    assert indices == codes(samples) == [round(12.5 * j + 6.25 - 0.5) for j in range(10)]
    for sample, frame in zip(samples, read_frame_indices(path, indices).frames):
        np.testing.assert_array_equal(sample.image, frame)
    # HEVC's b-pyramid keeps its reference B-frames; MPEG-4 Part 2's B-frames are never references;
    # VP9 has no B-frames to drop.
    assert sampler.n_decoded == N if codec == "libvpx-vp9" else sampler.n_decoded < 0.6 * N


def test_a_frame_out_of_the_expected_order_decodes_again_without_dropping(videos, monkeypatch):
    path = videos["h264_default_gop.mp4"]
    expected = summary(FrameSampler(path, 0.5))

    def confused(self, pts):
        if self.used:
            raise stream_mod._SkipFailed
        return 0

    monkeypatch.setattr(stream_mod._UnshownFrames, "shown", confused)
    sampler = FrameSampler(path, 0.5)
    assert summary(sampler) == expected
    assert sampler.n_decoded > N  # the dropping pass, then a whole pass without dropping


# --------------------------------------------------------------------------
# Conversion
# --------------------------------------------------------------------------
def test_each_frame_is_converted_once(videos):
    path = videos["h264_gop10.mp4"]
    sampler = FrameSampler(path, 0.01, end_s=1.0)  # 4 targets per frame
    samples = list(sampler)
    assert len(samples) == 100
    assert [s.frame_index for s in samples] == [j // 4 for j in range(100)] == codes(samples)
    assert sampler.n_converted == 25
    # Targets on the same frame share its array.
    assert samples[0].image is samples[3].image and samples[3].image is not samples[4].image
    sparse = FrameSampler(path, 0.5)
    assert len(list(sparse)) == sparse.n_converted == 10 and sparse.n_decoded <= N


def test_rgb_order(videos):
    sample = next(iter(FrameSampler(videos["h264_gop10.mp4"], 1.0)))
    r, g, b = sample.image[H - 2, W // 2].astype(int)  # the bottom bar is red
    assert r > 150 and g < 80 and b < 80


@pytest.mark.parametrize("name,rotation", [("r.mp4", 90), ("r.mov", 270), ("r.mkv", 180)])
def test_rotation_metadata_gives_upright_frames(vdir, name, rotation):
    upright = index_frames(12, H, W)  # landscape 96x80 as displayed
    stored = np.stack([apply_rotation(f, -rotation) for f in upright])
    path = write_video(vdir / name, stored, rotation=rotation)
    sampler = FrameSampler(path, 0.1)
    samples = list(sampler)
    assert (sampler.info.width, sampler.info.height, sampler.info.rotation) == (W, H, rotation)
    assert len(samples) == 5 and codes(samples) == [s.frame_index for s in samples]
    for s in samples:
        assert s.image.shape == (H, W, 3)
        assert np.abs(s.image.astype(int) - upright[s.frame_index]).mean() < 3


def test_frames_without_timestamps_are_counted(vdir):
    # A raw H.264 elementary stream has no timestamps: frames are placed at
    # the stream's average rate (25 fps), as read_frames counts them.
    codec = "libx264" if HAS_X264 else "mpeg4"
    path = write_video(vdir / ("raw.h264" if HAS_X264 else "raw.m4v"), index_frames(30, H, W),
                       codec=codec)
    sampler = FrameSampler(path, 0.2)
    samples = list(sampler)
    assert [s.frame_index for s in samples] == read_frames(path, 6).indices.tolist() == codes(samples)
    np.testing.assert_allclose([s.frame_time_s for s in samples],
                               [s.frame_index / 25 for s in samples])
    assert sampler.end_time_s == pytest.approx(1.2)
    # start_s cannot skip without timestamps, but gives the same frames.
    assert summary(FrameSampler(path, 0.2, start_s=0.5)) == summary(samples[2:])


# --------------------------------------------------------------------------
# Damaged files and errors
# --------------------------------------------------------------------------
def test_truncated_file_stops_at_the_last_decodable_frame(vdir):
    path = write_video(vdir / "whole.avi", index_frames(40, H, W))
    data = Path(path).read_bytes()
    cut = vdir / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])
    sampler = FrameSampler(cut, 0.02)
    samples = list(sampler)
    assert samples and codes(samples) == [s.frame_index for s in samples]
    last = samples[-1]
    assert 0 < last.frame_index < 39
    # end_time_s: the last decoded frame plus one frame duration; no target after it.
    assert sampler.end_time_s == pytest.approx(last.frame_time_s + 0.04)
    assert last.time_s < sampler.end_time_s <= last.time_s + 0.02 + 1e-9
    assert sampler.n_decoded == last.frame_index + 1
    assert sampler.end_time_s == pytest.approx(read_frames(cut, 4).info.duration_s)


def test_missing_file(tmp_path):
    path = tmp_path / "nope.mp4"
    with pytest.raises(VideoNotFoundError) as err:
        FrameSampler(path, 0.1)
    assert err.value.path == str(path) and str(path) in str(err.value)


def test_corrupt_file(tmp_path):
    path = tmp_path / "x.mp4"
    path.write_bytes(np.random.default_rng(0).bytes(20_000))
    with pytest.raises(VideoDecodeError, match="not a video file") as err:
        FrameSampler(path, 0.1)
    assert err.value.path == str(path)


def test_a_folder_without_images_is_refused_naming_it(tmp_path):
    # Image folders are read (see test_bad_videos.py); one without images is a clear error.
    with pytest.raises(VideoDecodeError, match="folder contains no image files") as err:
        FrameSampler(tmp_path, 0.1)
    assert err.value.path == str(tmp_path)


@pytest.mark.parametrize("kwargs,match", [
    ({"step_s": 0}, "step_s must be positive"),
    ({"step_s": -0.5}, "step_s must be positive"),
    ({"step_s": float("nan")}, "step_s must be finite"),
    ({"step_s": True}, "step_s must be a number"),
    ({"step_s": "0.1"}, "step_s must be a number"),
    ({"step_s": 0.1, "offset_s": float("inf")}, "offset_s must be finite"),
    ({"step_s": 0.1, "start_s": 2.0, "end_s": 1.0}, "must not be below start_s"),
])
def test_bad_parameters(videos, kwargs, match):
    with pytest.raises(ValueError, match=match):
        FrameSampler(videos["mpeg4.avi"], **kwargs)


# --------------------------------------------------------------------------
# Object behaviour
# --------------------------------------------------------------------------
def test_info_passes_and_results(videos):
    path = videos["h264_gop10.mp4"]
    sampler = FrameSampler(path, 0.5)
    assert sampler.info == probe_video(path)
    assert (sampler.end_time_s, sampler.n_decoded, sampler.n_converted) == (None, 0, 0)
    first, second = summary(sampler), summary(sampler)  # each iteration is a new pass
    assert first == second and 0 < sampler.n_decoded < N  # B-frames no target shows are dropped
    sample = next(iter(sampler))
    assert isinstance(sample, SampledFrame)
    with pytest.raises(dataclasses.FrozenInstanceError):
        sample.index = 3
    assert "step_s=0.5" in repr(sampler)
    # Abandoning a pass early leaves the end unknown.
    assert sampler.end_time_s is None


def test_skipping_enters_only_at_clean_keyframes():
    # Packets in decode order; a keyframe is an entry point only if no packet
    # stored before it is displayed after it (pts above all earlier pts).
    def packets(spec):
        return iter([_FakePacket(pts, key) for pts, key in spec])

    clean = [(0, True), (2, False), (1, False), (3, True), (5, False), (4, False), (6, True)]
    buffered, entry, n_before, p0 = stream_mod._skip_gops(packets(clean), Fraction(1), Fraction(9, 2))
    assert (entry, n_before, p0) == (3, 3, 0)
    assert [p.pts for p in buffered] == [3, 5]  # reading stops at the first frame past the target
    # Frame 6 is stored before keyframe 3 but displayed after it: no entry there.
    unclean = [(0, True), (6, False), (1, False), (2, False), (3, True), (4, False), (5, False),
               (7, False)]
    buffered, entry, n_before, p0 = stream_mod._skip_gops(packets(unclean), Fraction(1), Fraction(6))
    assert (entry, n_before, p0) == (None, 0, None)
    assert [p.pts for p in buffered] == [0, 6, 1, 2, 3, 4, 5, 7]


@dataclasses.dataclass
class _FakePacket:
    pts: int
    is_keyframe: bool
    size: int = 100
    is_discard: bool = False
