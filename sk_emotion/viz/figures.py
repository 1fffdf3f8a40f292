"""Figures: what the model looked at in a clip (the paper's Figure 3) and confusion matrices.

Figures are built on :class:`matplotlib.figure.Figure` directly, without
``pyplot``, so they work on machines without a display and do not leak
global state; save them with ``fig.savefig("figure.png")``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from matplotlib.figure import Figure

from ..estimators.explanation import Explanation

__all__ = ["plot_explanation", "plot_confusion_matrix", "upsample_map"]


def upsample_map(attention: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear upsampling of an attention map ``(h, w)`` to ``size``, rescaled to [0, 1]."""
    from skimage.transform import resize

    attention = np.asarray(attention, dtype=np.float64)
    # Attention cells cover equal squares of the face: resize with edge mode keeps them aligned.
    big = resize(attention, size, order=1, mode="edge", anti_aliasing=False)
    span = big.max() - big.min()
    return (big - big.min()) / span if span > 0 else np.full(size, 0.5)


def _face_image(frame: np.ndarray) -> tuple[np.ndarray, str | None]:
    """A face frame as something ``imshow`` takes, with its colour map."""
    frame = np.asarray(frame)
    if frame.ndim == 3 and frame.shape[0] in (1, 3):  # channels first
        frame = np.moveaxis(frame, 0, -1)
    if frame.ndim == 3 and frame.shape[-1] == 1:
        frame = frame[..., 0]
    cmap = "gray" if frame.ndim == 2 else None
    return np.clip(frame, 0, 255).astype(np.uint8), cmap


