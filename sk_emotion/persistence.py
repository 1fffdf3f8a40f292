"""Saving and loading trained models (pipelines or estimators) with their provenance."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

import joblib

from ._version import __version__

__all__ = ["save_model", "load_model"]

_FORMAT = "sk-emotion-model/1"


def save_model(model: Any, path: str | os.PathLike) -> Path:
    """Save a fitted pipeline or estimator to ``path`` (joblib, compressed).

    The file records the sk-emotion, torch and scikit-learn versions, so that
    :func:`load_model` can warn when they differ.  Like every pickle, only
    load files you trust.

    Returns
    -------
    pathlib.Path
        The path written.
    """
    import sklearn
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": _FORMAT,
        "versions": {"sk_emotion": __version__, "torch": torch.__version__,
                     "sklearn": sklearn.__version__, "python": platform.python_version()},
        "model": model,
    }
    joblib.dump(payload, path, compress=3)
    return path


def load_model(path: str | os.PathLike) -> Any:
    """Load a model written by :func:`save_model`.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If it is not an sk-emotion model file.
    """
    import warnings

    import sklearn
    import torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file '{path}' does not exist")
    try:
        payload = joblib.load(path)
    except Exception as exc:
        raise ValueError(f"'{path}' is not a readable sk-emotion model file ({exc})") from exc
    if not isinstance(payload, dict) or payload.get("format") != _FORMAT:
        raise ValueError(f"'{path}' is not an sk-emotion model file (written by sk_emotion.save_model)")
    saved = payload.get("versions", {})
    current = {"sk_emotion": __version__, "torch": torch.__version__, "sklearn": sklearn.__version__}
    differ = {k: (saved.get(k), v) for k, v in current.items() if saved.get(k) != v}
    if differ:
        details = ", ".join(f"{k} {old} -> {new}" for k, (old, new) in differ.items())
        warnings.warn(f"'{path}' was saved with other versions ({details})", UserWarning, stacklevel=2)
    return payload["model"]
