"""Static backgrounds behind the faces: smooth noise, gradients and blurred face-free photos.

Varied backgrounds keep a method from learning the scene instead of the face;
photos come only from textures and face-free crops, so no second face appears.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

from .sources import _insightface_images, _read_rgb


def _texture_photos() -> list[np.ndarray]:
    """Face-free photos for backgrounds: scikit-image / scikit-learn textures."""
    from skimage import data

    photos = []
    for name in ("coffee", "rocket", "brick", "grass", "gravel"):
        try:
            image = getattr(data, name)()
        except Exception:  # a missing optional image only narrows the variety
            continue
        photos.append(image if image.ndim == 3 else np.repeat(image[..., None], 3, axis=2))
    try:
        from sklearn.datasets import load_sample_images

        photos.extend(load_sample_images().images)
    except Exception:
        pass
    # The bottom 28% of the group photo (table, chips) holds no face.
    folder = _insightface_images()
    if folder is not None and (folder / "t1.jpg").is_file():
        t1 = _read_rgb(folder / "t1.jpg")
        photos.append(t1[int(t1.shape[0] * 0.72):])
    return photos


@functools.lru_cache(maxsize=1)
def _textures() -> tuple[np.ndarray, ...]:
    return tuple(_texture_photos())


#: The kinds of background, in the order in which a random one is drawn.
_BACKGROUNDS = ("noise", "gradient", "photo")


def _background(width: int, height: int, rng: np.random.Generator,
                kind: str | None = None) -> tuple[np.ndarray, str]:
    """A static (H, W, 3) float32 background in 0-255 and its kind (random when ``kind`` is None).

    A photo background falls back to smooth noise when no texture photo is
    installed.
    """
    if kind is None:
        kind = _BACKGROUNDS[int(rng.integers(3))]
    textures = _textures()
    if kind == "photo" and textures:
        photo = textures[int(rng.integers(len(textures)))]
        ph, pw = photo.shape[:2]
        # A random crop with the frame's aspect ratio, 40-100% of the photo's width.
        cw = pw * rng.uniform(0.4, 1.0)
        ch = cw * height / width
        if ch > ph:
            cw, ch = ph * width / height, ph
        cw, ch = max(16, int(cw)), max(16, int(ch))
        x0, y0 = int(rng.integers(0, pw - cw + 1)), int(rng.integers(0, ph - ch + 1))
        crop = photo[y0:y0 + ch, x0:x0 + cw]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        bg = cv2.resize(np.ascontiguousarray(crop), (width, height),
                        interpolation=cv2.INTER_AREA).astype(np.float32)
        # Out of focus, as backgrounds are; also keeps texture from looking like faces.
        bg = cv2.GaussianBlur(bg, (0, 0), rng.uniform(1.5, 5.0))
        return bg, kind
    if kind == "gradient":
        c0, c1 = rng.uniform(20, 235, 3), rng.uniform(20, 235, 3)
        angle = rng.uniform(0, 2 * np.pi)
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
        t = (xs - width / 2) * np.cos(angle) + (ys - height / 2) * np.sin(angle)
        t = (t - t.min()) / max(float(np.ptp(t)), 1.0)
        return (c0 + t[..., None] * (c1 - c0)).astype(np.float32), kind
    # Smooth noise: mostly brightness, some colour, around a random tint.
    cells = rng.integers(2, 7, size=2)
    coarse = rng.uniform(-1, 1, (int(cells[0]), int(cells[1]), 3)).astype(np.float32)
    coarse = 0.6 * coarse.mean(axis=2, keepdims=True) + 0.4 * coarse
    smooth = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    tint, spread = rng.uniform(40, 215, 3), rng.uniform(25, 70)
    return np.clip(tint + spread * smooth, 0, 255).astype(np.float32), "noise"
