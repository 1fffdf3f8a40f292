"""``EmotionClassifier``: the method of the paper as a skorch / scikit-learn estimator."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from numbers import Integral, Real
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from sklearn.exceptions import NotFittedError
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state
from skorch import NeuralNetClassifier
from skorch.callbacks import EpochScoring
from skorch.utils import to_numpy

from .._sklearn_compat import Interval, Options, StrOptions, validate_parameter_constraints
from ..nets.spatial import SPATIAL_POOLINGS
from ..nets.temporal import TEMPERATURE, TEMPORAL_POOLINGS
from ..nets.video_emotion import FEATURE_STAGES, VideoEmotionNet
from ..validation import check_clips, check_labels, check_probabilities
from ..weights import FaceResNetWeights, MiniXceptionWeights, resolve_emotion_weights
from .explanation import Explanation
from .training import HoldoutSplit, PrintLog, ValidationEarlyStopping, encoded_accuracy

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = ["EmotionClassifier"]

# Own parameters that are arguments of the network too: initialize_module passes
# them; module__<name> is refused for them (and for classes), since it would set
# them twice; changing one after initialisation re-creates the module, as skorch
# does for module__* (but the temperature, which a fitted network takes in place).
_NETWORK_PARAMS = (
    "spatial_pooling",
    "temporal_pooling",
    "temperature",
    "learn_temperature",
    "n_heads",
    "feature_stage",
    "freeze_backbone",
    "weights",
    "mirror",
)
_STRUCTURAL_PARAMS = tuple(name for name in _NETWORK_PARAMS if name != "temperature")
_SHADOWED = (*_NETWORK_PARAMS, "classes")
# skorch's own default is an object too (ValidSplit(5)); this one is stateless.
_DEFAULT_SPLIT = HoldoutSplit()

# Own parameters read when the optimiser is built.
_OPTIMIZER_PARAMS = ("backbone_lr_scale",)


class EmotionClassifier(NeuralNetClassifier):
    """Video emotion classifier with spatial attention and temporal softmax pooling.

    The network runs the FER2013 mini-Xception on every frame of a face clip,
    pools each frame's feature map over space (attention or average), scores
    the frame, and pools the frame scores over time (softmax with a
    temperature, mean, max, or an LSTM).  It is a skorch
    :class:`~skorch.NeuralNetClassifier`: network hyper-parameters route
    through ``module__*``, optimiser ones through ``optimizer__*``, and all
    of skorch's parameters (``lr``, ``max_epochs``, ``batch_size``,
    ``device``, ``callbacks``, ``train_split``...) are available.

    Parameters
    ----------
    module : type, default=VideoEmotionNet
        The network class; its extra arguments go through ``module__*``
        (an own parameter of this class passed there is refused: set it
        here).
    spatial_pooling : str, default="attention"
        Stage 3, a name of :data:`sk_emotion.nets.spatial.SPATIAL_POOLINGS`:
        attention over the 4x4 positions of the last residual block (the
        method), or ``"avg"``, global average pooling (the baseline).
    temporal_pooling : str, default="auto"
        Stage 4, a name of :data:`sk_emotion.nets.temporal.TEMPORAL_POOLINGS`:
        ``"softmax"``, softmax pooling over time, class by class (the paper);
        ``"expressive"``, softmax pooling over time of each frame's
        expressiveness, with neutral as the absence of expression; or a
        baseline: ``"mean"``, ``"max"``, ``"lstm"``.  ``"auto"`` is
        ``"expressive"`` when the classes include ``"neutral"`` and
        ``"softmax"`` otherwise: class-wise peaks let the many neutral frames
        of a clip outvote its expression (see ``docs/classifier.md``).
    temperature : float or None, default=None
        Temperature of softmax and expressive pooling, in units of frame
        probability: small approaches max pooling, large approaches mean
        pooling.  The weights are computed from probabilities, so the
        temperature means the same before and after training and is
        searchable with ``GridSearchCV``; changing it on a fitted model takes
        effect at once.  None: the pooling's measured default (softmax 0.2,
        expressive 0.35).
    learn_temperature : bool, default=False
        Train the temperature (starting from ``temperature``).
    n_heads : int, default=1
        Number of attention heads.
    attention_penalty : float, default=0.0
        Weight of the penalty ``||A A^T - I||^2`` that keeps attention heads
        apart (Lin et al., 2017).
    feature_stage : {3, 4}, default=4
        Residual block whose map is pooled; see :class:`VideoEmotionNet`.
    freeze_backbone : bool, default=True
        Keep the pretrained CNN fixed.  Then ``fit`` runs it once per clip and
        trains the rest on the cached feature maps.
    backbone_lr_scale : float, default=0.1
        When fine-tuning (``freeze_backbone=False``), the backbone's learning
        rate relative to ``lr``: the pretrained layers move less than the new
        ones.  Ignored when ``optimizer__param_groups`` is given.
    weights : FaceResNetWeights, MiniXceptionWeights, str or path, default=None
        Pretrained backbone weights, which also decide its architecture:
        ``None`` is the package's default (see
        :func:`~sk_emotion.weights.resolve_emotion_weights`), ``"FERPLUS"``
        the FaceResNet trained on FER+ votes, ``"FER2013"`` the paper's
        mini-Xception; or the path of a copy of a weights file
        (checksum-verified).
    mirror : bool, default=False
        Average each face's backbone features with those of its mirror image
        (flipped back into place): a test-time augmentation, in training as
        in prediction, at twice the backbone's cost.  Zero-shot with the FER+
        backbone it labels 0.5 points more held-out faces right and 1.7
        points more clips of one emotion throughout, for 18-34% more time
        per video (``docs/weights.md``).
    class_prior : {"uniform"}, array-like of shape (n_classes,) or None, default=None
        How often each class is expected where the model predicts.  The
        network's scores assume the class frequencies it was trained under
        (``module_.training_log_prior``, from ``module_.training_counts``: the
        pretrained FER+ network's balanced sampling of FER2013's faces, or the
        labels given to ``fit``, added to by ``partial_fit``); given
        other frequencies, every frame's scores move by the log ratio
        (Bayes' rule under a change of prior) before temporal pooling.
        ``"uniform"``: every class equally likely, as in balanced video
        benchmarks such as AFEW; an array: frequencies in the order of
        ``classes_`` (positive; scaled to sum to one), e.g.
        ``FaceResNetWeights.FERPLUS.meta["class_frequencies"]`` for single
        photos of faces from the web.  None leaves the scores as trained.
        Training ignores it; changing it on a fitted model takes effect at
        once.  See ``docs/classifier.md``, *Class priors*.
    random_state : int, RandomState or None, default=None
        Seed of weight initialisation and batch shuffling; an int makes two
        fits identical.
    criterion : type, default=torch.nn.CrossEntropyLoss
        Loss on the video logits; its arguments go through ``criterion__*``.
    optimizer : type, default=torch.optim.Adam
        Optimiser class; its arguments go through ``optimizer__*``.
    lr : float, default=3e-3
        Learning rate of the trained layers (pooling and classifier).
    max_epochs : int, default=40
        Upper bound; with the default ``train_split`` and callbacks, training
        stops earlier when the validation loss stops improving.
    batch_size : int, default=32
        Clips per training and prediction batch.
    train_split : callable or None, default=HoldoutSplit()
        skorch's internal validation split.  By default 20% of the training
        clips, stratified, are held out; the ``early_stopping`` callback
        (:class:`~sk_emotion.estimators.training.ValidationEarlyStopping`)
        stops when their loss has not improved for 5 epochs and restores the
        best epoch's parameters.  ``None`` trains on all clips for
        ``max_epochs`` epochs.
    verbose : int, default=0
        1 prints one line per epoch (losses, validation accuracy, time).
    classes : sequence or None, default=None
        Fixed label set, kept in the order given (the columns of
        ``predict_proba``); ``None`` takes the labels found in ``y``, sorted.
    **kwargs
        Any other skorch parameter (``device``, ``callbacks``,
        ``callbacks__early_stopping__patience``, ``module__attention_hidden``,
        ``optimizer__weight_decay``...).

    Attributes
    ----------
    classes_ : numpy.ndarray
        Labels known to the model, in the column order of ``predict_proba``.
    label_encoder_ : sklearn.preprocessing.LabelEncoder
        Maps labels to the network's output indices.
    module_ : VideoEmotionNet
        The trained network.
    history_ : skorch.History
        Training history (loss per epoch, timing).
    n_frames_in_ : int
        Number of frames per clip seen in ``fit`` (predictions accept any).

    Examples
    --------
    >>> import numpy as np
    >>> from sk_emotion import EmotionClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.integers(0, 256, size=(8, 4, 64, 64), dtype=np.uint8)
    >>> y = np.array(["happy", "sad"] * 4)
    >>> clf = EmotionClassifier(max_epochs=2, random_state=0).fit(X, y)
    >>> clf.predict(X[:2]).shape
    (2,)
    >>> clf.classes_.tolist()
    ['happy', 'sad']
    """

    def __init__(
        self,
        module: type[torch.nn.Module] | torch.nn.Module = VideoEmotionNet,
        *,
        spatial_pooling: str = "attention",
        temporal_pooling: str = "auto",
        temperature: float | None = None,
        learn_temperature: bool = False,
        n_heads: int = 1,
        attention_penalty: float = 0.0,
        feature_stage: int = 4,
        freeze_backbone: bool = True,
        backbone_lr_scale: float = 0.1,
        weights: FaceResNetWeights | MiniXceptionWeights | str | os.PathLike | None = None,
        mirror: bool = False,
        class_prior: str | ArrayLike | None = None,
        random_state: int | np.random.RandomState | None = None,
        criterion: type[torch.nn.Module] = torch.nn.CrossEntropyLoss,
        optimizer: type[torch.optim.Optimizer] = torch.optim.Adam,
        lr: float = 3e-3,
        max_epochs: int = 40,
        batch_size: int = 32,
        train_split: Callable | None = _DEFAULT_SPLIT,
        verbose: int = 0,
        classes: ArrayLike | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            module,
            criterion=criterion,
            optimizer=optimizer,
            lr=lr,
            max_epochs=max_epochs,
            batch_size=batch_size,
            train_split=train_split,
            verbose=verbose,
            classes=classes,
            **kwargs,
        )
        self.spatial_pooling = spatial_pooling
        self.temporal_pooling = temporal_pooling
        self.temperature = temperature
        self.learn_temperature = learn_temperature
        self.n_heads = n_heads
        self.attention_penalty = attention_penalty
        self.feature_stage = feature_stage
        self.freeze_backbone = freeze_backbone
        self.backbone_lr_scale = backbone_lr_scale
        self.weights = weights
        self.mirror = mirror
        self.class_prior = class_prior
        self.random_state = random_state

    def _get_param_names(self) -> list[str]:
        # skorch lists every attribute not ending in "_", its bookkeeping set
        # _params_to_validate included; a parameter never starts with "_".
        return [name for name in super()._get_param_names() if not name.startswith("_")]

    # ------------------------------------------------------------ validation
    @property
    def _parameter_constraints(self) -> dict:
        """Declarative constraints of this class's own parameters (skorch's are skorch's).

        A property because the pooling names come from the registries, to
        which users may add.
        """
        return {
            "spatial_pooling": [StrOptions(set(SPATIAL_POOLINGS.options))],
            "temporal_pooling": [StrOptions(set(TEMPORAL_POOLINGS.options))],
            "temperature": [None, TEMPERATURE],
            "learn_temperature": ["boolean"],
            "n_heads": [Interval(Integral, 1, None, closed="left")],
            "attention_penalty": [Interval(Real, 0, None, closed="left")],
            "feature_stage": [Options(Integral, set(FEATURE_STAGES))],
            "freeze_backbone": ["boolean"],
            "backbone_lr_scale": [Interval(Real, 0, None, closed="left")],
            "mirror": ["boolean"],
            "class_prior": [None, StrOptions({"uniform"}), "array-like"],
            "weights": [None, str, os.PathLike, MiniXceptionWeights, FaceResNetWeights],
            "random_state": ["random_state"],
        }

    def _check_own_params(self) -> None:
        # skorch's NeuralNet defines its own _validate_params (for its prefixes): call sklearn's check.
        validate_parameter_constraints(self._parameter_constraints, self.get_params(deep=False),
                                       caller_name=type(self).__name__)
        _check_module_routes(self)
        resolve_emotion_weights(self.weights)

    @property
    def _input_size(self) -> tuple[int, int]:
        return tuple(resolve_emotion_weights(self.weights).transforms["input_size"])

    def _clips(self, X, name: str = "X") -> np.ndarray:
        return check_clips(X, input_size=self._input_size, name=name)

    # --------------------------------------------------------------- classes
    @property
    def classes_(self) -> np.ndarray:
        try:
            return self.label_encoder_.classes_
        except AttributeError:
            raise AttributeError(
                f"{type(self).__name__} has no attribute 'classes_': call fit first "
                "or use EmotionClassifier.from_pretrained()"
            ) from None

    def _encode_labels(self, y, n_samples: int, *, refit: bool) -> np.ndarray:
        labels = check_labels(y, n_samples)
        if refit:
            encoder = LabelEncoder()
            if self.classes is not None:
                # The user's order is kept, as skorch keeps it (LabelEncoder would sort).
                given = check_labels(list(self.classes))
                if len(set(given.tolist())) != len(given):
                    raise ValueError(f"classes has repeated labels: {list(self.classes)}")
                encoder.classes_ = given
            else:
                encoder.fit(labels)
            if len(encoder.classes_) < 2:
                raise ValueError(
                    f"y has only one class {encoder.classes_.tolist()}; a classifier needs at "
                    "least two classes"
                )
            self.label_encoder_ = encoder
        known = set(self.label_encoder_.classes_.tolist())
        unknown = sorted({str(v) for v in labels.tolist() if v not in known})
        if unknown:
            raise ValueError(
                f"y contains unknown label(s) {unknown}; known labels are "
                f"{self.label_encoder_.classes_.tolist()}"
            )
        index = {label: i for i, label in enumerate(self.label_encoder_.classes_.tolist())}
        return np.array([index[label] for label in labels.tolist()], dtype=np.int64)

    # ------------------------------------------------------- skorch plumbing
    def initialize_module(self):
        """Create the network from this estimator's parameters and ``module__*``."""
        kwargs = {name: getattr(self, name) for name in _NETWORK_PARAMS}
        # Plain Python numbers (the values were validated, e.g. an np.int64 n_heads).
        kwargs.update(classes=tuple(str(c) for c in self.classes_), n_heads=int(self.n_heads),
                      temperature=None if self.temperature is None else float(self.temperature))
        kwargs.update(self.get_params_for("module"))
        self.module_ = self.initialized_instance(self.module, kwargs)
        self._apply_class_prior()
        return self

    _NO_VALUE = object()

    def _target_log_prior(self, value: Any = _NO_VALUE) -> torch.Tensor | None:
        """``class_prior`` (or ``value``) as log frequencies over ``classes_`` (None: no shift), or raise."""
        class_prior = self.class_prior if value is self._NO_VALUE else value
        if class_prior is None:
            return None
        n_classes = len(self.classes_)
        if isinstance(class_prior, str):  # "uniform", the only string the constraints allow
            prior = np.full(n_classes, 1.0 / n_classes)
        else:
            try:
                prior = np.asarray(class_prior, dtype=np.float64)
            except (TypeError, ValueError):
                prior = np.full(0, np.nan)
            if prior.shape != (n_classes,) or not np.all(np.isfinite(prior)) or np.any(prior <= 0):
                raise ValueError(
                    f"class_prior must hold {n_classes} positive frequencies, one per class of "
                    f"classes_ {self.classes_.tolist()}; got {class_prior!r}"
                )
        log_prior = np.log(prior / prior.sum())
        return torch.as_tensor(log_prior - log_prior.mean(), dtype=torch.float32, device=self.device)

    def _apply_class_prior(self, target: Any = _NO_VALUE) -> None:
        """Hand the network ``target`` (default: ``class_prior``'s log frequencies; None: no shift)."""
        # Read by the network's frame scores: explain, predict, ONNX export and timelines all see it.
        if getattr(self, "module_", None) is not None and hasattr(self.module_, "target_log_prior"):
            self.module_.target_log_prior = self._target_log_prior() if target is self._NO_VALUE else target

    def get_loss(self, y_pred, y_true, X=None, training=False):
        """Cross-entropy of the video logits plus the weighted attention penalty."""
        logits, penalty = y_pred
        loss = super().get_loss(logits, y_true, X=X, training=training)
        if self.attention_penalty:
            loss = loss + self.attention_penalty * penalty.mean()
        return loss

    def set_params(self, **kwargs):
        """Set parameters; a new temperature updates a fitted network in place."""
        if "temperature" in kwargs and getattr(self, "initialized_", False):
            # On a fitted model the value takes effect at once, so it is checked now,
            # before anything changes (unfitted models are checked in fit, as sklearn wants).
            validate_parameter_constraints({"temperature": self._parameter_constraints["temperature"]},
                                           {"temperature": kwargs["temperature"]}, caller_name=type(self).__name__)
        target = self._NO_VALUE
        if "class_prior" in kwargs and getattr(self, "initialized_", False) and hasattr(self, "label_encoder_"):
            # As the temperature: checked in full before anything changes.
            validate_parameter_constraints({"class_prior": self._parameter_constraints["class_prior"]},
                                           {"class_prior": kwargs["class_prior"]}, caller_name=type(self).__name__)
            target = self._target_log_prior(kwargs["class_prior"])
        super().set_params(**kwargs)
        if target is not self._NO_VALUE:
            self._apply_class_prior(target)
        if getattr(self, "initialized_", False) and hasattr(self, "module_"):
            if any(key in kwargs for key in _STRUCTURAL_PARAMS):
                self._initialize_module(reason="structural parameter changed")
                self._initialize_criterion()
                self._initialize_optimizer()
            else:
                if "temperature" in kwargs and hasattr(self.module_.temporal, "set_temperature"):
                    self.module_.temporal.set_temperature(self.temperature)
                if any(key in kwargs for key in _OPTIMIZER_PARAMS):
                    self._initialize_optimizer()
        return self

    def get_default_callbacks(self):
        """Skorch's defaults, with validation accuracy on prepared inputs, early stopping and a plain log."""
        callbacks = []
        for name, callback in super().get_default_callbacks():
            if name == "valid_acc":
                callback = EpochScoring(encoded_accuracy, name="valid_acc", lower_is_better=False,
                                        use_caching=True)
            if name == "print_log":
                callbacks.append(("early_stopping", ValidationEarlyStopping()))
                callback = PrintLog()
            callbacks.append((name, callback))
        return callbacks

    def get_params_for_optimizer(self, prefix, named_parameters):
        """Skorch's optimiser arguments, with a slower backbone when it is fine-tuned."""
        named = list(named_parameters)
        args, kwargs = super().get_params_for_optimizer(prefix, iter(named))
        if (prefix != "optimizer" or self.freeze_backbone
                or getattr(self, "optimizer__param_groups", None) is not None):
            return args, kwargs
        lr = kwargs.get("lr", self.lr)
        backbone = [p for name, p in named if name.startswith("backbone.")]
        others = [p for name, p in named if not name.startswith("backbone.")]
        groups = [{"params": others}, {"params": backbone, "lr": lr * float(self.backbone_lr_scale)}]
        return (groups,), kwargs

    @contextlib.contextmanager
    def _seeded(self):
        """Seed torch's global generator for the duration of a fit, then restore it."""
        if self.random_state is None:
            yield
            return
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            yield

    def _network_input(self, clips: np.ndarray, *, cache_features: bool) -> dict[str, Any]:
        """What the module's ``forward`` takes: raw clips, or precomputed backbone features."""
        if not cache_features:
            return {"clips": clips}
        module = self.module_
        module.eval()
        chunks = []
        step = max(1, 1024 // clips.shape[1])  # bounded memory per backbone call
        with torch.inference_mode():
            for start in range(0, len(clips), step):
                batch = torch.as_tensor(clips[start:start + step], device=self.device)
                chunks.append(module.encode(batch).cpu())
        return {"features": torch.cat(chunks).numpy()}

    # -------------------------------------------------------------- fitting
    def fit(self, X, y, **fit_params):
        """Fit the network to face clips.

        Parameters
        ----------
        X : array-like of shape (n_videos, n_frames, [channels,] 64, 64)
            Face clips with pixel values in [0, 255], as returned by
            :class:`~sk_emotion.VideoFaceExtractor`.
        y : array-like of shape (n_videos,)
            Emotion labels (strings or integers).
        **fit_params
            Passed to skorch's ``fit``.

        Returns
        -------
        self
        """
        self._check_own_params()
        check_labels(y)
        clips = self._clips(X)
        if not self.warm_start or not getattr(self, "initialized_", False):
            targets = self._encode_labels(y, len(clips), refit=True)
            self._check_prior_for_new_classes()
            with self._seeded():
                self.initialize()
                self._fit_prepared(clips, targets, refit=True, **fit_params)
        else:
            targets = self._encode_labels(y, len(clips), refit=False)
            with self._seeded():
                self._fit_prepared(clips, targets, refit=False, **fit_params)
        return self

    def _check_prior_for_new_classes(self) -> None:
        # The label encoder was just replaced: a prior that does not fit its classes leaves no
        # half-fitted model behind (the old network with the new classes).
        try:
            self._target_log_prior()
        except ValueError:
            self.initialized_ = False
            raise

    def partial_fit(self, X, y=None, classes=None, **fit_params):
        """Continue training on more clips (initialises the network on the first call)."""
        self._check_own_params()
        check_labels(y)
        clips = self._clips(X)
        first = not getattr(self, "initialized_", False)
        targets = self._encode_labels(y, len(clips), refit=first)
        if first:
            self._check_prior_for_new_classes()
        with self._seeded():
            if first:
                self.initialize()
            self._fit_prepared(clips, targets, refit=first, **fit_params)
        return self

    def _fit_prepared(self, clips: np.ndarray, targets: np.ndarray, *, refit: bool, **fit_params) -> None:
        self.n_frames_in_ = int(clips.shape[1])
        target = self._target_log_prior()  # checked before any training
        X_net = self._network_input(clips, cache_features=bool(self.freeze_backbone))
        module = self.module_
        if hasattr(module, "training_counts"):
            # The loss sees these labels' frequencies; partial_fit and warm starts add to them.
            counts = torch.as_tensor(np.bincount(targets, minlength=len(self.classes_)), dtype=torch.float32)
            if refit:
                module.training_counts.copy_(counts)
            else:
                module.training_counts.add_(counts.to(module.training_counts.device))
        self._apply_class_prior(None)  # training fits the labels as given
        try:
            super().partial_fit(X_net, targets, **fit_params)
        finally:
            self._apply_class_prior(target)

    # ----------------------------------------------------------- prediction
    def _check_ready(self) -> None:
        if not getattr(self, "initialized_", False) or not hasattr(self, "label_encoder_"):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet: call fit with "
                "training clips, or use EmotionClassifier.from_pretrained()"
            )

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities of each clip, columns in the order of ``classes_``.

        Parameters
        ----------
        X : array-like of shape (n_videos, n_frames, [channels,] 64, 64)
            Face clips; any number of frames, one included.

        Returns
        -------
        numpy.ndarray of shape (n_videos, n_classes)
        """
        self._check_ready()
        clips = self._clips(X)
        return check_probabilities(super().predict_proba({"clips": clips}), source=type(self).__name__)

    # Package-internal: the network scores every frame on its own up to temporal
    # pooling (the backbone sees one face at a time), so a clip's features are
    # its frames' features stacked.  Timelines encode each sampled face once,
    # though every face lies in two overlapping windows.
    def _encode_faces(self, faces: np.ndarray) -> np.ndarray:
        """Backbone features ``(n, C', h, w)`` of single faces ``(n, [channels,] H, W)``."""
        self._check_ready()
        clips = self._clips(np.asarray(faces)[:, None], name="faces")
        return self._network_input(clips, cache_features=True)["features"][:, 0]

    def _predict_proba_encoded(self, features: np.ndarray) -> np.ndarray:
        """:meth:`predict_proba` of clips given as their frames' :meth:`_encode_faces` stacked."""
        self._check_ready()
        features = np.asarray(features, np.float32)
        return check_probabilities(super().predict_proba({"features": features}), source=type(self).__name__)

    def predict(self, X) -> np.ndarray:
        """Predicted label of each clip (labels as given to ``fit``)."""
        indices = self.predict_proba(X).argmax(axis=1)
        return self.classes_[indices]

    def explain(self, X: ArrayLike, batch_size: int | None = None) -> Explanation:
        """Attention maps, temporal weights and per-frame probabilities of each clip.

        Parameters
        ----------
        X : array-like of shape (n_videos, n_frames, [channels,] 64, 64)
            Face clips.
        batch_size : int, optional
            Clips per forward pass (default: ``batch_size``).

        Returns
        -------
        Explanation
            Arrays per clip and frame; ``Explanation.to_frame()`` gives a tidy
            per-frame table.
        """
        self._check_ready()
        clips = self._clips(X)
        step = batch_size or self.batch_size or len(clips)
        parts: dict[str, list[np.ndarray]] = {}
        self.module_.eval()
        with torch.inference_mode():
            for start in range(0, len(clips), step):
                batch = torch.as_tensor(clips[start:start + step], device=self.device)
                for key, value in self.module_.explain(batch).items():
                    parts.setdefault(key, []).append(to_numpy(value))
        out = {key: np.concatenate(value) for key, value in parts.items()}
        return Explanation.from_outputs(
            self.classes_,
            probabilities=check_probabilities(_softmax(out["logits"]), source=type(self).__name__),
            frame_probabilities=_softmax(out["frame_logits"]),
            class_temporal_weights=out["temporal_weights"],
            attention_maps=out["attention_maps"],
        )

    def to_onnx(self, path: str | os.PathLike, *, opset: int = 17, n_frames: int = 16,
                verify: bool = True) -> Path:
        """Export the network to ONNX; see :func:`sk_emotion.export.export_onnx`.

        The graph takes gray clips ``(batch, frames, 1, 64, 64)`` (both
        dimensions dynamic) and returns video probabilities, frame
        probabilities, temporal weights and attention maps; ``classes_`` and
        the preprocessing are stored in its metadata.  Use
        :class:`sk_emotion.OnnxEmotionClassifier` to predict with it.

        Parameters
        ----------
        path : str or path-like
            Where to write the model.
        opset : int, default=17
            ONNX opset (12 to what the installed torch supports).
        n_frames : int, default=16
            Frames of the tracing input; the graph accepts any number.
        verify : bool, default=True
            Compare the written graph with the torch network on other shapes.

        Returns
        -------
        pathlib.Path
            The path written.
        """
        from ..export.exporter import export_onnx  # lazy: export is optional (onnx extra)

        return export_onnx(self, path, opset=opset, n_frames=n_frames, verify=verify)

    # ----------------------------------------------------------- pretrained
    @classmethod
    def from_pretrained(cls, weights: FaceResNetWeights | MiniXceptionWeights | str | os.PathLike | None = None,
                        **kwargs: Any) -> EmotionClassifier:
        """A ready-to-predict zero-shot model: the pretrained CNN applied to every frame.

        Uses the backbone's own FER2013 head, average spatial pooling and
        expressive temporal pooling (``temporal_pooling="auto"`` with the
        seven FER2013 emotions as ``classes_``): frames weigh by how far they
        are from neutral, so a run of expressive frames labels the clip and
        a clip is neutral only when no run is expressive.  Measured on clips
        of held-out real faces with the default FER+ backbone, this labels
        90% of clips of one emotion throughout and 99% of neutral-to-apex
        sequences right, against 80% and 61% for class-wise softmax pooling
        (``docs/weights.md``).  Settings the weights declare in
        ``meta["zero_shot"]`` apply too: the default FER+ backbone's
        temperature is 0.35.  On one-frame clips its probabilities are
        exactly the pretrained CNN's.

        Parameters
        ----------
        weights : FaceResNetWeights, MiniXceptionWeights, str or path, optional
            Backbone weights (default: the package's default, see
            :func:`~sk_emotion.weights.resolve_emotion_weights`).
        **kwargs
            Other estimator parameters (e.g. ``temperature``, ``device``).

        Returns
        -------
        EmotionClassifier
            Initialised, with ``classes_`` set; it can also be fine-tuned
            with ``fit``.

        Examples
        --------
        >>> import numpy as np
        >>> clf = EmotionClassifier.from_pretrained()
        >>> clf.classes_.tolist()
        ['angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral']
        >>> clf.predict_proba(np.zeros((1, 1, 64, 64), np.uint8)).shape
        (1, 7)
        """
        # The weights' own zero-shot settings (e.g. mirror averaging), which kwargs override.
        rule = dict(resolve_emotion_weights(weights).meta.get("zero_shot", {}))
        params = {"spatial_pooling": "avg", "temporal_pooling": "auto", **rule, "weights": weights, **kwargs}
        estimator = cls(**params)
        estimator._check_own_params()
        categories = list(resolve_emotion_weights(estimator.weights).meta["categories"])
        estimator.classes = categories
        encoder = LabelEncoder()
        # LabelEncoder sorts; keep the network's FER2013 output order instead.
        encoder.classes_ = np.asarray(categories)
        estimator.label_encoder_ = encoder
        estimator.initialize()
        estimator.n_frames_in_ = 1
        return estimator

    def __setstate__(self, state: dict) -> None:
        # Pickles written before class priors existed: their scores as trained.
        state.setdefault("class_prior", None)
        super().__setstate__(state)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.non_deterministic = self.random_state is None
        return tags


def _check_module_routes(estimator) -> None:
    """Refuse ``module__x`` for an ``x`` the estimator has as its own parameter, with a hint."""
    for key in estimator.get_params_for("module"):
        if key in _SHADOWED:
            raise ValueError(
                f"module__{key} sets what the estimator's own parameter {key}= sets; "
                f"did you mean EmotionClassifier({key}=...)? (it is passed to the network)"
            )


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)
