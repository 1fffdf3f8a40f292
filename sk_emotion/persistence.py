"""Saving and loading trained models in a format that cannot run code when loaded.

Models are files people share, and a pickle (joblib) runs whatever code it
holds the moment it is loaded.  :func:`save_model` therefore writes a zip
archive that holds only data:

``manifest.json``
    The format, the library versions that wrote it, and the model's structure:
    a ``Pipeline`` of known steps (:class:`~sk_emotion.VideoFaceExtractor`,
    :class:`~sk_emotion.EmotionClassifier`), each with its constructor
    parameters as JSON, plus the fitted classifier's classes and frame count.
``<step>.npz``
    Each fitted network's ``state_dict`` as plain arrays.

:func:`load_model` rebuilds the estimators from that description, and
treats the file as hostile until it has checked all of it: the zip's
directory against size limits before anything is decompressed, the whole
manifest (step types, every parameter name against the estimator's and the
routed class's own signature, every value as plain bounded JSON, classes
only from an explicit registry, by exact name) before a single object is
built, and every array against the network's ``state_dict`` before it is
loaded.  ``docs/model_files.md`` lists the registry, the limits and what
loading can and cannot do.  Models with other objects (a custom callable
detector, callbacks) can still be saved as joblib pickles with
``format="joblib"``, and loaded only with ``trusted=True``.
"""

from __future__ import annotations

import bz2
import inspect
import io
import json
import lzma
import math
import os
import platform
import re
import warnings
import zipfile
import zlib
from collections.abc import Mapping
from functools import lru_cache
from numbers import Integral, Real
from pathlib import Path
from typing import Any

import numpy as np

from ._version import __version__
from .exceptions import ModelFileError, UntrustedModelError

__all__ = ["save_model", "load_model", "inspect_model", "saved_n_frames", "ModelFileError", "UntrustedModelError"]

_FORMAT = "sk-emotion-model/3"
#: Formats this version still reads: /2 files predate the networks' training class counts.
_OLDER_FORMATS = ("sk-emotion-model/2",)
_PICKLE_FORMAT = "sk-emotion-model/1"

# ---------------------------------------------------------------------------- limits
# What a model file may declare (docs/model_files.md states each one).
MAX_MANIFEST_BYTES = 1 << 20  # manifest.json, uncompressed
MAX_ARRAYS_BYTES = 512 << 20  # all .npz members together, uncompressed
MAX_MEMBERS = 64  # zip members
MAX_RATIO = 100  # uncompressed / compressed size of a member above 1 MiB (float weights deflate ~1.2x)
MAX_PIPELINE_DEPTH = 4  # pipelines inside pipelines
MAX_STEPS = 16  # steps of one pipeline
MAX_LIST = 1000  # items of a list value
MAX_STR = 4096  # characters of a string value
MAX_INT = 2**53  # magnitude of an integer value
MAX_FLOAT = 1e15  # magnitude of a float value
MAX_CLASSES = 1000  # labels of a fitted classifier
MAX_LABEL = 256  # characters of a label
#: Parameters that size the network built at load time, and their largest value.
NETWORK_SIZE_LIMITS = {"n_heads": 16, "module__attention_hidden": 1024, "module__lstm_hidden": 1024}
#: Parameters that start processes or set a wait, and the range a model file may give them
#: (a shared file must not ask for a million worker processes).
RESOURCE_LIMITS = {
    "n_jobs": (-1, 64),
    **{f"iterator_{split}__{arg}": limits for split in ("train", "valid")
       for arg, limits in (("num_workers", (0, 64)), ("prefetch_factor", (1, 64)), ("timeout", (0, 3600)))},
}
#: Devices a model file may name (another value is refused before anything is built).
DEVICES = re.compile(r"cpu|cuda(:\d{1,2})?|mps|xpu(:\d{1,2})?")
#: First characters that make a spreadsheet read a CSV cell as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_ARRAY_SLACK = 65536  # bytes of zip and .npy headers allowed beyond the arrays' data (plus _PER_ARRAY each)
_PER_ARRAY = 1024


class _Refused(Exception):
    """Why a file is refused; :func:`load_model` raises it as a ModelFileError naming the file."""

    error: type[ModelFileError] = ModelFileError


class _Foreign(_Refused):
    """The file names something outside the registry of what a model file may describe."""

    error = UntrustedModelError


# ---------------------------------------------------------------------------- registry
@lru_cache(maxsize=1)
def _registry() -> dict[str, dict[str, type]]:
    """Every class a model file may name, by parameter and public name (the same in docs/model_files.md)."""
    import torch

    from .nets.video_emotion import VideoEmotionNet

    losses = (torch.nn.CrossEntropyLoss, torch.nn.NLLLoss, torch.nn.MultiMarginLoss)
    optimizers = (torch.optim.SGD, torch.optim.Adam, torch.optim.AdamW, torch.optim.RMSprop, torch.optim.Adagrad,
                  torch.optim.Adadelta, torch.optim.Adamax, torch.optim.NAdam, torch.optim.RAdam)
    return {
        "module": {"sk_emotion.nets.video_emotion:VideoEmotionNet": VideoEmotionNet},
        "criterion": {f"torch.nn:{cls.__name__}": cls for cls in losses},
        "optimizer": {f"torch.optim:{cls.__name__}": cls for cls in optimizers},
    }


def _resolve_class(param: str, name: Any, where: str = "the model") -> type:
    """The registered class of ``param`` named ``name``: a dictionary look-up, never an import."""
    table = _registry().get(param, {})
    if isinstance(name, str):
        if name in table:
            return table[name]
        # Files written before 0.2 name classes where they are defined ("torch.optim.adam:Adam").
        for cls in table.values():
            if name == f"{cls.__module__}:{cls.__qualname__}":
                return cls
    allowed = ", ".join(table) or "none"
    raise _Foreign(f"{where} parameter {param} names class {str(name)[:200]!r}, which a model file may not name "
                   f"(allowed for {param}: {allowed})")


