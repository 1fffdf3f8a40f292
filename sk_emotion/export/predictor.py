"""Run an exported emotion model with onnxruntime: numpy and onnxruntime only, no torch.

:class:`OnnxEmotionClassifier` predicts from the ``.onnx`` file written by
:func:`sk_emotion.export.export_onnx`; the file's ``metadata_props`` hold the
class labels and the input convention (see :func:`read_onnx_metadata`).  This
module imports neither torch nor skorch, so a deployment needs only
``numpy``, ``pandas``, ``scikit-learn`` and ``onnxruntime``.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Mapping, Sequence
from numbers import Integral
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from .._sklearn_compat import StrictInterval, validate_parameter_constraints, validate_params
from ..estimators.explanation import Explanation
from ..validation import check_clips, check_probabilities
from .format import FORMAT_VERSION, METADATA_PREFIX, OUTPUT_NAMES, session_options

if TYPE_CHECKING:  # pragma: no cover - annotations only: onnxruntime is imported where used
    import onnxruntime as ort
    from numpy.typing import ArrayLike
    from sklearn.utils import Tags

__all__ = ["OnnxEmotionClassifier", "read_onnx_metadata"]


# -------------------------------------------------------------------------- metadata
@validate_params({"path": [str, os.PathLike]}, prefer_skip_nested_validation=True)
def read_onnx_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The sk-emotion metadata of an ONNX file written by :func:`export_onnx`.

    Parameters
    ----------
    path : str or path-like
        The ``.onnx`` file.

    Returns
    -------
    dict
        Decoded values: ``classes`` (numpy array, the estimator's
        ``classes_``), ``input_size``, ``input_color``, ``rgb_to_gray``,
        ``spatial_pooling``, ``temporal_pooling``, ``temperature`` (``None``
        unless softmax pooling), ``n_heads``, ``class_prior_shift`` (what
        the graph adds to every frame's class scores for the estimator's
        ``class_prior``, or ``None``), ``version`` (of sk-emotion),
        ``opset``...

    Raises
    ------
    FileNotFoundError
        If there is no file at ``path``.
    ValueError
        If the file is not an ONNX model written by :func:`export_onnx`.
    """
    import onnxruntime as ort

    path = _existing(path)
    try:
        session = ort.InferenceSession(str(path), session_options(),
                                       providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime's own exception types are not public
        raise ValueError(f"'{path}' is not a readable ONNX model: {exc}") from exc
    return _decode_metadata(session.get_modelmeta().custom_metadata_map, path)


def _decode_metadata(raw: Mapping[str, str], path: Path) -> dict[str, Any]:
    values = {key[len(METADATA_PREFIX):]: value for key, value in raw.items() if key.startswith(METADATA_PREFIX)}
    missing = [key for key in ("classes", "input_size", "rgb_to_gray", "input_name") if key not in values]
    if missing:
        raise ValueError(
            f"'{path}' was not written by sk_emotion.export_onnx: its metadata lacks "
            f"{', '.join(METADATA_PREFIX + key for key in missing)}"
        )
    try:
        meta = {key: json.loads(value) for key, value in values.items()}
    except json.JSONDecodeError as exc:
        raise ValueError(f"'{path}' has corrupt sk-emotion metadata: {exc}") from exc
    version = meta.get("format_version", 1)
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(
            f"'{path}' uses sk-emotion ONNX metadata format {version!r}; this version reads up to "
            f"{FORMAT_VERSION}: upgrade sk-emotion (the file was written by version {meta.get('version')!r})"
        )
    dtype = meta.get("classes_dtype")
    meta["classes"] = np.asarray(meta["classes"], dtype=np.dtype(dtype) if dtype else None)
    meta["input_size"] = tuple(meta["input_size"])
    return meta


def _existing(path: str | os.PathLike) -> Path:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"ONNX model file not found: '{path}'; write one with sk_emotion.export_onnx(estimator, "
            "path) or estimator.to_onnx(path)"
        )
    return path


