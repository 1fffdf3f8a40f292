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
    Each fitted network's ``state_dict`` as plain arrays (read with
    ``allow_pickle=False``).

:func:`load_model` rebuilds the estimators from that description.  Only the
package's own estimators can be named, and parameters that are classes (an
optimiser, a loss) must come from ``torch.optim``, ``torch.nn`` or
``sk_emotion``; anything else is refused before a single object is built.
Models with other objects (a custom callable detector, callbacks) can still
be saved as joblib pickles with ``format="joblib"``, and loaded only with
``trusted=True``.
"""

from __future__ import annotations

import importlib
import io
import json
import os
import platform
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ._version import __version__
from .exceptions import UntrustedModelError

__all__ = ["save_model", "load_model", "UntrustedModelError"]

_FORMAT = "sk-emotion-model/2"
_PICKLE_FORMAT = "sk-emotion-model/1"
_ALLOWED_MODULES = ("torch.optim", "torch.nn", "sk_emotion.")


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


# ---------------------------------------------------------------------------- parameters
def _encode_param(owner: str, name: str, value: Any, default: Any) -> Any:
    """A JSON form of one constructor parameter, or raise naming it."""
    from .estimators.training import HoldoutSplit

    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)) and all(
            v is None or isinstance(v, (bool, int, float, str)) for v in value):
        return list(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, type) and value.__module__.startswith(_ALLOWED_MODULES):
        return {"__class__": f"{value.__module__}:{value.__qualname__}"}
    if isinstance(value, HoldoutSplit):
        return {"__holdout__": {"fraction": value.fraction, "min_per_class": value.min_per_class,
                                "random_state": value.random_state}}
    if hasattr(value, "name") and type(value).__module__ == "sk_emotion.weights":  # a weights enum member
        return {"__weights__": f"{type(value).__name__}.{value.name}"}
    if value is default:
        return {"__default__": True}
    raise ValueError(
        f"{owner} parameter {name}={value!r} cannot be saved as data; save_model(..., format='joblib') "
        "writes a pickle instead (which only trusted=True loads)"
    )


def _decode_param(value: Any) -> Any:
    if isinstance(value, dict):
        if "__class__" in value:
            module, _, qualname = str(value["__class__"]).partition(":")
            if not module.startswith(_ALLOWED_MODULES):
                raise UntrustedModelError(f"the model names {value['__class__']!r}, outside the allowed "
                                          f"modules {_ALLOWED_MODULES}")
            obj: Any = importlib.import_module(module)
            for part in qualname.split("."):
                obj = getattr(obj, part)
            if not isinstance(obj, type):
                raise UntrustedModelError(f"the model names {value['__class__']!r}, which is not a class")
            return obj
        if "__holdout__" in value:
            from .estimators.training import HoldoutSplit

            return HoldoutSplit(**value["__holdout__"])
        if "__weights__" in value:
            from . import weights

            enum, _, member = str(value["__weights__"]).partition(".")
            if enum not in ("MiniXceptionWeights", "MTCNNWeights"):
                raise UntrustedModelError(f"unknown weights {value['__weights__']!r}")
            return getattr(weights, enum)[member]
        raise UntrustedModelError(f"unknown parameter encoding {sorted(value)}")
    return value


def _params(estimator) -> dict[str, Any]:
    owner = type(estimator).__name__
    defaults = type(estimator)().get_params(deep=False)
    out = {}
    for name, value in estimator.get_params(deep=False).items():
        encoded = _encode_param(owner, name, value, defaults.get(name))
        if not (isinstance(encoded, dict) and encoded.get("__default__")):
            out[name] = encoded
    return out


# ---------------------------------------------------------------------------- steps
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


def _build(node: dict, archive: zipfile.ZipFile) -> Any:
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import LabelEncoder

    from .estimators.classifier import EmotionClassifier
    from .estimators.extractor import VideoFaceExtractor
    from .weights.arrays import read_arrays

    kind = node.get("type")
    if kind == "Pipeline":
        return Pipeline([(str(step), _build(child, archive)) for step, child in node["steps"]])
    builders = {"VideoFaceExtractor": VideoFaceExtractor, "EmotionClassifier": EmotionClassifier}
    if kind not in builders:
        raise UntrustedModelError(f"the model names an unknown step type {kind!r}")
    params = {name: _decode_param(value) for name, value in node.get("params", {}).items()}
    estimator = builders[kind](**params)
    fitted = node.get("fitted")
    if fitted:
        import torch

        encoder = LabelEncoder()
        encoder.classes_ = np.asarray(fitted["classes"], dtype=np.dtype(fitted["classes_dtype"]))
        estimator.label_encoder_ = encoder
        estimator.initialize()
        arrays = read_arrays(io.BytesIO(archive.read(fitted["weights"])))
        estimator.module_.load_state_dict({k: torch.from_numpy(v) for k, v in arrays.items()})
        estimator.n_frames_in_ = int(fitted["n_frames_in"])
    return estimator


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
        code.  ``"joblib"``: a compressed pickle, for models with objects
        the data format does not describe (custom detectors, callbacks); it
        loads only with ``trusted=True``.

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
                archive.writestr("manifest.json", json.dumps(manifest, indent=1))
                for name, data in members.items():
                    archive.writestr(name, data)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path


def load_model(path: str | os.PathLike, *, trusted: bool = False) -> Any:
    """Load a model written by :func:`save_model`.

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
        data file naming objects outside the allow-list.
    ValueError
        If the file is not an sk-emotion model file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file '{path}' does not exist")
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            if "manifest.json" in archive.namelist():
                try:
                    manifest = json.loads(archive.read("manifest.json"))
                except (ValueError, UnicodeDecodeError) as exc:
                    raise ValueError(f"'{path}' has a corrupt manifest: {exc}") from exc
                if not isinstance(manifest, dict) or manifest.get("format") != _FORMAT:
                    raise ValueError(f"'{path}' is not an sk-emotion model file (unknown format)")
                _warn_versions(path, manifest.get("versions", {}))
                return _build(manifest["model"], archive)
    if not trusted:
        raise UntrustedModelError(
            f"'{path}' is not an sk-emotion data model file; if it is a pickle (joblib) model you made "
            "yourself, load it with trusted=True (command line: --trusted): loading a pickle runs any "
            "code it contains"
        )
    import joblib

    try:
        payload = joblib.load(path)
    except Exception as exc:  # joblib raises many types for non-pickles
        raise ValueError(f"'{path}' is not a readable sk-emotion model file ({exc})") from exc
    if not isinstance(payload, dict) or payload.get("format") != _PICKLE_FORMAT:
        raise ValueError(f"'{path}' is not an sk-emotion model file (written by sk_emotion.save_model)")
    _warn_versions(path, payload.get("versions", {}))
    return payload["model"]
