"""Streaming frame sampler: frames of long videos at regularly spaced times, in one pass.

:func:`~sk_emotion.video.read_frames` builds a frame table of the whole clip
and then decodes a handful of frames; that suits short clips.  An emotion
timeline over a 20-minute interview needs frames every fraction of a second
from start to end, so :class:`FrameSampler` instead decodes the file once,
front to back, and keeps only the frame on screen and the one after it.

Design notes
------------
* **Same choice as read_frames.**  Each target time picks the frame
  displayed at that instant (the last one whose presentation time is <= the
  target), times counted from the first frame, exactly as
  ``decode._FrameTable.sample`` (:mod:`~sk_emotion.video.sampling`).  Times are compared as fractions (pts are
  integers in the stream's rational time base), so there is no float drift
  over a long video, and a target that falls exactly on a frame's timestamp
  picks that frame.
* **Memory independent of length.**  Frames are decoded in presentation
  order and dropped as soon as the next one has been decoded; only frames
  that some target needs are converted to RGB, each once.
* **Skipping without seeking.**  Groups of pictures that end before the
  first target are read from the file but not decoded: decoding starts at
  the last keyframe at or before the first target.  No ``seek`` is involved,
  so a broken index cannot misplace frames; a stream that does not behave
  as expected is decoded again from the start.
* **Dropping frames no target shows.**  In MP4, MOV and Matroska files,
  whose packets carry display times, the decoder is told to skip each
  non-reference frame (libx264's B-frames: about 70% of the frames of its
  default encodes) whose display interval holds no target.  No other frame
  is predicted from those, so every frame decoded is exactly what a full
  decode gives (see ``_UnshownFrames``): decoding a 25 fps H.264 video
  sampled 8 times a second costs about 30% less.
"""

from __future__ import annotations

import heapq
import itertools
import math
import numbers
import os
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np

from ..exceptions import VideoDecodeError
from ._container import (
    average_rate,
    display_hw,
    last_frame_ticks,
    open_container,
    stores_display_times,
    truncation_reason,
    video_stream,
    without_cut_tail,
)
from .decode import (
    PathLike,
    VideoInfo,
    _folder_frame,
    apply_rotation,
    check_video_path,
    list_image_files,
    probe_video,
)
from .formats import DEFAULT_FOLDER_FPS

__all__ = ["FrameSampler", "SampledFrame"]

# Decoder threading: None keeps PyAV's default (slice threading, which is
# one thread for x264's one-slice frames).  Frame threading ("AUTO") gives
# identical frames but was slower on the 2-core dev machine (shared, load ~3):
# 720p H.264, 25 fps, best of 10 runs, video seconds per wall second:
# decoding alone 31.4 (default) vs 28.9 (AUTO); FrameSampler(step_s=0.125)
# 23.3 vs 19.3.  The timeline's face detector and CNN want those cores too.
_THREAD_TYPE: str | None = None

# Packets read ahead of the one being decoded, to learn which frame is shown
# after it (B-frames arrive out of display order, at most a few apart).
_LOOKAHEAD = 16

# Packets buffered while skipping to the first target (one group of
# pictures); past this many bytes we stop skipping and decode, so that a file
# with a single keyframe cannot make us hold all of it.
_MAX_SKIP_BUFFER_BYTES = 64 * 2**20


@dataclass(frozen=True)
class SampledFrame:
    """One frame sampled at a target time by :class:`FrameSampler`.

    The parameters are stored as attributes of the same names.

    Parameters
    ----------
    index : int
        Grid index ``j`` of the target.
    time_s : float
        Target time ``offset_s + j * step_s`` in seconds since the first frame.
    frame_time_s : float
        Presentation time of the frame shown at ``time_s``, in seconds since
        the first frame (<= ``time_s``, except for targets before the first
        frame, which get the first frame).
    frame_index : int
        Position of that frame in presentation order (0 = first frame).
    image : ndarray of shape (H, W, 3), dtype uint8
        The frame, RGB, upright.  Consecutive targets that fall on the same
        frame share this array (it is converted once): copy it before
        modifying it in place.
    """

    index: int
    time_s: float
    frame_time_s: float
    frame_index: int
    image: np.ndarray


