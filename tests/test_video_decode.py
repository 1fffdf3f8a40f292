"""Tests for sk_emotion.video: decoding, sampling, rotation, errors.

Every test video is written with PyAV into a temporary folder.  Frames carry
their own index as black/white blocks (``index_frames``), which survive lossy
compression, so each test can assert *which* source frame was decoded.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import pickle
from pathlib import Path

import av
import numpy as np
import pytest
from _helpers import index_frames, read_frame_index

from sk_emotion.video import (
    DecodedClip,
    VideoDecodeError,
    VideoInfo,
    VideoNotFoundError,
    apply_rotation,
    list_image_files,
    probe_video,
    read_frame_indices,
    read_frames,
    sample_array_frames,
    sample_frame_indices,
    write_video,
)
from sk_emotion.video import decode as decode_mod

H, W = 80, 96
HAS_X264 = "libx264" in av.codecs_available


def codes(clip: DecodedClip) -> list[int]:
    return [read_frame_index(f) for f in clip.frames]


def save_image(path, arr) -> None:
    """Write one image with PyAV (keeps the tests free of imaging libraries)."""
    ext = os.path.splitext(path)[1].lower()
    codec, fmt = {".png": ("png", "rgb24"), ".jpg": ("mjpeg", "yuvj420p"),
                  ".bmp": ("bmp", "bgr24")}[ext]
    if arr.ndim == 2:  # grey image, CK+ style
        codec, fmt = "png", "gray"
    frame = av.VideoFrame.from_ndarray(arr, format="gray" if arr.ndim == 2 else "rgb24")
    with av.open(str(path), "w", format="image2") as c:
        s = c.add_stream(codec, rate=1)
        s.width, s.height, s.pix_fmt = arr.shape[1], arr.shape[0], fmt
        if codec == "mjpeg":
            s.codec_context.qscale = True
            s.codec_context.global_quality = 2 * 118
        for p in s.encode(frame.reformat(format=fmt)):
            c.mux(p)
        for p in s.encode():
            c.mux(p)


@pytest.fixture(scope="module")
def vdir(tmp_path_factory):
    return tmp_path_factory.mktemp("videos")


@pytest.fixture(scope="module")
def long_mp4(vdir):
    """120 frames, keyframe at least every 10 frames (B-frames on)."""
    return write_video(vdir / "long.mp4", index_frames(120, H, W), gop_size=10)


@pytest.fixture(scope="module")
def long_avi(vdir):
    return write_video(vdir / "long.avi", index_frames(120, H, W), gop_size=10)


# --------------------------------------------------------------------------
# Sampling
# --------------------------------------------------------------------------
def test_sample_frame_indices_centres_of_segments():
    assert sample_frame_indices(10, 5).tolist() == [1, 3, 5, 7, 9]
    assert sample_frame_indices(60, 8).tolist() == [3, 11, 18, 26, 33, 41, 48, 56]
    assert sample_frame_indices(4, 2).tolist() == [1, 3]
    assert sample_frame_indices(1, 3).tolist() == [0, 0, 0]
    idx = sample_frame_indices(1000, 16)
    assert idx.dtype == np.int64 and idx.shape == (16,)
    assert np.all(np.diff(idx) > 0) and idx[0] >= 0 and idx[-1] < 1000


def test_sample_frame_indices_short_clip_repeats():
    idx = sample_frame_indices(3, 8)
    assert idx.tolist() == [0, 0, 0, 1, 1, 2, 2, 2]
    assert set(idx.tolist()) == {0, 1, 2}


@pytest.mark.parametrize("args", [(0, 4), (5, 0), (-1, 3), (5, 2.5), (True, 3)])
def test_sample_frame_indices_rejects_bad_counts(args):
    with pytest.raises(ValueError, match="positive integer"):
        sample_frame_indices(*args)


def test_sample_array_frames():
    arr = index_frames(20, H, W)
    clip = sample_array_frames(arr, 4, fps=10)
    assert clip.frames.shape == (4, H, W, 3) and clip.frames.dtype == np.uint8
    assert clip.indices.tolist() == sample_frame_indices(20, 4).tolist()
    np.testing.assert_array_equal(clip.frames, arr[clip.indices])
    np.testing.assert_allclose(clip.timestamps_s, clip.indices / 10)
    assert clip.info.n_frames == 20 and clip.n_decoded == 0
    short = sample_array_frames(arr[:2], 5)
    assert short.frames.shape[0] == 5 and short.indices.tolist() == [0, 0, 1, 1, 1]


@pytest.mark.parametrize(
    "bad",
    [np.zeros((4, H, W), np.uint8), np.zeros((4, H, W, 4), np.uint8),
     np.zeros((4, H, W, 3), np.float32), np.zeros((0, H, W, 3), np.uint8)],
)
def test_sample_array_frames_shape_errors(bad):
    with pytest.raises(ValueError) as err:
        sample_array_frames(bad, 4)
    msg = str(err.value)
    assert "expected (T, H, W, 3) uint8 frames" in msg
    assert f"got shape {bad.shape} dtype {bad.dtype}" in msg


# --------------------------------------------------------------------------
# Formats
# --------------------------------------------------------------------------
FORMATS = [
    ("clip.avi", None, "mpeg4"),  # AFEW: MPEG-4 Part 2 in AVI
    ("clip.mp4", None, "h264" if HAS_X264 else "mpeg4"),
    ("clip.mov", None, "h264" if HAS_X264 else "mpeg4"),
    ("clip.mkv", None, "h264" if HAS_X264 else "mpeg4"),
    ("mjpeg.avi", "mjpeg", "mjpeg"),
    ("mjpeg.mov", "mjpeg", "mjpeg"),
    ("mpeg4.mp4", "mpeg4", "mpeg4"),
]


@pytest.mark.parametrize("name,codec,decoder", FORMATS)
def test_read_frames_formats(tmp_path, name, codec, decoder):
    path = write_video(tmp_path / name, index_frames(60, H, W), fps=25, codec=codec)
    clip = read_frames(path, 8)
    expected = sample_frame_indices(60, 8)
    assert clip.frames.shape == (8, H, W, 3) and clip.frames.dtype == np.uint8
    assert clip.indices.tolist() == expected.tolist()
    assert codes(clip) == expected.tolist()
    np.testing.assert_allclose(clip.timestamps_s, expected / 25, atol=1e-3)
    info = clip.info
    assert isinstance(info, VideoInfo)
    assert (info.n_frames, info.n_frames_exact, info.codec) == (60, True, decoder)
    assert (info.width, info.height, info.rotation, info.is_image_folder) == (W, H, 0, False)
    assert info.fps == pytest.approx(25) and info.duration_s == pytest.approx(2.4, abs=0.01)
    # Sequential decode stops right after the last needed frame; in MP4, MOV and MKV the
    # B-frames not wanted (libx264 writes them) are not decoded either.
    if decoder == "h264" and not name.endswith(".avi"):
        assert expected.size <= clip.n_decoded < expected[-1] + 1
    else:
        assert clip.n_decoded == expected[-1] + 1
    # RGB order: the bottom bar was written red.
    r, g, b = clip.frames[0, H - 2, W // 2].astype(int)
    assert r > 150 and g < 80 and b < 80


@pytest.mark.parametrize("name", ["bf.avi", "bf.mp4", "bf.mkv"])
def test_b_frames_reordering(tmp_path, name):
    # B-frames make decode order differ from display order (packets' pts are
    # not monotonic); selection and seeking must follow display order.
    path = write_video(tmp_path / name, index_frames(60, H, W), codec="mpeg4",
                       gop_size=10, options={"bf": "2"})
    with av.open(path) as c:
        pts = [p.pts for p in c.demux(video=0) if p.size]
    assert pts != sorted(pts)
    clip = read_frames(path, 8)
    assert codes(clip) == clip.indices.tolist() == sample_frame_indices(60, 8).tolist()
    sparse = read_frame_indices(path, [0, 33, 55])
    assert codes(sparse) == [0, 33, 55] and sparse.n_decoded < 30


@pytest.mark.parametrize("name", ["p.avi", "p.mp4", "p.mkv"])
def test_probe_video(tmp_path, name):
    path = write_video(tmp_path / name, index_frames(50, H, W), fps=25)
    info = probe_video(path)
    assert (info.width, info.height, info.rotation) == (W, H, 0)
    assert info.fps == pytest.approx(25)
    assert info.duration_s == pytest.approx(2.0, abs=0.05)
    # MKV stores no frame count: estimated from duration * fps.
    assert abs(info.n_frames - 50) <= 1 and not info.n_frames_exact
    exact = probe_video(path, count_frames=True)
    assert exact.n_frames == 50 and exact.n_frames_exact
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.n_frames = 3  # frozen


def test_short_clip_repeats_frames(tmp_path):
    path = write_video(tmp_path / "short.mp4", index_frames(5, H, W))
    clip = read_frames(path, 16)
    expected = sample_frame_indices(5, 16)
    assert clip.frames.shape[0] == 16
    assert clip.indices.tolist() == expected.tolist() == codes(clip)
    assert clip.n_decoded == 5


def test_single_frame_video(tmp_path):
    path = write_video(tmp_path / "one.avi", index_frames(1, H, W, start=7))
    clip = read_frames(path, 4)
    assert codes(clip) == [7, 7, 7, 7] and clip.indices.tolist() == [0, 0, 0, 0]
    np.testing.assert_array_equal(clip.timestamps_s, 0)


def test_raw_stream_without_timestamps_counts_frames(tmp_path):
    # A raw H.264 elementary stream has no container timestamps at all.
    codec = "libx264" if HAS_X264 else "mpeg4"
    path = write_video(tmp_path / ("raw.h264" if HAS_X264 else "raw.m4v"),
                       index_frames(30, H, W), codec=codec)
    clip = read_frames(path, 6)
    assert codes(clip) == sample_frame_indices(30, 6).tolist() == clip.indices.tolist()
    assert clip.info.n_frames == 30


def test_odd_size_is_padded(tmp_path):
    frames = index_frames(6, 79, 95)
    path = write_video(tmp_path / "odd.mp4", frames)
    clip = read_frames(path, 3)
    assert clip.frames.shape[1:] == (80, 96, 3)
    err = np.abs(clip.frames[:, :79, :95].astype(int) - frames[clip.indices]).mean()
    assert err < 3


def test_return_timestamps_false(tmp_path):
    path = write_video(tmp_path / "a.mkv", index_frames(10, H, W))
    assert read_frames(path, 3, return_timestamps=False).timestamps_s is None


def test_accepts_pathlib_and_str(tmp_path):
    path = write_video(tmp_path / "a.avi", index_frames(10, H, W))
    assert codes(read_frames(path, 2)) == codes(read_frames(tmp_path / "a.avi", 2))


# --------------------------------------------------------------------------
# Early stopping and seeking
# --------------------------------------------------------------------------
@pytest.mark.parametrize("video", ["long_mp4", "long_avi"])
def test_first_half_only_decodes_first_half(video, request):
    path = request.getfixturevalue(video)
    clip = read_frame_indices(path, [2, 9, 20, 33, 40])
    assert codes(clip) == [2, 9, 20, 33, 40]
    assert clip.n_decoded <= 41  # never the whole 120-frame file
    assert clip.info.n_frames == 120


@pytest.mark.parametrize("name, codec, options", [("h264.mp4", None, {}), ("hevc.mp4", "libx265", {}),
                                                   ("mpeg4_bframes.mp4", "mpeg4", {"bf": "2"}),
                                                   ("mpeg4_bframes.avi", "mpeg4", {"bf": "2"})])
def test_unwanted_b_frames_are_not_decoded_and_wanted_frames_are_exact(tmp_path, name, codec, options):
    if codec is not None and codec not in av.codecs_available or codec is None and not HAS_X264:
        pytest.skip(f"this FFmpeg cannot write {name}")
    path = write_video(tmp_path / name, index_frames(120, H, W), fps=25, codec=codec, gop_size=30,
                       options=options)
    clip = read_frames(path, 8)
    expected = sample_frame_indices(120, 8).tolist()
    assert clip.indices.tolist() == codes(clip) == expected
    with av.open(str(path)) as container:  # a plain decode of every frame, for reference
        every = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    for frame, i in zip(clip.frames, expected):
        np.testing.assert_array_equal(frame, every[i])
    if name.endswith(".avi"):
        assert clip.n_decoded == expected[-1] + 1  # AVI stores no display times for B-frames
    else:
        assert clip.n_decoded < 0.75 * (expected[-1] + 1)


def test_a_missing_wanted_frame_decodes_again_without_dropping(long_mp4, monkeypatch):
    wanted = [3, 40, 77]
    expected = read_frame_indices(long_mp4, wanted)
    real_iter = decode_mod._Decoder._iter

    def losing_frame_40(self):
        for key, frame in real_iter(self):
            if not (self.dropping and read_frame_index(frame.to_ndarray(format="rgb24")) == 40):
                yield key, frame

    monkeypatch.setattr(decode_mod._Decoder, "_iter", losing_frame_40)
    clip = read_frame_indices(long_mp4, wanted, seek=False)
    assert codes(clip) == wanted and np.array_equal(clip.frames, expected.frames)
    assert clip.n_decoded > expected.n_decoded  # a dropping pass, then one without


@pytest.mark.parametrize("video", ["long_mp4", "long_avi"])
def test_sparse_indices_seek_to_keyframes(video, request):
    path = request.getfixturevalue(video)
    wanted = [0, 5, 64, 115]
    clip = read_frame_indices(path, wanted)
    assert codes(clip) == wanted and clip.indices.tolist() == wanted
    assert clip.n_decoded < 40  # keyframes every <= 10 frames
    no_seek = read_frame_indices(path, wanted, seek=False)
    # Every frame up to the last wanted one; in MP4, not the unwanted B-frames.
    assert codes(no_seek) == wanted and (no_seek.n_decoded < 116 if video == "long_mp4" else
                                         no_seek.n_decoded == 116)


def test_indices_any_order_and_repeats(long_mp4):
    wanted = [90, 3, 90, 50, 3]
    clip = read_frame_indices(long_mp4, wanted)
    assert codes(clip) == wanted and clip.indices.tolist() == wanted
    np.testing.assert_allclose(clip.timestamps_s, np.array(wanted) / 25, atol=1e-3)


def test_index_out_of_range(long_mp4):
    with pytest.raises(ValueError, match=r"frame index 120 out of range for '.*long\.mp4'"):
        read_frame_indices(long_mp4, [3, 120])


def test_seek_overshoot_falls_back_to_sequential(long_mp4, monkeypatch):
    # Simulate a broken index: every seek lands on the last keyframe.
    real_seek = decode_mod._Decoder.seek

    def bad_seek(self, pts):
        real_seek(self, 10**12)

    monkeypatch.setattr(decode_mod._Decoder, "seek", bad_seek)
    clip = read_frame_indices(long_mp4, [0, 64, 100])
    assert codes(clip) == [0, 64, 100]


def test_decoder_running_out_reuses_last_frame(tmp_path):
    # The frame table claims more frames than the stream yields (what a wrong
    # AVI header or undecodable tail amounts to): output stays full length.
    path = write_video(tmp_path / "a.avi", index_frames(10, H, W))
    with av.open(path) as c:
        table = decode_mod._scan_packets(c, c.streams.video[0], path)
    table = decode_mod._FrameTable(
        pts=np.arange(20), keyframe=np.r_[table.keyframe, np.zeros(10, bool)],
        has_pts=True, time_base=table.time_base, last_duration=1,
    )
    frames, keys, n_decoded, ran_out, _ = decode_mod._decode_positions(
        path, table, np.array([4, 15, 19]), True)
    got = [read_frame_index(f.to_ndarray(format="rgb24")) for f in frames]
    assert got == [4, 9, 9] and n_decoded == 10
    assert ran_out == 9  # where the stream ended: the clip says it is partial


def test_frames_without_pts_fall_back_to_counting(long_mp4, monkeypatch):
    # Packets had timestamps but the decoder drops them: restart counting.
    real_iter = decode_mod._Decoder._iter

    def no_pts_iter(self):
        for key, frame in real_iter(self):
            if self.use_pts:
                raise decode_mod._NoFramePts
            yield key, frame

    monkeypatch.setattr(decode_mod._Decoder, "_iter", no_pts_iter)
    clip = read_frame_indices(long_mp4, [3, 70])
    assert codes(clip) == [3, 70] == clip.indices.tolist()
    np.testing.assert_allclose(clip.timestamps_s, [3 / 25, 70 / 25], atol=1e-3)


def test_truncated_file_still_gives_n_frames(tmp_path):
    path = write_video(tmp_path / "t.avi", index_frames(40, H, W))
    data = Path(path).read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])
    clip = read_frames(cut, 8)
    assert clip.frames.shape[0] == 8
    assert 0 < clip.info.n_frames < 40
    assert codes(clip) == clip.indices.tolist()


# --------------------------------------------------------------------------
# Variable frame rate
# --------------------------------------------------------------------------
# 10 frames at 25 fps, a 100 fps burst of 20, then 10 frames at 10 fps.
VFR_PTS = np.concatenate([np.arange(10) * 0.04, 0.4 + np.arange(20) * 0.01,
                          0.6 + np.arange(10) * 0.1])


def expected_vfr(pts, n, duration):
    """Frame on screen at the centres of n equal time segments."""
    targets = pts[0] + (np.arange(n) + 0.5) * duration / n
    return [int(np.searchsorted(pts, t + 1e-9, side="right") - 1) for t in targets]


@pytest.mark.parametrize("name", ["vfr.mp4", "vfr.mkv", "vfr.mov"])
def test_variable_frame_rate_samples_by_time(tmp_path, name):
    path = write_video(tmp_path / name, index_frames(40, H, W), pts_s=VFR_PTS)
    clip = read_frames(path, 8)
    info = clip.info
    assert info.n_frames == 40
    # Duration ends one frame interval (container's choice) after the last pts.
    assert 1.5 < info.duration_s <= 1.61
    expected = expected_vfr(VFR_PTS, 8, info.duration_s)
    assert clip.indices.tolist() == expected == codes(clip)
    # Counting frames would oversample the 100 fps burst.
    assert expected != sample_frame_indices(40, 8).tolist()
    np.testing.assert_allclose(clip.timestamps_s, VFR_PTS[expected], atol=1e-3)
    # Uniform in time: each sample is within one frame interval of its target.
    targets = (np.arange(8) + 0.5) * info.duration_s / 8
    assert np.all(targets - clip.timestamps_s >= -1e-6)
    assert np.all(targets - clip.timestamps_s < 0.1 + 1e-6)


def test_avi_header_frame_count_is_not_trusted(tmp_path):
    # FFmpeg writes VFR into AVI as a 1000 fps stream padded with empty
    # packets, so the header claims far more frames than there are.
    path = write_video(tmp_path / "vfr.avi", index_frames(40, H, W), pts_s=VFR_PTS)
    probed = probe_video(path)
    assert probed.n_frames > 40 and not probed.n_frames_exact
    clip = read_frames(path, 8)
    assert clip.info.n_frames == 40
    assert codes(clip) == clip.indices.tolist()
    np.testing.assert_allclose(clip.timestamps_s, VFR_PTS[clip.indices], atol=1e-3)


# --------------------------------------------------------------------------
# Rotation
# --------------------------------------------------------------------------
def test_apply_rotation_is_counter_clockwise():
    a = np.array([[1, 2], [3, 4]])
    np.testing.assert_array_equal(apply_rotation(a, 90), [[2, 4], [1, 3]])
    np.testing.assert_array_equal(apply_rotation(a, -90), [[3, 1], [4, 2]])
    np.testing.assert_array_equal(apply_rotation(a, 270), apply_rotation(a, -90))
    np.testing.assert_array_equal(apply_rotation(a, 180), [[4, 3], [2, 1]])
    np.testing.assert_array_equal(apply_rotation(a, 89.6), apply_rotation(a, 90))
    assert apply_rotation(a, 0) is a
    img = np.zeros((4, 6, 3), np.uint8)
    out = apply_rotation(img, 90)
    assert out.shape == (6, 4, 3) and out.flags["C_CONTIGUOUS"]


@pytest.mark.parametrize("name,rotation", [("r.mp4", 90), ("r.mov", 270), ("r.mkv", 180),
                                           ("r2.mp4", -90)])
def test_rotation_metadata_is_honoured(tmp_path, name, rotation):
    upright = index_frames(12, H, W)  # landscape 96x80 as displayed
    # What a phone stores: pixels turned so that the display rotation
    # brings them back upright.
    stored = np.stack([apply_rotation(f, -rotation) for f in upright])
    path = write_video(tmp_path / name, stored, rotation=rotation)
    clip = read_frames(path, 4)
    assert clip.frames.shape == (4, H, W, 3)
    assert clip.info.rotation == rotation % 360
    assert (clip.info.width, clip.info.height) == (W, H)
    assert codes(clip) == clip.indices.tolist() == sample_frame_indices(12, 4).tolist()
    assert np.abs(clip.frames.astype(int) - upright[clip.indices]).mean() < 3
    info = probe_video(path)
    assert (info.rotation, info.width, info.height) == (rotation % 360, W, H)


def test_write_video_rejects_rotation_in_avi(tmp_path):
    with pytest.raises(ValueError, match="cannot store a display rotation"):
        write_video(tmp_path / "r.avi", index_frames(2, H, W), rotation=90)


# --------------------------------------------------------------------------
# Image folders
# --------------------------------------------------------------------------
@pytest.mark.parametrize("ext", [".png", ".jpg", ".bmp"])
def test_image_folder_natural_order(tmp_path, ext):
    frames = index_frames(12, H, W)
    folder = tmp_path / "S005_001"
    folder.mkdir()
    for i, f in enumerate(frames):
        save_image(folder / f"img_{i + 1}{ext}", f)  # img_1 .. img_12: lexical order differs
    (folder / "notes.txt").write_text("not an image")
    assert list_image_files(folder)[:3] == [f"img_1{ext}", f"img_2{ext}", f"img_3{ext}"]
    clip = read_frames(folder, 5, folder_fps=30)
    expected = sample_frame_indices(12, 5)
    assert clip.indices.tolist() == expected.tolist() == codes(clip)
    assert clip.frames.shape == (5, H, W, 3) and clip.n_decoded == 5
    np.testing.assert_allclose(clip.timestamps_s, expected / 30)
    info = clip.info
    assert info.is_image_folder and info.n_frames == 12 and info.n_frames_exact
    assert probe_video(folder) == info


def test_grey_image_folder_short(tmp_path):
    # CK+ sequences are short greyscale PNG series.
    folder = tmp_path / "grey"
    folder.mkdir()
    for i in range(3):
        save_image(folder / f"S010_002_{i:08d}.png", np.full((H, W), 40 * (i + 1), np.uint8))
    clip = read_frames(folder, 8)
    assert clip.frames.shape == (8, H, W, 3)
    assert clip.indices.tolist() == [0, 0, 0, 1, 1, 2, 2, 2]
    np.testing.assert_array_equal(clip.frames[:, 0, 0, 0], 40 * (clip.indices + 1))
    assert clip.n_decoded == 3


def test_image_folder_mixed_sizes(tmp_path):
    save_image(tmp_path / "1.png", np.zeros((H, W, 3), np.uint8))
    save_image(tmp_path / "2.png", np.zeros((H, W + 2, 3), np.uint8))
    with pytest.raises(VideoDecodeError, match=r"image '2\.png' is 98x80"):
        read_frames(tmp_path, 2)


def test_image_folder_corrupt_image(tmp_path):
    save_image(tmp_path / "1.png", np.zeros((H, W, 3), np.uint8))
    (tmp_path / "2.png").write_bytes(os.urandom(300))
    with pytest.raises(VideoDecodeError, match=r"cannot read image '2\.png'") as err:
        read_frames(tmp_path, 2)
    assert err.value.path == str(tmp_path)


# --------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------
def assert_names_path(err, path):
    assert err.path == str(path)
    assert f"cannot decode '{path}': {err.reason}" == str(err)


@pytest.mark.parametrize("func", [read_frames, probe_video])
def test_missing_file(tmp_path, func):
    path = tmp_path / "nope.avi"
    with pytest.raises(VideoNotFoundError) as err:
        func(path)
    assert isinstance(err.value, FileNotFoundError) and isinstance(err.value, ValueError)
    assert_names_path(err.value, path)
    assert "no such file" in err.value.reason


@pytest.mark.parametrize("func", [read_frames, probe_video])
def test_corrupt_file(tmp_path, func):
    path = tmp_path / "x.avi"
    path.write_bytes(np.random.default_rng(0).bytes(20_000))
    with pytest.raises(VideoDecodeError) as err:
        func(path)
    assert_names_path(err.value, path)
    assert err.value.reason == "not a video file (invalid data found when processing input)"


def test_empty_file(tmp_path):
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    with pytest.raises(VideoDecodeError, match=r"empty\.mp4': empty file \(0 bytes\)"):
        read_frames(path)


def _zero_frame_video(path, codec):
    with av.open(str(path), "w") as c:
        s = c.add_stream(codec, rate=25)
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        c.start_encoding()  # PyAV writes nothing at all unless encoding starts
        for p in s.encode():
            c.mux(p)


@pytest.mark.parametrize(
    "name,codec,reason",
    [("z.avi", "mpeg4", "no video frames"),  # stream with zero packets
     ("z.mp4", "mpeg4", "no video stream"),  # MP4 drops the empty track
     ("z.mkv", "mpeg4", "no video frames")],  # file ends after the header
)
@pytest.mark.parametrize("func", [read_frames, probe_video])
def test_zero_frame_video(tmp_path, name, codec, reason, func):
    path = tmp_path / name
    _zero_frame_video(path, codec)
    with pytest.raises(VideoDecodeError, match=reason) as err:
        func(path)
    assert_names_path(err.value, path)


def test_audio_only_file(tmp_path):
    path = tmp_path / "a.mkv"
    with av.open(str(path), "w") as c:
        s = c.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16",
                                           layout="mono")
        frame.sample_rate = 8000
        for p in list(s.encode(frame)) + list(s.encode()):
            c.mux(p)
    with pytest.raises(VideoDecodeError, match="no video stream") as err:
        read_frames(path)
    assert_names_path(err.value, path)


@pytest.mark.parametrize("func", [read_frames, probe_video])
def test_empty_folder(tmp_path, func):
    folder = tmp_path / "empty_seq"
    folder.mkdir()
    (folder / ".DS_Store").write_bytes(b"x")
    with pytest.raises(VideoDecodeError, match="folder contains no image files") as err:
        func(folder)
    assert_names_path(err.value, folder)


def test_a_folder_of_videos_is_told_to_give_the_videos(tmp_path):
    from sk_emotion.video import write_video

    folder = tmp_path / "batch"
    folder.mkdir()
    for name in ("b.mp4", "a.mp4"):
        write_video(folder / name, np.zeros((2, 32, 32, 3), np.uint8))
    with pytest.raises(VideoDecodeError, match=r"folder holds 2 video file\(s\) \(e\.g\. 'a\.mp4'\) and no image "
                                               r"files; a folder is read as the frames of one video: give the videos "
                                               rf"themselves \(e\.g\. '{folder}/\*\.mp4'\)") as err:
        read_frames(folder)
    assert_names_path(err.value, folder)


def test_errors_pickle_round_trip():
    # Errors cross joblib process boundaries.
    for cls in (VideoDecodeError, VideoNotFoundError):
        err = pickle.loads(pickle.dumps(cls("a/b.avi", "some reason")))
        assert type(err) is cls and (err.path, err.reason) == ("a/b.avi", "some reason")
        assert str(err) == "cannot decode 'a/b.avi': some reason"


def test_bad_n_frames_and_indices(long_mp4):
    with pytest.raises(ValueError, match="n_frames must be a positive integer"):
        read_frames(long_mp4, 0)
    with pytest.raises(ValueError, match="non-empty 1-D sequence of ints"):
        read_frame_indices(long_mp4, [])


# --------------------------------------------------------------------------
# Real face photo
# --------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["face.mp4", "face.avi"])
def test_real_face_photo_round_trip(tmp_path, name):
    # Locate the photo without importing insightface (slow, pulls onnxruntime).
    spec = importlib.util.find_spec("insightface")
    assert spec is not None and spec.submodule_search_locations, "insightface is a dependency"
    from skimage import io, transform

    src = os.path.join(spec.submodule_search_locations[0], "data", "images", "t1.jpg")
    img = io.imread(src)[..., :3]
    small = (transform.resize(img, (112, 160), anti_aliasing=True) * 255).round().astype(np.uint8)
    path = write_video(tmp_path / name, np.stack([small] * 6))
    clip = read_frames(path, 3)
    assert clip.frames.shape == (3, 112, 160, 3)
    mae = np.abs(clip.frames.astype(int) - small.astype(int)).mean()
    assert mae < 8, mae  # 4:2:0 chroma subsampling alone costs ~4.5 here


@pytest.mark.parametrize("name, size", [("long.mp4", (96, 64)), ("long.avi", (97, 63)), ("long.mkv", (64, 64))])
def test_video_writer_streams_frames_that_decode_back(tmp_path, name, size):
    from sk_emotion.video import VideoWriter

    width, height = size
    frames = [np.full((height, width, 3), 20 * i, np.uint8) for i in range(12)]
    with VideoWriter(tmp_path / name, width, height, fps=10) as writer:
        for frame in frames:
            writer.write(frame)
    assert writer.n_written == 12
    info = probe_video(tmp_path / name, count_frames=True)
    assert info.n_frames == 12 and info.fps == pytest.approx(10)
    decoded = read_frames(tmp_path / name, 12).frames
    assert decoded.shape[1:3] in ((height, width), (height + height % 2, width + width % 2))
    # Flat grey frames survive the codec within a few levels.
    np.testing.assert_allclose(decoded[:, :height, :width].mean(axis=(1, 2, 3)), [20 * i for i in range(12)], atol=3)


def test_video_writer_refuses_bad_frames_and_removes_the_file_of_a_failed_block(tmp_path):
    from sk_emotion.video import VideoWriter

    path = tmp_path / "broken.mp4"
    with pytest.raises(ValueError, match=r"broken\.mp4.*frame 1 must be \(32, 48, 3\) uint8"):
        with VideoWriter(path, 48, 32) as writer:
            writer.write(np.zeros((32, 48, 3), np.uint8))
            writer.write(np.zeros((32, 48, 3), np.float32))
    assert not path.exists()
    with pytest.raises(ValueError, match=r"video\.webm.*extension must be one of"):
        VideoWriter(tmp_path / "video.webm", 48, 32)