def _weights_enums() -> dict[str, type]:
    """The weights enums a model file may name a member of (fixed names, those this version has)."""
    from . import weights

    names = ("MiniXceptionWeights", "FaceResNetWeights", "MTCNNWeights")
    return {name: getattr(weights, name) for name in names if hasattr(weights, name)}


# ---------------------------------------------------------------------------- versions
def _versions() -> dict[str, str]:
    import sklearn
    import torch

    return {"sk_emotion": __version__, "torch": torch.__version__,
            "sklearn": sklearn.__version__, "python": platform.python_version()}


def _warn_versions(path: Path, saved: dict) -> None:
    current = _versions()
    differ = {k: (saved.get(k), current[k]) for k in ("sk_emotion", "torch", "sklearn")
              if saved.get(k) != current[k]}
    if differ:
        details = ", ".join(f"{k} {old} -> {new}" for k, (old, new) in differ.items())
        warnings.warn(f"'{path}' was saved with other versions ({details})", UserWarning, stacklevel=3)


# ---------------------------------------------------------------------------- saving
def _encode_param(owner: str, name: str, value: Any, default: Any) -> Any:
    """A JSON form of one constructor parameter, or raise naming it."""
    from .estimators.training import HoldoutSplit

    if isinstance(value, (np.bool_, np.integer, np.floating)):
        value = value.item()
    if isinstance(value, np.ndarray) and value.ndim == 1 and value.dtype.kind in "biuf":
        value = value.tolist()  # e.g. class_prior frequencies: a list of numbers in the file
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{owner} parameter {name}={value!r} is not finite; a model file holds finite numbers")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        items = [v.item() if isinstance(v, np.generic) else v for v in value]
        if all(v is None or isinstance(v, (bool, int, float, str)) for v in items):
            return [_encode_param(owner, name, v, None) for v in items]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, type):
        for public, cls in _registry().get(name, {}).items():
            if value is cls:
                return {"__class__": public}
        if value is default:
            return {"__default__": True}
        raise ValueError(
            f"{owner} parameter {name}={value.__module__}.{value.__qualname__} is a class a model file may not "
            "name (docs/model_files.md lists those it may); save_model(..., format='joblib') writes a pickle "
            "instead (which only trusted=True loads)"
        )
    if isinstance(value, HoldoutSplit):
        return {"__holdout__": {"fraction": value.fraction, "min_per_class": value.min_per_class,
                                "random_state": value.random_state}}
    for enum_name, enum in _weights_enums().items():
        if isinstance(value, enum):
            return {"__weights__": f"{enum_name}.{value.name}"}
    if value is default:
        return {"__default__": True}
    raise ValueError(
        f"{owner} parameter {name}={value!r} cannot be saved as data; save_model(..., format='joblib') "
        "writes a pickle instead (which only trusted=True loads)"
    )


#: Parameters that belong to the machine, not to the model: never saved, and a file naming
#: them does not decide where the loading machine writes.
_MACHINE_LOCAL = ("cache_dir",)


def _params(estimator) -> dict[str, Any]:
    owner = type(estimator).__name__
    defaults = type(estimator)().get_params(deep=False)
    out = {}
    for name, value in estimator.get_params(deep=False).items():
        if name in _MACHINE_LOCAL:
            continue
        encoded = _encode_param(owner, name, value, defaults.get(name))
        if not (isinstance(encoded, dict) and encoded.get("__default__")):
            out[name] = encoded
    return out


def _describe(estimator, name: str, members: dict[str, bytes]) -> dict[str, Any]:
    from sklearn.pipeline import Pipeline

    from .estimators.classifier import EmotionClassifier
    from .estimators.extractor import VideoFaceExtractor
    from .weights.arrays import write_arrays

    if isinstance(estimator, Pipeline):
        return {"type": "Pipeline",
                "steps": [[step, _describe(est, step, members)] for step, est in estimator.steps]}
    if isinstance(estimator, VideoFaceExtractor):
        return {"type": "VideoFaceExtractor", "params": _params(estimator)}
    if isinstance(estimator, EmotionClassifier):
        node = {"type": "EmotionClassifier", "params": _params(estimator)}
        if getattr(estimator, "initialized_", False) and hasattr(estimator, "label_encoder_"):
            classes = np.asarray(estimator.classes_)
            buffer = io.BytesIO()
            state = {k: v.detach().cpu().numpy() for k, v in estimator.module_.state_dict().items()}
            write_arrays(buffer, state)
            members[f"{name}.npz"] = buffer.getvalue()
            node["fitted"] = {"classes": classes.tolist(), "classes_dtype": classes.dtype.str,
                              "n_frames_in": int(getattr(estimator, "n_frames_in_", 1)),
                              "weights": f"{name}.npz"}
        return node
    raise ValueError(
        f"save_model writes pipelines of VideoFaceExtractor and EmotionClassifier steps as data; "
        f"{type(estimator).__name__} is neither: use format='joblib' (loaded only with trusted=True)"
    )


