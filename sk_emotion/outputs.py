"""Output files that never destroy an input, another output, or themselves half-way.

Two rules, for every file a command writes:

- before any work, :func:`check_outputs` refuses an output that is one of the
  inputs (or lies inside an input folder), or another output, and one that
  cannot be written (a folder, a missing or read-only folder, a path under a
  regular file), naming what refused it;
- :func:`atomic_output` writes to a temporary file in the destination's
  folder and renames it over the destination only once complete, so an
  error, a full disk or an interrupt leaves the previous file (or none),
  never a truncated one.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

__all__ = ["atomic_output", "check_outputs"]

PathLike = str | os.PathLike


def _is_special(path: Path) -> bool:
    """An existing file that is not a regular file or folder (``/dev/null``, a FIFO): written in place."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def _same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file: equal once resolved, or one inode (hard links, bind mounts)."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet): it cannot be the other, existing, file
        return False


def _inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` would be created inside the existing folder ``folder``."""
    if not folder.is_dir():
        return False
    real_folder = os.path.realpath(folder)
    return os.path.realpath(path).startswith(real_folder.rstrip(os.sep) + os.sep)


def _check_writable(label: str, path: Path) -> None:
    """Raise the OSError a write of ``path`` would meet, naming ``label``."""
    if path.is_dir():
        raise IsADirectoryError(f"{label} '{path}' is a folder; give a file name")
    if _is_special(path):
        return  # /dev/null, /dev/stdout: written in place, as the user asked
    parent = Path(os.path.realpath(path)).parent
    # The nearest existing ancestor says why the folder is missing.
    ancestor = parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise NotADirectoryError(f"{label} '{path}': '{ancestor}' is a file, not a folder")
    if ancestor != parent:
        raise FileNotFoundError(f"{label} '{path}': folder '{parent}' does not exist")
    if path.exists() and not os.access(path, os.W_OK):
        raise PermissionError(f"{label} '{path}' is read-only")
    # A real probe, as the write will do it: permissions, read-only mounts and
    # ACLs all answer here (os.access says yes to root on a read-only folder).
    try:
        handle, probe = tempfile.mkstemp(dir=parent, prefix=f".{path.name}.", suffix=".probe")
    except OSError as exc:
        raise PermissionError(f"{label} '{path}': cannot write in folder '{parent}' ({exc.strerror})") from None
    os.close(handle)
    os.unlink(probe)


def check_outputs(
    outputs: Mapping[str, PathLike | None],
    inputs: Mapping[str, PathLike | Iterable[PathLike] | None] | None = None,
) -> None:
    """Refuse, before any work, outputs that would destroy a file or cannot be written.

    Parameters
    ----------
    outputs : mapping of str to path-like or None
        What each output is called in messages (e.g. ``"--csv"``) to the
        file it will write; None entries (options not given) are skipped.
    inputs : mapping of str to path-like, iterable of path-likes, or None, optional
        What each input is called (e.g. ``"VIDEO"``, ``"--model"``) to its
        path or paths; an input folder (a frame folder) protects the files
        inside it too.

    Raises
    ------
    ValueError
        If an output is empty, is an input, lies inside an input folder, or
        is the same file as another output (compared once resolved, and by
        inode for existing files: symbolic and hard links are caught).
    IsADirectoryError
        If an output is an existing folder.
    NotADirectoryError
        If part of an output's folder is a regular file.
    FileNotFoundError
        If an output's folder does not exist.
    PermissionError
        If an output is read-only, or its folder cannot be written.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "clip.avi").write_bytes(b"video")
    >>> check_outputs({"--csv": folder / "out.csv"}, {"VIDEO": [folder / "clip.avi"]})
    >>> check_outputs({"--csv": folder / "clip.avi"}, {"VIDEO": [folder / "clip.avi"]})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: --csv '...clip.avi' is the input VIDEO '...clip.avi'; writing it would destroy that file: ...
    """
    named_inputs: list[tuple[str, Path]] = []
    for label, value in (inputs or {}).items():
        if value is None:
            continue
        values = [value] if isinstance(value, (str, os.PathLike)) else list(value)
        named_inputs += [(label, Path(v)) for v in values]
    checked: list[tuple[str, Path]] = []
    for label, value in outputs.items():
        if value is None:
            continue
        if not os.fspath(value).strip():
            raise ValueError(f"{label} is an empty file name")
        path = Path(value)
        for input_label, source in named_inputs:
            if _same_file(path, source):
                raise ValueError(f"{label} '{path}' is the input {input_label} '{source}'; writing it would "
                                 "destroy that file: choose another name")
            if _inside(path, source):
                raise ValueError(f"{label} '{path}' is inside the input {input_label} folder '{source}'; "
                                 "choose a file outside it")
        for other_label, other in checked:
            if not _is_special(path) and _same_file(path, other):
                raise ValueError(f"{label} '{path}' is the same file as {other_label} '{other}'; "
                                 "give each output its own name")
        _check_writable(label, path)
        checked.append((label, path))


def _new_file_mode(destination: Path) -> int:
    """The mode the written file gets: the replaced file's, or what ``open()`` would give under the umask."""
    try:
        return stat.S_IMODE(os.stat(destination).st_mode)
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


@contextlib.contextmanager
def atomic_output(path: PathLike) -> Iterator[Path]:
    """Write a file under a temporary name in its folder, renamed over ``path`` once complete.

    Parameters
    ----------
    path : path-like
        The file to write.  A symbolic link is followed (the file it points
        to is replaced, the link kept).  An existing special file such as
        ``/dev/null`` or ``/dev/stdout`` is written in place.

    Yields
    ------
    pathlib.Path
        Where to write: a temporary file next to the destination (its suffix
        is not the destination's, so say the format explicitly to writers
        that guess it from the name, e.g. ``savefig(..., format="png")``).
        When the block raises, the temporary file is removed and ``path`` is
        untouched; otherwise it is flushed to disk and renamed onto
        ``path`` (``os.replace``: readers see the old file or the new one).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "table.csv"
    >>> with atomic_output(target) as partial:
    ...     _ = partial.write_text("done")
    >>> target.read_text()
    'done'
    """
    path = Path(path)
    if _is_special(path):
        yield path
        return
    destination = Path(os.path.realpath(path))
    handle, name = tempfile.mkstemp(dir=destination.parent, prefix=f".{destination.name}.", suffix=".partial")
    os.close(handle)
    partial = Path(name)
    try:
        yield partial
        os.chmod(partial, _new_file_mode(destination))
        fd = os.open(partial, os.O_RDONLY)
        try:
            os.fsync(fd)  # the data is on disk before the name points to it
        finally:
            os.close(fd)
        os.replace(partial, destination)
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
