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
import stat
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Union

import av
import numpy as np

from ..exceptions import TruncatedVideoWarning, VideoDecodeError, VideoNotFoundError
from ._container import (
    TRUNCATION_FRACTION,
    TRUNCATION_MIN_S,
    describe_error,
    display_hw,
    frame_rotation,
    last_frame_ticks,
    metadata_rotation,
    open_container,
    quarter_turns,
    stated_duration_s,
    stores_display_times,
    stream_duration_s,
    stream_fps,
    truncation_reason,
    video_stream,
    without_cut_tail,
)
from .formats import DEFAULT_FOLDER_FPS, IMAGE_EXTENSIONS, VIDEO_EXTENSIONS
from .sampling import check_positive_int, sample_frame_indices, sample_positions

__all__ = [
    "MAX_CLIP_BYTES",
    "TRUNCATION_FRACTION",
    "TRUNCATION_MIN_S",
    "DecodedClip",
    "TruncatedVideoWarning",
    "VideoDecodeError",
    "VideoInfo",
    "VideoNotFoundError",
    "apply_rotation",
    "check_video_path",
    "list_image_files",
    "probe_video",
    "read_frame_indices",
    "read_frames",
    "sample_array_frames",
    "sample_frame_indices",
]

PathLike = Union[str, "os.PathLike[str]"]