# ---------------------------------------------------------------------------- what a file is
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_COMPRESSED_PICKLES = (  # joblib's compressors: magic, then a decompressor of the first bytes
    (b"\x78", lambda: zlib.decompressobj()),
    (b"\x1f\x8b", lambda: zlib.decompressobj(wbits=31)),
    (b"BZh", lambda: bz2.BZ2Decompressor()),
    (b"\xfd7zXZ\x00", lambda: lzma.LZMADecompressor()),
    (b"\x5d\x00\x00", lambda: lzma.LZMADecompressor()),
)
_OTHER_KINDS = (  # (offset, magic, what it is), to say what a file given as a model is instead
    (4, b"ftyp", "an MP4/MOV video"),
    (0, b"\x1aE\xdf\xa3", "a Matroska/WebM video"),
    (0, b"\x89PNG", "a PNG image"),
    (0, b"\xff\xd8\xff", "a JPEG image"),
    (0, b"GIF8", "a GIF image"),
    (0, b"%PDF", "a PDF document"),
    (0, b"\x93NUMPY", "a NumPy .npy array"),
)


def _is_pickle(head: bytes) -> bool:
    """A pickle of protocol 2 or later (what joblib writes) starts with the PROTO opcode."""
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return True
    for magic, decompressor in _COMPRESSED_PICKLES:
        if head.startswith(magic):
            try:
                return _is_pickle(decompressor().decompress(head, 16))
            except (zlib.error, OSError, EOFError, lzma.LZMAError, ValueError):
                return False
    return False


def _describe_other(path: Path, head: bytes) -> str:
    if head[:4] == b"RIFF":
        return {b"AVI ": "an AVI video", b"WAVE": "a WAV sound"}.get(head[8:12], "a RIFF file")
    for offset, magic, kind in _OTHER_KINDS:
        if head[offset:offset + len(magic)] == magic:
            return kind
    if path.suffix.lower() == ".onnx":
        return "an ONNX model (load it with sk_emotion.OnnxEmotionClassifier)"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:  # a character cut by the 4 KiB window is still text
        text = head[:exc.start].decode("utf-8") if exc.start > len(head) - 4 else ""
    if text.strip() and "\x00" not in text:
        return "a text file"
    return f"unrecognised binary data (it starts with {head[:8].hex(' ')})"


def _sniff(path: Path) -> str:
    """``"zip"`` or ``"pickle"``; anything else is refused here, saying what the file is."""
    with open(path, "rb") as handle:
        head = handle.read(4096)
    if not head:
        raise _Refused("the file is empty")
    if head[:4] in _ZIP_MAGIC:
        return "zip"
    if _is_pickle(head):
        return "pickle"
    if zipfile.is_zipfile(path):  # a zip after other data: what the file is depends on the reader
        raise _Refused(f"it starts as {_describe_other(path, head)} with a zip archive after it; a model "
                       "file is a zip archive from its first byte")
    raise _Refused("it is not an sk-emotion model file: neither a zip archive (the .skem format save_model "
                   f"writes) nor a pickle; it looks like {_describe_other(path, head)}")


# ---------------------------------------------------------------------------- the zip
def _open_archive(path: Path) -> zipfile.ZipFile:
    """The archive, once its directory is within every limit (nothing is decompressed here)."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, EOFError, ValueError, NotImplementedError) as exc:
        raise _Refused(f"it is a damaged zip archive, truncated or incomplete (an interrupted download or "
                       f"copy?): {exc}") from exc
    try:
        infos = archive.infolist()
        names = [info.filename for info in infos]
        if "manifest.json" not in names:
            if names and all(n.endswith(".npy") for n in names):
                raise _Refused("it is a NumPy .npz archive of arrays (a weights file?), not a model: "
                               "it has no manifest.json")
            raise _Refused("it is a zip archive but not an sk-emotion model (it has no manifest.json)")
        if len(infos) > MAX_MEMBERS:
            raise _Refused(f"the zip holds {len(infos)} members; a model has at most {MAX_MEMBERS}")
        if len(set(names)) != len(names):
            twice = sorted({n for n in names if names.count(n) > 1})
            raise _Refused(f"the zip holds member(s) {twice[:5]} more than once")
        total = 0
        for info in infos:
            if info.flag_bits & 0x1:
                raise _Refused(f"zip member '{info.filename}' is encrypted")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise _Refused(f"zip member '{info.filename}' uses compression method {info.compress_type}; "
                               "model files are stored or deflated")
            limit = MAX_MANIFEST_BYTES if info.filename == "manifest.json" else MAX_ARRAYS_BYTES
            if info.file_size > limit:
                raise _Refused(f"zip member '{info.filename}' declares {info.file_size} bytes uncompressed, "
                               f"over the limit of {limit}")
            if info.file_size > 1 << 20 and info.file_size > MAX_RATIO * max(info.compress_size, 1):
                raise _Refused(f"zip member '{info.filename}' declares {info.file_size} bytes compressed into "
                               f"{info.compress_size}: more than {MAX_RATIO}x, which no network's weights "
                               "compress to (a zip bomb?)")
            total += info.file_size
        if total > MAX_MANIFEST_BYTES + MAX_ARRAYS_BYTES:
            raise _Refused(f"the zip declares {total} bytes uncompressed in all, over the limit of "
                           f"{MAX_MANIFEST_BYTES + MAX_ARRAYS_BYTES}")
    except BaseException:
        archive.close()
        raise
    return archive


def _read_member(archive: zipfile.ZipFile, name: str, limit: int) -> bytes:
    """A member's bytes, reading at most ``limit`` of them whatever its header claims."""
    try:
        with archive.open(name) as handle:
            data = handle.read(limit + 1)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        raise _Refused(f"zip member '{name}' is damaged: {exc}") from exc
    if len(data) > limit:
        raise _Refused(f"zip member '{name}' holds more than {limit} bytes")
    return data


