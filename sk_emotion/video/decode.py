"""Frame-accurate, lazy decoding of video files and image-sequence folders.

This module is the I/O layer under :class:`VideoFaceExtractor`: it turns a
path (a video file or a folder of frame images) or an in-memory array into a
fixed number of RGB frames sampled uniformly over the clip.

Design notes
------------
* **Exact frame table without decoding.**  Containers lie about frame counts
  (AVI headers, MKV has none, VFR files).  Before decoding we demux the video
  stream once -- reading packets is far cheaper than decoding them -- and build
  a table of presentation timestamps (pts) and keyframe flags.  This gives the
  exact number of frames, their true display times and where seeking can land.
* **Time-based sampling.**  Samples are placed uniformly in *time* between the
  first frame and the end of the last one, and each picks the frame on screen
  at that instant.  For constant frame rate this is identical to
  :func:`sample_frame_indices`; for variable frame rate it is what a viewer
  sees.  When packets carry no timestamps we fall back to counting frames.
* **Decode only what is needed.**  Frames are decoded forward and decoding
  stops after the last needed frame.  When the next needed frame lies beyond
  a keyframe that is far enough ahead, we seek to that keyframe instead of
  decoding everything in between.  If a seek ever lands past its target (a
  broken index), we reopen the file and decode from the start without
  seeking, so correctness never depends on the demuxer's seek.
* **Upright frames.**  Display-matrix rotation (phone videos) is applied to
  every frame, so ``frames`` are as a player would show them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Union

import av
import numpy as np

from ..exceptions import VideoDecodeError, VideoNotFoundError
from .formats import IMAGE_EXTENSIONS

__all__ = [
    "DecodedClip",
    "VideoDecodeError",
    "VideoInfo",
    "VideoNotFoundError",
    "apply_rotation",
    "list_image_files",
    "probe_video",
    "read_frame_indices",
    "read_frames",
    "sample_array_frames",
    "sample_frame_indices",
]

PathLike = Union[str, "os.PathLike[str]"]


#: Frame rate assumed for image folders (CK+ was recorded at 30 fps).
DEFAULT_FOLDER_FPS = 30.0

# Seeking flushes the decoder and re-reads from a keyframe; it only pays off
# when it lets us skip at least this many frames.
_MIN_FRAMES_SKIPPED_BY_SEEK = 12


# --------------------------------------------------------------------------
# Errors and result types
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class VideoInfo:
    """Metadata of a video file or image folder.

    The parameters are stored as attributes of the same names.

    Parameters
    ----------
    path : str
        The file or folder.
    n_frames : int
        Number of frames; exact when ``n_frames_exact`` is True, otherwise the
        container's claim or ``duration_s * fps``.
    fps : float
        Nominal frame rate (average rate for variable-frame-rate video).
    duration_s : float
        Duration in seconds, from the first frame to the end of the last.
    width, height : int
        Size of the frames *as displayed*, i.e. after applying ``rotation``.
    rotation : int
        Counter-clockwise rotation in degrees (0, 90, 180 or 270) applied to
        the stored pixels so that they display upright.
    codec : str
        Decoder name (e.g. ``'mpeg4'``, ``'h264'``, ``'png'``).
    is_image_folder : bool
        True for a folder of frame images.
    n_frames_exact : bool, default=False
        Whether ``n_frames`` was counted rather than taken from metadata.
    """

    path: str
    n_frames: int
    fps: float
    duration_s: float
    width: int
    height: int
    rotation: int
    codec: str
    is_image_folder: bool
    n_frames_exact: bool = False


@dataclass(frozen=True)
class DecodedClip:
    """Frames sampled from a clip.

    The parameters are stored as attributes of the same names.

    Parameters
    ----------
    frames : ndarray of shape (n_frames, H, W, 3), dtype uint8
        RGB frames, upright.
    timestamps_s : ndarray of shape (n_frames,) or None
        Presentation time of each frame in seconds since the first frame of
        the clip; None when timestamps were not requested.
    indices : ndarray of shape (n_frames,), dtype int64
        Index of each frame in presentation order (0 = first frame).
        Repeated when the clip is shorter than the number of samples.
    info : VideoInfo
        Metadata of the source, with the exact frame count.
    n_decoded : int
        Number of frames the decoder actually produced (seeking and early
        stopping keep this well below the clip length for sparse samples).
    """

    frames: np.ndarray
    timestamps_s: np.ndarray | None
    indices: np.ndarray
    info: VideoInfo
    n_decoded: int


# --------------------------------------------------------------------------
# Sampling and array helpers
# --------------------------------------------------------------------------
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
    n_available = _check_positive_int(n_available, "n_available")
    n_frames = _check_positive_int(n_frames, "n_frames")
    # floor((i + 1/2) * n_available / n_frames) in exact integer arithmetic so
    # that segment centres falling exactly on a frame boundary are stable.
    i = np.arange(n_frames, dtype=np.int64)
    return ((2 * i + 1) * n_available) // (2 * n_frames)


def apply_rotation(frame: np.ndarray, degrees: float) -> np.ndarray:
    """Rotate an image counter-clockwise by a multiple of 90 degrees.

    ``degrees`` follows FFmpeg's display-matrix convention (the value of
    PyAV's ``VideoFrame.rotation``): the angle by which the stored picture
    must be turned counter-clockwise to display upright.  A phone video
    tagged ``rotate=90`` (clockwise) therefore has ``degrees=-90``.

    Parameters
    ----------
    frame : ndarray of shape (H, W) or (H, W, C)
        Image to rotate.
    degrees : float
        Rotation angle; rounded to the nearest multiple of 90.

    Returns
    -------
    rotated : ndarray
        C-contiguous rotated copy (or ``frame`` itself for 0 degrees); shape
        (W, H, ...) for 90 and 270 degrees.
    """
    k = _quarter_turns(degrees)
    if k == 0:
        return frame
    return np.ascontiguousarray(np.rot90(frame, k=k, axes=(0, 1)))


def sample_array_frames(
    frames: np.ndarray, n_frames: int = 16, *, fps: float = 25.0
) -> DecodedClip:
    """Sample frames uniformly from an in-memory clip.

    Uses the same sampling as :func:`read_frames` so that arrays and files
    are interchangeable.

    Parameters
    ----------
    frames : array-like of shape (T, H, W, 3), dtype uint8
        RGB frames, T >= 1.
    n_frames : int, default=16
        Number of frames to return; frames repeat when T < n_frames.
    fps : float, default=25.0
        Frame rate used to compute ``timestamps_s``.

    Returns
    -------
    clip : DecodedClip
        ``info.path`` is ``'<array>'`` and ``n_decoded`` is 0.

    Raises
    ------
    ValueError
        If ``frames`` is not a non-empty (T, H, W, 3) uint8 array.
    """
    arr = np.asarray(frames)
    if arr.ndim != 4 or arr.shape[-1] != 3 or arr.dtype != np.uint8 or 0 in arr.shape:
        raise ValueError(
            f"expected (T, H, W, 3) uint8 frames with T, H, W >= 1, "
            f"got shape {arr.shape} dtype {arr.dtype}"
        )
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps!r}")
    idx = sample_frame_indices(arr.shape[0], n_frames)
    info = VideoInfo(
        path="<array>",
        n_frames=arr.shape[0],
        fps=float(fps),
        duration_s=arr.shape[0] / fps,
        width=arr.shape[2],
        height=arr.shape[1],
        rotation=0,
        codec="rawvideo",
        is_image_folder=False,
        n_frames_exact=True,
    )
    return DecodedClip(
        frames=arr[idx],
        timestamps_s=idx / float(fps),
        indices=idx,
        info=info,
        n_decoded=0,
    )


# --------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------
def probe_video(
    path: PathLike, *, count_frames: bool = False, folder_fps: float = DEFAULT_FOLDER_FPS
) -> VideoInfo:
    """Read the metadata of a video file or image folder.

    Decodes the first frame (to learn its rotation and to make sure the file
    holds at least one decodable frame) but nothing else.

    Parameters
    ----------
    path : str or path-like
        Video file, single image, or folder of frame images.
    count_frames : bool, default=False
        Count frames exactly by reading (not decoding) every packet.  When
        False, ``n_frames`` is the container's claim or, when the container
        has none (MKV, some AVI), ``round(duration_s * fps)``.
    folder_fps : float, default=30.0
        Frame rate reported for image folders.

    Returns
    -------
    info : VideoInfo
        Size (as displayed), frame count, frame rate, duration, rotation and
        codec of the source.

    Raises
    ------
    VideoNotFoundError
        If ``path`` does not exist.
    VideoDecodeError
        If ``path`` is not a decodable video, has no video stream or no
        frames, or is a folder without images.
    """
    path = _check_exists(path)
    if os.path.isdir(path):
        files = list_image_files(path)
        first = _decode_image(path, files[0])
        return _folder_info(path, files, first, folder_fps)

    with _open_container(path) as container:
        stream = _video_stream(container, path)
        if count_frames:
            table = _scan_packets(container, stream, path)
        else:
            table = None
    with _open_container(path) as container:
        stream = _video_stream(container, path)
        first = None
        try:
            first = next(container.decode(stream), None)
        except av.FFmpegError:
            pass
        if first is None:
            raise VideoDecodeError(path, "no video frames (zero-frame or undecodable video)")
        rotation = _frame_rotation(first, stream)
        fps = _stream_fps(stream)
        if table is not None:
            n, exact = table.n, True
            duration = table.duration_s() if table.has_pts else n / fps
        else:
            duration = _stream_duration_s(stream, container)
            n, exact = stream.frames, False
            if n <= 0:
                n = max(1, int(round(duration * fps)))
        height, width = _display_hw(first.height, first.width, rotation)
        return VideoInfo(
            path=path,
            n_frames=int(n),
            fps=float(fps),
            duration_s=float(duration),
            width=width,
            height=height,
            rotation=rotation,
            codec=stream.codec_context.name,
            is_image_folder=False,
            n_frames_exact=exact,
        )


def read_frames(
    path: PathLike,
    n_frames: int = 16,
    *,
    return_timestamps: bool = True,
    seek: bool = True,
    folder_fps: float = DEFAULT_FOLDER_FPS,
) -> DecodedClip:
    """Decode ``n_frames`` frames sampled uniformly over a clip.

    Samples sit at the centres of ``n_frames`` equal time segments spanning
    the clip (from the first frame to the end of the last), and each sample
    is the frame on screen at that time; this is robust to variable frame
    rate.  Without packet timestamps, frames are counted instead (same
    result for constant frame rate).  Clips with fewer frames than
    ``n_frames`` repeat frames.  Only the frames up to the last sample are
    decoded, with keyframe seeking across long gaps.

    Parameters
    ----------
    path : str or path-like
        Video file (AVI, MP4, MOV, MKV, ... -- whatever FFmpeg reads), single
        image, or folder of frame images (sorted in natural order).
    n_frames : int, default=16
        Number of frames to return.
    return_timestamps : bool, default=True
        Fill ``timestamps_s``; when False it is None.
    seek : bool, default=True
        Allow seeking to keyframes to skip long runs of unneeded frames.
    folder_fps : float, default=30.0
        Frame rate assumed for image folders (used for timestamps).

    Returns
    -------
    clip : DecodedClip
        ``frames`` has shape (n_frames, H, W, 3), uint8 RGB, upright.

    Raises
    ------
    VideoNotFoundError
        If ``path`` does not exist.
    VideoDecodeError
        If ``path`` cannot be decoded (not a video, no video stream, zero
        frames, empty image folder, unreadable image).

    See Also
    --------
    read_frame_indices : Decode frames at given indices.
    sample_array_frames : The same sampling for in-memory arrays.
    """
    n_frames = _check_positive_int(n_frames, "n_frames")
    return _read(path, n_frames=n_frames, indices=None, return_timestamps=return_timestamps,
                 seek=seek, folder_fps=folder_fps)


def read_frame_indices(
    path: PathLike,
    indices: Sequence[int] | np.ndarray,
    *,
    return_timestamps: bool = True,
    seek: bool = True,
    folder_fps: float = DEFAULT_FOLDER_FPS,
) -> DecodedClip:
    """Decode the frames at given positions of a clip.

    Parameters
    ----------
    path : str or path-like
        Video file, single image, or folder of frame images.
    indices : sequence of int
        Frame positions in presentation order (0 = first frame), in any
        order and possibly repeated; output follows this order.
    return_timestamps : bool, default=True
        Fill ``timestamps_s``; when False it is None.
    seek : bool, default=True
        Allow seeking to keyframes to skip long runs of unneeded frames.
    folder_fps : float, default=30.0
        Frame rate assumed for image folders.

    Returns
    -------
    clip : DecodedClip
        ``frames`` has shape (len(indices), H, W, 3), uint8 RGB, upright, in
        the order of ``indices``.

    Raises
    ------
    VideoNotFoundError
        If ``path`` does not exist.
    VideoDecodeError
        If ``path`` cannot be decoded.
    ValueError
        If an index is negative or not below the number of frames.
    """
    idx = np.asarray(indices)
    if idx.ndim != 1 or idx.size == 0 or not np.issubdtype(idx.dtype, np.integer):
        raise ValueError(f"indices must be a non-empty 1-D sequence of ints, got {indices!r}")
    return _read(path, n_frames=None, indices=idx.astype(np.int64),
                 return_timestamps=return_timestamps, seek=seek, folder_fps=folder_fps)


# --------------------------------------------------------------------------
# Image folders
# --------------------------------------------------------------------------
def _natural_key(name: str) -> list:
    # "frame2.png" < "frame10.png": compare digit runs as numbers.
    return [int(tok) if tok.isdigit() else tok.lower() for tok in re.split(r"(\d+)", name)]


def list_image_files(folder: PathLike) -> list[str]:
    """List the frame images of a folder in natural order.

    Parameters
    ----------
    folder : str or path-like
        Folder holding one image per frame (CK+ style).

    Returns
    -------
    names : list of str
        File names (not paths) with an extension in :data:`IMAGE_EXTENSIONS`,
        sorted so that ``img2.png`` comes before ``img10.png``.  Hidden files
        are ignored.

    Raises
    ------
    VideoDecodeError
        If the folder contains no image files.
    """
    folder = os.fspath(folder)
    names = [
        n
        for n in os.listdir(folder)
        if not n.startswith(".")
        and os.path.splitext(n)[1].lower() in IMAGE_EXTENSIONS
        and os.path.isfile(os.path.join(folder, n))
    ]
    if not names:
        raise VideoDecodeError(
            folder, f"folder contains no image files ({', '.join(IMAGE_EXTENSIONS)})"
        )
    return sorted(names, key=_natural_key)


def _decode_image(folder: str, name: str) -> av.VideoFrame:
    # PyAV decodes single images (png/jpeg/bmp/tiff) itself, so image folders
    # need no extra dependency and get the same RGB conversion as videos.
    file = os.path.join(folder, name)
    try:
        with av.open(file) as container:
            frame = next(container.decode(video=0), None)
    except (av.FFmpegError, IndexError) as exc:
        raise VideoDecodeError(folder, f"cannot read image '{name}' ({_describe(exc)})") from exc
    if frame is None:
        raise VideoDecodeError(folder, f"cannot read image '{name}' (no picture data)")
    return frame


def _folder_info(folder: str, files: list[str], first, fps: float) -> VideoInfo:
    if not fps > 0:
        raise ValueError(f"folder_fps must be positive, got {fps!r}")
    rotation = _frame_rotation(first, None)
    height, width = _display_hw(first.height, first.width, rotation)
    codec = os.path.splitext(files[0])[1].lower().lstrip(".")
    return VideoInfo(
        path=folder,
        n_frames=len(files),
        fps=float(fps),
        duration_s=len(files) / fps,
        width=width,
        height=height,
        rotation=rotation,
        codec="jpeg" if codec == "jpg" else codec,
        is_image_folder=True,
        n_frames_exact=True,
    )


def _read_folder(folder, n_frames, indices, return_timestamps, folder_fps) -> DecodedClip:
    files = list_image_files(folder)
    n = len(files)
    if indices is None:
        idx = sample_frame_indices(n, n_frames)
    else:
        idx = _check_indices(indices, n, folder)
    decoded: dict[int, np.ndarray] = {}
    first_frame = None
    for i in np.unique(idx):
        frame = _decode_image(folder, files[i])
        arr = apply_rotation(frame.to_ndarray(format="rgb24"), _frame_rotation(frame, None))
        if first_frame is None:
            first_frame, ref = frame, arr.shape
        elif arr.shape != ref:
            # Unlike a codec's mid-stream resize, mixed sizes in a folder are
            # a data error: resizing would silently distort faces.
            raise VideoDecodeError(
                folder,
                f"image '{files[i]}' is {arr.shape[1]}x{arr.shape[0]} but earlier frames "
                f"are {ref[1]}x{ref[0]}",
            )
        decoded[int(i)] = arr
    info = _folder_info(folder, files, first_frame, folder_fps)
    return DecodedClip(
        frames=np.stack([decoded[int(i)] for i in idx]),
        timestamps_s=(idx / info.fps) if return_timestamps else None,
        indices=idx,
        info=info,
        n_decoded=len(decoded),
    )


# --------------------------------------------------------------------------
# Video files
# --------------------------------------------------------------------------
@dataclass
class _FrameTable:
    """Presentation-ordered frame list built from packets, without decoding."""

    pts: np.ndarray  # int64, sorted unique pts (or 0..n-1 when has_pts is False)
    keyframe: np.ndarray  # bool, keyframe flag per entry
    has_pts: bool
    time_base: Fraction
    last_duration: int  # display duration of the last frame, in time_base units

    @property
    def n(self) -> int:
        return int(self.pts.size)

    def span(self) -> int:
        """Clip length in time_base units: first pts to end of last frame."""
        return int(self.pts[-1] - self.pts[0] + self.last_duration)

    def duration_s(self) -> float:
        return float(self.span() * self.time_base)

    def position(self, pts: int) -> int:
        """Index of the frame on screen at ``pts``."""
        return int(np.clip(np.searchsorted(self.pts, pts, side="right") - 1, 0, self.n - 1))

    def sample(self, n_frames: int) -> np.ndarray:
        if not self.has_pts or self.span() <= 0:
            return sample_frame_indices(self.n, n_frames)
        # Centres of n_frames equal time segments, in exact integer arithmetic:
        # target_i = pts0 + (2i + 1) * span / (2 n); pick the last frame with
        # pts <= target_i (the one displayed at that instant).
        i = np.arange(n_frames, dtype=np.int64)
        scaled_targets = 2 * n_frames * self.pts[0] + (2 * i + 1) * self.span()
        pos = np.searchsorted(2 * n_frames * self.pts, scaled_targets, side="right") - 1
        return np.clip(pos, 0, self.n - 1).astype(np.int64)


def _scan_packets(container, stream, path: str) -> _FrameTable:
    pts_list, dts_list, key_list, dur_list = [], [], [], []
    try:
        for packet in container.demux(stream):
            # Size-0 packets are the end-of-stream marker or AVI placeholders
            # for dropped frames (e.g. VFR written to AVI); discard-flagged
            # ones are cut by an MP4 edit list.  Neither is ever displayed.
            if packet.size == 0 or getattr(packet, "is_discard", False):
                continue
            pts_list.append(packet.pts)
            dts_list.append(packet.dts)
            key_list.append(bool(packet.is_keyframe))
            dur_list.append(packet.duration or 0)
    except av.FFmpegError:
        # Truncated or damaged tail: keep the packets read so far.
        pass
    n = len(pts_list)
    if n == 0:
        raise VideoDecodeError(path, "no video frames (zero-frame video)")
    time_base = stream.time_base or Fraction(1, 1)
    # Prefer pts.  Some demuxers give only dts; that is the display order
    # when pts are missing altogether.  Partly missing pts (reordered
    # streams in odd containers) are not trustworthy: count frames instead.
    if all(p is not None for p in pts_list):
        stamps = pts_list
    elif all(p is None for p in pts_list):
        stamps = dts_list
    else:
        stamps = [None]
    if all(s is not None for s in stamps):
        order = np.argsort(np.asarray(stamps, dtype=np.int64), kind="stable")
        pts = np.asarray(stamps, dtype=np.int64)[order]
        key = np.asarray(key_list, dtype=bool)[order]
        pts, first = np.unique(pts, return_index=True)
        key = key[first]
        if pts.size == n:
            last = int(np.asarray(dur_list, dtype=np.int64)[order][-1])
            if last <= 0:
                last = int(np.median(np.diff(pts))) if pts.size > 1 else _one_frame_ticks(stream)
            return _FrameTable(pts, key, True, time_base, max(last, 1))
    # No usable timestamps (or duplicates): count frames instead.
    return _FrameTable(np.arange(n, dtype=np.int64), np.asarray(key_list, dtype=bool),
                       False, time_base, 1)


class _NoFramePts(Exception):
    """Decoded frames lack pts although packets had them: count instead."""


class _Decoder:
    """Forward decoder over one video stream that can jump to a keyframe."""

    def __init__(self, path: str, use_pts: bool) -> None:
        self.path = path
        self.use_pts = use_pts
        self.n_decoded = 0
        self.container = None
        self.restart()

    def restart(self) -> None:
        # Reopening is the only positioning that cannot be fooled by a bad
        # index, so it is what the no-seek fallback uses.
        self.close()
        self.container = _open_container(self.path)
        self.stream = _video_stream(self.container, self.path)
        self._frames = self._iter()

    def seek(self, pts: int) -> None:
        self.container.seek(int(pts), stream=self.stream, backward=True, any_frame=False)
        self._frames = self._iter()

    def _iter(self) -> Iterator:
        ordinal = 0
        try:
            for frame in self.container.decode(self.stream):
                self.n_decoded += 1
                if self.use_pts:
                    if frame.pts is None:
                        raise _NoFramePts
                    yield frame.pts, frame
                else:
                    yield ordinal, frame
                ordinal += 1
        except av.FFmpegError:
            # Damaged data mid-stream: treat as end of stream; the caller
            # reuses the last good frame.
            return

    def next(self):
        return next(self._frames, None)

    def close(self) -> None:
        if self.container is not None:
            self.container.close()
            self.container = None


def _decode_positions(path: str, table: _FrameTable, wanted: np.ndarray, seek: bool):
    """Decode the frames at sorted unique table positions ``wanted``.

    Returns ``(frames, keys, n_decoded, table)`` where ``frames[j]`` is the
    decoded frame used for ``wanted[j]``, ``keys[j]`` its pts (or ordinal)
    and ``table`` the frame table actually used (timestamps dropped if the
    decoder turned out not to output them).
    """
    dec = _Decoder(path, table.has_pts)
    try:
        return (*_decode_loop(dec, table, wanted, seek), table)
    except _NoFramePts:
        dec.close()
        table = replace(table, pts=np.arange(table.n, dtype=np.int64), has_pts=False)
        dec2 = _Decoder(path, use_pts=False)
        dec2.n_decoded = dec.n_decoded
        try:
            return (*_decode_loop(dec2, table, wanted, False), table)
        finally:
            dec2.close()
    finally:
        dec.close()


def _decode_loop(dec: _Decoder, table: _FrameTable, wanted: np.ndarray, seek: bool):
    keyframe_pos = np.flatnonzero(table.keyframe)
    frames, keys = [], []
    prev = None  # (key, frame): latest frame at or before the current target
    pending = None  # (key, frame): frame already read, beyond the previous target
    last_good = None  # last frame decoded at all, for running out early
    just_seeked = False
    for pos in wanted.tolist():
        target = int(table.pts[pos])
        if seek and table.has_pts and keyframe_pos.size:
            k = np.searchsorted(keyframe_pos, pos, side="right") - 1
            kf = int(keyframe_pos[k]) if k >= 0 else 0
            cur = pending or prev
            cur_pos = table.position(cur[0]) if cur is not None else -1
            if kf - cur_pos > _MIN_FRAMES_SKIPPED_BY_SEEK:
                dec.seek(int(table.pts[kf]))
                prev = pending = None
                just_seeked = True
        result = None
        while result is None:
            if pending is None:
                pending = dec.next()
                if pending is None:  # end of stream before the target
                    result = prev or last_good
                    break
                last_good = pending
            if pending[0] <= target:
                prev, pending = pending, None
                if prev[0] == target:
                    result = prev
            elif prev is not None:
                # The target frame is missing (dropped packet): the frame on
                # screen at `target` is the previous one.
                result = prev
            elif just_seeked:
                # Seek landed after the target: distrust seeking from now on.
                dec.restart()
                prev = pending = None
                seek = just_seeked = False
            else:
                result = pending
        if result is None:
            raise VideoDecodeError(dec.path, "no video frames could be decoded (damaged video)")
        just_seeked = False
        frames.append(result[1])
        keys.append(result[0])
    return frames, keys, dec.n_decoded


def _read(path, n_frames, indices, return_timestamps, seek, folder_fps) -> DecodedClip:
    path = _check_exists(path)
    if os.path.isdir(path):
        return _read_folder(path, n_frames, indices, return_timestamps, folder_fps)

    with _open_container(path) as container:
        stream = _video_stream(container, path)
        table = _scan_packets(container, stream, path)
        fps = _stream_fps(stream)
        codec = stream.codec_context.name
        stream_rotation = _metadata_rotation(stream)

    idx = table.sample(n_frames) if indices is None else _check_indices(indices, table.n, path)
    wanted = np.unique(idx)
    frames, keys, n_decoded, table = _decode_positions(path, table, wanted, seek)

    # Frames are reformatted to the first one's size: streams may change
    # resolution midway, and the output must stack.
    w0, h0 = frames[0].width, frames[0].height
    arrays = []
    for frame in frames:
        kwargs = {} if (frame.width, frame.height) == (w0, h0) else {"width": w0, "height": h0}
        rgb = frame.to_ndarray(format="rgb24", **kwargs)
        arrays.append(apply_rotation(rgb, _frame_rotation(frame, None, stream_rotation)))
    rotation = _frame_rotation(frames[0], None, stream_rotation)
    by_pos = {int(p): i for i, p in enumerate(wanted)}
    out = np.stack([arrays[by_pos[int(p)]] for p in idx])

    # Report what was actually used (a missing frame is replaced by the one
    # on screen before it).
    if table.has_pts:
        used_pos = np.array([table.position(k) for k in keys], dtype=np.int64)
        used_ts = (np.asarray(keys, dtype=np.int64) - table.pts[0]) * float(table.time_base)
        duration = table.duration_s()
    else:
        used_pos = np.asarray(keys, dtype=np.int64)
        used_ts = used_pos / fps
        duration = table.n / fps
    sel = np.array([by_pos[int(p)] for p in idx], dtype=np.int64)
    height, width = out.shape[1:3]
    info = VideoInfo(
        path=path,
        n_frames=table.n,
        fps=float(fps),
        duration_s=float(duration),
        width=int(width),
        height=int(height),
        rotation=rotation,
        codec=codec,
        is_image_folder=False,
        n_frames_exact=True,
    )
    return DecodedClip(
        frames=out,
        timestamps_s=used_ts[sel] if return_timestamps else None,
        indices=used_pos[sel],
        info=info,
        n_decoded=int(n_decoded),
    )


# --------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------
def _check_positive_int(value, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _check_indices(indices: np.ndarray, n: int, path: str) -> np.ndarray:
    bad = indices[(indices < 0) | (indices >= n)]
    if bad.size:
        raise ValueError(f"frame index {int(bad[0])} out of range for '{path}' with {n} frames")
    return indices


def _check_exists(path: PathLike) -> str:
    path = os.fspath(path)
    if not os.path.exists(path):
        raise VideoNotFoundError(path, "no such file or directory")
    return path


def _describe(exc: BaseException) -> str:
    # FFmpeg errors carry a readable strerror ("Invalid data found when
    # processing input"); lower-case it to fit inside our sentence.
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return text[:1].lower() + text[1:]


def _open_container(path: str):
    if os.path.getsize(path) == 0:
        raise VideoDecodeError(path, "empty file (0 bytes)")
    try:
        return av.open(path, mode="r", metadata_errors="ignore")
    except av.InvalidDataError as exc:
        raise VideoDecodeError(path, f"not a video file ({_describe(exc)})") from exc
    except av.EOFError as exc:
        # e.g. an MKV written without any frame: the header is all there is.
        raise VideoDecodeError(path, "no video frames (file ends before any frame)") from exc
    except FileNotFoundError as exc:
        raise VideoNotFoundError(path, "no such file or directory") from exc
    except (av.FFmpegError, OSError) as exc:
        raise VideoDecodeError(path, f"cannot open ({_describe(exc)})") from exc


def _video_stream(container, path: str):
    for stream in container.streams.video:
        # Skip cover art (MP4/MKV attached pictures): it is not the clip.
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    raise VideoDecodeError(path, "no video stream (zero-frame video or audio-only file)")


def _stream_fps(stream) -> float:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate:
            return float(rate)
    return 25.0  # arbitrary but conventional; only used for timestamps


def _stream_duration_s(stream, container) -> float:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / av.time_base
    return 0.0


def _one_frame_ticks(stream) -> int:
    fps = _stream_fps(stream)
    tb = stream.time_base or Fraction(1, 1)
    return max(1, int(round(1 / (fps * tb))))


def _quarter_turns(degrees: float) -> int:
    return int(round(float(degrees) / 90.0)) % 4


def _metadata_rotation(stream) -> int | None:
    # Old FFmpeg exported phone rotation as a clockwise 'rotate' tag instead of
    # (or besides) frame side data; convert to counter-clockwise degrees.
    tag = stream.metadata.get("rotate") if stream.metadata else None
    try:
        return -int(float(tag)) if tag is not None else None
    except ValueError:
        return None


def _frame_rotation(frame, stream, fallback: int | None = None) -> int:
    """Counter-clockwise display rotation of ``frame`` in {0, 90, 180, 270}."""
    has_matrix = any(
        getattr(sd, "type", None) == av.sidedata.sidedata.Type.DISPLAYMATRIX
        for sd in getattr(frame, "side_data", ())
    )
    degrees = getattr(frame, "rotation", 0) if has_matrix else None
    if degrees is None:
        degrees = fallback if fallback is not None else (
            _metadata_rotation(stream) if stream is not None else None
        )
    return 90 * _quarter_turns(degrees or 0)


def _display_hw(height: int, width: int, rotation: int) -> tuple[int, int]:
    return (width, height) if rotation in (90, 270) else (height, width)