class FrameSampler:
    """Iterate over a video's frames at regularly spaced times, in one decoding pass.

    Targets are ``t_j = offset_s + j * step_s`` for ``j = 0, 1, ...`` with
    ``start_s <= t_j < end_s``, in seconds since the first frame.  Each
    target yields the frame displayed at that time: the last frame whose
    presentation time is <= ``t_j`` (the first frame for earlier targets),
    the same choice as :func:`~sk_emotion.video.read_frames`.  Targets at or
    after the end of the last frame are not yielded.

    Parameters
    ----------
    path : str or path-like
        Video file (whatever FFmpeg reads), or folder of frame images
        (natural order, as :func:`~sk_emotion.video.read_frames` reads them)
        shown at ``folder_fps``.
    step_s : float
        Spacing of the targets in seconds (> 0).
    offset_s : float, optional
        Time of target ``j = 0``; default ``step_s / 2``, the centre of the
        first step, as :func:`~sk_emotion.video.read_frames` places samples.
    start_s : float, default=0.0
        First time of interest: targets before it are skipped (their grid
        indices ``j`` are not renumbered).
    end_s : float, optional
        Targets at or after this time are not yielded; None for the whole
        video.  Decoding stops soon after the last target.
    folder_fps : float, default=30.0
        Frame rate of an image folder: image ``i`` is shown from
        ``i / folder_fps`` to ``(i + 1) / folder_fps`` seconds.  Ignored for
        video files.

    Attributes
    ----------
    path : str
        The video file.
    step_s, offset_s, start_s, end_s : float
        The parameters (``offset_s`` resolved; ``end_s`` may be None).
    info : VideoInfo
        Metadata from :func:`~sk_emotion.video.probe_video` (frame rate,
        displayed size, rotation, estimated duration and frame count).
    end_time_s : float or None
        After a pass has reached the end of the video: the time, since the
        first frame, at which the last decodable frame stops being displayed
        (its presentation time plus its duration).  None before that, and
        after a pass that stopped early because of ``end_s``.
    truncation : str or None
        After a pass that reached the end of the video: why it ended well
        before the container's stated duration (``"decoding stopped at 9.3 s
        of a stated 19.7 s: the file is probably truncated"``, with the
        tolerance of :data:`~sk_emotion.video.decode.TRUNCATION_MIN_S`), so
        that no target after ``end_time_s`` was yielded; None otherwise.
    n_decoded : int
        Frames decoded in the latest pass (updated while iterating); frames
        that no target shows may be skipped (see the module's notes).
    n_converted : int
        Distinct frames converted to RGB in the latest pass.

    Raises
    ------
    VideoNotFoundError
        If ``path`` does not exist.
    VideoDecodeError
        If ``path`` cannot be opened or holds no decodable video frame.
    ValueError
        If a time parameter is not a finite number (``step_s`` must be
        positive and ``end_s`` not below ``start_s``), or ``folder_fps`` is
        not positive.
    TypeError
        If ``path`` is not a path (a file object, bytes in memory).

    See Also
    --------
    sk_emotion.video.read_frames : A fixed number of frames from a short clip.

    Notes
    -----
    Times are compared exactly: float parameters are read as the simple
    fraction they stand for (``0.1`` is one tenth, ``2 / 3`` two thirds) and
    ``t_j`` is computed in fractions, so a target that falls exactly on a
    frame's timestamp picks that frame, as
    :func:`~sk_emotion.video.read_frames` does, however long the video.

    Each iteration is a new pass over the file; the file is open only while
    iterating.  At most two decoded frames are held (the one on screen and
    the next) plus the RGB array of the current one, so memory does not grow
    with the video's length.  Groups of pictures that end before the first
    target are read but not decoded, nor are B-frames that no target shows
    (in containers with display times).

    Images are upright: the display rotation of the first frame
    (``info.rotation``) is applied to every frame.  Frames whose size differs
    from the first frame's (a mid-stream resolution change) are rescaled to
    it, as :func:`~sk_emotion.video.read_frames` does.

    Frames without timestamps (raw H.264 streams, some broken files) are
    placed by counting: one frame interval at the stream's average frame rate
    after the previous frame (from 0 when the first frame has none).  Damaged
    data ends the pass at the last decodable frame, as in
    :func:`~sk_emotion.video.read_frames`; ``end_time_s`` then ends there.

    Image folders decode only the images some target shows; images of
    another size than the first are an error, as in
    :func:`~sk_emotion.video.read_frames`.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from sk_emotion.video import FrameSampler, write_video
    >>> frames = np.zeros((50, 64, 64, 3), np.uint8)  # 2 s at 25 fps
    >>> path = write_video(tempfile.mkdtemp() + "/clip.mp4", frames, fps=25)
    >>> sampler = FrameSampler(path, step_s=0.5)
    >>> [(f.time_s, f.frame_index) for f in sampler]
    [(0.25, 6), (0.75, 18), (1.25, 31), (1.75, 43)]
    >>> sampler.end_time_s, sampler.n_converted
    (2.0, 4)
    """

    def __init__(
        self,
        path: PathLike,
        step_s: float,
        *,
        offset_s: float | None = None,
        start_s: float = 0.0,
        end_s: float | None = None,
        folder_fps: float = DEFAULT_FOLDER_FPS,
    ) -> None:
        path = check_video_path(path)
        self._folder_fps = _exact_time(folder_fps, "folder_fps")
        if self._folder_fps <= 0:
            raise ValueError(f"folder_fps must be positive, got {folder_fps!r}")
        self._step = _exact_time(step_s, "step_s")
        if self._step <= 0:
            raise ValueError(f"step_s must be positive, got {step_s!r}")
        self._offset = self._step / 2 if offset_s is None else _exact_time(offset_s, "offset_s")
        self._start = _exact_time(start_s, "start_s")
        self._end = None if end_s is None else _exact_time(end_s, "end_s")
        if self._end is not None and self._end < self._start:
            raise ValueError(f"end_s ({end_s!r}) must not be below start_s ({start_s!r})")
        self.path = path
        self.step_s = float(self._step)
        self.offset_s = float(self._offset)
        self.start_s = float(self._start)
        self.end_s = None if self._end is None else float(self._end)
        self._files = list_image_files(path) if os.path.isdir(path) else None
        self.info: VideoInfo = probe_video(path, folder_fps=float(self._folder_fps))
        self.end_time_s: float | None = None
        self.truncation: str | None = None
        self.n_decoded = 0
        self.n_converted = 0

    def __repr__(self) -> str:
        return (f"FrameSampler('{self.path}', step_s={self.step_s!r}, offset_s={self.offset_s!r}, "
                f"start_s={self.start_s!r}, end_s={self.end_s!r})")

    def __iter__(self) -> Iterator[SampledFrame]:
        return self._pass()

    def _shows_a_target(self, begin: Fraction, end: Fraction) -> bool:
        """Whether a frame displayed from ``begin`` to ``end`` (seconds) is shown at some target."""
        j = max(self._first_target(), math.ceil((begin - self._offset) / self._step))
        t = self._offset + j * self._step
        return t < end and (self._end is None or t < self._end)

    def _first_target(self) -> int:
        # Smallest j >= 0 with offset + j * step >= start.
        return max(0, math.ceil((self._start - self._offset) / self._step))

    def _pass(self) -> Iterator[SampledFrame]:
        self.end_time_s = None
        self.truncation = None
        self.n_decoded = self.n_converted = 0
        j = self._first_target()
        t = self._offset + j * self._step
        if self._end is not None and t >= self._end:
            return
        if self._files is not None:
            yield from self._folder_pass(j, t)
            return
        frames = _FrameStream(self.path, skip_to=t, shows_a_target=self._shows_a_target)
        # Stored size of the frames: streams may change resolution midway,
        # and every image must have the size info reports (as read_frames).
        stored_hw = display_hw(self.info.height, self.info.width, self.info.rotation)
        shown = None  # (time, index, frame) on screen at the current target
        image = None  # its RGB array, converted on first use
        try:
            for nxt in frames:
                self.n_decoded = frames.n_decoded
                if shown is not None:
                    # Every target before the next frame's time shows `shown`.
                    while t < nxt[0]:
                        if self._end is not None and t >= self._end:
                            return
                        if image is None:
                            image = self._convert(shown[2], stored_hw)
                        yield SampledFrame(j, float(t), float(shown[0]), shown[1], image)
                        j += 1
                        t = self._offset + j * self._step
                    if self._end is not None and t >= self._end:
                        return
                shown, image = nxt, None
            self.n_decoded = frames.n_decoded
            if shown is None:
                raise VideoDecodeError(self.path, "no video frames could be decoded (damaged video)")
            end_time = shown[0] + frames.last_duration
            stop = end_time if self._end is None else min(end_time, self._end)
            while t < stop:
                if image is None:
                    image = self._convert(shown[2], stored_hw)
                yield SampledFrame(j, float(t), float(shown[0]), shown[1], image)
                j += 1
                t = self._offset + j * self._step
            self.end_time_s = float(end_time)
            self.truncation = truncation_reason(self.end_time_s, self.info.stated_duration_s)
        finally:
            self.n_decoded = frames.n_decoded
            frames.close()

    def _folder_pass(self, j: int, t: Fraction) -> Iterator[SampledFrame]:
        """Targets over an image folder: image ``floor(t * fps)`` is on screen at ``t``."""
        files, fps = self._files, self._folder_fps
        end_time = len(files) / fps
        stop = end_time if self._end is None else min(end_time, self._end)
        ref = (self.info.height, self.info.width, 3)
        index, image = -1, None
        while t < stop:
            shown = max(0, math.floor(t * fps))
            if shown != index:
                index = shown
                image, _ = _folder_frame(self.path, files[index], ref)
                self.n_decoded += 1
                self.n_converted += 1
            yield SampledFrame(j, float(t), float(index / fps), index, image)
            j += 1
            t = self._offset + j * self._step
        if self._end is None or self._end >= end_time:
            self.end_time_s = float(end_time)

    def _convert(self, frame, stored_hw: tuple[int, int]) -> np.ndarray:
        h, w = stored_hw
        kwargs = {} if (frame.height, frame.width) == (h, w) else {"width": w, "height": h}
        rgb = frame.to_ndarray(format="rgb24", **kwargs)
        self.n_converted += 1
        # The first frame's rotation (info.rotation), not each frame's: reading
        # a frame's side data makes PyAV (18.x) build a frame <-> container
        # reference cycle, so every frame inspected would stay in memory until
        # the garbage collector runs (300+ MiB at 720p).
        return apply_rotation(rgb, self.info.rotation)


