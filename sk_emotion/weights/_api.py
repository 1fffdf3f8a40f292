"""The weights mechanism: declared files, verified resolution, download fallback, the enum base.

What each weights set *is* (files, checksums, transforms, metadata) is the
catalogue in :mod:`sk_emotion.weights`; this module is how any set is found,
checked and loaded, as torchvision keeps ``_api.py`` apart from its models.
"""

from __future__ import annotations

import inspect
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ..config import cache_dir
from ..exceptions import ChecksumError, WeightsNotFoundError, WeightsWarning
from ..identity import sha256sum

__all__ = ["UpstreamFile", "Weights", "WeightsFile"]


def _repair_hint() -> str:
    return "reinstall the package (pip install --force-reinstall --no-deps sk-emotion)"


@dataclass(frozen=True)
class UpstreamFile:
    """The original file a shipped weights file was converted from.

    Parameters
    ----------
    filename : str
        Name of the original file.
    sha256 : str
        Its SHA-256, checked before it is read.
    url : str
        Where it can be downloaded (the fallback for a damaged install).
    """

    filename: str
    sha256: str
    url: str

    def verify(self, path: str | os.PathLike) -> Path:
        """Check a copy of the original file against its SHA-256; see :meth:`WeightsFile.verify`.

        Parameters
        ----------
        path : str or path-like
            The copy of the upstream file to check.

        Returns
        -------
        pathlib.Path
            ``path``, once its digest matches.

        Raises
        ------
        FileNotFoundError
            If the file does not exist.
        ChecksumError
            If its digest differs.
        """
        return _verify(Path(path), self.sha256, self.filename)


def _verify(path: Path, expected: str, filename: str) -> Path:
    if not path.is_file():
        raise FileNotFoundError(f"weights file '{path}' does not exist")
    actual = sha256sum(path)
    if actual != expected:
        raise ChecksumError(
            f"weights file '{path}' has SHA-256 {actual}, expected {expected} "
            f"for {filename}: the file is corrupt or a different version"
        )
    return path


_REPORTED: set[str] = set()


def _report_damaged(path: Path, exc: ChecksumError, repair: str) -> None:
    """Warn once per file and process: damaged files are skipped, never loaded."""
    key = str(path)
    if key in _REPORTED:
        return
    _REPORTED.add(key)
    warnings.warn(f"{exc}; it is not used. Repair: {repair}", WeightsWarning, stacklevel=4)


