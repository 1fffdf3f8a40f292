"""Figures are rendered for real and their content is checked, not just their absence of errors."""

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from conftest import make_face_clips
from sk_emotion import EmotionClassifier
from sk_emotion.viz import plot_confusion_matrix, plot_explanation, upsample_map


def _corner_stamp(frames, label, rng):
    frames[:, 48:64, 48:64] = 255 if label == 0 else 0


@pytest.fixture(scope="module")
def explained(real_faces):
    X, y = make_face_clips(real_faces, 30, n_frames=6, n_classes=2, stamp=_corner_stamp, seed=0)
    clf = EmotionClassifier(max_epochs=8, random_state=0).fit(X, y)
    return X, y, clf, clf.explain(X[:3])


def _render(fig):
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())


def test_explanation_figure_has_frames_heatmaps_bars_and_importance(explained):
    X, _, clf, explanation = explained
    fig = plot_explanation(X[1], explanation, video=1)
    pixels = _render(fig)
    assert pixels.shape[0] > 100 and pixels[..., :3].std() > 10

    axes = fig.axes
    n = X.shape[1]
    assert len(axes) == 2 * n + 1
    image_axes, bar_axes, time_ax = axes[:n], axes[n:2 * n], axes[-1]
    for t, ax in enumerate(image_axes):
        face, heat = ax.get_images()
        np.testing.assert_array_equal(face.get_array(), X[1, t])
        heat = np.asarray(heat.get_array())
        assert heat.shape == (64, 64)
        assert heat.max() - heat.min() > 0.5, "heatmap is blank"
        expected = upsample_map(explanation.attention_maps[1, t].mean(axis=0), (64, 64))
        np.testing.assert_allclose(heat, expected, atol=1e-6)
    for t, ax in enumerate(bar_axes):
        heights = [patch.get_height() for patch in ax.patches]
        np.testing.assert_allclose(heights, explanation.frame_probabilities[1, t], atol=1e-6)
    importance = [patch.get_height() for patch in time_ax.patches]
    assert len(importance) == n and sum(importance) == pytest.approx(100.0)
    assert explanation.labels[1] in fig.get_suptitle()


def test_explanation_figure_subset_of_frames_and_errors(explained):
    X, _, _, explanation = explained
    fig = plot_explanation(X[0], explanation, video=0, frames=[0, 2, 4])
    assert len(fig.axes) == 7
    assert sum(p.get_height() for p in fig.axes[-1].patches) == pytest.approx(100.0)
    with pytest.raises(ValueError, match="frames"):
        plot_explanation(X[0], explanation, frames=[9])
    with pytest.raises(ValueError, match="has 2 frames"):
        plot_explanation(X[0, :2], explanation)
    with pytest.raises(IndexError):
        plot_explanation(X[0], explanation, video=5)


def test_figure_saves_as_png(explained, tmp_path):
    X, _, _, explanation = explained
    path = tmp_path / "figure.png"
    plot_explanation(X[0], explanation).savefig(path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_confusion_matrix_shows_normalised_counts():
    y_true = ["happy", "happy", "sad", "sad", "sad", "angry"]
    y_pred = ["happy", "sad", "sad", "sad", "angry", "angry"]
    fig = plot_confusion_matrix(y_true, y_pred, labels=["angry", "happy", "sad"])
    _render(fig)
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.texts]
    assert len(texts) == 9
    grid = np.array([float(t) for t in texts]).reshape(3, 3)
    np.testing.assert_allclose(grid, [[1, 0, 0], [0, 0.5, 0.5], [1 / 3, 0, 2 / 3]], atol=0.01)
    assert "66.7%" in ax.get_title()
    with pytest.raises(ValueError, match="equal length"):
        plot_confusion_matrix(["a"], ["a", "b"])


def test_upsample_map_keeps_the_peak_where_it_was():
    attention = np.zeros((4, 4))
    attention[3, 0] = 1.0
    big = upsample_map(attention, (64, 64))
    assert big.shape == (64, 64) and big.max() == 1.0
    row, col = np.unravel_index(big.argmax(), big.shape)
    assert row >= 48 and col < 16