#: Largest sampled clip (``n_frames * height * width * 3`` bytes of RGB) that
#: :func:`read_frames` and :func:`sample_array_frames` build: 8 GiB, i.e. 1,380
#: frames of 1080p or 86 of 8K.  Beyond it they refuse before decoding
#: anything, instead of letting the allocation exhaust the machine's memory.
MAX_CLIP_BYTES = 8 * 2**30

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
    stated_duration_s : float or None, default=None
        Duration of the video stream as the container states it (stream
        duration, frame count over frame rate, or duration tag; the whole
        file's duration only when it holds no other stream); None when it
        states none.  A file cut short (an interrupted download) keeps its
        stated duration but decodes to a shorter ``duration_s``.
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
    stated_duration_s: float | None = None


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
    truncation : str or None, default=None
        Why the samples may not span the whole video, e.g. ``"decoding
        stopped at 9.3 s of a stated 19.7 s: the file is probably
        truncated"``: decoding ended more than
        ``max(TRUNCATION_MIN_S, TRUNCATION_FRACTION * stated)`` seconds before
        the stated duration (or the rest of the file could not be decoded),
        and the frames were sampled over the decodable part only.  None
        otherwise.
    """

    frames: np.ndarray
    timestamps_s: np.ndarray | None
    indices: np.ndarray
    info: VideoInfo
    n_decoded: int
    truncation: str | None = None


# --------------------------------------------------------------------------
# Sampling and array helpers
# --------------------------------------------------------------------------
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
    k = quarter_turns(degrees)
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
        If ``frames`` is not a non-empty (T, H, W, 3) uint8 array, or the
        sampled clip would exceed :data:`MAX_CLIP_BYTES`.
    """
    arr = np.asarray(frames)
    if arr.ndim != 4 or arr.shape[-1] != 3 or arr.dtype != np.uint8 or 0 in arr.shape:
        raise ValueError(
            f"expected (T, H, W, 3) uint8 frames with T, H, W >= 1, "
            f"got shape {arr.shape} dtype {arr.dtype}"
        )
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps!r}")
    n_frames = check_positive_int(n_frames, "n_frames")
    _check_clip_bytes("<array>", n_frames, arr.shape[1], arr.shape[2])
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
        frames, or is a folder without images (see :func:`check_video_path`
        for what is refused before opening).
    TypeError
        If ``path`` is not a path (a file object, bytes in memory).
    """
    path = check_video_path(path)
    if os.path.isdir(path):
        files = list_image_files(path)
        first = _decode_image(path, files[0])
        return _folder_info(path, files, first, folder_fps)

    with open_container(path) as container:
        stream = video_stream(container, path)
        stated = stated_duration_s(stream, container)
        if count_frames:
            table = _scan_packets(container, stream, path)
        else:
            table = None
    with open_container(path) as container:
        stream = video_stream(container, path)
        first = None
        try:
            first = next(container.decode(stream), None)
        except av.FFmpegError:
            pass
        if first is None:
            raise VideoDecodeError(path, "no video frames (zero-frame or undecodable video)")
        rotation = frame_rotation(first, stream)
        fps = stream_fps(stream)
        if table is not None:
            n, exact = table.n, True
            duration = table.duration_s() if table.has_pts else n / fps
        else:
            duration = stream_duration_s(stream, container)
            n, exact = stream.frames, False
            if n <= 0:
                n = max(1, int(round(duration * fps)))
        height, width = display_hw(first.height, first.width, rotation)
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
            stated_duration_s=stated,
        )


def read_frames(
    path: PathLike,
    n_frames: int = 16,
    *,
    return_timestamps: bool = True,
    seek: bool = True,
    folder_fps: float = DEFAULT_FOLDER_FPS,
    progress: Callable[[str, int, int], None] | None = None,
) -> DecodedClip:
    """Decode ``n_frames`` frames sampled uniformly over a clip.

    Samples sit at the centres of ``n_frames`` equal time segments spanning
    the clip (from the first frame to the end of the last), and each sample
    is the frame on screen at that time; this is robust to variable frame
    rate.  Without packet timestamps, frames are counted instead (same
    result for constant frame rate).  Clips with fewer frames than
    ``n_frames`` repeat frames.  Only the frames up to the last sample are
    decoded, with keyframe seeking across long gaps.

    A file that ends well before its stated duration (an interrupted
    download) is sampled over the part that decodes, and
    ``clip.truncation`` says so (see :class:`DecodedClip`).

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
    progress : callable or None, default=None
        Called as ``progress(stage, done, total)`` after each distinct
        sampled frame (``total`` of them) is decoded (``stage`` is
        ``"decoding"``), then after each is converted to RGB
        (``"converting"``; a few tenths of a second a frame for 8K video;
        image folders have the first stage only), e.g. to drive a progress
        bar over a long or very large video.

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
        frames, empty image folder, unreadable image, a pipe or device, an
        MP4 cut before its index), or if the clip would exceed
        :data:`MAX_CLIP_BYTES` (checked before decoding).
    TypeError
        If ``path`` is not a path (a file object, bytes in memory).

    See Also
    --------
    read_frame_indices : Decode frames at given indices.
    sample_array_frames : The same sampling for in-memory arrays.
    """
    n_frames = check_positive_int(n_frames, "n_frames")
    return _read(path, n_frames=n_frames, indices=None, return_timestamps=return_timestamps,
                 seek=seek, folder_fps=folder_fps, progress=progress)


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
        videos = sorted(n for n in os.listdir(folder) if os.path.splitext(n)[1].lower() in VIDEO_EXTENSIONS)
        if videos:  # a batch given as its folder: a folder is read as the frames of one video
            raise VideoDecodeError(
                folder, f"folder holds {len(videos)} video file(s) (e.g. '{videos[0]}') and no image files; "
                "a folder is read as the frames of one video: give the videos themselves "
                f"(e.g. '{os.path.join(folder, '*' + os.path.splitext(videos[0])[1])}')"
            )
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
        raise VideoDecodeError(folder, f"cannot read image '{name}' ({describe_error(exc)})") from exc
    if frame is None:
        raise VideoDecodeError(folder, f"cannot read image '{name}' (no picture data)")
    return frame


def _folder_info(folder: str, files: list[str], first, fps: float) -> VideoInfo:
    if not fps > 0:
        raise ValueError(f"folder_fps must be positive, got {fps!r}")
    rotation = frame_rotation(first, None)
    height, width = display_hw(first.height, first.width, rotation)
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


def _folder_frame(folder: str, name: str, ref: tuple[int, ...] | None) -> tuple[np.ndarray, av.VideoFrame]:
    """One image of a frame folder: upright RGB array (of shape ``ref`` when given) and decoded frame."""
    frame = _decode_image(folder, name)
    arr = apply_rotation(frame.to_ndarray(format="rgb24"), frame_rotation(frame, None))
    if ref is not None and arr.shape != ref:
        # Unlike a codec's mid-stream resize, mixed sizes in a folder are
        # a data error: resizing would silently distort faces.
        raise VideoDecodeError(
            folder,
            f"image '{name}' is {arr.shape[1]}x{arr.shape[0]} but earlier frames "
            f"are {ref[1]}x{ref[0]}",
        )
    return arr, frame


def _read_folder(folder, n_frames, indices, return_timestamps, folder_fps, progress) -> DecodedClip:
    files = list_image_files(folder)
    n = len(files)
    if indices is None:
        idx = sample_frame_indices(n, n_frames)
    else:
        idx = _check_indices(indices, n, folder)
    decoded: dict[int, np.ndarray] = {}
    first_frame = None
    ref = None
    wanted = np.unique(idx)
    for done, i in enumerate(wanted, start=1):
        arr, frame = _folder_frame(folder, files[i], ref)
        if ref is None:
            first_frame, ref = frame, arr.shape
            _check_clip_bytes(folder, len(idx), ref[0], ref[1])
        decoded[int(i)] = arr
        if progress is not None:
            progress("decoding", done, len(wanted))
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
        """Positions of the frames on screen at the centres of ``n_frames`` equal segments."""
        if not self.has_pts or self.span() <= 0:
            return sample_frame_indices(self.n, n_frames)
        return sample_positions(self.pts, self.span(), n_frames)


def _table_duration_s(table: _FrameTable, fps: float) -> float:
    return table.duration_s() if table.has_pts else table.n / fps


def _head(table: _FrameTable, n: int) -> _FrameTable:
    """The first ``n`` frames of ``table`` (n < table.n), the last one shown until the next would be."""
    last = int(table.pts[n] - table.pts[n - 1]) if table.has_pts else 1
    return replace(table, pts=table.pts[:n], keyframe=table.keyframe[:n], last_duration=last)


def _scan_packets(container, stream, path: str) -> _FrameTable:
    pts_list, dts_list, key_list, dur_list = [], [], [], []
    try:
        for packet in without_cut_tail(container.demux(stream)):
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
            last = last_frame_ticks(int(np.asarray(dur_list, dtype=np.int64)[order][-1]),
                                    float(np.median(np.diff(pts))) if pts.size > 1 else None, stream)
            return _FrameTable(pts, key, True, time_base, last)
    # No usable timestamps (or duplicates): count frames instead.
    return _FrameTable(np.arange(n, dtype=np.int64), np.asarray(key_list, dtype=bool),
                       False, time_base, 1)


class _NoFramePts(Exception):
    """Decoded frames lack pts although packets had them: count instead."""


class _DroppedTooMuch(Exception):
    """A wanted frame was not where the table put it while frames were dropped: decode them all."""


class _Decoder:
    """Forward decoder over one video stream that can jump to a keyframe.

    With ``keep`` (the pts of the wanted frames), in containers that store
    display times, the decoder skips the non-reference frames (B-frames)
    that are not wanted: no other frame is predicted from them, so every
    frame decoded is exactly what a full decode gives.
    """

    def __init__(self, path: str, use_pts: bool, keep: set[int] | None = None) -> None:
        self.path = path
        self.use_pts = use_pts
        self.keep = keep
        self.n_decoded = 0
        self.container = None
        self.restart()

    @property
    def dropping(self) -> bool:
        return self.keep is not None and self.use_pts and stores_display_times(self.container)

    def restart(self) -> None:
        # Reopening is the only positioning that cannot be fooled by a bad
        # index, so it is what the no-seek fallback uses.
        self.close()
        self.container = open_container(self.path)
        self.stream = video_stream(self.container, self.path)
        self._frames = self._iter()

    def seek(self, pts: int) -> None:
        self.container.seek(int(pts), stream=self.stream, backward=True, any_frame=False)
        self._frames = self._iter()

    def _iter(self) -> Iterator:
        ordinal = 0
        for frame in self._decoded():
            self.n_decoded += 1
            if self.use_pts:
                if frame.pts is None:
                    raise _NoFramePts
                yield frame.pts, frame
            else:
                yield ordinal, frame
            ordinal += 1

    def _decoded(self) -> Iterator:
        # What container.decode(stream) does, less the cut tail of a truncated file.
        dropping, context = self.dropping, self.stream.codec_context
        try:
            for packet in without_cut_tail(self.container.demux(self.stream)):
                if dropping:
                    mode = "DEFAULT" if packet.pts is None or packet.pts in self.keep else "NONREF"
                    if context.skip_frame != mode:
                        context.skip_frame = mode
                yield from packet.decode()
        except av.FFmpegError:
            # Damaged data mid-stream: the stream ends here, after the frames
            # the decoder still holds; the caller reuses the last good frame.
            try:
                yield from self.stream.decode(None)
            except av.FFmpegError:
                return

    def next(self):
        return next(self._frames, None)

    def close(self) -> None:
        if self.container is not None:
            self.container.close()
            self.container = None


def _decode_positions(path: str, table: _FrameTable, wanted: np.ndarray, seek: bool, progress=None, *,
                      drop: bool = True, n_before: int = 0):
    """Decode the frames at sorted unique table positions ``wanted``.

    Returns ``(frames, keys, n_decoded, ran_out, table)`` where ``frames[j]``
    is the decoded frame used for ``wanted[j]``, ``keys[j]`` its pts (or
    ordinal), ``ran_out`` the key of the last frame decoded when the stream
    ended before a wanted frame (None when every wanted frame was reached)
    and ``table`` the frame table actually used (timestamps dropped if the
    decoder turned out not to output them).  With ``drop``, unwanted
    B-frames are skipped (see :class:`_Decoder`); if a wanted frame is then
    not where the table puts it, everything is decoded again without
    skipping.
    """
    keep = {int(p) for p in table.pts[wanted]} if drop and table.has_pts else None
    dec = _Decoder(path, table.has_pts, keep)
    dec.n_decoded = n_before
    try:
        return (*_decode_loop(dec, table, wanted, seek, progress), table)
    except _DroppedTooMuch:
        dec.close()
        return _decode_positions(path, table, wanted, seek, progress, drop=False, n_before=dec.n_decoded)
    except _NoFramePts:
        dec.close()
        table = replace(table, pts=np.arange(table.n, dtype=np.int64), has_pts=False)
        dec2 = _Decoder(path, use_pts=False)
        dec2.n_decoded = dec.n_decoded
        try:
            return (*_decode_loop(dec2, table, wanted, False, progress), table)
        finally:
            dec2.close()
    finally:
        dec.close()


def _decode_loop(dec: _Decoder, table: _FrameTable, wanted: np.ndarray, seek: bool, progress=None):
    keyframe_pos = np.flatnonzero(table.keyframe)
    frames, keys = [], []
    prev = None  # (key, frame): latest frame at or before the current target
    pending = None  # (key, frame): frame already read, beyond the previous target
    last_good = None  # last frame decoded at all, for running out early
    ran_out = None  # key of last_good when the stream ended before a target
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
                    if last_good is not None and ran_out is None:
                        ran_out = last_good[0]
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
        if result[0] != target and dec.dropping:
            # The wanted frame is missing; the frame shown instead may be one that was skipped.
            raise _DroppedTooMuch
        just_seeked = False
        frames.append(result[1])
        keys.append(result[0])
        if progress is not None:
            progress("decoding", len(frames), len(wanted))
    return frames, keys, dec.n_decoded, ran_out


def _to_rgb(frames: list, sel: np.ndarray, stream_rotation: int | None, progress) -> tuple[np.ndarray, int]:
    """The output clip: ``frames[sel[i]]`` as upright RGB at position ``i``; and the first frame's rotation.

    Each frame is written straight into the output and dropped: an 8K clip
    is not held twice (decoded frames and arrays, then their stack).
    Frames are reformatted to the first one's size: streams may change
    resolution midway, and the output must stack.
    """
    w0, h0 = frames[0].width, frames[0].height
    rotation = frame_rotation(frames[0], None, stream_rotation)
    out = None
    for j, frame in enumerate(frames):
        kwargs = {} if (frame.width, frame.height) == (w0, h0) else {"width": w0, "height": h0}
        rgb = apply_rotation(frame.to_ndarray(format="rgb24", **kwargs),
                             frame_rotation(frame, None, stream_rotation))
        if out is None:
            out = np.empty((len(sel), *rgb.shape), np.uint8)
        out[sel == j] = rgb
        frames[j] = None
        if progress is not None:
            progress("converting", j + 1, len(frames))
    return out, rotation


def _read(path, n_frames, indices, return_timestamps, seek, folder_fps, progress=None) -> DecodedClip:
    path = check_video_path(path)
    if os.path.isdir(path):
        return _read_folder(path, n_frames, indices, return_timestamps, folder_fps, progress)

    with open_container(path) as container:
        stream = video_stream(container, path)
        table = _scan_packets(container, stream, path)
        fps = stream_fps(stream)
        codec = stream.codec_context.name
        stream_rotation = metadata_rotation(stream)
        stated = stated_duration_s(stream, container)
        coded_hw = (stream.codec_context.height, stream.codec_context.width)

    idx = table.sample(n_frames) if indices is None else _check_indices(indices, table.n, path)
    # Before any frame is decoded: the output's size is known from the stream.
    _check_clip_bytes(path, len(idx), *coded_hw)
    wanted = np.unique(idx)
    frames, keys, n_decoded, ran_out, table = _decode_positions(path, table, wanted, seek, progress)
    truncation = truncation_reason(_table_duration_s(table, fps), stated)
    if ran_out is not None:
        # The packets go on, but the decoder gave up: for us the video ends
        # where the last decoded frame stops being shown.
        last = table.position(ran_out) if table.has_pts else int(ran_out)
        if last + 1 < table.n:
            head = _head(table, last + 1)
            damaged = truncation_reason(_table_duration_s(head, fps), _table_duration_s(table, fps),
                                         damaged=True)
            if damaged is not None:
                truncation = damaged
                if indices is None:
                    # Sample the part that decodes, instead of repeating its last frame.
                    table, idx = head, head.sample(n_frames)
                    wanted = np.unique(idx)
                    frames, keys, more, _, table = _decode_positions(path, table, wanted, seek, progress)
                    n_decoded += more

    by_pos = {int(p): i for i, p in enumerate(wanted)}
    sel = np.array([by_pos[int(p)] for p in idx], dtype=np.int64)
    out, rotation = _to_rgb(frames, sel, stream_rotation, progress)

    # Report what was actually used (a missing frame is replaced by the one
    # on screen before it).
    if table.has_pts:
        used_pos = np.array([table.position(k) for k in keys], dtype=np.int64)
        used_ts = (np.asarray(keys, dtype=np.int64) - table.pts[0]) * float(table.time_base)
    else:
        used_pos = np.asarray(keys, dtype=np.int64)
        used_ts = used_pos / fps
    duration = _table_duration_s(table, fps)
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
        stated_duration_s=stated,
    )
    return DecodedClip(
        frames=out,
        timestamps_s=used_ts[sel] if return_timestamps else None,
        indices=used_pos[sel],
        info=info,
        n_decoded=int(n_decoded),
        truncation=truncation,
    )


# --------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------
def _check_indices(indices: np.ndarray, n: int, path: str) -> np.ndarray:
    bad = indices[(indices < 0) | (indices >= n)]
    if bad.size:
        raise ValueError(f"frame index {int(bad[0])} out of range for '{path}' with {n} frames")
    return indices


# What os.stat calls the kinds of file a video cannot be read from.
_NOT_REGULAR = ((stat.S_ISFIFO, "a pipe"), (stat.S_ISCHR, "a character device"),
                (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def check_video_path(path: PathLike) -> str:
    """Check, without opening it, that ``path`` names something a video can be read from.

    Cheap enough to validate every input of a batch before any work (a
    command line can call it on each argument): it looks at the file's type
    and size only, not at its content.

    Parameters
    ----------
    path : str or path-like
        A video file, a single image or a folder of frame images.

    Returns
    -------
    path : str
        ``path`` as a string.

    Raises
    ------
    TypeError
        If ``path`` is not a path: a file object or bytes in memory cannot be
        decoded (the decoder reads a file several times, by name).
    VideoNotFoundError
        If ``path`` does not exist.
    VideoDecodeError
        If ``path`` is a pipe (e.g. ``/dev/stdin`` fed by ``cat video.mp4 |``),
        a device or a socket, which can be read only once; or an empty file.
    """
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(
            f"a video is given by its path (str or os.PathLike), got {type(path).__name__}: "
            "file objects and bytes in memory cannot be decoded; save the video to a file"
        )
    path = os.fsdecode(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise VideoNotFoundError(path, "no such file or directory") from None
    except OSError as exc:
        raise VideoDecodeError(path, f"cannot open ({describe_error(exc)})") from exc
    for test, kind in _NOT_REGULAR:
        if test(mode):
            raise VideoDecodeError(
                path, f"{kind}, not a file: reading a video from standard input or a pipe is not "
                      "supported (it is read more than once); save it to a file first")
    if stat.S_ISREG(mode) and os.path.getsize(path) == 0:
        raise VideoDecodeError(path, "empty file (0 bytes)")
    return path


def _check_clip_bytes(path: str, n_frames: int, height: int, width: int) -> None:
    size = int(n_frames) * int(height) * int(width) * 3
    if size > MAX_CLIP_BYTES:
        raise VideoDecodeError(
            path, f"{n_frames} sampled frames of {width}x{height} would take {size / 2**30:.1f} GiB, "
                  f"more than the {MAX_CLIP_BYTES / 2**30:g} GiB limit of one clip; sample fewer frames")