def _reject_constant(name: str) -> Any:
    raise _Refused(f"manifest.json holds {name}; a model file holds finite numbers")


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Refused(f"manifest.json holds the number {text[:40]}, which is not a finite float")
    return value


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > 20:
        raise _Refused(f"manifest.json holds a {len(text)}-digit integer")
    return int(text)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        raise _Refused(f"manifest.json gives key(s) {sorted({k for k in keys if keys.count(k) > 1})[:5]} twice")
    return dict(pairs)


def _read_manifest(archive: zipfile.ZipFile) -> dict[str, Any]:
    """The parsed manifest, checked for its format and versions; the model's description is not checked here."""
    data = _read_member(archive, "manifest.json", MAX_MANIFEST_BYTES)
    try:
        manifest = json.loads(data.decode("utf-8"), parse_constant=_reject_constant, parse_float=_parse_float,
                              parse_int=_parse_int, object_pairs_hook=_unique_keys)
    except UnicodeDecodeError as exc:
        raise _Refused(f"its manifest.json is corrupt (not UTF-8 text: {exc})") from exc
    except RecursionError as exc:
        raise _Refused("its manifest.json is corrupt (nested too deeply)") from exc
    except ValueError as exc:
        raise _Refused(f"its manifest.json is corrupt ({exc})") from exc
    if not isinstance(manifest, dict) or not isinstance(manifest.get("format"), str):
        raise _Refused("its manifest.json is not an sk-emotion model manifest (no format)")
    if manifest["format"] not in (_FORMAT, *_OLDER_FORMATS):
        raise _Refused(f"its format {manifest['format'][:80]!r} is not one this version of sk-emotion reads "
                       f"({_FORMAT}); is it from a newer version?")
    extra = sorted(set(manifest) - {"format", "versions", "model"})
    if extra:
        raise _Refused(f"manifest.json has unknown field(s) {extra[:5]}")
    versions = manifest.get("versions", {})
    if not isinstance(versions, dict) or not all(
            isinstance(v, str) and len(v) <= 64 and v.isprintable() for v in versions.values()):
        raise _Refused("manifest.json has malformed versions (short strings expected)")
    if "model" not in manifest:
        raise _Refused("manifest.json has no 'model' (the model's description)")
    return manifest


# ---------------------------------------------------------------------------- checking the description
def _plain(value: Any, where: str) -> Any:
    """A JSON scalar or a flat list of them, within the limits; anything else is refused."""
    if isinstance(value, list):
        if len(value) > MAX_LIST:
            raise _Refused(f"{where} is a list of {len(value)} items (at most {MAX_LIST})")
        return [_scalar(item, where) for item in value]
    return _scalar(value, where)


def _scalar(value: Any, where: str) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if abs(value) > MAX_INT:
            raise _Refused(f"{where} is {value}, beyond the limit of {MAX_INT}")
        return value
    if isinstance(value, float):
        if not math.isfinite(value) or abs(value) > MAX_FLOAT:
            raise _Refused(f"{where} is {value}, beyond the limit of {MAX_FLOAT:g}")
        return value
    if isinstance(value, str):
        if len(value) > MAX_STR:
            raise _Refused(f"{where} is a string of {len(value)} characters (at most {MAX_STR})")
        return value
    if isinstance(value, dict):
        keys = ", ".join(repr(k[:40]) for k in list(value)[:3])
        raise _Foreign(f"{where} holds an object ({keys}); only plain values may appear here")
    raise _Refused(f"{where} is a nested list; only flat lists of plain values are read")


@lru_cache(maxsize=1)
def _estimator_classes() -> dict[str, type]:
    from .estimators.classifier import EmotionClassifier
    from .estimators.extractor import VideoFaceExtractor

    return {"VideoFaceExtractor": VideoFaceExtractor, "EmotionClassifier": EmotionClassifier}