# --------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------
class _SkipFailed(Exception):
    """The stream did not behave as skipping assumed: decode again from the start."""


class _FrameStream:
    """Decoded frames of one pass, in presentation order, as ``(time, index, frame)``.

    ``time`` is a Fraction of seconds since the first frame, ``index`` the
    position in presentation order.  After exhaustion ``last_duration`` is
    the display duration of the last frame, in seconds.
    """

    def __init__(self, path: str, skip_to: Fraction, shows_a_target: Callable[[Fraction, Fraction], bool]) -> None:
        self.path = path
        self.skip_to = skip_to
        self.shows_a_target = shows_a_target
        self.n_decoded = 0
        self.last_duration = Fraction(0)
        self._container = None

    def __iter__(self) -> Iterator[tuple[Fraction, int, av.VideoFrame]]:
        last_time = None
        try:
            for item in self._decode(skip=True):
                last_time = item[0]
                yield item
            return
        except _SkipFailed:
            self.close()
        # Sequential pass from the first packet; frames already delivered
        # are not repeated.
        for item in self._decode(skip=False):
            if last_time is None or item[0] > last_time:
                yield item

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None

    def _decode(self, skip: bool) -> Iterator[tuple[Fraction, int, av.VideoFrame]]:
        self._container = container = open_container(self.path)
        stream = video_stream(container, self.path)
        if _THREAD_TYPE is not None:
            stream.codec_context.thread_type = _THREAD_TYPE
        time_base = stream.time_base or Fraction(1, 1)
        period = 1 / average_rate(stream)
        packets = container.demux(stream)
        buffered: list[av.Packet] = []
        entry_pts = p0 = None
        index = 0
        if skip:
            buffered, entry_pts, index, p0 = _skip_gops(packets, time_base, self.skip_to)
        dropper = None
        if skip and stores_display_times(container):
            dropper = _UnshownFrames(self.shows_a_target, time_base)
        n_leading = 0  # frames displayed before the entry keyframe but stored after it
        prev_pts = prev_time = None
        diffs: Counter[int] = Counter()  # pts steps, for the last frame's duration
        last_frame = None

        def feed():
            nonlocal n_leading
            # Buffered packets first, then the rest of the file, then a flush.
            # Empty packets are AVI placeholders for dropped frames: sending
            # one would put the decoder in draining mode.
            try:
                for packet in without_cut_tail(itertools.chain(_drain(buffered), packets)):
                    if packet.size == 0:
                        continue
                    if (entry_pts is not None and packet.pts is not None
                            and packet.pts < entry_pts and not packet.is_discard):
                        # An open GOP's leading frame, displayed before the
                        # entry: it must come before the entry is output
                        # for the entry's index to count it.
                        if last_frame is not None:
                            raise _SkipFailed
                        n_leading += 1
                    yield packet
            except av.FFmpegError:
                pass  # damaged container data: the stream ends here
            yield None

        for packet, upcoming in _with_lookahead(feed(), _LOOKAHEAD if dropper is not None else 0):
            if dropper is not None and packet is not None:
                mode = dropper.before_decoding(packet, upcoming, entry_pts, p0)
                if stream.codec_context.skip_frame != mode:
                    stream.codec_context.skip_frame = mode
            try:
                decoded = stream.decode(packet)
            except av.FFmpegError:
                # Damaged data: the stream ends here, after draining the
                # frames the decoder still holds.
                try:
                    decoded = stream.decode(None) if packet is not None else []
                except av.FFmpegError:
                    decoded = []
                packet = None
            for frame in decoded:
                self.n_decoded += 1
                pts = frame.pts
                if entry_pts is not None:
                    if pts is not None and pts < entry_pts:
                        continue  # leading frame of an open GOP (maybe broken): not needed
                    if last_frame is None and pts != entry_pts:
                        raise _SkipFailed
                if dropper is not None:
                    index += dropper.shown(pts)  # frames displayed before this one and never decoded
                if last_frame is None:
                    index += n_leading
                    if p0 is None:
                        p0 = pts
                    time = Fraction(0) if p0 is None else (pts - p0) * time_base
                    used_pts = pts
                else:
                    time = None if p0 is None or pts is None else (pts - p0) * time_base
                    if time is None or time <= prev_time:
                        # No usable timestamp: count frames at the average rate.
                        time, used_pts = prev_time + period, None
                    else:
                        if prev_pts is not None:
                            diffs[pts - prev_pts] += 1
                        used_pts = pts
                yield time, index, frame
                index += 1
                prev_pts, prev_time, last_frame = used_pts, time, frame
            if packet is None:
                break
        if last_frame is not None:
            if dropper is not None and dropper.used:
                diffs = dropper.steps  # between neighbours in display order, dropped frames included
            self.last_duration = _last_duration(last_frame, p0 is not None, diffs, stream, period)


