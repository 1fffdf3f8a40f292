"""Building registered modules (poolings) from the options a network offers."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from torch import nn

__all__ = ["build"]


def build(registry: Mapping[str, type[nn.Module]], name: str, kind: str, **available: Any) -> nn.Module:
    """Instantiate ``registry[name]`` with those of ``available`` its ``__init__`` accepts.

    Parameters
    ----------
    registry : mapping of str to nn.Module subclass
        E.g. :data:`sk_emotion.nets.spatial.SPATIAL_POOLINGS`.
    name : str
        The registered name.
    kind : str
        What is built, for the error message (``"temporal_pooling"``).
    **available
        Every option the caller can offer; each class takes what it needs.

    Returns
    -------
    torch.nn.Module
        An instance of ``registry[name]``, built with the options of
        ``available`` that are parameters of its ``__init__``.

    Raises
    ------
    ValueError
        For an unknown name; the message lists the registered ones.
    """
    if not isinstance(name, str) or name not in registry:
        raise ValueError(f"{kind} must be one of {sorted(registry)}, got {name!r}")
    cls = registry[name]
    accepted = inspect.signature(cls.__init__).parameters
    return cls(**{key: value for key, value in available.items() if key in accepted})