def _classifier_constraints() -> dict[str, list]:
    """Constraints of every top-level parameter a data file may give an EmotionClassifier.

    Not cached: the pooling names come from registries users may add to.
    The estimator's own come from the estimator; skorch validates none of its
    own values, so theirs are stated here.  ``iterator_*`` and ``dataset``
    are absent: a data file leaves them at their defaults.
    """
    from ._sklearn_compat import Interval, Options, StrOptions
    from .estimators.classifier import EmotionClassifier
    from .estimators.training import HoldoutSplit

    own = EmotionClassifier._parameter_constraints
    if isinstance(own, property):  # computed from the pooling registries, not from an instance
        own = own.fget(EmotionClassifier)
    skorch = {
        "lr": [Interval(Real, 0, None, closed="left")],
        "max_epochs": [Interval(Integral, 0, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left"), Options(Integral, {-1})],
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
        "device": [None, str],
        "compile": ["boolean"],
        "use_caching": ["boolean", StrOptions({"auto"})],
        "predict_nonlinearity": [None, StrOptions({"auto"})],
        "callbacks": [None, StrOptions({"disable"})],
        "torch_load_kwargs": [None],
        "classes": [None, list],
        "train_split": [None, HoldoutSplit],
    }
    return {**skorch, **own}


def _constraints(kind: str) -> dict[str, list]:
    if kind == "EmotionClassifier":
        return _classifier_constraints()
    return dict(_estimator_classes()[kind]._parameter_constraints)


def _named_args(cls: type, exclude: tuple[str, ...] = ()) -> set[str]:
    """The keyword arguments ``cls(...)`` takes by name (never ``**kwargs``)."""
    parameters = inspect.signature(cls).parameters.values()
    return {p.name for p in parameters
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in exclude}


# DataLoader arguments that are plain values (the others take objects or functions).
_LOADER_ARGS = ("batch_size", "shuffle", "num_workers", "pin_memory", "drop_last", "timeout", "prefetch_factor",
                "persistent_workers", "in_order")


@lru_cache(maxsize=1)
def _callback_args() -> dict[str, set[str]]:
    """The classifier's default callbacks, by name, with the arguments each takes."""
    from .estimators.classifier import EmotionClassifier

    # The list depends on the class only; a bare instance (no parameters, nothing built) asks for it.
    bare = object.__new__(EmotionClassifier)
    return {name: _named_args(type(callback)) for name, callback in EmotionClassifier.get_default_callbacks(bare)}


def _route_targets(prefix: str, params: Mapping[str, Any]) -> set[str] | None:
    """The argument names ``<prefix>__<name>`` may route to, or None for an unknown prefix."""
    from skorch.dataset import Dataset
    from torch.utils.data import DataLoader

    from .estimators.classifier import _SHADOWED, EmotionClassifier

    defaults = inspect.signature(EmotionClassifier).parameters
    if prefix == "module":
        return _named_args(params.get("module", defaults["module"].default), exclude=(*_SHADOWED, "self"))
    if prefix == "criterion":
        return _named_args(params.get("criterion", defaults["criterion"].default))
    if prefix == "optimizer":
        return _named_args(params.get("optimizer", defaults["optimizer"].default), exclude=("params",))
    if prefix in ("iterator_train", "iterator_valid"):
        return _named_args(DataLoader) & set(_LOADER_ARGS)
    if prefix == "dataset":
        return _named_args(Dataset, exclude=("X", "y"))
    return None


def _check_route(key: str, value: Any, params: Mapping[str, Any], where: str) -> Any:
    """A ``prefix__name`` parameter: a name the routed class takes, with a plain value."""
    prefix, _, rest = key.partition("__")
    if prefix == "callbacks":
        callback, _, arg = rest.partition("__")
        callbacks = _callback_args()
        if callback not in callbacks or (arg and arg not in callbacks[callback]) or "__" in arg:
            raise _Foreign(f"{where} has parameter {key[:80]!r}, which routes to no argument of the default "
                           f"callbacks ({', '.join(callbacks)})")
        if not arg and value is not None:
            raise _Refused(f"{where} parameter {key} can only be None (the callback turned off) in a model file")
    else:
        targets = _route_targets(prefix, params)
        if targets is None or "__" in rest or rest not in targets:
            raise _Foreign(f"{where} has parameter {key[:80]!r}, which routes to no argument a model file may set"
                           + (f" (the {prefix} takes {', '.join(sorted(targets))})" if targets else ""))
    return _plain(value, f"{where} parameter {key}")


def _decode_value(key: str, value: Any, where: str) -> Any:
    """A top-level parameter's value: plain JSON, or the one encoded object that parameter may hold."""
    tag = next(iter(value), None) if isinstance(value, dict) and len(value) == 1 else None
    if key in _registry():
        if tag != "__class__":
            raise _Refused(f"{where} parameter {key} must name a class as {{'__class__': name}}")
        return _resolve_class(key, value[tag], where)
    if not isinstance(value, dict):
        return _plain(value, f"{where} parameter {key}")
    if tag == "__holdout__" and key == "train_split":
        return _holdout(value[tag], f"{where} parameter train_split")
    if tag == "__weights__" and key == "weights":
        return _weights(value[tag], f"{where} parameter weights")
    keys = ", ".join(repr(k[:40]) for k in list(value)[:3])
    raise _Foreign(f"{where} parameter {key} holds an encoded object ({keys}), which that parameter may not hold")


def _holdout(payload: Any, where: str) -> Any:
    from ._sklearn_compat import Interval, RealNotInt, validate_parameter_constraints
    from .estimators.training import HoldoutSplit

    if not isinstance(payload, dict) or not set(payload) <= {"fraction", "min_per_class", "random_state"}:
        raise _Foreign(f"{where} takes only fraction, min_per_class and random_state")
    values = {name: _scalar(v, f"{where} {name}") for name, v in payload.items()}
    try:
        validate_parameter_constraints({
            "fraction": [Interval(RealNotInt, 0, 1, closed="neither")],
            "min_per_class": [Interval(Integral, 0, None, closed="left")],
            "random_state": [Interval(Integral, 0, 2**32 - 1, closed="both")],
        }, values, caller_name="HoldoutSplit")
    except ValueError as exc:
        raise _Refused(f"{where}: {exc}") from exc
    return HoldoutSplit(**values)


def _weights(payload: Any, where: str) -> Any:
    enum_name, _, member = str(payload).partition(".")
    enum = _weights_enums().get(enum_name)
    if enum is None or member not in enum.__members__:
        raise _Foreign(f"{where} names unknown weights {str(payload)[:80]!r} (known: "
                       f"{', '.join(f'{n}.{m}' for n, e in _weights_enums().items() for m in e.__members__)})")
    return enum[member]


def _check_labels(labels: Any, where: str) -> list:
    if not isinstance(labels, list) or not 2 <= len(labels) <= MAX_CLASSES:
        raise _Refused(f"{where} must be a list of 2 to {MAX_CLASSES} labels")
    strings = all(isinstance(c, str) and 0 < len(c) <= MAX_LABEL for c in labels)
    integers = all(isinstance(c, int) and not isinstance(c, bool) and abs(c) <= MAX_INT for c in labels)
    if not (strings or integers):
        raise _Refused(f"{where} must hold strings of at most {MAX_LABEL} characters, or integers")
    for label in labels if strings else ():
        # Labels reach terminals and CSV files: no control codes, no lone surrogates, no formulas.
        if not label.isprintable():
            raise _Refused(f"{where} holds label {label[:40]!r}, with characters that are not printable "
                           "(control codes or invalid Unicode)")
        if label.startswith(_FORMULA_START):
            raise _Refused(f"{where} holds label {label[:40]!r}, which a spreadsheet would run as a formula")
    if len(set(labels)) != len(labels):
        raise _Refused(f"{where} repeats labels")
    return labels


def _check_params(kind: str, params: Any, where: str) -> dict[str, Any]:
    """The decoded constructor arguments of one step, once every name and value is known to be allowed."""
    from ._sklearn_compat import validate_parameter_constraints

    if not isinstance(params, dict):
        raise _Refused(f"{where} has params of type {type(params).__name__}, not an object")
    constraints = _constraints(kind)
    decoded = {}
    for key, value in params.items():
        if "__" in key:
            continue
        if key not in constraints and key not in _registry() or (kind != "EmotionClassifier" and key in _registry()):
            raise _Foreign(f"{where} has parameter {key[:80]!r}, which {kind} does not take in a model file")
        decoded[key] = _decode_value(key, value, where)
    try:
        validate_parameter_constraints({k: constraints[k] for k in decoded if k in constraints}, decoded,
                                       caller_name=kind)
    except (ValueError, TypeError) as exc:
        raise _Refused(f"{where}: {exc}") from exc
    if isinstance(decoded.get("classes"), list):
        _check_labels(decoded["classes"], f"{where} parameter classes")
    for key, value in params.items():
        if "__" in key:
            if kind != "EmotionClassifier":
                raise _Foreign(f"{where} has parameter {key[:80]!r}, which {kind} does not take")
            decoded[key] = _check_route(key, value, decoded, where)
    for key in _MACHINE_LOCAL:
        if decoded.get(key) is not None:
            warnings.warn(f"{where} names {key}={str(decoded[key])[:120]!r}; a model file does not choose where "
                          f"this machine writes, so it is not used (set_params({key}=...) to cache)",
                          UserWarning, stacklevel=2)
            decoded[key] = None
    for key, largest in NETWORK_SIZE_LIMITS.items():
        value = decoded.get(key)
        if value is not None and not (isinstance(value, int) and not isinstance(value, bool)
                                      and 1 <= value <= largest):
            raise _Refused(f"{where} parameter {key}={value!r} is not an integer from 1 to {largest} "
                           "(the limit of a network built from a model file)")
    for key, (lowest, highest) in RESOURCE_LIMITS.items():
        value = decoded.get(key)
        number = isinstance(value, int if not key.endswith("timeout") else (int, float))
        if value is not None and (isinstance(value, bool) or not number or not lowest <= value <= highest):
            raise _Refused(f"{where} parameter {key}={value!r} is outside {lowest} to {highest}, the range a "
                           "model file may give it")
    device = decoded.get("device")
    if device is not None and not DEVICES.fullmatch(device):
        raise _Refused(f"{where} parameter device={device[:40]!r} is not a device a model file may name "
                       "(cpu, cuda, cuda:N, mps, xpu)")
    return decoded


_DTYPE = re.compile(r"[<>|=]?(U\d{1,4}|[iu][1248])")


def _check_fitted(fitted: Any, where: str, members: set[str]) -> dict[str, Any]:
    if not isinstance(fitted, dict) or set(fitted) != {"classes", "classes_dtype", "n_frames_in", "weights"}:
        raise _Refused(f"{where} has a malformed 'fitted' description (classes, classes_dtype, n_frames_in and "
                       "weights expected)")
    labels = _check_labels(fitted["classes"], f"{where} fitted classes")
    dtype = fitted["classes_dtype"]
    if not isinstance(dtype, str) or not _DTYPE.fullmatch(dtype):
        raise _Refused(f"{where} fitted classes_dtype {str(dtype)[:40]!r} is not a string or integer dtype")
    dtype = np.dtype(dtype)
    if (dtype.kind == "U") != isinstance(labels[0], str) or (
            dtype.kind == "U" and dtype.itemsize // 4 < max(len(c) for c in labels)):
        raise _Refused(f"{where} fitted classes_dtype {dtype.str} does not hold its classes")
    try:
        classes = np.asarray(labels, dtype=dtype)
    except OverflowError as exc:
        raise _Refused(f"{where} fitted classes do not fit {dtype.str}") from exc
    if np.unique(classes).size != classes.size:
        raise _Refused(f"{where} fitted classes repeat labels once stored as {dtype.str}")
    frames = fitted["n_frames_in"]
    if not isinstance(frames, int) or isinstance(frames, bool) or not 1 <= frames <= 100_000:
        raise _Refused(f"{where} fitted n_frames_in must be an integer from 1 to 100000")
    weights = fitted["weights"]
    if not isinstance(weights, str) or not weights.endswith(".npz") or weights not in members:
        raise _Refused(f"{where} names weights {str(weights)[:80]!r}, which is not an .npz member of the zip")
    return {"classes": classes, "n_frames_in": frames, "weights": weights}


_STEP_FIELDS = {"Pipeline": {"type", "steps"}, "VideoFaceExtractor": {"type", "params"},
                "EmotionClassifier": {"type", "params", "fitted"}}


def _check_node(node: Any, where: str, members: set[str], depth: int = 0) -> dict[str, Any]:
    """The plan of one step (or pipeline): what to build, every part of it checked."""
    if not isinstance(node, dict):
        raise _Refused(f"{where} is a {type(node).__name__}, not a step description")
    kind = node.get("type")
    if not isinstance(kind, str) or kind not in _STEP_FIELDS:
        raise _Foreign(f"{where} names an unknown step type {str(kind)[:80]!r} (a model file holds "
                       f"{', '.join(_STEP_FIELDS)})")
    extra = sorted(set(node) - _STEP_FIELDS[kind])
    if extra:
        raise _Refused(f"{where} ({kind}) has unknown field(s) {[k[:40] for k in extra[:5]]}")
    if kind == "Pipeline":
        if depth >= MAX_PIPELINE_DEPTH:
            raise _Refused(f"{where} nests pipelines more than {MAX_PIPELINE_DEPTH} deep")
        steps = node.get("steps")
        if not isinstance(steps, list) or not 1 <= len(steps) <= MAX_STEPS:
            raise _Refused(f"{where} must have a list of 1 to {MAX_STEPS} steps")
        plans, names = [], set()
        for step in steps:
            if not (isinstance(step, list) and len(step) == 2 and isinstance(step[0], str)
                    and 0 < len(step[0]) <= 128 and "__" not in step[0] and step[0].isprintable()):
                raise _Refused(f"{where} has a malformed step (a [name, step] pair with a short name "
                               "without '__' expected)")
            if step[0] in names:
                raise _Refused(f"{where} has two steps named {step[0]!r}")
            names.add(step[0])
            plans.append((step[0], _check_node(step[1], f"step '{step[0]}'", members, depth + 1)))
        return {"type": kind, "steps": plans, "where": where}
    plan = {"type": kind, "params": _check_params(kind, node.get("params", {}), f"{where} ({kind})"),
            "where": where}
    if "fitted" in node:
        plan["fitted"] = _check_fitted(node["fitted"], f"{where} ({kind})", members)
    return plan


# ---------------------------------------------------------------------------- building
def _build(plan: dict[str, Any], archive: zipfile.ZipFile, optional: tuple[str, ...] = ()) -> Any:
    """The estimators of a checked plan; a fitted network's arrays are checked against it before loading."""
    from sklearn.pipeline import Pipeline

    if plan["type"] == "Pipeline":
        return Pipeline([(name, _build(step, archive, optional)) for name, step in plan["steps"]])
    estimator = _estimator_classes()[plan["type"]](**plan["params"])
    fitted = plan.get("fitted")
    if fitted:
        _load_network(estimator, fitted, archive, f"{plan['where']} ({plan['type']})", optional)
    return estimator


#: Network arrays that files of an older format (``_OLDER_FORMATS``) lack; files of the
#: current format must hold every array.
_OPTIONAL_ARRAYS = ("training_counts",)


def _load_network(estimator, fitted: dict[str, Any], archive: zipfile.ZipFile, where: str,
                  optional: tuple[str, ...] = ()) -> None:
    import torch
    from sklearn.preprocessing import LabelEncoder

    from .weights.arrays import read_arrays

    encoder = LabelEncoder()
    encoder.classes_ = fitted["classes"]
    estimator.label_encoder_ = encoder
    try:
        estimator.initialize()
    except Exception as exc:  # torch and skorch raise many types for values they refuse (device, lr...)
        raise _Refused(f"{where}: the network cannot be built from the file's parameters ({exc})") from exc
    reference = {k: v.detach().cpu().numpy() for k, v in estimator.module_.state_dict().items()}
    member = fitted["weights"]
    limit = sum(a.nbytes for a in reference.values()) + _ARRAY_SLACK + _PER_ARRAY * len(reference)
    size = archive.getinfo(member).file_size
    if size > limit:
        raise _Refused(f"zip member '{member}' declares {size} bytes; the network's arrays need at most {limit}")
    # Files of the older format predate the networks' training class counts: the network's own
    # (the pretrained weights' declared prior, or balanced classes) stands in, with a warning.
    missing = {k for k in optional if k in reference}
    if missing:
        warnings.warn(f"{where}: the file predates class priors (format {_OLDER_FORMATS[0]}), so the classes' "
                      "training frequencies are unknown; class_prior is measured against balanced classes or "
                      "the pretrained weights' declared prior", UserWarning, stacklevel=4)
    try:
        arrays = read_arrays(io.BytesIO(_read_member(archive, member, limit)), name=f"member {member}",
                             expected={k: v for k, v in reference.items() if k not in missing})
    except ValueError as exc:
        raise _Refused(str(exc)) from exc
    estimator.module_.load_state_dict({k: torch.from_numpy(v) for k, v in arrays.items()}, strict=not missing)
    estimator.n_frames_in_ = fitted["n_frames_in"]


# ---------------------------------------------------------------------------- public API
def save_model(model: Any, path: str | os.PathLike, *, format: str = "data") -> Path:
    """Save a fitted pipeline or estimator, with the library versions that wrote it.

    Parameters
    ----------
    model : Pipeline, EmotionClassifier or VideoFaceExtractor
        The model; pipelines may hold those two estimators.
    path : path-like
        File to write (conventionally ``.skem``); written whole or not at all.
    format : {"data", "joblib"}, default="data"
        ``"data"``: a zip of JSON and arrays that loading cannot turn into
        code (``docs/model_files.md``).  ``"joblib"``: a compressed pickle,
        for models with objects the data format does not describe (custom
        detectors, callbacks, classes outside the registry); it loads only
        with ``trusted=True``.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    ValueError
        When ``format="data"`` and the model holds something that is not
        data (the message names it).
    """
    path = Path(path)
    if format not in ("data", "joblib"):
        raise ValueError(f"format must be 'data' or 'joblib', got {format!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        if format == "joblib":
            import joblib

            joblib.dump({"format": _PICKLE_FORMAT, "versions": _versions(), "model": model}, partial,
                        compress=3)
        else:
            members: dict[str, bytes] = {}
            manifest = {"format": _FORMAT, "versions": _versions(), "model": _describe(model, "model", members)}
            with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                archive.writestr("manifest.json", json.dumps(manifest, indent=1, allow_nan=False))
                for name, data in members.items():
                    archive.writestr(name, data)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path


def _model_file(path: str | os.PathLike) -> Path:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"model file '{path}' does not exist")
    if path.is_dir():
        raise ModelFileError(path, "it is a folder, not a model file")
    if not path.is_file():
        raise ModelFileError(path, "it is not a regular file (a model is read from a file on disk)")
    return path


def inspect_model(path: str | os.PathLike) -> dict[str, Any]:
    """What a data model file describes, read without building anything from it.

    The zip's directory is checked against the size limits and
    ``manifest.json`` is parsed, but the model's description is returned as
    written, even one that :func:`load_model` would refuse: use it to see
    what a file you were given asks for.

    Parameters
    ----------
    path : path-like
        A ``.skem`` file written by :func:`save_model`.

    Returns
    -------
    dict
        The parsed ``manifest.json`` (``format``, ``versions``, ``model``),
        plus ``members``: each zip member's name mapped to its
        ``{"size": ..., "compressed_size": ...}`` in bytes.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ModelFileError
        If it is not a data model file (a pickle cannot be inspected
        without running it), or its zip or manifest is damaged or over the
        limits.

    Examples
    --------
    >>> import tempfile
    >>> from sk_emotion import VideoFaceExtractor, save_model
    >>> from sk_emotion.persistence import inspect_model
    >>> path = save_model(VideoFaceExtractor(n_frames=8), tempfile.mkdtemp() + "/extractor.skem")
    >>> info = inspect_model(path)
    >>> info["model"]["type"], info["model"]["params"]["n_frames"], sorted(info["members"])
    ('VideoFaceExtractor', 8, ['manifest.json'])
    """
    path = _model_file(path)
    try:
        if _sniff(path) != "zip":
            raise _Refused("it is a pickle (joblib) file, which cannot be inspected without running the code "
                           "it holds")
        with _open_archive(path) as archive:
            manifest = _read_manifest(archive)
            manifest["members"] = {info.filename: {"size": info.file_size, "compressed_size": info.compress_size}
                                   for info in archive.infolist()}
    except _Refused as exc:
        raise exc.error(path, str(exc)) from exc.__cause__
    return manifest


def saved_n_frames(path: str | os.PathLike) -> int | None:
    """The ``n_frames`` the extractor of a saved pipeline samples, read from its manifest.

    Nothing is built (see :func:`inspect_model`), so a command can check its
    arguments against a model file before loading it.

    Parameters
    ----------
    path : path-like
        A ``.skem`` file written by :func:`save_model`.

    Returns
    -------
    int or None
        None when it cannot be told here: not a data model file, damaged, or
        without a ``VideoFaceExtractor`` step (loading it says what is wrong).
    """
    from .estimators.extractor import VideoFaceExtractor

    try:
        model = inspect_model(path)["model"]
    except (OSError, ValueError):
        return None
    steps = model.get("steps") if isinstance(model, dict) and model.get("type") == "Pipeline" else None
    for step in steps if isinstance(steps, list) else ():
        node = step[1] if isinstance(step, list) and len(step) == 2 else None
        if isinstance(node, dict) and node.get("type") == "VideoFaceExtractor":
            params = node.get("params") if isinstance(node.get("params"), dict) else {}
            default = inspect.signature(VideoFaceExtractor).parameters["n_frames"].default  # not written
            value = params.get("n_frames", default)
            return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None
    return None


def load_model(path: str | os.PathLike, *, trusted: bool = False) -> Any:
    """Load a model written by :func:`save_model`.

    A data file (``.skem``) is checked whole before anything it describes is
    built; ``docs/model_files.md`` says what it may describe and the limits.

    Parameters
    ----------
    path : path-like
        The model file.
    trusted : bool, default=False
        Also accept pickle (joblib) model files.  Loading a pickle runs any
        code it holds: pass True only for files you made yourself or
        otherwise trust.

    Returns
    -------
    Pipeline, EmotionClassifier or VideoFaceExtractor
        The pipeline or estimator, ready to predict.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    UntrustedModelError
        For a pickle without ``trusted=True`` (nothing in it is run), or a
        data file naming a class, parameter, step type or encoding outside
        the registry.
    ModelFileError
        (The parent of ``UntrustedModelError``, a ``ValueError``.)  If the
        file is not an sk-emotion model file (the message says what it is),
        is damaged, exceeds a limit, or describes invalid values or arrays
        that do not fit the network.
    """
    path = _model_file(path)
    try:
        if _sniff(path) == "zip":
            with _open_archive(path) as archive:
                manifest = _read_manifest(archive)
                members = {name for name in archive.namelist() if name != "manifest.json"}
                plan = _check_node(manifest["model"], "the model", members)  # everything, before building
                _warn_versions(path, manifest.get("versions", {}))
                optional = _OPTIONAL_ARRAYS if manifest["format"] in _OLDER_FORMATS else ()
                return _build(plan, archive, optional)
        if not trusted:
            raise _Foreign("it is a pickle (joblib) file, and loading a pickle runs any code it contains; if you "
                           "made it yourself, load it with trusted=True (command line: --trusted)")
    except _Refused as exc:
        raise exc.error(path, str(exc)) from exc.__cause__
    import joblib

    try:
        payload = joblib.load(path)
    except Exception as exc:  # joblib raises many types for damaged pickles
        raise ModelFileError(path, f"the pickle cannot be read ({type(exc).__name__}: {exc})") from exc
    if not isinstance(payload, dict) or payload.get("format") != _PICKLE_FORMAT:
        raise ModelFileError(path, "not an sk-emotion model file (a pickle, but not one written by "
                                   "sk_emotion.save_model)")
    _warn_versions(path, payload.get("versions", {}))
    return payload["model"]