@dataclass(frozen=True)
class WeightsFile:
    """One file of a weights set: an ``.npz`` of named arrays shipped in the package.

    Parameters
    ----------
    filename : str
        Name of the file, in the package's ``weights/files`` folder and in
        the cache.
    sha256 : str
        Expected SHA-256 of the file.
    upstream : UpstreamFile
        The original file it was converted from (provenance, and the
        download fallback of a damaged install).
    converter : str
        Name of the function of :mod:`sk_emotion.weights.convert` that turns
        the upstream file into this one.
    """

    filename: str
    sha256: str
    upstream: UpstreamFile
    converter: str

    @property
    def url(self) -> str:
        """Download location (of the upstream file, converted on arrival)."""
        return self.upstream.url

    def shipped_path(self) -> Path:
        """Location of the copy installed with the package.

        Returns
        -------
        pathlib.Path
            ``filename`` in the package's ``weights/files`` folder (the
            file is not checked).
        """
        return Path(__file__).parent / "files" / self.filename

    def cached_path(self) -> Path:
        """Location in the package cache directory (which may not exist yet).

        Returns
        -------
        pathlib.Path
            ``filename`` in ``$SK_EMOTION_HOME`` (default
            ``~/.cache/sk_emotion``); the file is not checked.
        """
        return cache_dir() / self.filename

    def verify(self, path: str | os.PathLike) -> Path:
        """Check ``path`` against the declared SHA-256.

        Parameters
        ----------
        path : str or path-like
            The ``.npz`` file to check.

        Returns
        -------
        pathlib.Path
            ``path``, once its digest matches.

        Raises
        ------
        FileNotFoundError
            If the file does not exist.
        ChecksumError
            If its digest differs.
        """
        return _verify(Path(path), self.sha256, self.filename)

    def download(self, destination: Path, timeout: float = 30.0) -> Path:
        """Download the upstream file, verify it, convert it and write the result to ``destination``.

        Parameters
        ----------
        destination : pathlib.Path
            Where to write the converted ``.npz`` (parent folders are
            created; the download goes to a temporary file next to it).
        timeout : float, default=30.0
            Timeout of the connection, in seconds.

        Returns
        -------
        pathlib.Path
            ``destination``, whose SHA-256 matches ``sha256``.

        Raises
        ------
        urllib.error.URLError, OSError, TimeoutError
            If the download fails.
        ChecksumError
            If the downloaded file or its conversion has the wrong digest.
        """
        from .convert import convert_file

        destination.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
            dir=destination.parent, prefix=".download-", delete=False
        ) as tmp:
            tmp_path = Path(tmp.name)
            try:
                with urllib.request.urlopen(self.url, timeout=timeout) as response:
                    shutil.copyfileobj(response, tmp)
            except BaseException:
                tmp_path.unlink(missing_ok=True)
                raise
        try:
            return convert_file(self, tmp_path, destination)
        finally:
            tmp_path.unlink(missing_ok=True)

    def resolve(self, path: str | os.PathLike | None = None, *, download: bool = True) -> Path:
        """Find a verified copy of the file; see the module docstring for the order.

        Parameters
        ----------
        path : path-like, optional
            Explicit location given by the user: this file (``.npz``) or the
            upstream original, which is then converted into the cache.  When
            given, it is the only candidate: a wrong user path is an error,
            not a reason to silently use another file.
        download : bool, default=True
            Whether to try the upstream URL as the last resort.

        Returns
        -------
        pathlib.Path
            Path of a file whose SHA-256 matches.

        Raises
        ------
        ChecksumError
            When the explicit ``path`` matches neither checksum.
        WeightsNotFoundError
            When no valid candidate exists; the message lists the places
            tried and how to repair the install.
        """
        if path is not None:
            return self._explicit(Path(path))

        tried: list[str] = []
        found: Path | None = None
        for where, candidate in (("shipped", self.shipped_path()), ("cache", self.cached_path())):
            if not candidate.is_file():
                tried.append(f"{where}: '{candidate}' does not exist")
                continue
            try:
                verified = self.verify(candidate)
            except ChecksumError as exc:
                # One rule for every command: reported once, never loaded, the next copy used.
                repair = _repair_hint() if where == "shipped" else f"delete '{candidate}'"
                _report_damaged(candidate, exc, repair)
                tried.append(f"{where}: '{candidate}' has the wrong checksum")
                continue
            found = found or verified
        if found is not None:
            return found

        if download:
            try:
                return self.download(self.cached_path())
            except (urllib.error.URLError, OSError, TimeoutError) as exc:
                tried.append(f"download: {self.url} failed ({exc})")
            except ChecksumError:
                tried.append(f"download: {self.url} gave a file with the wrong checksum")
        else:
            tried.append("download: disabled")

        places = "\n  - ".join(tried)
        raise WeightsNotFoundError(
            f"could not find a valid copy of weights file '{self.filename}'. Tried:\n"
            f"  - {places}\n"
            f"Fix: {_repair_hint()}, or pass the path of a copy of {self.filename} "
            f"or of the original {self.upstream.filename} (sha256 {self.upstream.sha256})"
        )

    def _explicit(self, path: Path) -> Path:
        if not path.is_file():
            raise FileNotFoundError(f"weights file '{path}' does not exist")
        digest = sha256sum(path)
        if digest == self.sha256:
            return path
        if digest == self.upstream.sha256:
            from .convert import convert_file

            target = self.cached_path()
            try:
                return self.verify(target)
            except (FileNotFoundError, ChecksumError):
                return convert_file(self, path, target)
        raise ChecksumError(
            f"weights file '{path}' has SHA-256 {digest}, which is neither {self.filename} "
            f"({self.sha256}) nor the original {self.upstream.filename} ({self.upstream.sha256}): "
            "the file is corrupt or a different version"
        )


