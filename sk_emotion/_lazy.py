"""Lazy public names: a package exposes its API without importing torch, cv2 or av up front.

``import sk_emotion`` and ``sk-emotion --help`` stay fast (a fraction of a
second instead of several seconds), and the ONNX predictor runs where torch
is not installed.  Each package's ``__init__`` declares which submodule holds
each public name; the submodule is imported on first access (PEP 562).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, exports: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Module ``__getattr__`` and ``__dir__`` for ``package``.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    exports : mapping of str to str
        Public name -> relative submodule that defines it (e.g. ``".classifier"``).

    Returns
    -------
    (__getattr__, __dir__)
    """
    def __getattr__(name: str) -> Any:
        try:
            submodule = exports[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        value = getattr(importlib.import_module(submodule, package), name)
        setattr(importlib.import_module(package), name, value)  # later lookups skip this hook
        return value

    def __dir__() -> list[str]:
        return sorted(set(exports) | set(importlib.import_module(package).__dict__))

    return __getattr__, __dir__
