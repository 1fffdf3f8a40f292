"""Argument checks shared by the two public entry points (one clip in memory, a tree on disk).

One place for the messages, so both report invalid parameters alike.
"""

from __future__ import annotations

from numbers import Integral
from typing import Any

from ...emotions import EMOTIONS
from .expressions import _PROTOTYPES


def _check_emotion(emotion: str) -> str:
    if emotion not in _PROTOTYPES:
        raise ValueError(f"unknown emotion {emotion!r}; expected one of {list(EMOTIONS)}")
    return emotion


def _check_int(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_range(value: Any, name: str, low: float, high: float) -> tuple[float, float]:
    try:
        a, b = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (min, max), got {value!r}") from None
    if not (low <= a <= b <= high):
        raise ValueError(f"{name} must satisfy {low} <= min <= max <= {high}, got {value!r}")
    return a, b


def _check_frame_size(frame_size: Any) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in frame_size)
    except (TypeError, ValueError):
        raise ValueError(f"frame_size must be (width, height), got {frame_size!r}") from None
    if w < 64 or h < 64:
        raise ValueError(f"frame_size must be at least (64, 64), got {frame_size!r}")
    return w, h
