"""Pixel conventions shared by every stage: RGB to gray, and the scaling each network expects.

The numbers live here or in the weights' declared ``transforms`` (like
torchvision's), and every module that converts or scales pixels calls these
functions instead of repeating them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["LUMA", "normalize", "to_color"]

#: ITU-R BT.601 luma weights of R, G, B: the gray of FER-style datasets, and
#: what OpenCV's ``COLOR_RGB2GRAY`` computes (in fixed point).
LUMA: tuple[float, float, float] = (0.299, 0.587, 0.114)


def to_color(frames: np.ndarray, color: str) -> np.ndarray:
    """Convert RGB images ``(..., H, W, 3)`` to ``(..., H, W, C)``: unchanged for "rgb", BT.601 luma for "gray".

    Parameters
    ----------
    frames : numpy.ndarray
        RGB ``uint8`` images ``(..., H, W, 3)``, any number of leading axes.
    color : {"gray", "rgb"}
        The target: "rgb" returns the frames unchanged (``C = 3``), "gray"
        their :data:`LUMA`-weighted gray as computed by OpenCV (``C = 1``).

    Returns
    -------
    numpy.ndarray
        The images ``(..., H, W, C)``, of the input's dtype.

    Raises
    ------
    ValueError
        For a ``color`` other than "gray" or "rgb".
    """
    import cv2

    frames = np.asarray(frames)
    if color == "rgb":
        return frames
    if color != "gray":
        raise ValueError(f"color must be 'gray' or 'rgb', got {color!r}")
    flat = frames.reshape(-1, *frames.shape[-3:])
    gray = np.stack([cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2GRAY) for f in flat])
    return gray.reshape(*frames.shape[:-1], 1)


def normalize(pixels: Any, transforms: Mapping[str, Any]) -> Any:
    """``pixels * scale + offset`` with the ``scale`` and ``offset`` a weights set declares.

    Works on numpy arrays and torch tensors alike (0-255 values in, the
    network's input range out, e.g. [-1, 1] for the FER2013 backbone).

    Parameters
    ----------
    pixels : numpy.ndarray or torch.Tensor
        Pixel values in 0-255.
    transforms : mapping
        The weights set's declared transforms, with numeric ``scale`` and
        ``offset`` entries.

    Returns
    -------
    numpy.ndarray or torch.Tensor
        The scaled pixels, of the same kind as ``pixels``.
    """
    return pixels * float(transforms["scale"]) + float(transforms["offset"])
