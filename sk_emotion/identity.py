"""Identities of files: strings that change when a file does (cache keys, detector identities)."""

from __future__ import annotations

import hashlib
import os
from typing import Any

__all__ = ["file_identity", "sha256sum"]

_CHUNK = 1 << 20


def file_identity(path: str | os.PathLike, mode: str = "stat") -> str:
    """Return the identity of a file or an image folder.

    Parameters
    ----------
    path : path-like
        A file, or a folder of frames.
    mode : {"stat", "content"}, default="stat"
        ``"stat"``: absolute path, size and modification time (free; a
        folder's own modification time changes when files are added, removed
        or renamed).  ``"content"``: the SHA-256 of the bytes (of every file,
        with its name, for a folder), which survives copies and moves.

    Returns
    -------
    str
        ``"stat:<absolute path>:<size>:<mtime in ns>"`` or
        ``"content:<sha256 hex digest>"``; it changes when the file does.

    Raises
    ------
    FileNotFoundError
        If the path does not exist.
    ValueError
        For an unknown ``mode``.
    """
    absolute = os.path.abspath(os.fspath(path))
    st = os.stat(absolute)  # FileNotFoundError for a missing path
    if mode == "stat":
        return f"stat:{absolute}:{st.st_size}:{st.st_mtime_ns}"
    if mode == "content":
        digest = hashlib.sha256()
        if os.path.isdir(absolute):
            for name in sorted(os.listdir(absolute)):
                full = os.path.join(absolute, name)
                if os.path.isfile(full):
                    digest.update(name.encode())
                    _hash_file(full, digest)
        else:
            _hash_file(absolute, digest)
        return f"content:{digest.hexdigest()}"
    raise ValueError(f"identity mode must be 'stat' or 'content', got {mode!r}")


def _hash_file(path: str | os.PathLike, digest: Any, chunk_size: int = _CHUNK) -> None:
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_size), b""):
            digest.update(chunk)


def sha256sum(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    """Return the hexadecimal SHA-256 digest of a file.

    Parameters
    ----------
    path : str or path-like
        The file to hash.
    chunk_size : int, default=1048576
        Bytes read at a time (the file is never held in memory whole).

    Returns
    -------
    str
        The 64-character lowercase hexadecimal digest.
    """
    digest = hashlib.sha256()
    _hash_file(path, digest, chunk_size)
    return digest.hexdigest()