def _with_lookahead(packets: Iterator, n: int) -> Iterator[tuple]:
    """``(packet, pts of the next n packets)`` for each packet (the final None included)."""
    window: deque = deque()
    for packet in packets:
        window.append(packet)
        if len(window) > n:
            head = window.popleft()
            yield head, [p.pts for p in window if p is not None]
    while window:
        head = window.popleft()
        yield head, [p.pts for p in window if p is not None]


class _UnshownFrames:
    """Lets the decoder drop the frames no target shows, where nothing depends on them.

    A timeline samples a few frames a second out of 25-60; in H.264 with
    B-frames most of the others are non-reference frames, which no other
    frame is predicted from.  Before each packet is decoded, its frame's
    display interval is bounded from the presentation times of the packets
    around it: it runs from its pts to the next larger pts seen so far or in
    the next ``_LOOKAHEAD`` packets (the true next frame can only come
    sooner, so the bound errs towards decoding).  When no target falls in
    it, the decoder is told to skip the frame if it is a non-reference one
    (``skip_frame="NONREF"``); reference frames are always decoded, so every
    decoded frame is exactly what a full decode gives.  The frames that were
    not output are counted back into the frame indices and the frame steps.
    Only containers with stored presentation times are trusted; any
    inconsistency (a packet without pts, a frame out of the expected order)
    decodes the video again from the start, without dropping.
    """

    def __init__(self, shows_a_target: Callable[[Fraction, Fraction], bool], time_base: Fraction) -> None:
        self.shows_a_target = shows_a_target
        self.time_base = time_base
        self.recent: deque = deque(maxlen=2 * _LOOKAHEAD)  # pts fed lately
        self.pending: list[int] = []  # heap: pts fed, not yet output or accounted for
        self.steps: Counter[int] = Counter()
        self.last_shown: int | None = None
        self.used = False  # whether a frame was let go
        self.active = True

    def before_decoding(self, packet, upcoming: list, entry_pts: int | None, p0: int | None) -> str:
        """The decoder's ``skip_frame`` for this packet: ``"NONREF"`` or ``"DEFAULT"``."""
        if not self.active or packet.is_discard:  # (empty packets never reach the decoder)
            return "DEFAULT"
        pts = packet.pts
        if pts is None:
            if self.used:
                raise _SkipFailed
            self.active = False  # frames cannot be placed: decode them all
            return "DEFAULT"
        if entry_pts is not None and pts < entry_pts:
            return "DEFAULT"  # a leading frame of an open GOP, dropped anyway
        later = [q for q in itertools.chain(self.recent, upcoming) if q is not None and q > pts]
        self.recent.append(pts)
        heapq.heappush(self.pending, pts)
        if p0 is None or not later:
            return "DEFAULT"
        begin, end = (pts - p0) * self.time_base, (min(later) - p0) * self.time_base
        if self.shows_a_target(begin, end):
            return "DEFAULT"
        self.used = True
        return "NONREF"

    def shown(self, pts: int | None) -> int:
        """Account for a decoded frame: the number of frames before it that were dropped."""
        if not self.active:
            return 0
        dropped = []
        while self.pending and pts is not None and self.pending[0] < pts:
            dropped.append(heapq.heappop(self.pending))
        # Out of display order, or a repeated time (frames the sampler then places by counting):
        # display intervals were not what the decisions assumed.
        if (pts is None or not self.pending or self.pending[0] != pts
                or (self.last_shown is not None and pts <= self.last_shown)):
            if self.used:
                raise _SkipFailed
            self.active = False
            return 0
        heapq.heappop(self.pending)
        for value in [*dropped, pts]:
            if self.last_shown is not None:
                self.steps[value - self.last_shown] += 1
            self.last_shown = value
        return len(dropped)


