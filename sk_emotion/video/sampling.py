"""Where frames are sampled: the centres of equal segments, the one rule every path uses.

A clip of ``n_frames`` samples is cut into ``n_frames`` equal segments
(of time, or of frames when there are no timestamps) and each sample is the
frame on screen at the centre of its segment: ``start + (i + 1/2) * span /
n_frames``.  :func:`~sk_emotion.video.read_frames` samples a clip this way
(:func:`sample_positions`, :func:`sample_frame_indices`); the timeline
samples a long video on the grid ``(j + 1/2) * window / n_frames``
(:func:`window_grid`), which puts the samples of a window at the segment
centres of that window cut as its own clip; :func:`segment_centres` gives
the times of the samples of a clip of known duration.
"""

from __future__ import annotations

import math
from numbers import Real

import numpy as np

from ..limits import MAX_WINDOW_S

__all__ = ["sample_frame_indices", "sample_positions", "segment_centres", "window_grid"]


def check_positive_int(value: object, name: str) -> int:
    """``value`` as an int, or a ValueError naming ``name`` when it is not a positive integer."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def sample_frame_indices(n_available: int, n_frames: int) -> np.ndarray:
    """Pick ``n_frames`` indices uniformly over a clip of ``n_available`` frames.

    The clip is cut into ``n_frames`` equal segments and the frame at the
    centre of each segment is taken.  Clips shorter than ``n_frames`` repeat
    frames, so the output always has ``n_frames`` entries.

    Parameters
    ----------
    n_available : int
        Number of frames in the clip (>= 1).
    n_frames : int
        Number of samples wanted (>= 1).

    Returns
    -------
    indices : ndarray of shape (n_frames,), dtype int64
        Non-decreasing indices in ``[0, n_available)``.

    Examples
    --------
    >>> sample_frame_indices(10, 5).tolist()
    [1, 3, 5, 7, 9]
    >>> sample_frame_indices(3, 6).tolist()
    [0, 0, 1, 1, 2, 2]
    """
    n_available = check_positive_int(n_available, "n_available")
    n_frames = check_positive_int(n_frames, "n_frames")
    # floor((i + 1/2) * n_available / n_frames) in exact integer arithmetic so
    # that segment centres falling exactly on a frame boundary are stable.
    i = np.arange(n_frames, dtype=np.int64)
    return ((2 * i + 1) * n_available) // (2 * n_frames)


def sample_positions(pts: np.ndarray, span: int, n_frames: int) -> np.ndarray:
    """The frames on screen at the segment centres of a clip with these timestamps.

    Parameters
    ----------
    pts : numpy.ndarray of shape (n,), int64
        Presentation timestamps of the frames, sorted, in the stream's time base.
    span : int
        The clip's length in the same unit: from the first frame to the end
        of the last (> 0).
    n_frames : int
        Number of samples.

    Returns
    -------
    numpy.ndarray of shape (n_frames,), int64
        Position in ``pts`` of the last frame whose timestamp is at or
        before ``pts[0] + (i + 1/2) * span / n_frames``.

    Examples
    --------
    >>> sample_positions(np.array([0, 10, 20, 30]), 40, 2).tolist()  # centres at 10 and 30
    [1, 3]
    """
    pts = np.asarray(pts, np.int64)
    # Exact integer arithmetic: target_i = pts0 + (2i + 1) * span / (2 n), compared
    # with every timestamp scaled by 2n, so a centre on a timestamp picks that frame.
    i = np.arange(n_frames, dtype=np.int64)
    scaled_targets = 2 * n_frames * pts[0] + (2 * i + 1) * int(span)
    pos = np.searchsorted(2 * n_frames * pts, scaled_targets, side="right") - 1
    return np.clip(pos, 0, pts.size - 1).astype(np.int64)


def segment_centres(duration_s: float, n_frames: int) -> np.ndarray:
    """Times of the samples of a clip lasting ``duration_s``: the centres of its equal segments.

    Parameters
    ----------
    duration_s : float
        The clip's duration in seconds, from its first frame to the end of its last.
    n_frames : int
        Number of samples.

    Returns
    -------
    numpy.ndarray of shape (n_frames,), float64
        ``(i + 1/2) * duration_s / n_frames`` seconds from the first frame.

    Examples
    --------
    >>> segment_centres(2.0, 4).tolist()
    [0.25, 0.75, 1.25, 1.75]
    """
    return (np.arange(n_frames) + 0.5) * float(duration_s) / n_frames


def window_grid(window: float, hop: float, n_frames: int) -> tuple[float, int]:
    """The sample spacing of windows of ``n_frames`` samples, and the number of samples between window starts.

    Samples lie on the grid ``(j + 1/2) * step``, ``step = window /
    n_frames``: a window starting at ``s`` samples the grid points in
    ``[s, s + window)``, which are the segment centres of that window cut
    as its own clip, so overlapping windows share their samples.

    Parameters
    ----------
    window : float
        Window length in seconds (> 0, at most
        :data:`~sk_emotion.limits.MAX_WINDOW_S`).
    hop : float
        Seconds between window starts; a multiple of ``window / n_frames``.
    n_frames : int
        Samples per window.

    Returns
    -------
    step : float
        Seconds between samples.
    per_hop : int
        Samples between the starts of consecutive windows.

    Raises
    ------
    ValueError
        If ``window`` or ``hop`` is not a positive number, ``window`` is
        longer than ``MAX_WINDOW_S``, or ``hop`` is not a multiple of the
        sample spacing.

    Examples
    --------
    >>> window_grid(2.0, 1.0, 16)
    (0.125, 8)
    """
    for name, value in (("window", window), ("hop", hop)):
        if isinstance(value, bool) or not isinstance(value, Real) or not value > 0:
            raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
    if window > MAX_WINDOW_S:
        raise ValueError(f"window must be at most {MAX_WINDOW_S:g} seconds, got {window:g}")
    step = window / n_frames
    per_hop = round(hop / step)
    if per_hop < 1 or not math.isclose(per_hop * step, hop, rel_tol=1e-9, abs_tol=1e-12):
        raise ValueError(
            f"hop={hop:g} s must be a multiple of window / n_frames = {window:g} / {n_frames} = {step:g} s "
            f"(so that overlapping windows share their sampled frames, as clips cut from the video "
            f"would sample them); e.g. hop={max(1, round(hop / step)) * step:g}"
        )
    return step, per_hop
