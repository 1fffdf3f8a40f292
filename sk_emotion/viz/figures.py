"""Figures: what the model looked at in a clip (the paper's Figure 3) and confusion matrices.

Figures are built on :class:`matplotlib.figure.Figure` directly, without
``pyplot``, so they work on machines without a display and do not leak
global state; save them with ``fig.savefig("figure.png")``.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral, Real

import numpy as np
from matplotlib.colors import Colormap
from matplotlib.figure import Figure
from numpy.typing import ArrayLike

from .._sklearn_compat import Interval, StrictInterval, StrOptions, validate_params
from ..estimators.explanation import Explanation

__all__ = ["plot_explanation", "plot_confusion_matrix", "upsample_map"]


@validate_params({"attention": ["array-like"], "size": ["array-like"]}, prefer_skip_nested_validation=True)
def upsample_map(attention: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear upsampling of an attention map to ``size``, values unchanged in scale.

    Parameters
    ----------
    attention : array-like of shape (h, w)
        The attention map (one weight per cell).
    size : (int, int)
        Output ``(height, width)`` in pixels, e.g. the face's ``shape[:2]``.

    Returns
    -------
    numpy.ndarray of shape (height, width), float64
        The map interpolated bilinearly (edges replicated, no anti-aliasing),
        so that each cell covers an equal part of the output.

    Examples
    --------
    >>> upsample_map(np.array([[0.0, 1.0]]), (1, 4)).round(2).tolist()
    [[0.0, 0.25, 0.75, 1.0]]
    """
    from skimage.transform import resize

    attention = np.asarray(attention, dtype=np.float64)
    # Attention cells cover equal squares of the face: resize with edge mode keeps them aligned.
    return resize(attention, size, order=1, mode="edge", anti_aliasing=False)


#: Attention is drawn as a multiple of the uniform weight (1 = every cell alike),
#: on one scale for every frame, never below this upper end: diffuse attention
#: must not look like a hotspot.
MIN_ATTENTION_SCALE = 2.0
#: Maps within this relative distance of uniform count as uniform (average pooling,
#: an untrained attention layer): no heatmap is drawn.
UNIFORM_TOLERANCE = 1e-3


def _face_image(frame: np.ndarray) -> tuple[np.ndarray, str | None]:
    """A face frame as something ``imshow`` takes, with its colour map."""
    frame = np.asarray(frame)
    if frame.ndim == 3 and frame.shape[0] in (1, 3):  # channels first
        frame = np.moveaxis(frame, 0, -1)
    if frame.ndim == 3 and frame.shape[-1] == 1:
        frame = frame[..., 0]
    cmap = "gray" if frame.ndim == 2 else None
    return np.clip(frame, 0, 255).astype(np.uint8), cmap


