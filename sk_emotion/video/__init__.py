"""Video I/O: decode sampled RGB frames from video files and image folders."""

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

_EXPORTS = {
    "IMAGE_EXTENSIONS": ".formats",
    "VIDEO_EXTENSIONS": ".formats",
    "DecodedClip": ".decode",
    "FrameSampler": ".stream",
    "SampledFrame": ".stream",
    "TruncatedVideoWarning": ".decode",
    "VideoDecodeError": ".decode",
    "VideoInfo": ".decode",
    "VideoNotFoundError": ".decode",
    "VideoWriter": ".writer",
    "apply_rotation": ".decode",
    "check_video_path": ".decode",
    "list_image_files": ".decode",
    "probe_video": ".decode",
    "read_frame_indices": ".decode",
    "read_frames": ".decode",
    "sample_array_frames": ".decode",
    "sample_frame_indices": ".sampling",
    "write_video": ".writer",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:  # pragma: no cover
    from .decode import (
        DecodedClip,
        TruncatedVideoWarning,
        VideoDecodeError,
        VideoInfo,
        VideoNotFoundError,
        apply_rotation,
        check_video_path,
        list_image_files,
        probe_video,
        read_frame_indices,
        read_frames,
        sample_array_frames,
    )
    from .formats import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS
    from .sampling import sample_frame_indices
    from .stream import FrameSampler, SampledFrame
    from .writer import VideoWriter, write_video
