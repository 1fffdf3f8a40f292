"""Tests of the five-point face alignment and the box crops."""

from __future__ import annotations

import numpy as np
import pytest

from sk_emotion.faces import (
    ARCFACE_TEMPLATE,
    align_face,
    canonical_template,
    crop_box,
    estimate_similarity,
    template_points,
)


def _similarity(angle_deg: float, scale: float, tx: float, ty: float) -> np.ndarray:
    a = np.deg2rad(angle_deg)
    return np.array([[scale * np.cos(a), -scale * np.sin(a), tx],
                     [scale * np.sin(a), scale * np.cos(a), ty]])


def _apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ matrix[:, :2].T + matrix[:, 2]


def _blob_image(points: np.ndarray, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """uint8 RGB image with a Gaussian blob at each point (sub-pixel positions)."""
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float64)
    image = np.zeros(shape)
    for x, y in points:
        image += np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma ** 2))
    return np.repeat(np.clip(image * 255, 0, 255).astype(np.uint8)[..., None], 3, axis=2)


def _centroids(image: np.ndarray, around: np.ndarray, radius: int = 5) -> np.ndarray:
    """Intensity centroid of the blob near each expected point."""
    gray = image[..., 0].astype(np.float64)
    out = []
    for x, y in around:
        x0, y0 = int(round(x)), int(round(y))
        window = gray[y0 - radius:y0 + radius + 1, x0 - radius:x0 + radius + 1]
        yy, xx = np.mgrid[y0 - radius:y0 + radius + 1, x0 - radius:x0 + radius + 1]
        out.append([(window * xx).sum() / window.sum(), (window * yy).sum() / window.sum()])
    return np.array(out)


# ------------------------------------------------------------------- template

def test_arcface_template_at_112_is_insightface_s():
    np.testing.assert_allclose(canonical_template(112, 0.0, "arcface"), ARCFACE_TEMPLATE, atol=1e-12)


def test_default_template_is_the_fer2013_framing_declared_by_the_weights():
    from sk_emotion.weights import MiniXceptionWeights

    declared = np.array(MiniXceptionWeights.DEFAULT.transforms["face_template"])
    np.testing.assert_allclose(template_points(), declared)
    t48 = canonical_template(48)
    # FER2013's framing: eye distance about 0.37 of the width, eyes at 0.39 of the height,
    # mouth corners at 0.78 -- a tighter, higher crop than ArcFace's.
    assert (t48[1, 0] - t48[0, 0]) / 48 == pytest.approx(0.368, abs=0.005)
    assert (t48[0, 1] + 0.5) / 48 == pytest.approx(0.387, abs=0.005)
    assert (t48[3, 1] + 0.5) / 48 == pytest.approx(0.777, abs=0.005)
    arc = canonical_template(48, 0.0, "arcface")
    assert np.linalg.norm(arc[1] - arc[0]) < 0.9 * np.linalg.norm(t48[1] - t48[0])


def test_custom_templates_are_validated():
    points = template_points("arcface")
    np.testing.assert_allclose(canonical_template(64, 0.0, points), canonical_template(64, 0.0, "arcface"))
    with pytest.raises(ValueError, match="one of"):
        template_points("imagenet")
    with pytest.raises(ValueError, match="5 finite"):
        template_points(points[:4])
    with pytest.raises(ValueError, match="left eye"):
        template_points(points[[1, 0, 2, 3, 4]])


def test_template_scaling_and_margin():
    t64 = canonical_template(64, 0.0, "arcface")
    # pixel-centre convention: (p + 0.5) * 64 / 112 - 0.5
    np.testing.assert_allclose(t64, (ARCFACE_TEMPLATE + 0.5) * 64 / 112 - 0.5)
    t_margin = canonical_template(64, 0.25, "arcface")
    eye_distance = lambda t: np.linalg.norm(t[1] - t[0])  # noqa: E731
    assert eye_distance(t_margin) == pytest.approx(eye_distance(t64) / 1.5)
    # margin shrinks the face around the centre of the output
    centre = (64 - 1) / 2
    assert np.all(np.abs(t_margin - centre) < np.abs(t64 - centre))
    assert np.all((t_margin > 0) & (t_margin < 63))