def plot_explanation(
    clip: np.ndarray,
    explanation: Explanation,
    video: int = 0,
    *,
    frames: Sequence[int] | None = None,
    head: int | None = None,
    alpha: float = 0.45,
    cmap: str = "jet",
    title: str | None = None,
) -> Figure:
    """Draw the explanation of one clip: attention heatmaps, frame probabilities, temporal importance.

    Top row: the sampled face frames, each with its spatial attention map
    overlaid.  Middle row: a bar chart of each frame's emotion
    probabilities.  Bottom: the temporal importance of each frame for the
    predicted emotion, renormalised over the shown frames to 0-100%.

    Parameters
    ----------
    clip : numpy.ndarray of shape (n_frames, [channels,] height, width)
        The face frames of the clip (one element of what was explained).
    explanation : Explanation
        The result of ``EmotionClassifier.explain`` on a batch containing the clip.
    video : int, default=0
        Index of the clip in the explained batch.
    frames : sequence of int, optional
        Which frames to show (default: all).
    head : int, optional
        Attention head to draw (default: the mean over heads).
    alpha : float, default=0.45
        Opacity of the heatmaps.
    cmap : str, default="jet"
        Colour map of the heatmaps.
    title : str, optional
        Figure title (default: the predicted label and its probability).

    Returns
    -------
    matplotlib.figure.Figure
        Axes in order: one image axis per frame, one bar-chart axis per
        frame, then the temporal-importance axis.
    """
    clip = np.asarray(clip)
    n_frames = explanation.n_frames
    if not 0 <= video < explanation.n_videos:
        raise IndexError(f"video {video} is out of range for an explanation of {explanation.n_videos} clips")
    if len(clip) != n_frames:
        raise ValueError(f"the clip has {len(clip)} frames but the explanation has {n_frames}")
    shown = list(range(n_frames)) if frames is None else [int(f) for f in frames]
    if not shown or min(shown) < 0 or max(shown) >= n_frames:
        raise ValueError(f"frames must be indices in [0, {n_frames}), got {list(frames or [])}")

    maps = explanation.attention_maps[video]  # (T, heads, h, w)
    maps = maps.mean(axis=1) if head is None else maps[:, head]
    probabilities = explanation.frame_probabilities[video]
    weights = explanation.temporal_weights[video, shown]
    importance = 100.0 * weights / weights.sum() if weights.sum() > 0 else np.full(len(shown), 100.0 / len(shown))
    classes = [str(c) for c in explanation.classes]
    predicted = str(explanation.labels[video])
    predicted_index = classes.index(predicted)

    n = len(shown)
    fig = Figure(figsize=(max(6.0, 1.5 * n), 5.2), layout="constrained")
    grid = fig.add_gridspec(3, n, height_ratios=[1.0, 0.8, 0.55])
    image_axes = [fig.add_subplot(grid[0, i]) for i in range(n)]
    bar_axes = [fig.add_subplot(grid[1, i]) for i in range(n)]
    time_ax = fig.add_subplot(grid[2, :])

    short = [c[:3] for c in classes]
    colours = ["tab:red" if i == predicted_index else "tab:gray" for i in range(len(classes))]
    for ax, bar_ax, t in zip(image_axes, bar_axes, shown):
        face, face_cmap = _face_image(clip[t])
        ax.imshow(face, cmap=face_cmap, vmin=0, vmax=255)
        ax.imshow(upsample_map(maps[t], face.shape[:2]), cmap=cmap, alpha=alpha, vmin=0, vmax=1)
        ax.set_title(f"frame {t}", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
        bar_ax.bar(range(len(classes)), probabilities[t], color=colours)
        bar_ax.set_ylim(0, 1)
        bar_ax.set_xticks(range(len(classes)), short, rotation=90, fontsize=6)
        bar_ax.tick_params(axis="y", labelsize=6)
    bar_axes[0].set_ylabel("p(emotion)", fontsize=7)

    time_ax.bar(range(n), importance, color="tab:blue")
    for i, value in enumerate(importance):
        time_ax.text(i, value, f"{value:.0f}%", ha="center", va="bottom", fontsize=7)
    time_ax.set_xticks(range(n), [str(t) for t in shown], fontsize=7)
    time_ax.set_xlim(-0.5, n - 0.5)
    time_ax.set_ylim(0, max(100.0, importance.max() * 1.15))
    time_ax.set_ylabel("importance (%)", fontsize=7)
    time_ax.set_xlabel(f"frame (temporal weight for '{predicted}', renormalised)", fontsize=7)

    probability = explanation.probabilities[video, predicted_index]
    fig.suptitle(title or f"predicted: {predicted} ({probability:.0%})", fontsize=10)
    return fig


def plot_confusion_matrix(
    y_true,
    y_pred,
    *,
    labels: Sequence | None = None,
    normalize: str | None = "true",
    title: str | None = None,
) -> Figure:
    """Confusion matrix of an evaluation.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_videos,)
        True and predicted labels.
    labels : sequence, optional
        Label order of rows and columns (default: sorted union of both).
    normalize : {"true", "pred", "all"} or None, default="true"
        As in :func:`sklearn.metrics.confusion_matrix`; ``"true"`` shows the
        recall of each class on the diagonal.
    title : str, optional
        Axis title (default: accuracy and number of clips).

    Returns
    -------
    matplotlib.figure.Figure
        One axis with the matrix (one text per cell) and a colour bar.
    """
    from sklearn.metrics import ConfusionMatrixDisplay, accuracy_score, confusion_matrix

    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise ValueError(f"y_true and y_pred must be 1-d of equal length, got {y_true.shape} and {y_pred.shape}")
    if labels is None:
        labels = sorted(set(y_true.tolist()) | set(y_pred.tolist()), key=str)
    matrix = confusion_matrix(y_true, y_pred, labels=labels, normalize=normalize)
    n = len(labels)
    fig = Figure(figsize=(1.0 + 0.75 * n, 0.8 + 0.7 * n), layout="constrained")
    ax = fig.add_subplot()
    ConfusionMatrixDisplay(matrix, display_labels=[str(l) for l in labels]).plot(
        ax=ax, values_format=".2f" if normalize else "d", colorbar=True, xticks_rotation=45
    )
    ax.set_title(title or f"accuracy {accuracy_score(y_true, y_pred):.1%} on {len(y_true)} clips", fontsize=10)
    return fig
