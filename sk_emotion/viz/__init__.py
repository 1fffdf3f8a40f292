"""Visualisation: explanation figures (the paper's Figure 3), confusion matrices and emotion timelines."""

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

_EXPORTS = {
    "plot_confusion_matrix": ".figures",
    "plot_explanation": ".figures",
    "plot_timeline": ".timeline",
    "upsample_map": ".figures",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:  # pragma: no cover
    from .figures import plot_confusion_matrix, plot_explanation, upsample_map
    from .timeline import plot_timeline
