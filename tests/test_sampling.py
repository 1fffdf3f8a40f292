"""The one sampling rule (centres of equal segments) and the real times carried into the report."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from sk_emotion import VideoFaceExtractor
from sk_emotion.estimators._extraction import extract_one
from sk_emotion.estimators._inputs import Item
from sk_emotion.video import FrameSampler, read_frames, write_video
from sk_emotion.video.sampling import sample_positions, segment_centres, window_grid


def test_sample_positions_pick_the_frame_on_screen_at_each_centre():
    rng = np.random.default_rng(0)
    for _ in range(200):
        pts = np.unique(rng.integers(0, 500, rng.integers(1, 40)))
        span = int(pts[-1] - pts[0] + rng.integers(1, 20))
        n = int(rng.integers(1, 30))
        expected = []
        for i in range(n):
            target = pts[0] + Fraction(2 * i + 1, 2 * n) * span
            expected.append(max(int(np.searchsorted(pts, target, side="right")) - 1, 0))
        assert sample_positions(pts, span, n).tolist() == expected


def test_window_grid_and_its_refusals():
    assert window_grid(2.0, 1.0, 16) == (0.125, 8)
    assert window_grid(3.0, 0.6, 10) == (0.3, 2)
    with pytest.raises(ValueError, match="hop=0.5 s must be a multiple"):
        window_grid(2.0, 0.5, 6)
    for bad in (0, -1.0, True, "2"):
        with pytest.raises(ValueError, match="window must be a positive number"):
            window_grid(bad, 1.0, 16)


@pytest.fixture(scope="module")
def clip_path(tmp_path_factory):
    frames = np.zeros((50, 48, 64, 3), np.uint8)  # 2 s at 25 fps
    frames[:, 0, 0, 0] = np.arange(50)
    return write_video(tmp_path_factory.mktemp("sampling") / "clip.mp4", frames, fps=25)


def test_the_clip_reader_and_the_timeline_sampler_sample_the_same_centres(clip_path):
    centres = segment_centres(2.0, 8)
    assert centres.tolist() == [0.125, 0.375, 0.625, 0.875, 1.125, 1.375, 1.625, 1.875]
    clip = read_frames(clip_path, 8)
    # The frame on screen at each centre: shown from k / 25 s to (k + 1) / 25 s.
    assert clip.indices.tolist() == np.floor(centres * 25).astype(int).tolist()
    step, _ = window_grid(2.0, 0.25, 8)
    assert [s.frame_index for s in FrameSampler(clip_path, step)] == clip.indices.tolist()


def test_the_report_row_carries_the_real_times_of_the_sampled_frames(clip_path):
    settings = VideoFaceExtractor(n_frames=8, detector=None).validated_settings()
    row = extract_one(Item(str(clip_path), path=str(clip_path)), settings).row
    expected = read_frames(clip_path, 8).timestamps_s
    np.testing.assert_allclose(row["frame_times_s"], expected)
    np.testing.assert_allclose(row["frame_times_s"], np.floor(segment_centres(2.0, 8) * 25) / 25)
    # Arrays have no time of their own.
    array = Item("<array 0>", frames=np.zeros((8, 16, 16, 3), np.uint8))
    assert extract_one(array, settings).row["frame_times_s"] is None