@pytest.mark.parametrize("face_size, margin", [(0, 0.0), (64.0, 0.0), (64, -0.5), (64, "a")])
def test_template_validation(face_size, margin):
    with pytest.raises(ValueError):
        canonical_template(face_size, margin)


# ----------------------------------------------------------------- similarity

def test_similarity_recovers_exact_transform():
    matrix = _similarity(23.0, 1.7, 12.5, -4.0)
    src = ARCFACE_TEMPLATE
    estimated = estimate_similarity(src, _apply(matrix, src))
    np.testing.assert_allclose(estimated, matrix, atol=1e-9)


def test_similarity_is_least_squares_and_never_reflects():
    rng = np.random.default_rng(1)
    src = ARCFACE_TEMPLATE
    noisy = _apply(_similarity(-10, 0.5, 3, 4), src) + rng.normal(0, 0.3, src.shape)
    estimated = estimate_similarity(src, noisy)
    residual = np.linalg.norm(_apply(estimated, src) - noisy)
    # no small perturbation of the parameters does better
    for delta in np.eye(4) * 1e-3:
        a, b = estimated[0, 0] + delta[0], estimated[1, 0] + delta[1]
        other = np.array([[a, -b, estimated[0, 2] + delta[2]], [b, a, estimated[1, 2] + delta[3]]])
        assert np.linalg.norm(_apply(other, src) - noisy) >= residual - 1e-9
    mirrored = src * [-1, 1]
    assert np.linalg.det(estimate_similarity(src, mirrored)[:, :2]) > 0


@pytest.mark.parametrize("src, dst", [
    (np.zeros((5, 3)), np.zeros((5, 3))),
    (np.zeros((5, 2)), np.zeros((4, 2))),
    (np.zeros((1, 2)), np.zeros((1, 2))),
    (np.ones((5, 2)), np.zeros((5, 2))),
    (np.full((5, 2), np.nan), np.zeros((5, 2))),
])
def test_similarity_validation(src, dst):
    with pytest.raises(ValueError):
        estimate_similarity(src, dst)


# ------------------------------------------------------------------ alignment

@pytest.mark.parametrize("angle, scale, face_size, margin", [
    (0.0, 1.0, 64, 0.0),     # output pixels = template pixels
    (25.0, 2.5, 64, 0.1),    # rotated, larger face: anti-aliased path
    (-40.0, 6.0, 48, 0.3),   # strong downscale
    (10.0, 0.8, 112, 0.0),   # upscale
])
def test_eyes_land_on_template(angle, scale, face_size, margin):
    """Warp a synthetic face and measure where its landmarks end up."""
    template = canonical_template(face_size, margin)
    # place the face in a source image: landmarks = similarity of the template
    # (scale = source pixels per output pixel)
    to_src = _similarity(angle, scale, 0.0, 0.0)
    landmarks = _apply(to_src, template)
    landmarks += 40 - landmarks.min(axis=0) + np.array([0.37, 0.61])  # sub-pixel offset
    shape = tuple(int(v) for v in (landmarks.max(axis=0)[::-1] + 40))
    found = []
    for point, expected in zip(landmarks, template):
        # one blob per image, so that neighbouring blobs cannot bias the centroid
        image = _blob_image(point[None], shape, sigma=1.5 * scale)
        aligned = align_face(image, landmarks, face_size=face_size, margin=margin)
        assert aligned.shape == (face_size, face_size, 3) and aligned.dtype == np.uint8
        found.append(_centroids(aligned, expected[None], radius=5)[0])
    # measured errors are < 0.01 px; 0.1 px still catches half-pixel convention slips
    np.testing.assert_allclose(np.array(found), template, atol=0.1)


