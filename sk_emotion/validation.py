"""Validation of face clips and labels, with errors that say what was expected."""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = ["check_clips", "check_labels", "check_probabilities"]


def check_clips(X: ArrayLike, *, input_size: tuple[int, int] = (64, 64), name: str = "X") -> np.ndarray:
    """Return face clips as an array shaped ``(n_videos, n_frames, channels, height, width)``.

    Parameters
    ----------
    X : array-like
        ``(n_videos, n_frames, channels, height, width)`` with 1 (gray) or 3
        (RGB) channels, or ``(n_videos, n_frames, height, width)`` for gray;
        ``uint8`` or float pixel values in [0, 255].  Values outside it,
        booleans, and float clips that look normalised to [0, 1] (all values
        within it, some fractional) are refused: the backbone would silently
        see a different picture.
    input_size : tuple of int
        The (height, width) the backbone takes.
    name : str
        Name of the argument, for error messages.

    Returns
    -------
    numpy.ndarray
        ``uint8`` input is returned as ``uint8`` (no copy when possible),
        other numeric input as ``float32``.

    Raises
    ------
    ValueError, TypeError
        On any other shape, dtype, an empty batch or non-finite values; the
        message states the expected and the received shape or type.
    """
    expected = (
        f"(n_videos, n_frames, channels, {input_size[0]}, {input_size[1]}) with 1 or 3 channels, "
        f"or (n_videos, n_frames, {input_size[0]}, {input_size[1]})"
    )
    if hasattr(X, "tocsr") or hasattr(X, "todense"):
        raise TypeError(
            f"{name} is a sparse matrix; sparse input is not supported: face clips are dense "
            f"arrays shaped {expected}"
        )
    if isinstance(X, (pd.DataFrame, pd.Series)) or isinstance(X, (str, bytes)):
        raise TypeError(
            f"{name} must be an array of face clips shaped {expected}, got {type(X).__name__}; "
            "extract faces from video files first with VideoFaceExtractor"
        )
    try:
        array = np.asarray(X)
    except ValueError as exc:  # ragged nested lists
        raise ValueError(f"{name} must be a regular array shaped {expected}: {exc}") from exc
    if np.iscomplexobj(array):
        raise ValueError(f"Complex data not supported: {name} has dtype {array.dtype}")
    if array.dtype == object or not (
        np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)
        or array.dtype == bool
    ):
        raise TypeError(f"{name} must hold numeric pixel values, got dtype {array.dtype}")
    shape = array.shape
    if array.ndim == 4:
        array = array[:, :, None]
    if array.ndim != 5:
        raise ValueError(f"{name} must be shaped {expected}; got shape {shape}")
    if array.shape[0] == 0:
        raise ValueError(f"{name} is an empty batch (shape {shape}); expected at least one clip")
    if array.shape[1] == 0:
        raise ValueError(f"{name} has clips with no frames (shape {shape})")
    if array.shape[2] not in (1, 3) or tuple(array.shape[3:]) != tuple(input_size):
        raise ValueError(
            f"{name} must be shaped {expected} for this backbone; got shape {shape}"
        )
    if array.dtype == np.uint8:
        return array
    if array.dtype == bool:
        raise TypeError(f"{name} holds booleans; face clips are pixel values in 0-255")
    array = array.astype(np.float32, copy=False)
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    low, high = float(array.min()), float(array.max())
    if low < 0 or high > 255:
        raise ValueError(
            f"{name} has pixel values from {low:g} to {high:g}; expected 0-255 "
            "(uint8, or floats on the same scale)"
        )
    if high <= 1.0 and np.any((array > 0) & (array < 1)):
        raise ValueError(
            f"{name} has pixel values from {low:g} to {high:g}, which looks normalised to [0, 1]; "
            "pass pixel values in 0-255 (e.g. X * 255)"
        )
    return array


def check_labels(y: ArrayLike, n_samples: int | None = None) -> np.ndarray:
    """Return class labels as a 1-d array of strings or integers.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        One class label per clip: strings, or integers (integral floats are
        accepted).  A ``(n_samples, 1)`` column is squeezed.
    n_samples : int, optional
        The expected number of labels (the number of clips); None accepts
        any length.

    Returns
    -------
    numpy.ndarray
        The labels as a 1-d array: ``str`` for string labels, the input's
        integer (or boolean) dtype for integers, ``int64`` for integral
        floats and Python integers.

    Raises
    ------
    ValueError, TypeError
        For a length that differs from ``n_samples``, missing values,
        continuous values, or label objects that are neither strings nor
        integers.
    """
    if y is None:
        raise ValueError(
            "This estimator requires y to be passed, but the target y is None: "
            "give one emotion label per clip"
        )
    labels = np.asarray(y.to_numpy() if isinstance(y, (pd.Series, pd.Index)) else y)
    if n_samples is None:
        n_samples = len(labels)
    if labels.ndim != 1:
        labels = labels.squeeze()
        if labels.ndim != 1:
            raise ValueError(f"y must be 1-d (one label per clip), got shape {np.shape(y)}")
    if len(labels) != n_samples:
        raise ValueError(f"y has {len(labels)} labels but X has {n_samples} clips")
    if labels.dtype.kind == "c":
        raise ValueError(f"Complex data not supported: y has dtype {labels.dtype}")
    if labels.dtype.kind in "US":
        return labels.astype(str)
    if labels.dtype.kind in "iub":
        return labels
    if labels.dtype.kind == "f":
        if not np.isfinite(labels).all() or not np.all(labels == np.round(labels)):
            raise ValueError(
                "Unknown label type: continuous. y must hold class labels (strings such as "
                "'happy' or integer codes)"
            )
        return labels.astype(np.int64)
    if labels.dtype == object:
        kinds = {type(v) for v in labels}
        if all(issubclass(k, str) for k in kinds):
            return labels.astype(str)
        if all(issubclass(k, numbers.Integral) for k in kinds):
            return labels.astype(np.int64)
        names = sorted(k.__name__ for k in kinds)
        raise TypeError(f"y must hold strings or integers, got values of type(s) {names}")
    raise TypeError(f"y must hold strings or integers, got dtype {labels.dtype}")


def check_probabilities(probabilities: np.ndarray, *, source: str = "the model") -> np.ndarray:
    """Return a model's class probabilities, or raise if any is NaN or infinite.

    A network with damaged weights answers NaN for every class, and
    ``argmax`` would then label every clip with the first class: an output
    that is not a number is an error, never a label.

    Parameters
    ----------
    probabilities : numpy.ndarray of shape (n_videos, n_classes)
        What the model answered.
    source : str, default="the model"
        How the message calls the model.

    Returns
    -------
    numpy.ndarray
        ``probabilities``, unchanged.

    Raises
    ------
    ValueError
        If any value is NaN or infinite; the message gives the clips.
    """
    finite = np.isfinite(probabilities).reshape(len(probabilities), -1).all(axis=1)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        shown = ", ".join(str(i) for i in bad[:10]) + (", ..." if len(bad) > 10 else "")
        raise ValueError(
            f"{source} answered NaN or infinite probabilities for {len(bad)} of {len(finite)} clip(s) "
            f"(clip {shown}): its weights are damaged; no label is given"
        )
    return probabilities
