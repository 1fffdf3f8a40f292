"""The forms a batch of videos may take, turned into one list of items for the workers."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..video.decode import sample_array_frames
from ._cache import array_identity

__all__ = ["Item", "is_pathlike", "items_from"]


@dataclass
class Item:
    """One input video: a path or an in-memory clip."""

    name: str  # the path, or "<array i>"
    path: str | None = None
    frames: np.ndarray | None = None  # sampled frames of an array input
    identity: str | None = None  # cache identity of an array input
    error: str | None = None  # input problem found while reading X


def is_pathlike(value: Any) -> bool:
    return isinstance(value, (str, os.PathLike))


def _item_from_array(value: Any, i: int, n_frames: int, want_identity: bool) -> Item:
    name = f"<array {i}>"
    try:
        clip = sample_array_frames(value, n_frames)
    except ValueError as exc:
        return Item(name, error=f"invalid frame array: {exc}")
    identity = array_identity(np.asarray(value)) if want_identity else None
    return Item(name, frames=clip.frames, identity=identity)


def items_from(X: Any, path_column: str, n_frames: int, want_identity: bool) -> list[Item]:
    """Turn every supported form of ``X`` into a list of :class:`Item`."""
    if is_pathlike(X):
        raise TypeError(
            f"X must be a collection of videos, got a single {type(X).__name__} {os.fspath(X)!r}; "
            "wrap it in a list: transform([path])"
        )
    if isinstance(X, pd.DataFrame):
        if path_column not in X.columns:
            raise ValueError(
                f"X is a DataFrame without the column path_column={path_column!r}; "
                f"its columns are {list(X.columns)}"
            )
        values = list(X[path_column])
    elif isinstance(X, pd.Series):
        values = list(X)
    elif isinstance(X, np.ndarray):
        if X.dtype != object and X.dtype.kind not in "US":
            if X.ndim != 5 or X.shape[-1] != 3 or X.dtype != np.uint8:
                raise ValueError(
                    "a numeric X must be a batch of clips shaped (n_videos, T, H, W, 3) with "
                    f"dtype uint8 (RGB frames); got shape {X.shape} dtype {X.dtype}"
                    + ("; for a single clip pass X[None]" if X.ndim == 4 else "")
                )
            return [_item_from_array(clip, i, n_frames, want_identity) for i, clip in enumerate(X)]
        if X.ndim != 1:
            raise ValueError(f"an array of paths must be 1-d, got shape {X.shape}")
        values = list(X)
    elif isinstance(X, (list, tuple)):
        values = list(X)
    else:
        raise TypeError(
            "X must be a list, tuple, array or pandas Series of video paths or frame arrays, "
            f"a DataFrame with a {path_column!r} column, or a (n_videos, T, H, W, 3) uint8 array; "
            f"got {type(X).__name__}"
        )
    if not values:
        raise ValueError("X is empty: expected at least one video")
    items = []
    for i, value in enumerate(values):
        if is_pathlike(value):
            path = os.fspath(value)
            items.append(Item(path, path=path))
        elif isinstance(value, np.ndarray) or (isinstance(value, (list, tuple)) and value):
            items.append(_item_from_array(np.asarray(value), i, n_frames, want_identity))
        else:
            raise TypeError(
                f"X[{i}] must be a video path or a (T, H, W, 3) uint8 frame array, "
                f"got {type(value).__name__}"
                + ("; save the video to a file and pass its path" if hasattr(value, "read") else "")
            )
    return items