def _skip_gops(packets, time_base: Fraction, target: Fraction):
    """Read packets without decoding up to the last keyframe at or before ``target``.

    Returns ``(buffered, entry_pts, n_before, p0)``: the packets from the
    entry keyframe on, read so far; the entry's pts (None when decoding
    starts at the first packet); the number of frames displayed before it;
    the first frame's pts (None when unknown).  Only "clean" keyframes are
    entries: those whose pts is above every earlier packet's, so that no
    frame stored before them is displayed after them.
    """
    buffered: list[av.Packet] = []
    size = 0
    entry_pts = None
    n_before = n_seen = 0
    p_min = p_max = None
    try:
        for packet in packets:
            if packet.size == 0:
                continue
            pts = packet.pts
            if pts is None:  # cannot be placed without decoding: decode from here
                buffered.append(packet)
                break
            shown = not packet.is_discard
            if (shown and packet.is_keyframe and p_max is not None and pts > p_max
                    and (pts - p_min) * time_base <= target):
                buffered, size = [], 0
                entry_pts, n_before = pts, n_seen
            buffered.append(packet)
            size += packet.size
            if shown:
                n_seen += 1
                p_min = pts if p_min is None else min(p_min, pts)
                p_max = pts if p_max is None else max(p_max, pts)
                # Later clean keyframes have larger pts still: none can be an entry.
                if (pts - p_min) * time_base > target:
                    break
            if size > _MAX_SKIP_BUFFER_BYTES:
                break
    except av.FFmpegError:
        pass  # damaged data: decode what was read
    if entry_pts is None:
        return buffered, None, 0, None
    return buffered, entry_pts, n_before, p_min


