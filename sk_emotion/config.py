"""Where the package keeps its files: one cache folder, configurable by environment."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["CACHE_ENV_VAR", "cache_dir"]

#: Environment variable naming the cache folder.
CACHE_ENV_VAR = "SK_EMOTION_HOME"


def cache_dir() -> Path:
    """Return the package's cache folder (weights fallbacks, extracted faces, generated videos).

    ``$SK_EMOTION_HOME`` when set, else ``~/.cache/sk_emotion``.  The folder
    is not created here.

    Returns
    -------
    pathlib.Path
        The cache folder, with ``~`` expanded.
    """
    env = os.environ.get(CACHE_ENV_VAR)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "sk_emotion"
