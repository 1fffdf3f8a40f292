"""What both video readers ask of a container: opening it, its video stream, rates, durations, rotation.

:func:`~sk_emotion.video.read_frames` (``decode._Decoder``, a handful of
frames of a short clip) and :class:`~sk_emotion.video.FrameSampler`
(``stream._FrameStream``, one pass over a long video) read containers the
same way through these helpers, so that a fix to one reaches the other.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator
from fractions import Fraction

import av

from ..exceptions import VideoDecodeError, VideoNotFoundError

__all__ = [
    "TRUNCATION_FRACTION",
    "TRUNCATION_MIN_S",
    "average_rate",
    "describe_error",
    "display_hw",
    "frame_rotation",
    "last_frame_ticks",
    "metadata_rotation",
    "one_frame_ticks",
    "open_container",
    "PTS_CONTAINERS",
    "quarter_turns",
    "stated_duration_s",
    "stream_duration_s",
    "stream_fps",
    "stores_display_times",
    "truncation_reason",
    "video_stream",
    "without_cut_tail",
]

#: A video counts as truncated when decoding ends more than
#: ``max(TRUNCATION_MIN_S, TRUNCATION_FRACTION * stated duration)`` seconds
#: before the duration its container states.  The margin absorbs what normal
#: files differ by (a last frame's duration, edit lists, rounding in headers);
#: an interrupted download or recording loses far more.
TRUNCATION_MIN_S = 1.0
TRUNCATION_FRACTION = 0.05



def without_cut_tail(packets: Iterator) -> Iterator:
    """``packets`` less a corrupt one at the very end: the part of a frame a truncated file ends inside.

    The demuxer hands out what it could read of such a packet, flagged
    corrupt; decoded, it gives a half-grey frame (MPEG-4) or an error that
    loses the frames the decoder still holds (H.264).  A corrupt packet
    elsewhere is passed on (its damage is the decoder's to conceal).
    """
    held = None
    for packet in packets:
        if held is not None and packet.size:
            yield held
            held = None
        if packet.size and packet.is_corrupt:
            held = packet
            continue
        yield packet


def truncation_reason(decoded_s: float, stated_s: float | None, *, damaged: bool = False) -> str | None:
    """Why decoding ending at ``decoded_s`` did not see a video stated to last ``stated_s``; None if it did."""
    if stated_s is None or not (math.isfinite(stated_s) and math.isfinite(decoded_s)):
        return None
    if stated_s - decoded_s <= max(TRUNCATION_MIN_S, TRUNCATION_FRACTION * stated_s):
        return None
    why = "the rest of the file cannot be decoded (damaged data)" if damaged else "the file is probably truncated"
    return f"decoding stopped at {decoded_s:.1f} s of a stated {stated_s:.1f} s: {why}"


def describe_error(exc: BaseException) -> str:
    # FFmpeg errors carry a readable strerror ("Invalid data found when
    # processing input"); lower-case it to fit inside our sentence.
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return text[:1].lower() + text[1:]


def _truncated_mp4(path: str) -> str | None:
    """Why an MP4/MOV file FFmpeg could not open is unreadable, if it was cut before its index.

    ISO media files are a sequence of boxes (32-bit size, 4-letter type).  A
    file written without "faststart" keeps its index (``moov``) after the
    media data (``mdat``); cut short, it has the media but no index, and
    nothing can be decoded.  Walk the top-level boxes: an ``ftyp`` file
    without ``moov`` whose last box runs past the end of the file was cut;
    one whose boxes give way to zeros is an unfinished download (download
    managers preallocate the whole file).
    """
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as handle:
            boxes, offset = [], 0
            while offset + 8 <= size and len(boxes) < 10_000:
                handle.seek(offset)
                header = handle.read(16)
                length, kind = int.from_bytes(header[:4], "big"), header[4:8]
                if header[:8] == bytes(8) and boxes:
                    # Zeros where the next box should be: a download manager's preallocated file.
                    return _missing_index(boxes, f"the file holds only zeros from byte {offset:,} on")
                if length == 1 and len(header) == 16:
                    length = int.from_bytes(header[8:16], "big")
                elif length == 0:
                    length = size - offset
                if length < 8:
                    return None
                boxes.append(kind)
                offset += length
    except OSError:
        return None
    if offset <= size:
        return None
    return _missing_index(boxes, f"the file ends (at {size:,} bytes) inside its media data")


def _missing_index(boxes: list[bytes], where: str) -> str | None:
    if not boxes or boxes[0] != b"ftyp" or b"moov" in boxes:
        return None
    return (f"truncated MP4/MOV: {where}, before the index (moov box) that decoding needs; "
            "it is probably an interrupted download or recording")


#: Containers whose packets carry display times a decoder can be trusted with.
#: AVI stores none for B-frames, so frames there are never dropped unseen.
PTS_CONTAINERS = ("mov", "mp4", "matroska", "webm")


def stores_display_times(container) -> bool:
    """Whether ``container``'s packets carry display times (see :data:`PTS_CONTAINERS`)."""
    return any(name in PTS_CONTAINERS for name in container.format.name.split(","))


def open_container(path: str):
    if os.path.getsize(path) == 0:
        raise VideoDecodeError(path, "empty file (0 bytes)")
    try:
        return av.open(path, mode="r", metadata_errors="ignore")
    except av.InvalidDataError as exc:
        truncated = _truncated_mp4(path)
        if truncated is not None:
            raise VideoDecodeError(path, truncated) from exc
        raise VideoDecodeError(path, f"not a video file ({describe_error(exc)})") from exc
    except av.EOFError as exc:
        # e.g. an MKV written without any frame: the header is all there is.
        raise VideoDecodeError(path, "no video frames (file ends before any frame)") from exc
    except FileNotFoundError as exc:
        raise VideoNotFoundError(path, "no such file or directory") from exc
    except (av.FFmpegError, OSError) as exc:
        raise VideoDecodeError(path, f"cannot open ({describe_error(exc)})") from exc


def video_stream(container, path: str):
    for stream in container.streams.video:
        # Skip cover art (MP4/MKV attached pictures): it is not the clip.
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    raise VideoDecodeError(path, "no video stream (zero-frame video or audio-only file)")


def average_rate(stream) -> Fraction:
    """The stream's frame rate, exact: average, else guessed, else base rate (25 when it states none)."""
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate:
            return Fraction(rate)
    return Fraction(25)  # arbitrary but conventional; only used for timestamps


def stream_fps(stream) -> float:
    """:func:`average_rate` as a float (what :class:`~sk_emotion.video.VideoInfo` reports)."""
    return float(average_rate(stream))


def stream_duration_s(stream, container) -> float:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / av.time_base
    return 0.0


def stated_duration_s(stream, container) -> float | None:
    """The video stream's duration as the container states it, or None; see ``VideoInfo.stated_duration_s``."""
    claims = []
    if stream.duration and stream.time_base:
        claims.append(float(stream.duration * stream.time_base))
    rate = stream.average_rate or stream.guessed_rate
    if stream.frames and rate:
        # AVI headers keep the frame count when FFmpeg re-estimates a cut file's duration.
        claims.append(stream.frames / float(rate))
    tag = _hms_seconds((stream.metadata or {}).get("DURATION"))  # Matroska, per stream
    if tag is not None:
        claims.append(tag)
    if claims:
        return max(claims)
    others = [s for s in container.streams if s is not stream]
    if container.duration and not others:
        # The file's duration counts every stream (audio may run longer): only for a lone video stream.
        return container.duration / av.time_base
    return None


def _hms_seconds(text: str | None) -> float | None:
    """``"00:00:19.700000000"`` as seconds, or None."""
    match = re.fullmatch(r"(\d+):(\d{2}):(\d{2}(?:\.\d*)?)", (text or "").strip())
    if match is None:
        return None
    hours, minutes, seconds = match.groups()
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def one_frame_ticks(stream) -> int:
    """One frame at the stream's average rate, in time-base ticks (at least 1)."""
    time_base = stream.time_base or Fraction(1, 1)
    return max(1, round(1 / (average_rate(stream) * time_base)))


def last_frame_ticks(own: int | None, median_step: float | None, stream) -> int:
    """How long a stream's last frame is shown, in time-base ticks.

    Its own (packet or frame) duration, else the median step between the
    frames' timestamps, else one frame at the average rate: a last frame
    without a duration is shown as long as frames usually are.
    """
    ticks = int(own or 0)
    if ticks <= 0 and median_step is not None:
        ticks = int(median_step)
    if ticks <= 0:
        ticks = one_frame_ticks(stream)
    return max(ticks, 1)


def quarter_turns(degrees: float) -> int:
    return int(round(float(degrees) / 90.0)) % 4


def metadata_rotation(stream) -> int | None:
    # Old FFmpeg exported phone rotation as a clockwise 'rotate' tag instead of
    # (or besides) frame side data; convert to counter-clockwise degrees.
    tag = stream.metadata.get("rotate") if stream.metadata else None
    try:
        return -int(float(tag)) if tag is not None else None
    except ValueError:
        return None


def frame_rotation(frame, stream, fallback: int | None = None) -> int:
    """Counter-clockwise display rotation of ``frame`` in {0, 90, 180, 270}."""
    # PyAV up to 18.1.0 iterates side data as objects with a ``type``; 18.1.1 iterates
    # the container's keys, the types themselves.
    has_matrix = any(
        getattr(sd, "type", sd) == av.sidedata.sidedata.Type.DISPLAYMATRIX
        for sd in getattr(frame, "side_data", ())
    )
    degrees = getattr(frame, "rotation", 0) if has_matrix else None
    if degrees is None:
        degrees = fallback if fallback is not None else (
            metadata_rotation(stream) if stream is not None else None
        )
    return 90 * quarter_turns(degrees or 0)


def display_hw(height: int, width: int, rotation: int) -> tuple[int, int]:
    return (width, height) if rotation in (90, 270) else (height, width)
