"""Spatial and temporal pooling modules of the method.

Spatial pooling turns a frame's feature map into one vector; temporal pooling
turns per-frame class scores ``s[t, c]`` into video scores ``z[c]``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "SpatialAttention",
    "SoftmaxTemporalPooling",
    "attention_penalty",
    "mean_pool",
    "max_pool",
    "SPATIAL_POOLINGS",
    "check_pooling_options",
    "TEMPORAL_POOLINGS",
]

SPATIAL_POOLINGS = ("attention", "avg")
TEMPORAL_POOLINGS = ("softmax", "mean", "max", "lstm")
FEATURE_STAGES = (3, 4)


def check_pooling_options(spatial_pooling: str, temporal_pooling: str, feature_stage: int) -> None:
    """Raise ``ValueError`` naming the allowed values when a pooling option is unknown."""
    if spatial_pooling not in SPATIAL_POOLINGS:
        raise ValueError(f"spatial_pooling must be one of {SPATIAL_POOLINGS}, got {spatial_pooling!r}")
    if temporal_pooling not in TEMPORAL_POOLINGS:
        raise ValueError(f"temporal_pooling must be one of {TEMPORAL_POOLINGS}, got {temporal_pooling!r}")
    if feature_stage not in FEATURE_STAGES:
        raise ValueError(f"feature_stage must be one of {FEATURE_STAGES}, got {feature_stage!r}")


class SpatialAttention(nn.Module):
    """Multi-head attention over the positions of a feature map (Lin et al., 2017).

    For features ``H`` of shape ``(C, P)`` over ``P`` positions, head ``h``
    scores every position with ``w_h . tanh(W H_p)`` and normalises the
    scores with a softmax over positions.  The score layer starts at zero, so
    an untrained module attends uniformly, i.e. equals average pooling.

    Parameters
    ----------
    in_channels : int
        Channels of the feature map.
    n_heads : int, default=1
        Number of attention heads (independent maps).
    hidden : int, default=64
        Width of the scoring layer.
    """

    def __init__(self, in_channels: int, n_heads: int = 1, hidden: int = 64) -> None:
        super().__init__()
        self.key = nn.Conv2d(in_channels, hidden, 1)
        self.score = nn.Conv2d(hidden, n_heads, 1)
        nn.init.zeros_(self.score.weight)
        nn.init.zeros_(self.score.bias)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Attention maps ``(N, n_heads, H, W)``, each summing to one over ``H x W``."""
        scores = self.score(torch.tanh(self.key(features)))
        n, heads, height, width = scores.shape
        return torch.softmax(scores.flatten(2), dim=-1).view(n, heads, height, width)


def attention_penalty(maps: torch.Tensor) -> torch.Tensor:
    """Penalty ``||A A^T - I||_F^2`` per sample, keeping heads apart and peaked.

    Parameters
    ----------
    maps : torch.Tensor of shape (N, n_heads, H, W)

    Returns
    -------
    torch.Tensor of shape (N,)
    """
    a = maps.flatten(2)
    gram = a @ a.transpose(1, 2)
    eye = torch.eye(a.shape[1], device=a.device, dtype=a.dtype)
    return ((gram - eye) ** 2).sum(dim=(1, 2))


class SoftmaxTemporalPooling(nn.Module):
    """Softmax pooling over time with a temperature.

    For frame scores ``s[t, c]``, the weights are ``w[t, c] = softmax_t(s[t, c] /
    T)`` and the video score is ``z[c] = sum_t w[t, c] s[t, c]``.  A small
    temperature approaches max pooling, a large one mean pooling.

    Parameters
    ----------
    temperature : float, default=1.0
        Positive temperature (initial value when learned).
    learn_temperature : bool, default=False
        Whether the temperature is a trainable parameter (learned in log space
        so that it stays positive).
    """

    def __init__(self, temperature: float = 1.0, learn_temperature: bool = False) -> None:
        super().__init__()
        if not temperature > 0 or not math.isfinite(temperature):
            raise ValueError(f"temperature must be a positive finite float, got {temperature!r}")
        log_t = torch.tensor(math.log(temperature), dtype=torch.float32)
        if learn_temperature:
            self.log_temperature = nn.Parameter(log_t)
        else:
            self.register_buffer("log_temperature", log_t)

    @property
    def temperature(self) -> float:
        return float(self.log_temperature.exp())

    def set_temperature(self, temperature: float) -> None:
        """Change the temperature in place (used by ``set_params`` after fitting)."""
        if not temperature > 0 or not math.isfinite(temperature):
            raise ValueError(f"temperature must be a positive finite float, got {temperature!r}")
        with torch.no_grad():
            self.log_temperature.fill_(math.log(temperature))

    def forward(self, scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Video scores ``(N, C)`` and temporal weights ``(N, T, C)`` of frame scores ``(N, T, C)``."""
        weights = torch.softmax(scores / self.log_temperature.exp(), dim=1)
        return (weights * scores).sum(dim=1), weights


def mean_pool(scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean over time; weights are ``1 / T`` everywhere."""
    weights = torch.full_like(scores, 1.0 / scores.shape[1])
    return scores.mean(dim=1), weights


def max_pool(scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Max over time; the weight of each class is one at its arg-max frame."""
    pooled, index = scores.max(dim=1)
    weights = F.one_hot(index, scores.shape[1]).transpose(1, 2).to(scores.dtype)
    return pooled, weights