def _drain(items: list) -> Iterator:
    # Hand out and forget the skipped-to packets one by one, so that a GOP's
    # worth of compressed data is not kept for the whole pass.
    items.reverse()
    while items:
        yield items.pop()


def _last_duration(frame, has_pts: bool, diffs: Counter, stream, period: Fraction) -> Fraction:
    # Without timestamps frames are counted at the average rate; with them, as
    # read_frames times the last frame (its steps kept as a histogram: memory stays small).
    if not has_pts:
        return period
    time_base = stream.time_base or Fraction(1, 1)
    return last_frame_ticks(frame.duration, _median(diffs) if diffs else None, stream) * time_base


def _median(counts: Counter) -> float:
    n = sum(counts.values())
    lo, hi = (n - 1) // 2, n // 2
    seen, low = 0, None
    for value in sorted(counts):
        seen += counts[value]
        if low is None and seen > lo:
            low = value
        if seen > hi:
            return (low + value) / 2
    raise ValueError("empty histogram")


def _exact_time(value, name: str) -> Fraction:
    """A time parameter as an exact fraction.

    A float is read as the simple fraction it rounds (denominator up to a
    million, within a few units in the last place), so ``0.12`` is 3/25 and
    ``2 / 3`` is 2/3; any other float keeps its exact binary value.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number of seconds, got {value!r}")
    if isinstance(value, numbers.Rational):
        return Fraction(value)
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    exact = Fraction(value)
    simple = exact.limit_denominator(10**6)
    if abs(simple - exact) <= abs(exact) * Fraction(1, 2**50):
        return simple
    return exact