# ------------------------------------------------------------------------- predictor
class OnnxEmotionClassifier(ClassifierMixin, BaseEstimator):
    """Emotion classifier running an exported ONNX model with onnxruntime.

    Predicts as the :class:`~sk_emotion.EmotionClassifier` it was exported
    from (probabilities equal within 1e-4) with only the ``.onnx`` file:
    labels and input convention come from the file's metadata.  It is
    inference-only: :meth:`fit` loads and checks the model but does not
    train.  Use it as the last step of a scikit-learn ``Pipeline``, e.g.
    after a :class:`~sk_emotion.VideoFaceExtractor`.

    The onnxruntime session is opened on first use and is not pickled: a
    pickled predictor re-opens ``path`` when used again, so the file must
    exist there.

    Parameters
    ----------
    path : str or path-like
        ONNX file written by :func:`export_onnx` / ``EmotionClassifier.to_onnx``.
    batch_size : int or None, default=32
        Clips per onnxruntime call (``None``: all at once).
    providers : sequence of str or None, default=None
        onnxruntime execution providers in priority order; ``None`` is
        ``["CPUExecutionProvider"]``.
    n_threads : int or None, default=None
        onnxruntime intra-op threads; ``None`` lets onnxruntime choose (one
        per physical core).

    Attributes
    ----------
    classes_ : numpy.ndarray
        Labels, in the column order of ``predict_proba`` (read from the file).
    metadata_ : dict
        All sk-emotion metadata of the file (see :func:`read_onnx_metadata`).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> import numpy as np
    >>> from sk_emotion import EmotionClassifier
    >>> from sk_emotion.export import OnnxEmotionClassifier
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "fer.onnx"
    >>> from sk_emotion.export import export_onnx
    >>> _ = export_onnx(EmotionClassifier.from_pretrained(), path)
    >>> clf = OnnxEmotionClassifier(path)
    >>> clf.classes_.tolist()
    ['angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral']
    >>> clf.predict_proba(np.zeros((2, 5, 64, 64), np.uint8)).shape
    (2, 7)
    """

    _parameter_constraints: dict = {
        "path": [str, os.PathLike],
        "batch_size": [None, StrictInterval(Integral, 1, None, closed="left")],
        "providers": [None, "array-like"],
        "n_threads": [None, StrictInterval(Integral, 0, None, closed="left")],
    }

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        batch_size: int | None = 32,
        providers: Sequence[str] | None = None,
        n_threads: int | None = None,
    ) -> None:
        self.path = path
        self.batch_size = batch_size
        self.providers = providers
        self.n_threads = n_threads

    # ---------------------------------------------------------------- session
    def _session(self) -> tuple[ort.InferenceSession, dict[str, Any]]:
        """The onnxruntime session and decoded metadata, opened once per parameter set."""
        self._validate_params()
        providers = ["CPUExecutionProvider"] if self.providers is None else list(self.providers)
        key = (os.fspath(self.path), tuple(providers), self.n_threads)
        if getattr(self, "_ort_key", None) == key:
            return self._ort_session, self._ort_metadata
        import onnxruntime as ort

        path = _existing(self.path)
        try:
            session = ort.InferenceSession(str(path), session_options(self.n_threads), providers=providers)
        except Exception as exc:  # onnxruntime's own exception types are not public
            raise ValueError(f"onnxruntime could not load '{path}': {exc}") from exc
        metadata = _decode_metadata(session.get_modelmeta().custom_metadata_map, path)
        inputs = [i.name for i in session.get_inputs()]
        outputs = {o.name for o in session.get_outputs()}
        if inputs != [metadata["input_name"]] or not set(OUTPUT_NAMES) <= outputs:
            raise ValueError(
                f"'{path}' has inputs {inputs} and outputs {sorted(outputs)}; expected input "
                f"{metadata['input_name']!r} and outputs {list(OUTPUT_NAMES)}"
            )
        self._ort_session, self._ort_metadata, self._ort_key = session, metadata, key
        return session, metadata

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        for name in ("_ort_session", "_ort_metadata", "_ort_key"):
            state.pop(name, None)  # sessions do not pickle; re-opened lazily from path
        return state

    @property
    def classes_(self) -> np.ndarray:
        """Labels, in the column order of :meth:`predict_proba` (a copy, read from the file)."""
        return self._session()[1]["classes"].copy()

    @property
    def metadata_(self) -> dict[str, Any]:
        """All sk-emotion metadata of the file (a copy; see :func:`read_onnx_metadata`)."""
        return copy.deepcopy(self._session()[1])

    def __sklearn_is_fitted__(self) -> bool:
        # The model was trained before export; loading happens on first use.
        return True

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.requires_fit = False
        tags.non_deterministic = False
        return tags

    # ---------------------------------------------------------------- fitting
    def fit(self, X: ArrayLike | None = None, y: ArrayLike | None = None,
            **fit_params: Any) -> OnnxEmotionClassifier:
        """Load and check the model; no training (the predictor is inference-only).

        Present so that the predictor can end a ``Pipeline`` that is fitted
        (the earlier steps are fitted as usual).

        Parameters
        ----------
        X : array-like, optional
            Ignored.
        y : array-like, optional
            Ignored.
        **fit_params : dict
            Ignored.

        Returns
        -------
        OnnxEmotionClassifier
            ``self``.

        Raises
        ------
        FileNotFoundError, ValueError
            If ``path`` is missing or not a model written by :func:`export_onnx`.
        """
        self._session()
        return self

    # ------------------------------------------------------------- prediction
    def _run(self, X: ArrayLike, outputs: Sequence[str], batch_size: int | None) -> dict[str, np.ndarray]:
        session, meta = self._session()
        clips = check_clips(X, input_size=meta["input_size"], name="X")
        if batch_size is not None:  # the method's argument follows the parameter's rule
            validate_parameter_constraints({"batch_size": self._parameter_constraints["batch_size"]},
                                           {"batch_size": batch_size}, caller_name=f"{type(self).__name__}.explain")
        step = self.batch_size if batch_size is None else batch_size
        step = int(step or len(clips))
        luma = np.asarray(meta["rgb_to_gray"], dtype=np.float32).reshape(1, 1, -1, 1, 1)
        parts: dict[str, list[np.ndarray]] = {name: [] for name in outputs}
        for start in range(0, len(clips), step):
            batch = clips[start:start + step].astype(np.float32, copy=False)
            if batch.shape[2] == 3:
                # The graph is gray-only: the traced network's RGB branch is frozen out.
                batch = (batch * luma).sum(axis=2, keepdims=True, dtype=np.float32)
            values = session.run(list(outputs), {meta["input_name"]: np.ascontiguousarray(batch)})
            for name, value in zip(outputs, values):
                parts[name].append(value)
        return {name: np.concatenate(value) for name, value in parts.items()}

    def predict_proba(self, X: ArrayLike) -> np.ndarray:
        """Class probabilities of each clip, columns in the order of ``classes_``.

        Parameters
        ----------
        X : array-like of shape (n_videos, n_frames, [channels,] 64, 64)
            Face clips, 0-255, gray (1 channel or none) or RGB (3 channels);
            any number of frames.

        Returns
        -------
        numpy.ndarray of shape (n_videos, n_classes), float32
            Each row sums to one.
        """
        return check_probabilities(self._run(X, ["probabilities"], None)["probabilities"],
                                   source=f"ONNX model '{self.path}'")

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Predicted label of each clip (labels as the exported estimator was fitted with).

        Parameters
        ----------
        X : array-like of shape (n_videos, n_frames, [channels,] 64, 64)
            Face clips, 0-255, gray (1 channel or none) or RGB (3 channels);
            any number of frames.

        Returns
        -------
        numpy.ndarray of shape (n_videos,)
            The class of ``classes_`` with the highest probability.
        """
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    def explain(self, X: ArrayLike, batch_size: int | None = None) -> Explanation:
        """Attention maps, temporal weights and per-frame probabilities of each clip.

        The same :class:`~sk_emotion.Explanation` as
        :meth:`EmotionClassifier.explain <sk_emotion.EmotionClassifier.explain>`.

        Parameters
        ----------
        X : array-like of shape (n_videos, n_frames, [channels,] 64, 64)
            Face clips.
        batch_size : int, optional
            Clips per onnxruntime call (default: ``batch_size``).

        Returns
        -------
        Explanation
            Predicted labels, probabilities, per-frame probabilities,
            temporal weights and attention maps of every clip.
        """
        out = self._run(X, OUTPUT_NAMES, batch_size)
        return Explanation.from_outputs(
            self.classes_,
            probabilities=out["probabilities"],
            frame_probabilities=out["frame_probabilities"],
            class_temporal_weights=out["temporal_weights"],
            attention_maps=out["attention_maps"],
        )
