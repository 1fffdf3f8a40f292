"""File extensions the package reads as videos and as frames of an image folder.

Kept apart from the decoder so that dataset listing and path checks use
them without importing PyAV.
"""

from __future__ import annotations

__all__ = ["DEFAULT_FOLDER_FPS", "IMAGE_EXTENSIONS", "VIDEO_EXTENSIONS"]

#: File extensions (lower case) listed as videos in dataset folders.
VIDEO_EXTENSIONS: tuple[str, ...] = (".avi", ".mp4", ".mov", ".mkv", ".webm", ".mpg", ".mpeg", ".m4v")
#: File extensions (lower case) recognised as frames in an image folder.
IMAGE_EXTENSIONS: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
#: Frame rate assumed for a folder of frame images (CK+ was recorded at 30 fps).
DEFAULT_FOLDER_FPS = 30.0
