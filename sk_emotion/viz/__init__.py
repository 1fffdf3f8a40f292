"""Visualisation: explanation figures (the paper's Figure 3) and confusion matrices."""

from .figures import plot_confusion_matrix, plot_explanation, upsample_map

__all__ = ["plot_confusion_matrix", "plot_explanation", "upsample_map"]
