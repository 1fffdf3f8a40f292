"""scikit-learn's declarative parameter validation, imported from one place.

``sklearn.utils._param_validation`` is private: scikit-learn may move or
change it in any release.  The package imports it only here, and
``pyproject.toml`` bounds scikit-learn below the next minor version it has
not been tested with; when a release breaks the import, this module is the
one to fix.
"""

from __future__ import annotations

from sklearn.utils._param_validation import (
    HasMethods,
    Interval,
    InvalidParameterError,
    Options,
    RealNotInt,
    StrOptions,
    validate_parameter_constraints,
    validate_params,
)

__all__ = [
    "HasMethods",
    "Interval",
    "InvalidParameterError",
    "Options",
    "RealNotInt",
    "StrictInterval",
    "StrOptions",
    "validate_parameter_constraints",
    "validate_params",
]


class StrictInterval(Interval):
    """An :class:`Interval` that refuses booleans: scikit-learn's takes ``True`` for 1.

    A flag passed where a number belongs (``n_frames=True``) is a mistake to
    report, not a 1 to use.
    """

    def is_satisfied_by(self, val: object) -> bool:
        return not isinstance(val, bool) and super().is_satisfied_by(val)
