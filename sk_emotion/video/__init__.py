"""Video I/O: decode sampled RGB frames from video files and image folders."""

from .decode import (
    IMAGE_EXTENSIONS,
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
)
from .synthetic import index_frames, read_frame_index, write_video

__all__ = [
    "IMAGE_EXTENSIONS",
    "DecodedClip",
    "VideoDecodeError",
    "VideoInfo",
    "VideoNotFoundError",
    "apply_rotation",
    "index_frames",
    "list_image_files",
    "probe_video",
    "read_frame_index",
    "read_frame_indices",
    "read_frames",
    "sample_array_frames",
    "sample_frame_indices",
    "write_video",
]
