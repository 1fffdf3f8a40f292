"""Stage 4 of the method: temporal pooling of per-frame class scores into video scores.

Every temporal pooling takes the frame logits ``(N, T, K)`` (and the
spatially pooled frame features ``(N, T, C)``, which only the LSTM uses) and
returns

* the video logits ``(N, K)`` (log-probabilities for the poolings of
  probabilities below; the network's cross-entropy and ``predict_proba``
  apply a softmax, which leaves log-probabilities unchanged),
* the frame logits ``(N, T, K)`` it scored (the LSTM's own), and
* the weight of every frame in every class's video score ``(N, T, K)``,
  summing to one over frames.

The poolings of the paper weigh frames by their class *probabilities*
``p[t, c]`` rather than by raw logits, so that a temperature means the same
thing for the pretrained network, for an untrained head and after training
(raw logits double in scale during training, which turned a fixed
temperature from "pool most frames" into "pool two frames").

Poolings are registered by name in :data:`TEMPORAL_POOLINGS`; adding one is a
subclass of :class:`TemporalPooling` decorated with
:func:`register_temporal_pooling`.  Its ``__init__`` takes any of the keyword
arguments the network offers (``classes``, ``n_features``, ``temperature``,
``learn_temperature``, ``lstm_hidden``) and ignores the others.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Real
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from .._sklearn_compat import StrictInterval, validate_parameter_constraints
from .registry import Registry

__all__ = [
    "TEMPERATURE",
    "TEMPORAL_POOLINGS",
    "resolve_temporal_pooling",
    "ExpressivePooling",
    "LSTMPooling",
    "MaxPooling",
    "MeanPooling",
    "SoftmaxPooling",
    "TemporalPooling",
    "register_temporal_pooling",
]

_EPS = 1e-12  # floor of pooled probabilities before the log


def resolve_temporal_pooling(name: str, classes: Sequence[str]) -> str:
    """The registered pooling a name stands for.

    ``"auto"`` stands for ``"expressive"`` when the classes include
    ``"neutral"`` (neutral is then the absence of expression, not a class to
    find a peak of), ``"softmax"`` otherwise.  Other names are returned
    unchanged (and not checked).

    Parameters
    ----------
    name : str
        A pooling name, or ``"auto"``.
    classes : sequence
        The output classes, compared as strings.

    Returns
    -------
    str
        ``name``, or the pooling ``"auto"`` resolves to.
    """
    if name != "auto":
        return name
    return "expressive" if "neutral" in [str(c) for c in classes] else "softmax"


#: What a temperature may be, in scikit-learn's constraint form: a positive finite
#: number.  The poolings check it; ``EmotionClassifier`` declares it (None there
#: means the pooling's default) and the command line checks ``--temperatures`` with it.
TEMPERATURE = StrictInterval(Real, 0, math.inf, closed="neither")


def _check_temperature(temperature: float, caller_name: str) -> float:
    validate_parameter_constraints({"temperature": [TEMPERATURE]}, {"temperature": temperature},
                                   caller_name=caller_name)
    return float(temperature)


def _log(probabilities: torch.Tensor) -> torch.Tensor:
    return probabilities.clamp_min(_EPS).log()


class TemporalPooling(nn.Module):
    """Base class: frame scores ``(N, T, K)`` in, video scores ``(N, K)`` out.

    Subclasses set ``name`` and implement :meth:`forward`.
    """

    name: ClassVar[str] = ""

    def __init__(self) -> None:
        super().__init__()

    def forward(self, frame_logits: torch.Tensor, frame_features: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:  # pragma: no cover - abstract
        """Video logits ``(N, K)``, frame logits ``(N, T, K)``, frame weights ``(N, T, K)``.

        Parameters
        ----------
        frame_logits : torch.Tensor of shape (N, T, K)
            Class scores of every frame.
        frame_features : torch.Tensor of shape (N, T, C)
            Spatially pooled features of every frame.

        Returns
        -------
        video_logits : torch.Tensor of shape (N, K)
            Video scores; the network applies a softmax to them.
        frame_logits : torch.Tensor of shape (N, T, K)
            The frame scores the pooling used (its own for the LSTM).
        weights : torch.Tensor of shape (N, T, K)
            Weight of every frame in every class's video score, summing to
            one over frames.
        """
        raise NotImplementedError

    def export_metadata(self) -> dict[str, Any]:
        """What an exported model records about this pooling.

        Returns
        -------
        dict
            JSON-serialisable ``temporal_pooling`` (the registered name),
            ``temperature`` (None for poolings without one) and
            ``learn_temperature``.
        """
        return {"temporal_pooling": self.name, "temperature": None, "learn_temperature": False}


class _TemperatureMixin:
    """A positive temperature, fixed (a buffer) or learned in log space (a parameter)."""

    default_temperature: ClassVar[float]

    def _init_temperature(self, temperature: float | None, learn_temperature: bool) -> None:
        if temperature is None:
            temperature = self.default_temperature
        log_t = torch.tensor(math.log(_check_temperature(temperature, type(self).__name__)), dtype=torch.float32)
        if learn_temperature:
            self.log_temperature = nn.Parameter(log_t)
        else:
            self.register_buffer("log_temperature", log_t)

    @property
    def temperature(self) -> float:
        """The current temperature, in units of probability."""
        return float(self.log_temperature.detach().exp())

    def set_temperature(self, temperature: float | None) -> None:
        """Change the temperature in place (``set_params`` on a fitted estimator)."""
        if temperature is None:
            temperature = self.default_temperature
        with torch.no_grad():
            self.log_temperature.fill_(math.log(_check_temperature(temperature, type(self).__name__)))

    def export_metadata(self) -> dict[str, Any]:
        """The pooling's name, current temperature and whether it is learned."""
        return {"temporal_pooling": self.name, "temperature": self.temperature,
                "learn_temperature": isinstance(self.log_temperature, nn.Parameter)}


