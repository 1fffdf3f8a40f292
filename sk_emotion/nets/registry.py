"""Registries of modules by name (the poolings), and building one from the options a network offers."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from torch import nn

__all__ = ["Registry", "build"]


class Registry(dict):
    """Name -> class of one kind of module, filled by a class decorator.

    A :class:`dict` (so ``name in registry``, ``sorted(registry)`` and ``del
    registry[name]`` work) that also knows what it holds: the base class its
    entries derive from, what the option that names them is called, and the
    other names that option accepts.

    Parameters
    ----------
    kind : str
        The option that names an entry, for messages (``"temporal_pooling"``).
    base : type
        The class every entry subclasses (entries are registered under their
        ``name`` attribute).
    aliases : tuple of str, default=()
        Names the option accepts besides the registered ones, resolved
        elsewhere to one of them (``"auto"``).

    Examples
    --------
    >>> from torch import nn
    >>> class Block(nn.Module):
    ...     name = ""
    >>> BLOCKS = Registry("block", Block)
    >>> @BLOCKS.register
    ... class Identity(Block):
    ...     name = "identity"
    >>> BLOCKS.options, type(BLOCKS.build("identity")).__name__
    (('identity',), 'Identity')
    """

    def __init__(self, kind: str, base: type, *, aliases: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.kind = kind
        self.base = base
        self.aliases = tuple(aliases)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {dict(self)!r})"

    def register(self, cls: type) -> type:
        """Class decorator: make ``cls`` available under ``cls.name``.

        ``cls`` must subclass the registry's base class and have a non-empty
        ``name``; it replaces any class registered under that name.

        Parameters
        ----------
        cls : type
            The class to register.

        Returns
        -------
        type
            ``cls``, unchanged.

        Raises
        ------
        TypeError
            If ``cls`` is not a subclass of the base class with a ``name``.
        """
        if not (isinstance(cls, type) and issubclass(cls, self.base)) or not getattr(cls, "name", ""):
            raise TypeError(f"{cls!r} must be a {self.base.__name__} subclass with a 'name'")
        self[cls.name] = cls
        return cls

    @property
    def options(self) -> tuple[str, ...]:
        """Every name the option accepts: the aliases, then the registered names in registration order."""
        return (*self.aliases, *self)

    def check(self, name: object) -> str:
        """Return ``name`` if the option accepts it (an alias included); raise otherwise.

        Parameters
        ----------
        name : object
            What was given for the option.

        Returns
        -------
        str
            ``name``.

        Raises
        ------
        ValueError
            For anything else; the message lists the accepted names.
        """
        if not isinstance(name, str) or name not in self.options:
            raise ValueError(f"{self.kind} must be one of {[*self.aliases, *sorted(self)]}, got {name!r}")
        return name

    def build(self, name: str, **available: Any) -> nn.Module:
        """Instantiate the class registered as ``name``; see :func:`build`.

        Parameters
        ----------
        name : str
            A registered name (not an alias).
        **available
            Every option the caller can offer; the class takes what it needs.

        Returns
        -------
        torch.nn.Module
            The new module.

        Raises
        ------
        ValueError
            For a name that is not registered.
        """
        return build(self, name, self.kind, **available)


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