@validate_params(
    {
        "clip": ["array-like"],
        "explanation": [Explanation],
        "video": [StrictInterval(Integral, None, None, closed="neither")],  # its range: the explanation's
        "frames": [None, "array-like"],
        "head": [None, StrictInterval(Integral, None, None, closed="neither")],
        "alpha": [Interval(Real, 0, 1, closed="both")],
        "cmap": [str, Colormap],
        "face_detected": [None, "array-like"],
        "title": [None, str],
    },
    prefer_skip_nested_validation=True,
)
def plot_explanation(
    clip: np.ndarray,
    explanation: Explanation,
    video: int = 0,
    *,
    frames: Sequence[int] | None = None,
    head: int | None = None,
    alpha: float = 0.45,
    cmap: str = "magma",
    face_detected: Sequence[bool] | None = None,
    title: str | None = None,
) -> Figure:
    """Draw the explanation of one clip: attention heatmaps, frame probabilities, temporal importance.

    Top row: the sampled face frames, each titled with its own most probable
    emotion, with its spatial attention overlaid as a multiple of the
    uniform weight, on one colour scale for all frames (colour bar on the
    right; no overlay, and a note saying so, when attention is uniform, as
    with average pooling).  Frames whose face was not detected but borrowed
    from the nearest frame get a dashed red frame.  Middle row: each frame's
    emotion probabilities; the clip's label in red, the frame's own top
    class outlined in black.  Bottom: each frame's weight in the clip's
    score of its label, renormalised over the shown frames to 0-100%.

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
    cmap : str, default="magma"
        Colour map of the heatmaps (perceptually uniform).
    face_detected : sequence of bool, optional
        Per frame of the clip, whether its face was detected (the extractor
        report's ``frame_detected``); False frames are marked.
    title : str, optional
        Figure title (default: the predicted label and its probability).

    Returns
    -------
    matplotlib.figure.Figure
        Axes in order: one image axis per frame, one bar-chart axis per
        frame, the temporal-importance axis, then the colour bar's axis
        when a heatmap is drawn.
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
    if face_detected is not None and len(face_detected) != n_frames:
        raise ValueError(f"face_detected has {len(face_detected)} entries for {n_frames} frames")

    maps = explanation.attention_maps[video]  # (T, heads, h, w), each head sums to one
    maps = maps.mean(axis=1) if head is None else maps[:, head]
    relative = maps[shown] * maps.shape[-1] * maps.shape[-2]  # 1 = uniform
    uniform = bool(np.all(np.abs(relative - 1.0) <= UNIFORM_TOLERANCE))
    vmax = max(MIN_ATTENTION_SCALE, float(relative.max()))
    probabilities = explanation.frame_probabilities[video]
    weights = explanation.temporal_weights[video, shown]
    importance = 100.0 * weights / weights.sum() if weights.sum() > 0 else np.full(len(shown), 100.0 / len(shown))
    classes = [str(c) for c in explanation.classes]
    predicted = str(explanation.labels[video])
    predicted_index = classes.index(predicted)

    n = len(shown)
    fig = Figure(figsize=(max(6.0, 1.5 * n + 0.8), 5.6), layout="constrained")
    grid = fig.add_gridspec(3, n + 1, height_ratios=[1.0, 0.8, 0.55], width_ratios=[1.0] * n + [0.12])
    image_axes = [fig.add_subplot(grid[0, i]) for i in range(n)]
    bar_axes = [fig.add_subplot(grid[1, i]) for i in range(n)]
    time_ax = fig.add_subplot(grid[2, :n])

    short = [c[:3] for c in classes]
    colours = ["tab:red" if i == predicted_index else "tab:gray" for i in range(len(classes))]
    heatmap = None
    for k, (ax, bar_ax, t) in enumerate(zip(image_axes, bar_axes, shown)):
        face, face_cmap = _face_image(clip[t])
        ax.imshow(face, cmap=face_cmap, vmin=0, vmax=255)
        if not uniform:
            heatmap = ax.imshow(upsample_map(relative[k], face.shape[:2]), cmap=cmap, alpha=alpha,
                                vmin=0.0, vmax=vmax)
        own = int(probabilities[t].argmax())
        borrowed = face_detected is not None and not bool(face_detected[t])
        ax.set_title(f"frame {t}: {classes[own]}" + ("\nno face: borrowed" if borrowed else ""),
                     fontsize=7, color="tab:red" if borrowed else "black")
        if borrowed:
            for spine in ax.spines.values():
                spine.set_edgecolor("tab:red")
                spine.set_linestyle("--")
                spine.set_linewidth(2.0)
        ax.set_xticks([])
        ax.set_yticks([])
        bars = bar_ax.bar(range(len(classes)), probabilities[t], color=colours)
        bars[own].set_edgecolor("black")
        bars[own].set_linewidth(1.5)
        bar_ax.set_ylim(0, 1)
        bar_ax.set_xticks(range(len(classes)), short, rotation=90, fontsize=6)
        bar_ax.tick_params(axis="y", labelsize=6)
    bar_axes[0].set_ylabel("p(emotion)", fontsize=7)
    if heatmap is not None:
        bar = fig.colorbar(heatmap, cax=fig.add_subplot(grid[0, n]))
        bar.set_label("attention (1 = uniform)", fontsize=7)
        bar.ax.tick_params(labelsize=6)

    time_ax.bar(range(n), importance, color="tab:blue")
    for i, value in enumerate(importance):
        time_ax.text(i, value, f"{value:.0f}%", ha="center", va="bottom", fontsize=7)
    time_ax.set_xticks(range(n), [str(t) for t in shown], fontsize=7)
    time_ax.set_xlim(-0.5, n - 0.5)
    time_ax.set_ylim(0, max(100.0, importance.max() * 1.15))
    time_ax.set_ylabel("importance (%)", fontsize=7)
    time_ax.set_xlabel(f"frame (weight in the score of '{predicted}', renormalised)", fontsize=7)

    probability = explanation.probabilities[video, predicted_index]
    heading = title or f"predicted: {predicted} (p = {probability:.2f})"
    if uniform:
        heading += "\nspatial attention is uniform (every region weighs the same): no heatmap drawn"
    fig.suptitle(heading, fontsize=9)
    legend = "bars: red = the clip's label, black outline = the frame's own top emotion"
    fig.text(0.01, 0.005, legend, fontsize=6, color="dimgray")
    return fig


@validate_params(
    {
        "y_true": ["array-like"],
        "y_pred": ["array-like"],
        "labels": [None, "array-like"],
        "normalize": [StrOptions({"true", "pred", "all"}), None],
        "title": [None, str],
    },
    prefer_skip_nested_validation=True,
)
def plot_confusion_matrix(
    y_true: ArrayLike,
    y_pred: ArrayLike,
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
