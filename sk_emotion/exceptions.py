"""Every exception and warning the package raises, in one place (re-exported where they are used).

All derive from the built-in or scikit-learn class a caller would catch
anyway (``ValueError``, ``FileNotFoundError``, ``UserWarning``), so existing
``except`` clauses keep working.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "ChecksumError",
    "DetectorError",
    "ExtractionError",
    "ExtractionWarning",
    "ModelFileError",
    "TruncatedVideoWarning",
    "UntrustedModelError",
    "VideoDecodeError",
    "VideoNotFoundError",
    "WeightsNotFoundError",
    "WeightsWarning",
]


# ------------------------------------------------------------------ weights
class WeightsNotFoundError(FileNotFoundError):
    """No source of a weights file could be used; the message lists every place tried."""


class ChecksumError(ValueError):
    """A weights file exists but its SHA-256 differs from the declared one."""


class WeightsWarning(UserWarning):
    """A weights file was damaged and skipped; another verified copy is used."""


# ------------------------------------------------------------------ video files
class TruncatedVideoWarning(UserWarning):
    """A video ended well before its stated duration: only its decodable part was used."""


class VideoDecodeError(ValueError):
    """A video file or image folder cannot be decoded.

    Parameters
    ----------
    path : str or path-like
        The offending file or folder.
    reason : str
        Human-readable cause, e.g. ``"not a video file (invalid data found
        when processing input)"``.

    Attributes
    ----------
    path : str
        The offending file or folder.
    reason : str
        Human-readable cause.
    """

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        self.path = os.fspath(path)
        self.reason = reason
        super().__init__(f"cannot decode '{self.path}': {reason}")

    def __reduce__(self) -> tuple[type[VideoDecodeError], tuple[str, str]]:
        # Default exception pickling replays ``args`` (the message) into
        # ``__init__``; joblib workers need the real (path, reason) pair.
        return (type(self), (self.path, self.reason))


class VideoNotFoundError(VideoDecodeError, FileNotFoundError):
    """The video file or image folder does not exist.

    Parameters
    ----------
    path : str or path-like
        The missing file or folder.
    reason : str
        Human-readable cause.

    Attributes
    ----------
    path : str
        The missing file or folder.
    reason : str
        Human-readable cause.
    """


# ------------------------------------------------------------------ extraction
class DetectorError(ValueError):
    """The face detector itself cannot be used (its model file is not a detection model).

    A setting of the extractor, not a fault of any video: it stops the
    batch rather than failing every video with the same reason.
    """


class ExtractionError(ValueError):
    """Some videos of a batch failed; the others were processed (and cached).

    Raised by :meth:`VideoFaceExtractor.transform` with ``on_error="raise"``
    after every video was processed.  The message lists each failed video
    with its reason.

    Parameters
    ----------
    failures : list of (str, str)
        ``(path, reason)`` of each failed video, in input order.
    results : numpy.ndarray or None
        The whole output batch; rows of failed videos hold what
        ``on_error="fallback"`` would have substituted.
    report : pandas.DataFrame or None
        The per-video report (see :meth:`VideoFaceExtractor.transform_with_report`);
        failed videos have a non-null ``error``.

    Attributes
    ----------
    failures : list of (str, str)
    results : numpy.ndarray or None
    report : pandas.DataFrame or None
    failed_indices : list of int
        Positions of the failed videos in the input.
    """

    def __init__(self, failures: Sequence[tuple[str, str]], results: np.ndarray | None = None,
                 report: pd.DataFrame | None = None) -> None:
        self.failures = [(str(p), str(r)) for p, r in failures]
        self.results = results
        self.report = report
        if report is not None:
            self.failed_indices = [int(i) for i in np.flatnonzero(report["error"].notna().to_numpy())]
        else:
            self.failed_indices = []
        n_total = len(report) if report is not None else len(self.failures)
        lines = "\n".join(f"  - '{p}': {r}" for p, r in self.failures)
        super().__init__(
            f"{len(self.failures)} of {n_total} videos failed (the others were processed; "
            f"see .results and .report, or pass on_error='fallback'):\n{lines}"
        )

    def __reduce__(self) -> tuple[type[ExtractionError], tuple[Any, ...]]:
        return (type(self), (self.failures, self.results, self.report))


class ExtractionWarning(UserWarning):
    """Videos were substituted under ``on_error="fallback"``."""


# ------------------------------------------------------------------ model files
class ModelFileError(ValueError):
    """A model file cannot be loaded: it is not a model, it is damaged, or it describes an invalid model.

    Raised by :func:`sk_emotion.load_model` and :func:`sk_emotion.persistence.inspect_model`
    before anything the file describes is built (see ``docs/model_files.md``).

    Parameters
    ----------
    path : str or path-like
        The model file.
    reason : str
        What is wrong with it, e.g. ``"it is neither a zip archive (the .skem
        format) nor a pickle: it looks like an MP4 video"``.

    Attributes
    ----------
    path : str
        The model file.
    reason : str
        What is wrong with it.
    """

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        self.path = os.fspath(path)
        self.reason = reason
        super().__init__(f"cannot load model '{self.path}': {reason}")

    def __reduce__(self) -> tuple[type[ModelFileError], tuple[str, str]]:
        return (type(self), (self.path, self.reason))


class UntrustedModelError(ModelFileError):
    """Loading the file would run code it names: refused, and nothing in it is run.

    Either a pickle (joblib) file loaded without ``trusted=True``, or a data
    model file (``.skem``) naming a class, a parameter, a step type or an
    encoding outside the registry of what a model file may describe.

    Parameters
    ----------
    path : str or path-like
        The model file.
    reason : str
        What it names, and what to do.

    Attributes
    ----------
    path : str
        The model file.
    reason : str
        What it names, and what to do.
    """
