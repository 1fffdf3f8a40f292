"""Weights as plain arrays: a byte-reproducible ``.npz`` writer and a reader that cannot run code.

The shipped weights are NumPy ``.npz`` archives of named float arrays (a
network's ``state_dict``).  :func:`read_arrays` opens them with
``allow_pickle=False``, so a file can only ever yield numbers, whatever it
contains.  :func:`write_arrays` stores members uncompressed, in sorted order,
with a fixed timestamp, so that converting the same upstream file twice gives
the same bytes and hence the same SHA-256.
"""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO

import numpy as np

__all__ = ["read_arrays", "write_arrays"]

_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip entry can hold


def write_arrays(path: str | os.PathLike | BinaryIO, arrays: Mapping[str, np.ndarray]) -> Path | None:
    """Write named arrays to an ``.npz`` file whose bytes depend only on the arrays.

    Parameters
    ----------
    path : path-like or binary file object
        Destination; a path is written through a temporary file and renamed.
    arrays : mapping of str to numpy.ndarray
        Numeric arrays (object arrays are refused).

    Returns
    -------
    pathlib.Path or None
        The path, or None when writing to a file object.
    """
    if hasattr(path, "write"):
        _write_archive(path, arrays)
        return None
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as handle:
            _write_archive(handle, arrays)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _write_archive(handle: BinaryIO, arrays: Mapping[str, np.ndarray]) -> None:
    with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_STORED) as archive:
        for name in sorted(arrays):
            array = np.ascontiguousarray(arrays[name])
            if array.dtype == object:
                raise TypeError(f"array '{name}' has dtype object; only numeric arrays are stored")
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, array, version=(1, 0), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_EPOCH)
            info.external_attr = 0o644 << 16
            archive.writestr(info, buffer.getvalue())


def read_arrays(path: str | os.PathLike | BinaryIO) -> dict[str, np.ndarray]:
    """Read every array of an ``.npz`` file without ever unpickling.

    Parameters
    ----------
    path : path-like or binary file object
        The ``.npz`` archive.

    Returns
    -------
    dict of str to numpy.ndarray
        Every member of the archive, by name (without ``.npy``), loaded into
        memory.

    Raises
    ------
    ValueError
        When the file is not an ``.npz`` archive of numeric arrays (the
        message names the file).
    """
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise ValueError(f"'{path}' is not a readable .npz file of numeric arrays: {exc}") from exc