@dataclass(frozen=True)
class Weights:
    """A set of pretrained weights: files, preprocessing and metadata.

    Parameters
    ----------
    files : mapping of str to WeightsFile
        The files of the set, by role (a single ``"model"`` file for the
        emotion CNN; ``"pnet"``, ``"rnet"``, ``"onet"`` for MTCNN).
    transforms : mapping
        The preprocessing the network expects (input size, colour,
        normalisation), as plain data.
    meta : mapping
        Categories, number of parameters, reported metrics with their source,
        licence, and the like; an emotion backbone may add ``"zero_shot"``,
        the :class:`~sk_emotion.EmotionClassifier` parameters its zero-shot
        rule was chosen with (used by ``from_pretrained``).
    """

    files: Mapping[str, WeightsFile]
    transforms: Mapping[str, Any] = field(default_factory=dict)
    meta: Mapping[str, Any] = field(default_factory=dict)

    def get_paths(self, paths: Mapping[str, str | os.PathLike] | None = None, *,
                  download: bool = True) -> dict[str, Path]:
        """Resolve and verify every file of the set.

        Parameters
        ----------
        paths : mapping, optional
            Explicit paths by role, overriding the search for those roles.
        download : bool, default=True
            Whether downloading from the upstream URL may be tried.

        Returns
        -------
        dict of str to pathlib.Path
            A verified file for every role of :attr:`files`.

        Raises
        ------
        ValueError
            If ``paths`` names a role the set does not have.
        WeightsNotFoundError
            If a file has no valid copy (see :meth:`WeightsFile.resolve`).
        """
        paths = dict(paths or {})
        unknown = set(paths) - set(self.files)
        if unknown:
            raise ValueError(
                f"unknown weights file role(s) {sorted(unknown)}; expected one of {sorted(self.files)}"
            )
        return {
            role: spec.resolve(paths.get(role), download=download)
            for role, spec in self.files.items()
        }

    def get_path(self, path: str | os.PathLike | None = None, *, download: bool = True) -> Path:
        """Resolve and verify the single file of a one-file weights set.

        Parameters
        ----------
        path : str, path-like or None, default=None
            Explicit location of the file, or of its upstream original (see
            :meth:`WeightsFile.resolve`).
        download : bool, default=True
            Whether downloading from the upstream URL may be tried.

        Returns
        -------
        pathlib.Path
            A file whose SHA-256 matches.

        Raises
        ------
        ValueError
            If the set has more than one file (use :meth:`get_paths`).
        ChecksumError
            If the explicit ``path`` matches neither checksum.
        WeightsNotFoundError
            If the file has no valid copy.
        """
        if len(self.files) != 1:
            raise ValueError(
                f"this weights set has {len(self.files)} files ({sorted(self.files)}); use get_paths()"
            )
        (spec,) = self.files.values()
        return spec.resolve(path, download=download)


def _frozen(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping))


class _WeightsEnum(Enum):
    """Base of the weights enums: members expose their :class:`Weights` directly."""

    # Calling a weights enum only looks a member up by its value: Enum's functional
    # API (names=, module=...) is closed to enums that have members.  Say so to
    # ``inspect`` and the documentation tools, which would otherwise show the
    # metaclass's signature (Python < 3.12) or ``(*values)`` (3.12+).
    __signature__ = inspect.Signature([inspect.Parameter("value", inspect.Parameter.POSITIONAL_ONLY)])

    @property
    def files(self) -> Mapping[str, WeightsFile]:
        """The files of the set, by role; see :class:`Weights`."""
        return self.value.files

    @property
    def transforms(self) -> Mapping[str, Any]:
        """The preprocessing the network expects; see :class:`Weights`."""
        return self.value.transforms

    @property
    def meta(self) -> Mapping[str, Any]:
        """Categories, metrics, licence and the like; see :class:`Weights`."""
        return self.value.meta

    def get_paths(self, *args: Any, **kwargs: Any) -> dict[str, Path]:
        """Resolve and verify every file of the set; see :meth:`Weights.get_paths`."""
        return self.value.get_paths(*args, **kwargs)

    def get_path(self, *args: Any, **kwargs: Any) -> Path:
        """Resolve and verify the single file of the set; see :meth:`Weights.get_path`."""
        return self.value.get_path(*args, **kwargs)

    @classmethod
    def verify(cls, obj: Any) -> _WeightsEnum:
        """Turn a member, its name (``"FER2013"``, ``"DEFAULT"``), a file path or None into a member.

        A path (``os.PathLike``, or a string naming an existing file) stands for
        the default weights set read from that file; see :meth:`explicit_path`.
        """
        if obj is None or cls.explicit_path(obj) is not None:
            return cls["DEFAULT"]
        if isinstance(obj, cls):
            return obj
        if isinstance(obj, str):
            try:
                return cls[obj.upper()]
            except KeyError:
                names = sorted(cls.__members__)
                raise ValueError(f"unknown {cls.__name__} '{obj}'; expected one of {names}") from None
        raise TypeError(f"expected a {cls.__name__} member or its name, got {type(obj).__name__}")

    @staticmethod
    def explicit_path(obj: Any) -> Path | None:
        """The user's file path when ``obj`` is one, else None."""
        if isinstance(obj, os.PathLike):
            return Path(obj)
        if isinstance(obj, str) and (os.sep in obj or Path(obj).suffix in {".npz", ".hdf5", ".h5", ".lz4"}):
            return Path(obj)
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}.{self.name}"

    def __reduce_ex__(self, protocol: int) -> tuple[Any, tuple[type[_WeightsEnum], str]]:
        # By name: Enum's default pickles the value, whose mappings are read-only proxies.
        return getattr, (type(self), self.name)
