"""Stage 3 of the method: spatial pooling of each frame's feature map.

A spatial pooling module maps the backbone's feature map of every frame,
``(N, C, h, w)``, to weights over its ``h x w`` positions, ``(N, heads, h,
w)``, each head summing to one.  The video network pools both the features
and the per-position class scores with these weights, so a pooling is
defined entirely by where it looks.

Poolings are registered by name in :data:`SPATIAL_POOLINGS`; adding one is a
subclass of :class:`SpatialPooling` decorated with
:func:`register_spatial_pooling`.  Its ``__init__`` takes any of the keyword
arguments the network offers (``in_channels``, ``n_heads``, ``hidden``) and
ignores the others (see :class:`sk_emotion.nets.registry.Registry`).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from .registry import Registry

__all__ = [
    "SPATIAL_POOLINGS",
    "AttentionPooling",
    "AveragePooling",
    "SpatialPooling",
    "attention_penalty",
    "register_spatial_pooling",
]

class SpatialPooling(nn.Module):
    """Base class: weights over the positions of a feature map.

    Subclasses set ``name`` and implement :meth:`forward`.
    """

    name: ClassVar[str] = ""

    def __init__(self) -> None:
        super().__init__()

    @property
    def n_heads(self) -> int:
        """Number of maps per frame."""
        return 1

    def forward(self, features: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """Maps ``(N, n_heads, h, w)`` summing to one over ``h x w``, for features ``(N, C, h, w)``.

        Parameters
        ----------
        features : torch.Tensor of shape (N, C, h, w)
            Backbone feature map of each frame.

        Returns
        -------
        torch.Tensor of shape (N, n_heads, h, w)
            Non-negative weights of the positions, summing to one over
            ``h x w`` for every head.
        """
        raise NotImplementedError

    def penalty(self, maps: torch.Tensor) -> torch.Tensor:
        """Regularisation of the maps ``(N, n_heads, h, w)``, per sample ``(N,)``; none by default.

        Parameters
        ----------
        maps : torch.Tensor of shape (N, n_heads, h, w)
            Maps returned by :meth:`forward`.

        Returns
        -------
        torch.Tensor of shape (N,)
            The penalty of each sample, added to the loss; zeros here.
        """
        return maps.new_zeros(maps.shape[0])

    def export_metadata(self) -> dict[str, Any]:
        """What an exported model records about this pooling.

        Returns
        -------
        dict
            JSON-serialisable ``spatial_pooling`` (the registered name) and
            ``n_heads``.
        """
        return {"spatial_pooling": self.name, "n_heads": self.n_heads}


#: Name -> spatial pooling class; ``@register_spatial_pooling`` adds one.
SPATIAL_POOLINGS: Registry = Registry("spatial_pooling", SpatialPooling)
register_spatial_pooling = SPATIAL_POOLINGS.register


@register_spatial_pooling
class AveragePooling(SpatialPooling):
    """Global average pooling (the paper's baseline): every position weighs ``1 / (h w)``."""

    name = "avg"

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Uniform maps.

        Parameters
        ----------
        features : torch.Tensor of shape (N, C, h, w)
            Backbone feature map of each frame (only its shape is used).

        Returns
        -------
        torch.Tensor of shape (N, 1, h, w)
            ``1 / (h w)`` everywhere, of the dtype and device of ``features``.
        """
        n, _, h, w = features.shape
        return features.new_full((n, 1, h, w), 1.0 / (h * w))


@register_spatial_pooling
class AttentionPooling(SpatialPooling):
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

    name = "attention"

    def __init__(self, in_channels: int, n_heads: int = 1, hidden: int = 64) -> None:
        super().__init__()
        self.key = nn.Conv2d(in_channels, hidden, 1)
        self.score = nn.Conv2d(hidden, n_heads, 1)
        nn.init.zeros_(self.score.weight)
        nn.init.zeros_(self.score.bias)

    @property
    def n_heads(self) -> int:
        return self.score.out_channels

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Attention maps of the heads.

        Parameters
        ----------
        features : torch.Tensor of shape (N, in_channels, h, w)
            Backbone feature map of each frame.

        Returns
        -------
        torch.Tensor of shape (N, n_heads, h, w)
            Softmax over the ``h x w`` positions of each head's scores.
        """
        scores = self.score(torch.tanh(self.key(features)))
        n, heads, height, width = scores.shape
        return torch.softmax(scores.flatten(2), dim=-1).view(n, heads, height, width)

    def penalty(self, maps: torch.Tensor) -> torch.Tensor:
        """:func:`attention_penalty` of the maps.

        Parameters
        ----------
        maps : torch.Tensor of shape (N, n_heads, h, w)
            Maps returned by :meth:`forward`.

        Returns
        -------
        torch.Tensor of shape (N,)
            ``||A A^T - I||_F^2`` of each sample.
        """
        return attention_penalty(maps)


def attention_penalty(maps: torch.Tensor) -> torch.Tensor:
    """Penalty ``||A A^T - I||_F^2`` per sample, keeping heads apart and peaked.

    Parameters
    ----------
    maps : torch.Tensor of shape (N, n_heads, H, W)
        Attention maps; row ``h`` of ``A`` is head ``h``'s map flattened
        over the ``H x W`` positions.

    Returns
    -------
    torch.Tensor of shape (N,)
        The squared Frobenius norm of ``A A^T - I`` of each sample, of the
        dtype of ``maps``.
    """
    a = maps.flatten(2)
    gram = a @ a.transpose(1, 2)
    eye = torch.eye(a.shape[1], device=a.device, dtype=a.dtype)
    return ((gram - eye) ** 2).sum(dim=(1, 2))
