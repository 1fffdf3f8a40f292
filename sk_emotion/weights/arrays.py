"""Weights as plain arrays: a byte-reproducible ``.npz`` writer and a reader that cannot run code.

The shipped weights are NumPy ``.npz`` archives of named float arrays (a
network's ``state_dict``).  :func:`read_arrays` parses them member by
member, header first, and never unpickles, so a file can only ever yield
finite numbers of the sizes it declares, whatever it contains.
:func:`write_arrays` stores members uncompressed, in sorted order, with a
fixed timestamp, so that converting the same upstream file twice gives
the same bytes and hence the same SHA-256.
"""

from __future__ import annotations

import io
import math
import os
import zipfile
import zlib
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


def read_arrays(path: str | os.PathLike | BinaryIO, *, expected: Mapping[str, np.ndarray] | None = None,
                name: str | None = None) -> dict[str, np.ndarray]:
    """Read every array of an ``.npz`` file without ever unpickling, checking what each member declares.

    Each member must be a ``.npy`` array of numbers (booleans, integers or
    floats); its header is read first and its data only once the header is
    known to fit the member's declared size, so a file cannot make this
    function allocate more than it declares.  Float arrays must be finite.

    Parameters
    ----------
    path : path-like or binary file object
        The ``.npz`` archive.
    expected : mapping of str to numpy.ndarray, optional
        The arrays the file must hold, exactly (e.g. a network's
        ``state_dict`` as NumPy arrays): the same names, and for each the
        same shape and dtype.  Checked member by member before any data is
        read; a member larger than its array needs is refused unread.
    name : str, optional
        How error messages call the file (default: its path).

    Returns
    -------
    dict of str to numpy.ndarray
        Every member of the archive, by name (without ``.npy``), loaded into
        memory.

    Raises
    ------
    ValueError
        When the file is not an ``.npz`` archive of numeric arrays, holds
        NaN or infinite floats, or differs from ``expected``; the message
        names the file and the array.
    """
    label = name if name is not None else (
        os.fspath(path) if isinstance(path, (str, os.PathLike)) else "the array file")
    try:
        with zipfile.ZipFile(path) as archive:
            members = _array_members(archive, label)
            if expected is not None:
                _check_names(members, expected, label)
            return {key: _read_member(archive, info, key, label, None if expected is None else expected[key])
                    for key, info in members.items()}
    except (OSError, zipfile.BadZipFile, EOFError, zlib.error, NotImplementedError) as exc:
        raise ValueError(f"'{label}' is not a readable .npz file of numeric arrays: {exc}") from exc


# Room for an array's .npy header beyond its data (np.save writes 128 bytes here).
_HEADER_ROOM = 4096


def _array_members(archive: zipfile.ZipFile, label: str) -> dict[str, zipfile.ZipInfo]:
    members: dict[str, zipfile.ZipInfo] = {}
    for info in archive.infolist():
        if not info.filename.endswith(".npy"):
            raise ValueError(f"'{label}' is not an .npz file of arrays: member '{info.filename}' is not a .npy array")
        key = info.filename[:-len(".npy")]
        if key in members:
            raise ValueError(f"'{label}' holds array '{key}' twice")
        members[key] = info
    return members


def _check_names(members: Mapping[str, zipfile.ZipInfo], expected: Mapping[str, np.ndarray], label: str) -> None:
    missing = sorted(set(expected) - set(members))
    extra = sorted(set(members) - set(expected))
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"lacks {len(missing)} array(s) the network has ({', '.join(missing[:5])}"
                         f"{', ...' if len(missing) > 5 else ''})")
        if extra:
            parts.append(f"holds {len(extra)} array(s) the network does not have ({', '.join(extra[:5])}"
                         f"{', ...' if len(extra) > 5 else ''})")
        raise ValueError(f"'{label}' does not match the network: it {' and '.join(parts)}")


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, key: str, label: str,
                 reference: np.ndarray | None) -> np.ndarray:
    where = f"'{label}': array '{key}'"
    if reference is not None and info.file_size > reference.nbytes + _HEADER_ROOM:
        raise ValueError(f"{where} declares {info.file_size} bytes; the network's {reference.dtype} array of "
                         f"shape {reference.shape} needs {reference.nbytes}")
    with archive.open(info) as handle:
        try:
            version = np.lib.format.read_magic(handle)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(handle)
            else:
                raise ValueError(f"unsupported .npy format version {version}")
        except ValueError as exc:
            raise ValueError(f"{where} is not a readable .npy array ({exc})") from exc
        if dtype.hasobject or dtype.kind not in "biuf":
            raise ValueError(f"{where} has dtype {dtype}; only numeric arrays are read (never objects)")
        if reference is not None and reference.ndim == 0 and tuple(shape) == (1,):
            shape = ()  # write_arrays stores a 0-d array as shape (1,) (np.ascontiguousarray); torch reads it so too
        if reference is not None and (tuple(shape) != tuple(reference.shape) or dtype != reference.dtype):
            raise ValueError(f"{where} is {dtype} of shape {tuple(shape)}; the network's is {reference.dtype} "
                             f"of shape {tuple(reference.shape)}")
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes > info.file_size:
            raise ValueError(f"{where} declares {nbytes} bytes of data but its member holds {info.file_size}")
        buffer = bytearray(nbytes)
        view = memoryview(buffer)
        filled = 0
        while filled < nbytes:
            count = handle.readinto(view[filled:])
            if not count:
                raise ValueError(f"{where} is truncated ({filled} of {nbytes} bytes)")
            filled += count
        if handle.read(1):
            raise ValueError(f"{where} holds more data than its header declares")
    array = np.frombuffer(buffer, dtype=dtype)
    array = array.reshape(shape[::-1]).T if fortran else array.reshape(shape)
    if dtype.kind == "f" and not np.isfinite(array).all():
        bad = int(np.count_nonzero(~np.isfinite(array)))
        raise ValueError(f"{where} holds {bad} NaN or infinite value(s) of {array.size}")
    return array
