"""Run-time settings: where the package keeps its files, how many threads the detector uses."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

__all__ = ["CACHE_ENV_VAR", "cache_dir", "single_threaded_torch"]

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


@contextlib.contextmanager
def single_threaded_torch() -> Iterator[None]:
    """Run torch on one thread inside the block (restored afterwards).

    Detection networks on small images gain little from intra-op threads and
    lose a lot when cores are shared (threads spin-waiting on each other);
    parallelism comes from processing several videos (or decoding and
    detecting) at once instead.  torch is imported when the block starts.

    Yields
    ------
    None
    """
    import torch

    previous = torch.get_num_threads()
    if previous == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
