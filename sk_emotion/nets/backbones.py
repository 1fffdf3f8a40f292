"""Stage 2's face networks, built from what a weights set declares.

A pretrained emotion weights set (:class:`~sk_emotion.weights.MiniXceptionWeights`,
:class:`~sk_emotion.weights.FaceResNetWeights`) names its network in
``meta["network"]`` and the network's constructor arguments in
``meta["network_kwargs"]``; this module is the one place that turns that
declaration into a module.  Every backbone offers the same interface:
``stage_shapes``, ``features``, ``forward_stage``, ``class_map``, a ``head``
convolution whose mean over positions is the logits, and ``folded()`` (an
inference copy with batch normalisations folded).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from torch import nn

from .face_resnet import FaceResNet
from .mini_xception import MiniXception, _load_state_arrays

if TYPE_CHECKING:  # pragma: no cover - annotations only
    from ..weights import EmotionWeights

__all__ = ["BACKBONES", "build_backbone", "load_backbone"]

#: Network classes a weights set may name in ``meta["network"]``.
BACKBONES: dict[str, type[nn.Module]] = {
    "mini_xception": MiniXception,
    "face_resnet": FaceResNet,
}


def build_backbone(weights: EmotionWeights | str | os.PathLike | None = None) -> nn.Module:
    """An untrained network of the architecture ``weights`` declares.

    Parameters
    ----------
    weights : weights member, str, path-like or None, default=None
        Anything :func:`~sk_emotion.weights.resolve_emotion_weights` takes.

    Returns
    -------
    torch.nn.Module
        A freshly initialised network with the declared constructor
        arguments.

    Raises
    ------
    ValueError
        If the weights name a network this module does not know.
    """
    from ..weights import resolve_emotion_weights

    meta = resolve_emotion_weights(weights).meta
    name = meta["network"]
    if name not in BACKBONES:
        raise ValueError(f"unknown network {name!r}; expected one of {sorted(BACKBONES)}")
    kwargs: dict[str, Any] = dict(meta.get("network_kwargs", {}))
    return BACKBONES[name](**kwargs)


def load_backbone(weights: EmotionWeights | str | os.PathLike | None = None,
                  path: str | os.PathLike | None = None) -> nn.Module:
    """The pretrained network of ``weights``, its file verified, in evaluation mode.

    Parameters
    ----------
    weights : weights member, str, path-like or None, default=None
        The weights set, its name, the path of a copy of its file, or None
        for the package's default (see
        :func:`~sk_emotion.weights.resolve_emotion_weights`).
    path : path-like, optional
        Explicit location of the weights file (checked against its SHA-256).

    Returns
    -------
    torch.nn.Module
        The network with the verified file's weights, in evaluation mode.

    Examples
    --------
    >>> import torch
    >>> net = load_backbone("FER2013")
    >>> type(net).__name__, tuple(net(torch.zeros(2, 1, 64, 64)).shape)
    ('MiniXception', (2, 7))
    """
    from ..weights import _WeightsEnum, resolve_emotion_weights

    if path is None:
        path = _WeightsEnum.explicit_path(weights)
    member = resolve_emotion_weights(weights)
    return _load_state_arrays(build_backbone(member), member.get_path(path)).eval()