def test_align_channels_and_borders():
    landmarks = canonical_template(64, 0.0) + 100
    gray = np.full((300, 300), 200, np.uint8)
    assert align_face(gray, landmarks).shape == (64, 64)
    assert align_face(gray[..., None], landmarks).shape == (64, 64, 1)
    rgba = np.full((300, 300, 4), 200, np.uint8)
    assert align_face(rgba, landmarks).shape == (64, 64, 4)
    # a face at the image corner: the outside replicates the border by default, or is black
    corner = canonical_template(64, 0.0) - 40
    assert align_face(gray, corner)[0, 0] == 200
    assert align_face(gray, corner, border="constant")[0, 0] == 0


def test_large_downscale_is_antialiased():
    # 1-pixel checkerboard: any aliasing shows as strong patterns
    checker = (np.indices((800, 800)).sum(axis=0) % 2 * 255).astype(np.uint8)
    image = np.repeat(checker[..., None], 3, axis=2)
    landmarks = canonical_template(64, 0.0) * 8 + 100  # face 8x larger than the output
    aligned = align_face(image, landmarks).astype(np.float64)
    assert abs(aligned.mean() - 127.5) < 3
    assert aligned.std() < 3


@pytest.mark.parametrize("kwargs, error", [
    ({"landmarks": np.zeros((4, 2))}, ValueError),
    ({"image": np.zeros((50, 50, 3), np.float32)}, TypeError),
    ({"image": np.zeros((50, 50, 2), np.uint8)}, ValueError),
    ({"image": [[0]]}, TypeError),
    ({"face_size": 0}, ValueError),
    ({"margin": -0.7}, ValueError),
    ({"border": "wrap"}, ValueError),
])
def test_align_validation(kwargs, error):
    arguments = {"image": np.zeros((50, 50, 3), np.uint8),
                 "landmarks": canonical_template(40, 0.0)} | kwargs
    with pytest.raises(error):
        align_face(**arguments)


# ------------------------------------------------------------------ box crops

def test_crop_box_maps_box_to_output():
    image = np.zeros((200, 300, 3), np.uint8)
    image[50:150, 120:220] = 255  # box x1, y1, x2, y2 = 119.5, 49.5, 219.5, 149.5 (pixel edges)
    crop = crop_box(image, [119.5, 49.5, 219.5, 149.5], face_size=50)
    assert crop.shape == (50, 50, 3)
    assert crop.min() >= 250  # the square fills the output exactly
    crop = crop_box(image, [119.5, 49.5, 219.5, 149.5], face_size=50, margin=0.25)
    inner = crop[..., 0] > 127
    rows, cols = np.nonzero(inner)
    # 100 px square in a 150 px field: 33.3 output px, centred
    assert rows.min() == cols.min() == 8 and rows.max() == cols.max() == 41


def test_crop_box_outside_image_and_centre_crop():
    image = np.full((100, 160, 3), 90, np.uint8)
    crop = crop_box(image, [-50, -50, 10, 10], face_size=32, border="constant")
    assert crop[0, 0, 0] == 0 and crop[-1, -1, 0] == 90
    assert np.all(crop_box(image, [-50, -50, 10, 10], face_size=32) == 90)  # replicated
    centred = crop_box(image, None, face_size=32)
    assert centred.shape == (32, 32, 3) and np.all(centred == 90)
    # a non-square box becomes a square around its centre
    marked = np.zeros((100, 160), np.uint8)
    marked[40:60, 20:140] = 255  # 120 x 20 bar
    crop = crop_box(marked, [19.5, 39.5, 139.5, 59.5], face_size=60)
    assert crop.shape == (60, 60)
    assert crop[30, 1] > 200 and crop[30, 58] > 200 and crop[2, 30] == 0


@pytest.mark.parametrize("box", [[0, 0, 10], [10, 10, 0, 0], [0, 0, np.inf, 10]])
def test_crop_box_validation(box):
    with pytest.raises(ValueError):
        crop_box(np.zeros((20, 20, 3), np.uint8), box)
