"""Figures are rendered for real and their content is checked, not just their absence of errors."""

import numpy as np
import pytest
from _helpers import make_face_clips, render_figure

from sk_emotion import EmotionClassifier
from sk_emotion.viz import plot_confusion_matrix, plot_explanation, upsample_map


def _corner_stamp(frames, label, rng):
    frames[:, 48:64, 48:64] = 255 if label == 0 else 0


@pytest.fixture(scope="module")
def explained(real_faces):
    X, y = make_face_clips(real_faces, 30, n_frames=6, n_classes=2, stamp=_corner_stamp, seed=0)
    clf = EmotionClassifier(max_epochs=8, train_split=None, random_state=0).fit(X, y)
    return X, y, clf, clf.explain(X[:3])


def test_explanation_figure_has_frames_heatmaps_bars_and_importance(explained):
    X, _, clf, explanation = explained
    fig = plot_explanation(X[1], explanation, video=1)
    pixels = render_figure(fig)
    assert pixels.shape[0] > 100 and pixels[..., :3].std() > 10

    axes = fig.axes
    n = X.shape[1]
    assert len(axes) == 2 * n + 2  # frames, bars, importance, colour bar
    image_axes, bar_axes, time_ax, colour_bar = axes[:n], axes[n:2 * n], axes[2 * n], axes[-1]
    relative = explanation.attention_maps[1].mean(axis=1) * 16  # 1 = uniform over the 4x4 cells
    scale = (0.0, max(2.0, float(relative.max())))
    for t, ax in enumerate(image_axes):
        face, heat = ax.get_images()
        np.testing.assert_array_equal(face.get_array(), X[1, t])
        np.testing.assert_allclose(np.asarray(heat.get_array()), upsample_map(relative[t], (64, 64)), atol=1e-6)
        assert heat.get_clim() == pytest.approx(scale)  # one fixed scale for every frame
        own = explanation.classes[explanation.frame_probabilities[1, t].argmax()]
        assert ax.get_title().endswith(f": {own}")
    assert "1 = uniform" in colour_bar.get_ylabel()
    for t, ax in enumerate(bar_axes):
        heights = [patch.get_height() for patch in ax.patches]
        np.testing.assert_allclose(heights, explanation.frame_probabilities[1, t], atol=1e-6)
        outlined = [i for i, patch in enumerate(ax.patches) if patch.get_linewidth() > 1]
        assert outlined == [int(explanation.frame_probabilities[1, t].argmax())]
    importance = [patch.get_height() for patch in time_ax.patches]
    assert len(importance) == n and sum(importance) == pytest.approx(100.0)
    probability = explanation.probabilities[1].max()
    assert fig.get_suptitle() == f"predicted: {explanation.labels[1]} (p = {probability:.2f})"


def test_uniform_attention_draws_no_heatmap_and_says_so(real_faces):
    """The defect: zero-shot attention is uniform and painted every face flat green."""
    clf = EmotionClassifier.from_pretrained()
    clip = real_faces[:4][None]
    fig = plot_explanation(clip[0], clf.explain(clip))
    render_figure(fig)
    assert len(fig.axes) == 2 * 4 + 1  # no colour bar
    assert all(len(ax.get_images()) == 1 for ax in fig.axes[:4])  # the faces only
    assert "attention is uniform" in fig.get_suptitle()


def test_frames_without_a_detected_face_are_marked(explained):
    X, _, _, explanation = explained
    detected = [True, False, True, True, False, True]
    fig = plot_explanation(X[0], explanation, face_detected=detected)
    for t, ax in enumerate(fig.axes[:6]):
        marked = "no face" in ax.get_title()
        assert marked == (not detected[t])
        assert (ax.spines["top"].get_linestyle() == "--") == (not detected[t])
    with pytest.raises(ValueError, match="face_detected has 2 entries"):
        plot_explanation(X[0], explanation, face_detected=[True, False])


def test_explanation_figure_subset_of_frames_and_errors(explained):
    X, _, _, explanation = explained
    fig = plot_explanation(X[0], explanation, video=0, frames=[0, 2, 4])
    assert len(fig.axes) == 8
    assert sum(p.get_height() for p in fig.axes[6].patches) == pytest.approx(100.0)
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
    render_figure(fig)
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
    assert big.shape == (64, 64) and big.max() == 1.0 and big.min() == 0.0
    row, col = np.unravel_index(big.argmax(), big.shape)
    assert row >= 48 and col < 16