#: Name -> temporal pooling class; ``@register_temporal_pooling`` adds one.  The
#: option also accepts ``"auto"`` (see :func:`resolve_temporal_pooling`).
TEMPORAL_POOLINGS: Registry = Registry("temporal_pooling", TemporalPooling, aliases=("auto",))
register_temporal_pooling = TEMPORAL_POOLINGS.register


@register_temporal_pooling
class SoftmaxPooling(_TemperatureMixin, TemporalPooling):
    """Softmax pooling over time with a temperature (the method).

    The weights come from the frame probabilities ``p[t, c]`` (the softmax of
    the frame logits ``z[t, c]`` over classes), ``w[t, c] = softmax_t(p[t, c]
    / T)``, and pool the frame *logits*: the video logit of class ``c`` is
    ``sum_t w[t, c] z[t, c]`` (the network's softmax over classes turns the
    video logits into probabilities).  A small temperature approaches
    max pooling (``T = 0.05``: a frame 0.15 more confident weighs 20 times
    more), a large one mean pooling (``T = 1``: at most 2.7 times).

    Parameters
    ----------
    temperature : float or None, default=None
        Positive temperature, in units of probability (initial value when
        learned); None is :attr:`default_temperature`.
    learn_temperature : bool, default=False
        Whether the temperature is trained (in log space, so that it stays positive).

    Notes
    -----
    The weights come from the frames' probabilities (bounded, so the
    temperature keeps its meaning through training) and pool the frames'
    logits.  Pooling probabilities instead forces every frame to vote for
    some class; trained that way, the network turned neutral faces into a
    "sad" sink that won every clip (measured in ``benchmarks/real_faces.py``),
    while logits let a frame abstain.
    """

    name = "softmax"
    #: Measured on clips of real faces (``benchmarks/real_faces.py``): 0.2 gave
    #: 0.865 against 0.832 for 0.1 and 0.835 for 0.3 with attention, 3 seeds.
    default_temperature = 0.2

    def __init__(self, temperature: float | None = None, learn_temperature: bool = False) -> None:
        super().__init__()
        self._init_temperature(temperature, learn_temperature)

    def forward(self, frame_logits: torch.Tensor, frame_features: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Pool the frame logits with weights from the frame probabilities.

        Parameters
        ----------
        frame_logits : torch.Tensor of shape (N, T, K)
            Class scores of every frame.
        frame_features : torch.Tensor of shape (N, T, C)
            Spatially pooled features of every frame (unused).

        Returns
        -------
        video_logits : torch.Tensor of shape (N, K)
            ``sum_t w[t, c] frame_logits[t, c]``.
        frame_logits : torch.Tensor of shape (N, T, K)
            The input ``frame_logits``.
        weights : torch.Tensor of shape (N, T, K)
            ``w[t, c] = softmax_t(p[t, c] / temperature)``, with ``p`` the
            softmax of ``frame_logits`` over classes.
        """
        p = torch.softmax(frame_logits, dim=-1)
        weights = torch.softmax(p / self.log_temperature.exp(), dim=1)
        return (weights * frame_logits).sum(dim=1), frame_logits, weights


@register_temporal_pooling
class MeanPooling(TemporalPooling):
    """Mean of the frame logits (baseline); every frame weighs ``1 / T``."""

    name = "mean"

    def forward(self, frame_logits: torch.Tensor, frame_features: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Average the frame logits over time.

        Parameters
        ----------
        frame_logits : torch.Tensor of shape (N, T, K)
            Class scores of every frame.
        frame_features : torch.Tensor of shape (N, T, C)
            Spatially pooled features of every frame (unused).

        Returns
        -------
        video_logits : torch.Tensor of shape (N, K)
            Mean of ``frame_logits`` over frames.
        frame_logits : torch.Tensor of shape (N, T, K)
            The input ``frame_logits``.
        weights : torch.Tensor of shape (N, T, K)
            ``1 / T`` everywhere.
        """
        weights = torch.full_like(frame_logits, 1.0 / frame_logits.shape[1])
        return frame_logits.mean(dim=1), frame_logits, weights


@register_temporal_pooling
class MaxPooling(TemporalPooling):
    """Max over time of each class's frame logit (baseline); the softmax renormalises them.

    The weight of each class is one at its arg-max frame.
    """

    name = "max"

    def forward(self, frame_logits: torch.Tensor, frame_features: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Take each class's largest frame logit.

        Parameters
        ----------
        frame_logits : torch.Tensor of shape (N, T, K)
            Class scores of every frame.
        frame_features : torch.Tensor of shape (N, T, C)
            Spatially pooled features of every frame (unused).

        Returns
        -------
        video_logits : torch.Tensor of shape (N, K)
            Maximum of ``frame_logits`` over frames, class by class.
        frame_logits : torch.Tensor of shape (N, T, K)
            The input ``frame_logits``.
        weights : torch.Tensor of shape (N, T, K)
            One at each class's arg-max frame, zero elsewhere.
        """
        pooled, index = frame_logits.max(dim=1)
        weights = F.one_hot(index, frame_logits.shape[1]).transpose(1, 2).to(frame_logits.dtype)
        return pooled, frame_logits, weights


@register_temporal_pooling
class LSTMPooling(TemporalPooling):
    """An LSTM over the pooled frame features; the video score is its last output (baseline).

    Parameters
    ----------
    n_features : int
        Size of each frame's pooled feature vector.
    classes : sequence of str
        Output classes.
    lstm_hidden : int, default=128
        Hidden size of the LSTM.
    """

    name = "lstm"

    def __init__(self, n_features: int, classes: Sequence[str], lstm_hidden: int = 128) -> None:
        super().__init__()
        self.lstm = nn.LSTM(n_features, lstm_hidden, batch_first=True)
        self.classifier = nn.Linear(lstm_hidden, len(classes))

    def forward(self, frame_logits: torch.Tensor, frame_features: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Run the LSTM over the frame features.

        Parameters
        ----------
        frame_logits : torch.Tensor of shape (N, T, K)
            Class scores of every frame (unused: the LSTM scores frames itself).
        frame_features : torch.Tensor of shape (N, T, n_features)
            Spatially pooled features of every frame.

        Returns
        -------
        video_logits : torch.Tensor of shape (N, K)
            The classifier's output after the last frame.
        frame_logits : torch.Tensor of shape (N, T, K)
            The classifier's output after each frame.
        weights : torch.Tensor of shape (N, T, K)
            ``1 / T`` everywhere (the LSTM has no per-frame weights).
        """
        hidden, _ = self.lstm(frame_features)
        scores = self.classifier(hidden)  # prediction after each frame
        weights = torch.full_like(scores, 1.0 / scores.shape[1])
        return scores[:, -1], scores, weights


@register_temporal_pooling
class ExpressivePooling(_TemperatureMixin, TemporalPooling):
    """Neutral-aware softmax pooling: a video shows an emotion when some of its frames do.

    Each frame is weighted by how expressive it is, ``w[t] = softmax_t((1 -
    p[t, neutral]) / T)``, and the video's distribution is the weighted mean
    of the frames' distributions, ``P = sum_t w[t] p[t]``.  Confident neutral
    frames (the onset of a posed expression, the listener between two
    sentences) then cannot outvote a run of expressive ones, as they do under
    class-wise pooling; among expressive frames every emotion is pooled with
    the same weights, so a few frames that read strongly as another emotion
    (a crying face's closed eyes and pulled mouth reading "happy") do not
    take over a run of sad ones, as they do under class-wise max or softmax
    pooling.  ``neutral`` wins only when no frame run is expressive.

    Parameters
    ----------
    classes : sequence of str
        Output classes; must include ``"neutral"``.
    temperature : float or None, default=None
        Positive temperature, in units of probability: how much more
        expressive a frame must be to count ``e`` times more.  None is
        :attr:`default_temperature`, 0.35: a single expressive frame among
        15 neutral ones weighs about a third and does not decide the video;
        three do.
    learn_temperature : bool, default=False
        Whether the temperature is trained.

    Raises
    ------
    ValueError
        When ``classes`` has no ``"neutral"``.
    """

    name = "expressive"
    #: Zero-shot on clips of real faces (``benchmarks/real_faces.py``, 3 seeds):
    #: 0.2 / 0.3 / 0.35 / 0.4 / 0.5 gave 0.807 / 0.878 / 0.903 / 0.889 / 0.854.
    default_temperature = 0.35

    def __init__(self, classes: Sequence[str], temperature: float | None = None,
                 learn_temperature: bool = False) -> None:
        super().__init__()
        classes = [str(c) for c in classes]
        if "neutral" not in classes:
            raise ValueError(
                "temporal_pooling='expressive' weighs frames by how far they are from 'neutral', "
                f"but the classes {classes} have no 'neutral'; use 'softmax' instead"
            )
        self.neutral = classes.index("neutral")
        self._init_temperature(temperature, learn_temperature)

    def forward(self, frame_logits: torch.Tensor, frame_features: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Average the frame distributions, weighted by how expressive each frame is.

        Parameters
        ----------
        frame_logits : torch.Tensor of shape (N, T, K)
            Class scores of every frame.
        frame_features : torch.Tensor of shape (N, T, C)
            Spatially pooled features of every frame (unused).

        Returns
        -------
        video_logits : torch.Tensor of shape (N, K)
            ``log(sum_t w[t] p[t])``, log-probabilities (floored at 1e-12
            before the log).
        frame_logits : torch.Tensor of shape (N, T, K)
            The input ``frame_logits``.
        weights : torch.Tensor of shape (N, T, K)
            ``w[t] = softmax_t((1 - p[t, neutral]) / temperature)``, the
            same for every class.
        """
        p = torch.softmax(frame_logits, dim=-1)
        expressiveness = 1.0 - p[..., self.neutral]  # (N, T)
        w = torch.softmax(expressiveness / self.log_temperature.exp(), dim=1)
        pooled = (w.unsqueeze(-1) * p).sum(dim=1)
        weights = w.unsqueeze(-1).expand_as(p)
        return _log(pooled), frame_logits, weights
