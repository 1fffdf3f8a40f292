"""Per-video disk cache of extracted face clips.

One ``.npz`` file per (video, extraction settings) pair holds the face clip
and the video's report row.  The key is a SHA-256 over

* the video's identity: absolute path, size and modification time
  (``mode="stat"``, free) or the SHA-256 of its bytes (``mode="content"``,
  which survives copies and moves but reads the file); for in-memory
  arrays, the SHA-256 of the array;
* every setting that changes the output (frame count, face size, colour,
  detector identity, face-size and score filters, margin, search strategy),
  the cache format and the package version.

Writes go to a temporary file in the same folder, flushed to disk
(``fsync``) and renamed into place (:func:`os.replace` is atomic), so
concurrent writers and interrupted or crashed runs never leave a half-written
entry: two processes writing the same entry leave one of their two complete
files.  Any entry that cannot be read back whole -- truncated, not a zip,
missing a member, wrong shape -- counts as a miss: the video is processed
again and the entry replaced.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

__all__ = ["CACHE_FORMAT", "CacheInfo", "VideoCache", "array_identity"]

#: Bumped whenever the stored layout or the meaning of an entry changes.
CACHE_FORMAT = 3  # 2: per-frame detection flags; 3: tracking by re-detection


class CacheInfo(NamedTuple):
    """Cache counters of one ``transform`` call.

    Attributes
    ----------
    hits : int
        Videos read from the cache (neither decoded nor searched).
    misses : int
        Videos looked up but absent, hence processed.
    writes : int
        Entries written.
    """

    hits: int = 0
    misses: int = 0
    writes: int = 0


def array_identity(array: np.ndarray) -> str:
    """Identity of an in-memory clip: SHA-256 of its shape, dtype and bytes."""
    digest = hashlib.sha256(f"{array.shape}:{array.dtype}".encode())
    digest.update(np.ascontiguousarray(array).data)
    return f"array:{digest.hexdigest()}"


class VideoCache:
    """A folder of ``<key>.npz`` entries, each a face clip and its report row.

    Parameters
    ----------
    directory : path-like
        Created on first write.
    """

    def __init__(self, directory: str | os.PathLike) -> None:
        self.directory = os.path.abspath(os.fspath(directory))

    @staticmethod
    def key(identity: str, settings: Mapping[str, Any]) -> str:
        """SHA-256 hex key of a video identity and the output-defining settings."""
        blob = json.dumps({"identity": identity, "settings": dict(settings),
                           "format": CACHE_FORMAT}, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()

    def path(self, key: str) -> str:
        """File of an entry (two-level fan-out keeps folders small)."""
        return os.path.join(self.directory, key[:2], f"{key}.npz")

    def load(self, key: str) -> tuple[np.ndarray, dict] | None:
        """The stored ``(faces, report_row)``, or None when absent or unreadable."""
        path = self.path(key)
        try:
            with np.load(path, allow_pickle=False) as data:
                faces = data["faces"]
                row = json.loads(str(data["row"][()]))
        except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile, RuntimeError):
            # Truncated, corrupt or foreign files are misses; the caller recomputes
            # the entry and store() replaces the file.
            return None
        if not isinstance(row, dict):
            return None
        return faces, row

    def store(self, key: str, faces: np.ndarray, row: Mapping[str, Any]) -> bool:
        """Write an entry atomically; returns False (and writes nothing) on I/O errors."""
        path = self.path(key)
        folder = os.path.dirname(path)
        try:
            os.makedirs(folder, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=folder)
        except OSError:
            return False
        try:
            with os.fdopen(fd, "wb") as handle:
                np.savez(handle, faces=np.ascontiguousarray(faces),
                         row=np.array(json.dumps(dict(row), default=_json_default)))
                handle.flush()
                os.fsync(handle.fileno())  # the bytes are on disk before the name points at them
            os.replace(tmp, path)
            _fsync_directory(folder)
        except OSError:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            return False
        return True


def _fsync_directory(folder: str) -> None:
    """Make a rename durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return str(value)
