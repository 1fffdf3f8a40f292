"""Synthetic expression videos built from real face photos: the package's demo data.

:func:`make_expression_videos` writes an AFEW-shaped tree of real video files
(``Train_AFEW/<Emotion>/*.avi``, ``Val_AFEW/<Emotion>/*.avi``, MPEG-4 in AVI)
whose clips show real faces making the seven basic expressions.  It needs no
download: the faces come from photos that installed packages ship --
insightface's group photo ``t1.jpg`` (six faces) and ``Tom_Hanks_54745.png``,
and scikit-image's ``astronaut`` -- and the backgrounds from texture photos of
scikit-image and scikit-learn.

How a clip is made
------------------
1. **Actors.**  MTCNN finds each face of the source photos once per process
   (five landmarks and a box).  Each face is warped by a similarity transform
   to an upright *actor canvas* (eye distance about 40 px) with a soft elliptical
   mask around head and neck, so that only this face is pasted later.
2. **Expression.**  An expression is a smooth displacement field, a sum of
   Gaussian bumps centred on control points derived from the five landmarks
   (brows above the eyes, eyelids, cheeks, nose wings, lips, mouth corners,
   chin), e.g. *happy* lifts and widens the mouth corners and raises the
   cheeks; *surprise* raises the brows, opens the eyes and drops the jaw.
   Open mouths (surprise, fear) also get a dark mouth cavity, which a warp
   alone cannot create.  The field is scaled by the frame's intensity and
   applied with :func:`cv2.remap`.
3. **Timing.**  The intensity is 0 (the photo's own, neutral-ish face) most of
   the time and rises to its peak over one random contiguous segment covering
   ``peak_fraction`` of the clip, so that a method must find the informative
   frames (what temporal pooling is for).  Neutral clips never move.
4. **Variation.**  Identity (8 faces, each possibly mirrored), face size,
   in-plane rotation, a slight horizontal squeeze (yaw), position with a slow
   drift of position, size and angle plus per-frame jitter, background
   (smooth colour noise, gradients, blurred texture photos, face-free parts of
   the source photos), lighting (gain, gamma, colour cast, a gradient, slow
   flicker), defocus and sensor noise.

Everything random comes from one seed per clip, derived from ``random_state``
and the clip's (subset, emotion, index): the same ``random_state`` gives the
same files, and adding clips does not change the existing ones (content and
name).
"""

from __future__ import annotations

import functools
import importlib.util
import json
import math
import os
import shutil
import time
from dataclasses import dataclass
from numbers import Integral
from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np
import pandas as pd

from ..config import cache_dir
from ..emotions import EMOTIONS

__all__ = [
    "ExpressionClip",
    "FaceSource",
    "default_data_dir",
    "face_sources",
    "load_expression_landmarks",
    "make_expression_clip",
    "make_expression_videos",
]

#: Bumped whenever the generator's output changes, so that stale caches are rebuilt.
GENERATOR_VERSION = 1
MANIFEST_NAME = "sk_emotion_manifest.json"
LANDMARKS_NAME = "sk_emotion_landmarks.npz"
_SUBSET_FOLDERS = {"train": "Train_AFEW", "val": "Val_AFEW"}
_EMOTION_FOLDERS = {
    "angry": "Angry", "disgust": "Disgust", "fear": "Fear", "happy": "Happy",
    "sad": "Sad", "surprise": "Surprise", "neutral": "Neutral",
}

# Actor canvas: faces are normalised to an upright canvas, their landmarks
# fitted to the ArcFace template scaled to this eye distance, with the eye
# centre at _EYE_CENTRE.
_ED = 40.0
_CANVAS_W, _CANVAS_H = 176, 224
_EYE_CENTRE = np.array([88.0, 92.0])
# insightface's ArcFace 112x112 template (same values as faces.align): the
# target shape of the five landmarks on the canvas.
_ARCFACE = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                     [41.5493, 92.3655], [70.7299, 92.2041]])
# Head-and-neck mask: ellipse centre below the eyes, semi-axes, feather (in _ED).
_MASK_CENTRE_DY, _MASK_AX, _MASK_AY, _MASK_FEATHER = 0.45, 1.45, 2.0, 0.15


# ------------------------------------------------------------------ expressions
# Each prototype is a list of (control point, dx, dy, sigma) in face units
# (about the eye distance, see _face_unit).  dx is *outward* (away from the
# face's midline) for the paired points (named "*_s"), so one entry moves
# both sides symmetrically; y points down.
# "jaw" is special: everything below the line between the mouth corners moves
# down by dy (a jaw drop), see _jaw_field.
_PROTOTYPES: dict[str, list[tuple[str, float, float, float]]] = {
    "happy": [
        ("corner_s", 0.16, -0.20, 0.17), ("lip_up", 0.0, -0.03, 0.12),
        ("cheek_s", 0.0, -0.12, 0.22), ("lid_low_s", 0.0, -0.06, 0.09),
    ],
    "sad": [
        ("corner_s", -0.04, 0.21, 0.16), ("lip_low", 0.0, -0.07, 0.12),
        ("chin", 0.0, -0.06, 0.25), ("brow_in_s", -0.06, -0.22, 0.15),
        ("brow_out_s", 0.0, 0.09, 0.15), ("lid_up_s", 0.0, 0.05, 0.09),
    ],
    "angry": [
        ("brow_in_s", -0.12, 0.22, 0.15), ("brow_mid_s", -0.06, 0.14, 0.16),
        ("lid_low_s", 0.0, -0.05, 0.09), ("lip_up", 0.0, 0.07, 0.11),
        ("lip_low", 0.0, -0.10, 0.12), ("corner_s", -0.07, 0.02, 0.13),
    ],
    "surprise": [
        ("brow_in_s", 0.0, -0.24, 0.16), ("brow_mid_s", 0.0, -0.24, 0.16),
        ("brow_out_s", 0.0, -0.19, 0.16), ("lid_up_s", 0.0, -0.08, 0.09),
        ("lid_low_s", 0.0, 0.03, 0.08), ("lip_up", 0.0, -0.04, 0.12),
        ("jaw", 0.0, 0.38, 0.0), ("corner_s", -0.08, 0.0, 0.14),
    ],
    "fear": [
        ("brow_in_s", -0.07, -0.21, 0.13), ("brow_mid_s", -0.035, -0.14, 0.15),
        ("brow_out_s", 0.0, -0.05, 0.15), ("lid_up_s", 0.0, -0.08, 0.09),
        ("corner_s", 0.16, 0.04, 0.15), ("jaw", 0.0, 0.15, 0.0),
    ],
    "disgust": [
        ("lip_up", 0.0, -0.20, 0.14), ("nose_wing_s", 0.0, -0.12, 0.12),
        ("corner_s", -0.02, 0.07, 0.14), ("brow_in_s", -0.06, 0.11, 0.14),
        ("lid_low_s", 0.0, -0.06, 0.09),
    ],
    "neutral": [],
}
# Wrinkles and furrows a warp cannot make: darkening by (control point, dx,
# dy, half-length x, half-length y, strength) -- offsets and sizes in face
# units, dx outward for paired points, strength = darkening at the
# centre at full intensity.
_SHADING: dict[str, list[tuple[str, float, float, float, float, float]]] = {
    "angry": [("glabella_s", 0.0, 0.05, 0.03, 0.12, 0.35)],
    "disgust": [("nose_bridge", 0.0, 0.0, 0.13, 0.035, 0.2), ("nose_bridge", 0.0, 0.12, 0.11, 0.035, 0.2),
                ("fold_s", 0.0, 0.0, 0.04, 0.12, 0.2)],
    "happy": [("fold_s", 0.02, 0.0, 0.04, 0.14, 0.2)],
    "surprise": [("forehead", 0.0, 0.0, 0.35, 0.035, 0.15), ("forehead", 0.0, -0.16, 0.3, 0.035, 0.15)],
    "fear": [("forehead", 0.0, 0.0, 0.2, 0.035, 0.15)],
}
# Open mouths: (cavity width as a fraction of the mouth width) per emotion.
_CAVITY_WIDTH = {"surprise": 0.55, "fear": 0.8}
_CAVITY_RGB = np.array([38.0, 16.0, 16.0], np.float32)
# Margin of the per-clip noise field from which each frame's noise is cut.
_NOISE_PAD = 32
# Largest allowed d(displacement)/dx: above 1 the backward warp would fold.
_MAX_STRETCH = 0.9


def _face_unit(lm: np.ndarray) -> float:
    """Length unit of the expression warps for a face: about its eye distance.

    The eye distance shrinks when a face is turned (``t1_4`` in the group
    photo has 31 px against ~40 px for the others) while the eye-to-mouth
    distance does not; the geometric mean with the latter keeps expressions of
    turned faces as visible as those of frontal ones.
    """
    eyes = float(np.linalg.norm(lm[1] - lm[0]))
    eye_mouth = float(np.linalg.norm((lm[3] + lm[4]) / 2 - (lm[0] + lm[1]) / 2))
    return math.sqrt(eyes * max(eyes, eye_mouth / 1.05))


def _control_points(lm: np.ndarray) -> dict[str, list[tuple[np.ndarray, float]]]:
    """Named control points of a face on the canvas: name -> [(point, outward sign)].

    ``lm`` holds the five landmarks (left eye, right eye, nose, left and right
    mouth corners, "left" = smaller x).  Offsets are in face units
    (:func:`_face_unit`).
    """
    ed = _face_unit(lm)
    eyes, corners = (lm[0], lm[1]), (lm[3], lm[4])
    mouth = (lm[3] + lm[4]) / 2
    mid_eyes = (lm[0] + lm[1]) / 2

    def at(base, dx, dy):
        return np.asarray(base, float) + ed * np.array([dx, dy])

    pts: dict[str, list[tuple[np.ndarray, float]]] = {}
    for name, fn in {
        "brow_in_s": lambda e, s: at(e, -0.22 * s, -0.36),
        "brow_mid_s": lambda e, s: at(e, 0.0, -0.38),
        "brow_out_s": lambda e, s: at(e, 0.25 * s, -0.33),
        "lid_up_s": lambda e, s: at(e, 0.0, -0.09),
        "lid_low_s": lambda e, s: at(e, 0.0, 0.10),
        "cheek_s": lambda e, s: at(e, 0.05 * s, 0.55),
    }.items():
        pts[name] = [(fn(e, s), s) for e, s in zip(eyes, (-1.0, 1.0))]
    pts["nose_wing_s"] = [(at(lm[2], 0.2 * s, 0.02), s) for s in (-1.0, 1.0)]
    pts["corner_s"] = [(c.astype(float), s) for c, s in zip(corners, (-1.0, 1.0))]
    pts["lip_up"] = [(at(mouth, 0, -0.10), 0.0)]
    pts["lip_low"] = [(at(mouth, 0, 0.12), 0.0)]
    pts["chin"] = [(at(mouth, 0, 0.60), 0.0)]
    pts["glabella_s"] = [(at(mid_eyes, 0.07 * s, -0.28), s) for s in (-1.0, 1.0)]
    pts["nose_bridge"] = [(at(mid_eyes, 0, 0.18), 0.0)]
    pts["forehead"] = [(at(mid_eyes, 0, -0.68), 0.0)]
    # Nasolabial folds: between the nose wing and the mouth corner, outside both.
    pts["fold_s"] = [((at(lm[2], 0.28 * s, 0.1) + c) / 2 + ed * np.array([0.06 * s, 0.0]), s)
                     for c, s in zip(corners, (-1.0, 1.0))]
    return pts


def _displacement_field(emotion: str, lm: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Backward displacement (2, H, W) in canvas pixels of ``emotion`` at full intensity.

    The warp is ``out(x) = canvas(x - D(x))``, so content near a control
    point moves by about its displacement.  Each term is jittered (amplitude
    x0.8-1.2, width x0.9-1.1) so that no two clips are identical.
    """
    field = np.zeros((2, _CANVAS_H, _CANVAS_W), np.float32)
    terms = _PROTOTYPES[emotion]
    if not terms:
        return field
    ed = _face_unit(lm)
    pts = _control_points(lm)
    ys = np.arange(_CANVAS_H, dtype=np.float32)[:, None]
    xs = np.arange(_CANVAS_W, dtype=np.float32)[None, :]
    for name, dx, dy, sigma in terms:
        gain = rng.uniform(0.8, 1.2)
        sig = sigma * ed * rng.uniform(0.9, 1.1)
        if name == "jaw":
            field[1] += _jaw_field(lm, gain * dy * ed, xs, ys)
            continue
        for point, side in pts[name]:
            # Outward for paired points; mirrored faces stay symmetric.
            d = gain * ed * np.array([dx * (side if side else 1.0), dy])
            bump = (np.exp(-((xs - point[0]) ** 2) / (2 * sig * sig))
                    * np.exp(-((ys - point[1]) ** 2) / (2 * sig * sig)))
            field[0] += d[0] * bump
            field[1] += d[1] * bump
    # Guard against folds where bumps add up: scale the field down if needed.
    stretch = max(np.abs(np.gradient(field[0], axis=1)).max(),
                  np.abs(np.gradient(field[1], axis=0)).max(),
                  np.abs(np.gradient(field[0], axis=0)).max(),
                  np.abs(np.gradient(field[1], axis=1)).max())
    if stretch > _MAX_STRETCH:
        field *= _MAX_STRETCH / stretch
    return field


def _jaw_field(lm: np.ndarray, drop: float, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Vertical displacement (H, W) of a jaw drop of ``drop`` pixels.

    Zero above the mouth, ``drop`` below it down to the chin, fading out on
    the neck; the step at the mouth is a smoothstep just wide enough to keep
    the warp's slope at 0.75 (the stretched band is where the mouth opens and
    gets its cavity).  Horizontally a Gaussian as wide as the jaw.
    """
    ed = _face_unit(lm)
    mouth = (lm[3] + lm[4]) / 2
    width = max(1.5 * drop / 0.75, 2.0)  # smoothstep's peak slope is 1.5 / width
    # Backward warp: output rows [c - w/2, c + w/2] read source rows
    # [c - w/2, c + w/2 - drop]; centring that source band on the mouth line
    # (c = mouth + drop/2) makes the lips part there.
    centre = mouth[1] + drop / 2
    t = np.clip((ys - (centre - width / 2)) / width, 0.0, 1.0)
    vertical = t * t * (3 - 2 * t)
    chin = max(mouth[1] + 0.6 * ed, centre + width / 2)
    below = ys > chin
    vertical = np.where(below, np.exp(-0.5 * ((ys - chin) / (0.35 * ed)) ** 2), vertical)
    horizontal = np.exp(-0.5 * ((xs - mouth[0]) / (0.6 * ed)) ** 2)
    return (drop * vertical * horizontal).astype(np.float32)


def _intensity_profile(n_frames: int, peak_fraction: tuple[float, float], peak: float,
                       rng: np.random.Generator) -> np.ndarray:
    """0 everywhere but one contiguous segment with raised-cosine onset and offset."""
    length = int(round(rng.uniform(*peak_fraction) * n_frames))
    length = min(max(length, 1), n_frames)
    start = int(rng.integers(0, n_frames - length + 1))
    ramp = min(3, (length - 1) // 3)  # frames of onset (and of offset) inside the segment
    values = np.ones(length)
    if ramp:
        rise = 0.5 - 0.5 * np.cos(np.pi * np.arange(1, ramp + 1) / (ramp + 1))
        values[:ramp] = rise
        values[-ramp:] = rise[::-1]
    profile = np.zeros(n_frames)
    profile[start:start + length] = peak * values
    return profile


# ------------------------------------------------------------------ sources
@dataclass(frozen=True)
class FaceSource:
    """One real face, normalised to the actor canvas.

    Attributes
    ----------
    identity : str
        Name of the face (``"t1_0"`` ... ``"t1_5"`` left to right in
        insightface's group photo, ``"astronaut"``, ``"tom_hanks"``).
    photo : str
        Where the photo comes from.
    canvas : numpy.ndarray of shape (224, 176, 3), uint8
        The upright face, RGB, its landmarks fitted to the ArcFace template
        scaled to a 40 px eye distance.
    mask : numpy.ndarray of shape (224, 176), float32
        Soft head-and-neck mask in [0, 1].
    landmarks : numpy.ndarray of shape (5, 2), float64
        The detector's five landmarks mapped onto the canvas.
    box : numpy.ndarray of shape (4,), float64
        The detector's box mapped onto the canvas (``x1, y1, x2, y2``, axis
        aligned around the mapped corners).
    """

    identity: str
    photo: str
    canvas: np.ndarray
    mask: np.ndarray
    landmarks: np.ndarray
    box: np.ndarray

    def mirrored(self) -> "FaceSource":
        """The same face flipped left-right (landmarks relabelled left/right)."""
        w = _CANVAS_W - 1.0
        lm = self.landmarks.copy()
        lm[:, 0] = w - lm[:, 0]
        lm = lm[[1, 0, 2, 4, 3]]
        box = np.array([w - self.box[2], self.box[1], w - self.box[0], self.box[3]])
        return FaceSource(self.identity, self.photo, np.ascontiguousarray(self.canvas[:, ::-1]),
                          np.ascontiguousarray(self.mask[:, ::-1]), lm, box)


def _insightface_images() -> Path | None:
    # Located without importing insightface (its import takes seconds).
    spec = importlib.util.find_spec("insightface")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "data" / "images"


def _read_rgb(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(f"cannot read source photo '{path}'")
    return np.ascontiguousarray(image[..., ::-1])


def _source_photos() -> list[tuple[str, str, np.ndarray, int]]:
    """(identity prefix, description, RGB photo, expected number of faces)."""
    from skimage import data

    photos = []
    folder = _insightface_images()
    if folder is not None and (folder / "t1.jpg").is_file():
        photos.append(("t1", "insightface/data/images/t1.jpg", _read_rgb(folder / "t1.jpg"), 6))
    photos.append(("astronaut", "skimage.data.astronaut()", data.astronaut(), 1))
    if folder is not None and (folder / "Tom_Hanks_54745.png").is_file():
        photos.append(("tom_hanks", "insightface/data/images/Tom_Hanks_54745.png",
                       _read_rgb(folder / "Tom_Hanks_54745.png"), 1))
    return photos


def _mask() -> np.ndarray:
    ys, xs = np.mgrid[0:_CANVAS_H, 0:_CANVAS_W].astype(np.float32)
    cx, cy = _EYE_CENTRE[0], _EYE_CENTRE[1] + _MASK_CENTRE_DY * _ED
    r = np.sqrt(((xs - cx) / (_MASK_AX * _ED)) ** 2 + ((ys - cy) / (_MASK_AY * _ED)) ** 2)
    # Linear feather across the ellipse's edge, then smoothed: no visible seam.
    feather = _MASK_FEATHER * _ED / (_MASK_AX * _ED)
    mask = np.clip((1.0 - r) / feather + 0.5, 0.0, 1.0)
    return cv2.GaussianBlur(mask, (0, 0), 2.0)


def _canvas_template() -> np.ndarray:
    arc_eye = (_ARCFACE[0] + _ARCFACE[1]) / 2
    arc_ed = float(np.linalg.norm(_ARCFACE[1] - _ARCFACE[0]))
    return (_ARCFACE - arc_eye) * (_ED / arc_ed) + _EYE_CENTRE


@functools.lru_cache(maxsize=1)
def face_sources() -> tuple[FaceSource, ...]:
    """The real faces the generator animates, found once per process.

    Runs :class:`~sk_emotion.faces.MTCNNDetector` (with a larger minimum
    face size, for speed, and the exact TensorFlow pyramid, so that the
    generated videos do not change with the detector's speed settings) on
    each source photo, keeps faces of at
    least 60 px with score >= 0.95, and normalises each to the actor canvas.
    Landmarks are rounded to 1/8 px so that tiny floating-point differences
    between machines do not change the generated videos.

    Returns
    -------
    tuple of FaceSource
        Eight faces when insightface's images are installed (six from
        ``t1.jpg``, the astronaut, Tom Hanks), else the astronaut alone.
    """
    from ..faces.align import estimate_similarity
    from ..faces.mtcnn import MTCNNDetector

    detector = MTCNNDetector(min_face_size=40, pyramid="exact")
    template = _canvas_template()
    mask = _mask()
    sources = []
    for prefix, photo_name, photo, expected in _source_photos():
        found = detector.detect(photo)
        side = np.maximum(found.boxes[:, 2] - found.boxes[:, 0], found.boxes[:, 3] - found.boxes[:, 1])
        keep = (found.scores >= 0.95) & (side >= 60)
        boxes, landmarks = found.boxes[keep], found.landmarks[keep]
        order = np.argsort(boxes[:, 0], kind="stable")  # left to right: stable names
        for rank, i in enumerate(order[:expected]):
            lm = np.round(landmarks[i].astype(np.float64) * 8) / 8
            box = np.round(boxes[i].astype(np.float64) * 8) / 8
            matrix = estimate_similarity(lm, template)
            canvas = cv2.warpAffine(photo, matrix, (_CANVAS_W, _CANVAS_H), flags=cv2.INTER_AREA,
                                    borderMode=cv2.BORDER_REPLICATE)
            # Restrict the mask to where the photo has pixels (Tom Hanks' photo
            # is a tight 112x112 crop): no smeared border gets pasted.
            inside = cv2.warpAffine(np.ones(photo.shape[:2], np.float32), matrix,
                                    (_CANVAS_W, _CANVAS_H), flags=cv2.INTER_LINEAR,
                                    borderMode=cv2.BORDER_CONSTANT, borderValue=0)
            inside = cv2.GaussianBlur(cv2.erode(inside, np.ones((5, 5), np.uint8)), (0, 0), 1.5)
            lm_c = lm @ matrix[:, :2].T + matrix[:, 2]
            corners = np.array([[box[0], box[1]], [box[2], box[1]], [box[0], box[3]], [box[2], box[3]]])
            corners = corners @ matrix[:, :2].T + matrix[:, 2]
            box_c = np.concatenate([corners.min(axis=0), corners.max(axis=0)])
            identity = f"{prefix}_{rank}" if expected > 1 else prefix
            sources.append(FaceSource(identity, photo_name, canvas, mask * inside, lm_c, box_c))
    if not sources:
        raise RuntimeError("no face found in the source photos; is scikit-image installed?")
    return tuple(sources)


# ------------------------------------------------------------------ backgrounds
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


def _background(width: int, height: int, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """A static (H, W, 3) float32 background in 0-255 and its kind."""
    kind = ["noise", "gradient", "photo"][int(rng.integers(3))]
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


# ------------------------------------------------------------------ rendering
@dataclass(frozen=True)
class ExpressionClip:
    """An in-memory synthetic clip (see :func:`make_expression_clip`).

    Attributes
    ----------
    frames : numpy.ndarray of shape (n_frames, H, W, 3), uint8
        RGB frames.
    emotion : str
        The expression shown.
    intensity : numpy.ndarray of shape (n_frames,), float64
        Expression intensity per frame (0 = the photo's own face).
    landmarks : numpy.ndarray of shape (n_frames, 5, 2), float64
        Where the face's five *undeformed* landmarks are in each frame (left
        eye, right eye, nose, left and right mouth corners): the ground truth
        of pose, position and scale.
    identity : str
        Source face, see :class:`FaceSource`.
    mirrored : bool
        Whether the face was flipped left-right.
    face_size : float
        Side of the detector's box around the face in the first frame (px).
    background : str
        ``"noise"``, ``"gradient"`` or ``"photo"``.
    """

    frames: np.ndarray
    emotion: str
    intensity: np.ndarray
    landmarks: np.ndarray
    identity: str
    mirrored: bool
    face_size: float
    background: str

    @property
    def expression_frames(self) -> np.ndarray:
        """Indices of the frames where the expression shows (intensity > 0)."""
        return np.flatnonzero(self.intensity > 0)

    @property
    def peak_frames(self) -> np.ndarray:
        """Indices of the frames at the clip's peak intensity (empty for neutral)."""
        if not self.intensity.max() > 0:
            return np.zeros(0, np.int64)
        return np.flatnonzero(self.intensity >= self.intensity.max() - 1e-9)


def _smoothstep(t: np.ndarray) -> np.ndarray:
    return t * t * (3 - 2 * t)


def _forward_y(column: np.ndarray, y_src: float, amount: float) -> float:
    """Where the warp ``out(y) = in(y - amount * column[y])`` moves source row ``y_src``.

    Solves ``y = y_src + amount * column(y)`` by fixed-point iteration (the
    field's slope is below 1, so it converges).
    """
    grid = np.arange(column.size, dtype=np.float64)
    y = y_src
    for _ in range(8):
        y = y_src + amount * float(np.interp(y, grid, column))
    return y


def _paint_cavity(canvas: np.ndarray, lm: np.ndarray, field: np.ndarray, width: float,
                  amount: float) -> None:
    """Darken the gap that the warp opens between the lips (in place, float canvas).

    The lips' inner edges (taken 0.04 eye distance above and below the line
    between the mouth corners) are followed through the warp; the gap between
    them becomes a dark ellipse -- a warp alone would only stretch the lips.
    """
    ed = _face_unit(lm)
    mouth = (lm[3] + lm[4]) / 2
    column = field[1, :, int(round(mouth[0]))].astype(np.float64)
    top = _forward_y(column, mouth[1] - 0.04 * ed, amount)
    bottom = _forward_y(column, mouth[1] + 0.04 * ed, amount)
    gap = bottom - top - 0.08 * ed
    if gap < 1.0:
        return
    cy, half_h = 0.5 * (top + bottom), 0.5 * gap
    half_w = 0.5 * width * float(np.linalg.norm(lm[4] - lm[3]))
    x0, x1 = max(int(mouth[0] - half_w - 3), 0), min(int(mouth[0] + half_w + 4), _CANVAS_W)
    y0, y1 = max(int(cy - half_h - 3), 0), min(int(cy + half_h + 4), _CANVAS_H)
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    r = np.sqrt(((xs - mouth[0]) / max(half_w, 1.0)) ** 2 + ((ys - cy) / max(half_h, 1.0)) ** 2)
    # Soft edge about 1.5 px wide whatever the ellipse's size.
    alpha = np.clip((1.0 - r) * max(half_h, 1.0) / 1.5, 0.0, 1.0)[..., None]
    region = canvas[y0:y1, x0:x1]
    region += alpha * (_CAVITY_RGB - region)


def _shading_field(emotion: str, lm: np.ndarray, rng: np.random.Generator) -> np.ndarray | None:
    """Darkening (H, W) in [0, 1) at full intensity, in undeformed canvas coordinates.

    Applied before the warp, so the wrinkles move with the skin.
    """
    terms = _SHADING.get(emotion)
    if not terms:
        return None
    ed = _face_unit(lm)
    pts = _control_points(lm)
    ys = np.arange(_CANVAS_H, dtype=np.float32)[:, None]
    xs = np.arange(_CANVAS_W, dtype=np.float32)[None, :]
    shade = np.zeros((_CANVAS_H, _CANVAS_W), np.float32)
    for name, dx, dy, hx, hy, strength in terms:
        k = strength * rng.uniform(0.8, 1.2)
        for point, side in pts[name]:
            c = point + ed * np.array([dx * (side if side else 1.0), dy])
            shade += k * (np.exp(-0.5 * ((xs - c[0]) / (hx * ed)) ** 2)
                          * np.exp(-0.5 * ((ys - c[1]) / (hy * ed)) ** 2))
    return np.clip(shade, 0.0, 0.8)


def _render(source: FaceSource, emotion: str, n_frames: int, width: int, height: int,
            face_size: tuple[float, float], peak_fraction: tuple[float, float],
            rng: np.random.Generator) -> ExpressionClip:
    """Render one clip; every random choice comes from ``rng``, in a fixed order."""
    # --- expression and its timing
    peak = rng.uniform(0.8, 1.0)
    profile = _intensity_profile(n_frames, peak_fraction, peak, rng)
    if emotion == "neutral":
        profile[:] = 0.0
    field = _displacement_field(emotion, source.landmarks, rng)
    shade = _shading_field(emotion, source.landmarks, rng)

    # --- appearance, per clip: defocus, gamma (applied to actor and background
    # before compositing; a pointwise map commutes with the paste up to the
    # mask's feathered edge), lighting field, noise level
    bg, bg_kind = _background(width, height, rng)
    gamma = rng.uniform(0.75, 1.35)
    lut = np.clip(255.0 * (np.arange(256) / 255.0) ** gamma, 0, 255).astype(np.float32)
    actor = cv2.GaussianBlur(source.canvas, (0, 0), rng.uniform(0.3, 1.2))
    actor = lut[actor]
    bg = (255.0 * (np.clip(bg, 0, 255) / 255.0) ** gamma).astype(np.float32)
    gain = rng.uniform(0.65, 1.25)
    cast = rng.uniform(0.9, 1.1, 3)
    slope, angle = rng.uniform(-0.5, 0.5), rng.uniform(0, 2 * np.pi)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    ramp = ((xs - width / 2) * np.cos(angle) + (ys - height / 2) * np.sin(angle)) / width
    light = ((gain * (1.0 + slope * ramp))[..., None] * cast).astype(np.float32)
    flicker_amp, flicker_freq = rng.uniform(0, 0.05), rng.uniform(0.3, 2.0)
    flicker_phase = rng.uniform(0, 6.3)
    noise_sigma = rng.uniform(1.0, 6.0)

    # --- geometry: size, rotation, squeeze, drift, jitter
    box = source.box
    box_side = max(box[2] - box[0], box[3] - box[1])
    centre_c = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])
    size0 = rng.uniform(*face_size)
    size1 = size0 * rng.uniform(0.93, 1.07)
    roll0 = rng.uniform(-10, 10)
    roll1 = roll0 + rng.uniform(-4, 4)
    squeeze = rng.uniform(0.88, 1.0)
    margin = 0.6 * max(size0, size1)

    def place() -> np.ndarray:
        return np.array([rng.uniform(margin, width - margin), rng.uniform(margin, height - margin)])

    start = place()
    drift = rng.normal(0, 0.12 * size0, 2)
    end = np.clip(start + drift, [margin, margin], [width - margin, height - margin])
    jitter_xy = rng.normal(0, 0.4, (n_frames, 2))
    jitter_roll = rng.normal(0, 0.3, n_frames)
    noise_seed = int(rng.integers(2**63))

    # --- frames
    noise_rng = np.random.default_rng(noise_seed)
    noise = noise_rng.standard_normal((height + _NOISE_PAD, width + _NOISE_PAD, 3), dtype=np.float32)
    noise *= np.float32(noise_sigma)
    gy, gx = np.mgrid[0:_CANVAS_H, 0:_CANVAS_W].astype(np.float32)
    rgba = np.dstack([actor, source.mask * 255.0]).astype(np.float32)
    frames = np.empty((n_frames, height, width, 3), np.uint8)
    landmarks = np.empty((n_frames, 5, 2))
    t_axis = _smoothstep(np.linspace(0.0, 1.0, n_frames))
    for t in range(n_frames):
        a = float(profile[t])
        if a > 0:
            layer = rgba
            if shade is not None:
                layer = rgba.copy()
                layer[..., :3] *= (1.0 - a * shade)[..., None]
            layer = cv2.remap(layer, gx - a * field[0], gy - a * field[1], cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)
            if emotion in _CAVITY_WIDTH:
                _paint_cavity(layer[..., :3], source.landmarks, field, _CAVITY_WIDTH[emotion], a)
        else:
            layer = rgba
        s = (size0 + (size1 - size0) * t_axis[t]) / box_side
        theta = np.deg2rad(roll0 + (roll1 - roll0) * t_axis[t] + jitter_roll[t])
        pos = start + (end - start) * t_axis[t] + jitter_xy[t]
        rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
        linear = s * rot @ np.diag([squeeze, 1.0])
        matrix = np.hstack([linear, (pos - linear @ centre_c)[:, None]])
        landmarks[t] = source.landmarks @ linear.T + matrix[:, 2]
        # Paste only over the canvas's footprint (the ROI), not the full frame.
        corners = np.array([[0, 0], [_CANVAS_W, 0], [0, _CANVAS_H], [_CANVAS_W, _CANVAS_H]], float)
        corners = corners @ linear.T + matrix[:, 2]
        x0, y0 = np.maximum(np.floor(corners.min(axis=0)).astype(int), 0)
        x1, y1 = np.minimum(np.ceil(corners.max(axis=0)).astype(int) + 1, [width, height])
        frame = bg.copy()
        if x1 > x0 and y1 > y0:
            shifted = matrix.copy()
            shifted[:, 2] -= (x0, y0)
            patch = cv2.warpAffine(layer, shifted, (int(x1 - x0), int(y1 - y0)), flags=cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_CONSTANT, borderValue=0)
            alpha = np.ascontiguousarray(patch[..., 3]) * np.float32(1 / 255)
            frame[y0:y1, x0:x1] = cv2.blendLinear(np.ascontiguousarray(patch[..., :3]),
                                                   frame[y0:y1, x0:x1], alpha, 1.0 - alpha)
        flicker = 1.0 + flicker_amp * math.sin(2 * math.pi * flicker_freq * t / n_frames + flicker_phase)
        frame = cv2.multiply(frame, light, scale=flicker)
        # Sensor noise: a random window of a per-clip noise field (drawing
        # fresh Gaussian noise for every frame cost 10x the rest of the frame).
        dy, dx = noise_rng.integers(0, _NOISE_PAD, 2)
        # cv2.add rounds and saturates to uint8 in one pass.
        frames[t] = cv2.add(frame, noise[dy:dy + height, dx:dx + width], dtype=cv2.CV_8U)
    return ExpressionClip(frames=frames, emotion=emotion, intensity=profile, landmarks=landmarks,
                          identity=source.identity, mirrored=False, face_size=float(size0),
                          background=bg_kind)


# ------------------------------------------------------------------ checks
def _check_emotion(emotion: str) -> str:
    if emotion not in _PROTOTYPES:
        raise ValueError(f"unknown emotion {emotion!r}; expected one of {list(EMOTIONS)}")
    return emotion


def _check_int(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_range(value: Any, name: str, low: float, high: float) -> tuple[float, float]:
    try:
        a, b = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (min, max), got {value!r}") from None
    if not (low <= a <= b <= high):
        raise ValueError(f"{name} must satisfy {low} <= min <= max <= {high}, got {value!r}")
    return a, b


def _check_frame_size(frame_size: Any) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in frame_size)
    except (TypeError, ValueError):
        raise ValueError(f"frame_size must be (width, height), got {frame_size!r}") from None
    if w < 64 or h < 64:
        raise ValueError(f"frame_size must be at least (64, 64), got {frame_size!r}")
    return w, h


def _find_source(identity: str | None, rng: np.random.Generator) -> FaceSource:
    sources = face_sources()
    if identity is None:
        return sources[int(rng.integers(len(sources)))]
    for source in sources:
        if source.identity == identity:
            return source
    raise ValueError(f"unknown identity {identity!r}; expected one of {[s.identity for s in sources]}")


def make_expression_clip(
    emotion: str,
    *,
    identity: str | None = None,
    mirrored: bool | None = None,
    n_frames: int = 32,
    frame_size: tuple[int, int] = (320, 240),
    face_size: tuple[float, float] = (60.0, 120.0),
    peak_fraction: tuple[float, float] = (0.2, 0.4),
    random_state: int | np.random.Generator | None = None,
) -> ExpressionClip:
    """Render one synthetic expression clip in memory (no file written).

    Parameters
    ----------
    emotion : {"angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"}
        Expression to show.
    identity : str, optional
        A :attr:`FaceSource.identity` (see :func:`face_sources`); random when None.
    mirrored : bool, optional
        Flip the face left-right; random when None.
    n_frames : int, default=32
        Number of frames.
    frame_size : (int, int), default=(320, 240)
        Frame ``(width, height)`` in pixels.
    face_size : (float, float), default=(60, 120)
        Range of the face's size (side of the detector's box), in pixels.
        Must fit the frame: at most 0.8 x the frame's shorter side.
    peak_fraction : (float, float), default=(0.2, 0.4)
        Range of the fraction of frames in which the expression shows.
    random_state : int, numpy.random.Generator or None
        Seed or generator; None draws fresh entropy.

    Returns
    -------
    ExpressionClip
    """
    _check_emotion(emotion)
    n_frames = _check_int(n_frames, "n_frames", 1)
    width, height = _check_frame_size(frame_size)
    face_size = _check_range(face_size, "face_size", 20.0, 0.8 * min(width, height))
    peak_fraction = _check_range(peak_fraction, "peak_fraction", 0.0, 1.0)
    if isinstance(random_state, np.random.Generator):
        rng = random_state
    else:
        rng = np.random.default_rng(random_state)
    source = _find_source(identity, rng)
    flip = bool(rng.random() < 0.5) if mirrored is None else bool(mirrored)
    clip = _render(source.mirrored() if flip else source, emotion, n_frames, width, height,
                   face_size, peak_fraction, rng)
    return ExpressionClip(**{**clip.__dict__, "mirrored": flip})


# ------------------------------------------------------------------ the dataset
def default_data_dir() -> Path:
    """Where the demo data is generated by default.

    ``$SK_EMOTION_HOME/expression_videos``, or
    ``~/.cache/sk_emotion/expression_videos`` when the variable is unset (see
    :func:`sk_emotion.weights.cache_dir`).  Not created here.
    """
    return cache_dir() / "expression_videos"


def _clip_seed(seed: int, subset: str, emotion: str, index: int) -> np.random.SeedSequence:
    # Keyed by the clip's identity, not its position in the loop: adding
    # clips or emotions leaves the existing clips unchanged.
    return np.random.SeedSequence([seed, list(_SUBSET_FOLDERS).index(subset),
                                   EMOTIONS.index(emotion), index])


def _identity_plan(seed: int, n_holdout: int) -> dict[str, list[str]]:
    """Identities per subset: shared (n_holdout=0) or disjoint, val getting n_holdout."""
    names = [s.identity for s in face_sources()]
    if n_holdout == 0:
        return {"train": names, "val": names}
    if n_holdout >= len(names):
        raise ValueError(f"holdout_identities must be < the number of faces ({len(names)}), "
                         f"got {n_holdout}")
    order = np.random.default_rng(np.random.SeedSequence([seed, 99])).permutation(len(names))
    return {"train": sorted(names[i] for i in order[n_holdout:]),
            "val": sorted(names[i] for i in order[:n_holdout])}


def _resolve_seed(random_state: Any) -> tuple[int, bool]:
    """(int seed, whether the result may be cached) from sklearn-style random_state."""
    if random_state is None:
        return int(np.random.SeedSequence().generate_state(1, np.uint64)[0] >> 1), False
    if isinstance(random_state, bool):
        raise ValueError(f"random_state must be an int, a generator or None, got {random_state!r}")
    if isinstance(random_state, Integral):
        if random_state < 0:
            raise ValueError(f"random_state must be non-negative, got {random_state}")
        return int(random_state), True
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(2**62)), False
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(2**31 - 1)), False
    raise ValueError(f"random_state must be an int, a generator or None, got {random_state!r}")


def _read_manifest(root: Path) -> dict | None:
    try:
        with open(root / MANIFEST_NAME, encoding="utf-8") as handle:
            manifest = json.load(handle)
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) and "params" in manifest else None


def _write_manifest(root: Path, manifest: dict) -> None:
    tmp = root / (MANIFEST_NAME + ".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(manifest, handle, indent=1)
    os.replace(tmp, root / MANIFEST_NAME)  # atomic: never a half-written manifest


def _write_landmarks(root: Path, landmarks: dict[str, np.ndarray]) -> None:
    tmp = root / (LANDMARKS_NAME + ".tmp")
    with open(tmp, "wb") as handle:
        np.savez_compressed(handle, **landmarks)
    os.replace(tmp, root / LANDMARKS_NAME)


def load_expression_landmarks(root: str | os.PathLike | None = None) -> dict[str, np.ndarray]:
    """Ground-truth landmarks of a tree written by :func:`make_expression_videos`.

    Parameters
    ----------
    root : path-like, optional
        The tree's root; :func:`default_data_dir` when None.

    Returns
    -------
    dict of str to numpy.ndarray of shape (n_frames, 5, 2), float32
        For each clip, keyed by its path relative to ``root`` (as written,
        with ``/``), where the face's five undeformed landmarks (left eye,
        right eye, nose, left and right mouth corners) are in every frame --
        to check a face detector or tracker on the generated videos.
    """
    root = default_data_dir() if root is None else Path(root).expanduser()
    with np.load(root / LANDMARKS_NAME) as data:
        return {name: data[name] for name in data.files}


def _frame_from_records(root: Path, records: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(records).drop(columns=["size"])
    frame["path"] = [str((root / p).resolve()) for p in frame["path"]]
    for column in ("expression_frames", "peak_frames", "intensity"):
        frame[column] = [tuple(v) for v in frame[column]]
    # The row order of sk_emotion.datasets.load_afew: subset, emotion, path.
    frame["_s"] = frame["subset"].map({"train": 0, "val": 1})
    frame["_e"] = frame["emotion"].map(EMOTIONS.index)
    frame = frame.sort_values(["_s", "_e", "path"], ignore_index=True).drop(columns=["_s", "_e"])
    frame.attrs["root"] = str(root.resolve())
    return frame


def _cached(root: Path, manifest: dict | None, params: dict) -> pd.DataFrame | None:
    if manifest is None or not manifest.get("complete") or manifest.get("params") != params:
        return None
    if manifest.get("version") != GENERATOR_VERSION:
        return None
    if not (root / LANDMARKS_NAME).is_file():
        return None
    for record in manifest.get("clips", []):
        path = root / record["path"]
        if not path.is_file() or path.stat().st_size != record.get("size"):
            return None
    return _frame_from_records(root, manifest["clips"])


def make_expression_videos(
    root: str | os.PathLike | None = None,
    *,
    n_train_per_class: int = 8,
    n_val_per_class: int = 4,
    n_frames: int = 32,
    frame_size: tuple[int, int] = (320, 240),
    fps: float = 25.0,
    extension: str = ".avi",
    emotions: Sequence[str] = EMOTIONS,
    peak_fraction: tuple[float, float] = (0.2, 0.4),
    face_size: tuple[float, float] = (60.0, 120.0),
    holdout_identities: int = 0,
    random_state: int | np.random.Generator | None = 0,
    overwrite: bool = False,
    verbose: bool = False,
) -> pd.DataFrame:
    """Write an AFEW-shaped tree of synthetic expression videos made from real faces.

    The tree is ``root/Train_AFEW/<Emotion>/<id>.avi`` and
    ``root/Val_AFEW/<Emotion>/<id>.avi`` with AFEW's folder names (``Angry``,
    ``Disgust``, ``Fear``, ``Happy``, ``Neutral``, ``Sad``, ``Surprise``) and
    nine-digit file names, so :func:`sk_emotion.datasets.load_afew` reads it.
    How the clips are made is described in the module docstring and in
    ``docs/synthetic_data.md``.

    Generation is cached: the parameters are written to
    ``root/sk_emotion_manifest.json`` once every video is written, and a call
    whose parameters (and generator version) match a complete tree returns it
    at once.  A tree with a different manifest is replaced; a tree without
    one is someone else's data and is only replaced when ``overwrite=True``.

    Parameters
    ----------
    root : path-like, optional
        Output folder; :func:`default_data_dir` when None.
    n_train_per_class, n_val_per_class : int, default=8 and 4
        Clips per emotion in each subset (``n_val_per_class`` may be 0).
    n_frames : int, default=32
        Frames per clip (32 frames = 1.28 s at 25 fps).
    frame_size : (int, int), default=(320, 240)
        Frame ``(width, height)``.
    fps : float, default=25.0
        Frame rate written in the files.
    extension : str, default=".avi"
        Container; ``.avi`` holds MPEG-4 Part 2, like AFEW.  ``.mp4``,
        ``.mkv``, ``.mov`` use H.264 when FFmpeg has it.
    emotions : sequence of str, default: the seven
        Which expressions to make, among the FER2013 seven.
    peak_fraction : (float, float), default=(0.2, 0.4)
        Range of the fraction of each clip during which the expression shows
        (one contiguous segment at a random place); the rest is neutral.
    face_size : (float, float), default=(60, 120)
        Range of face sizes (side of the detector's box) in pixels.
    holdout_identities : int, default=0
        0: train and validation clips share all faces (each face appears in
        every class of both subsets -- with only eight faces this keeps both
        subsets balanced).  n > 0: n faces appear only in validation and the
        others only in training, for a subject-independent split.
    random_state : int, numpy.random.Generator or None, default=0
        Seed.  The same int gives identical files (on the same platform and
        library versions); only an int allows the cache to be reused.
    overwrite : bool, default=False
        Regenerate even when the cached tree matches, and replace
        ``Train_AFEW``/``Val_AFEW`` folders that this function did not write.
    verbose : bool, default=False
        Print progress.

    Returns
    -------
    pandas.DataFrame
        One row per clip, in :func:`~sk_emotion.datasets.load_afew`'s order
        (subset, emotion, path).  Columns: ``path`` (absolute, str),
        ``emotion``, ``subset`` (``"train"``/``"val"``), ``identity``,
        ``mirrored``, ``n_frames``, ``fps``, ``expression_frames`` and
        ``peak_frames`` (tuples of frame indices where the expression shows /
        is at its peak; empty for neutral), ``peak_intensity``, ``face_size``
        (px), ``background``.  ``frame.attrs["root"]`` is the root.

    Raises
    ------
    FileExistsError
        If ``root`` holds ``Train_AFEW``/``Val_AFEW`` content not written by
        this function and ``overwrite`` is False.
    ValueError
        On invalid parameters.

    Examples
    --------
    >>> from sk_emotion.datasets import make_expression_videos   # doctest: +SKIP
    >>> clips = make_expression_videos("/tmp/demo_videos")       # doctest: +SKIP
    >>> clips.groupby("subset").size().to_dict()                 # doctest: +SKIP
    {'train': 56, 'val': 28}
    """
    root = default_data_dir() if root is None else Path(root).expanduser()
    n_train = _check_int(n_train_per_class, "n_train_per_class", 0)
    n_val = _check_int(n_val_per_class, "n_val_per_class", 0)
    if n_train + n_val == 0:
        raise ValueError("n_train_per_class + n_val_per_class must be at least 1")
    n_frames = _check_int(n_frames, "n_frames", 1)
    width, height = _check_frame_size(frame_size)
    face_size = _check_range(face_size, "face_size", 20.0, 0.8 * min(width, height))
    peak_fraction = _check_range(peak_fraction, "peak_fraction", 0.0, 1.0)
    if not (isinstance(fps, (int, float)) and fps > 0):
        raise ValueError(f"fps must be a positive number, got {fps!r}")
    if not (isinstance(extension, str) and extension.startswith(".")):
        raise ValueError(f"extension must look like '.avi', got {extension!r}")
    emotions = list(emotions) if not isinstance(emotions, str) else [emotions]
    for emotion in emotions:
        _check_emotion(emotion)
    if not emotions or len(set(emotions)) != len(emotions):
        raise ValueError(f"emotions must be distinct FER2013 names, got {emotions!r}")
    holdout = _check_int(holdout_identities, "holdout_identities", 0)
    seed, cacheable = _resolve_seed(random_state)

    params = {
        "n_train_per_class": n_train, "n_val_per_class": n_val, "n_frames": n_frames,
        "frame_size": [width, height], "fps": float(fps), "extension": extension.lower(),
        "emotions": [e for e in EMOTIONS if e in emotions], "peak_fraction": list(peak_fraction),
        "face_size": list(face_size), "holdout_identities": holdout, "random_state": seed,
    }
    plan = _identity_plan(seed, holdout)  # validates holdout_identities before touching disk
    manifest = _read_manifest(root)
    if cacheable and not overwrite:
        cached = _cached(root, manifest, params)
        if cached is not None:
            return cached

    # Clear the previous tree -- only if it is ours or the caller said so.
    existing = [root / f for f in _SUBSET_FOLDERS.values() if (root / f).exists()]
    if existing and manifest is None and not overwrite:
        raise FileExistsError(
            f"'{root}' already holds {', '.join(p.name for p in existing)} not written by "
            "make_expression_videos; pass overwrite=True to replace them, or choose another root"
        )
    for folder in existing:
        shutil.rmtree(folder)
    root.mkdir(parents=True, exist_ok=True)
    # An incomplete manifest first: it marks the tree as ours if we are interrupted.
    _write_manifest(root, {"generator": "sk_emotion.datasets.make_expression_videos",
                           "version": GENERATOR_VERSION, "complete": False, "params": params})

    from ..video.writer import write_video

    sources = {s.identity: s for s in face_sources()}
    n_total = len(emotions) * (n_train + n_val)
    used_names: set[int] = set()

    records: list[dict] = []
    landmarks: dict[str, np.ndarray] = {}
    started = time.perf_counter()
    for subset, count in (("train", n_train), ("val", n_val)):
        identities = plan[subset]
        subset_seed = np.random.SeedSequence([seed, 11, list(_SUBSET_FOLDERS).index(subset)])
        order = np.random.default_rng(subset_seed).permutation(len(identities))
        for emotion in params["emotions"]:
            folder = root / _SUBSET_FOLDERS[subset] / _EMOTION_FOLDERS[emotion]
            folder.mkdir(parents=True, exist_ok=True)
            for k in range(count):
                rng = np.random.default_rng(_clip_seed(seed, subset, emotion, k))
                # Consecutive faces of a per-subset permutation, each class
                # starting 3 further on: distinct faces within a class and
                # balanced counts across classes, whatever the clip count.
                slot = (k + 3 * EMOTIONS.index(emotion)) % len(identities)
                source = sources[identities[order[slot]]]
                flip = bool(rng.random() < 0.5)
                clip = _render(source.mirrored() if flip else source, emotion, n_frames,
                               width, height, face_size, peak_fraction, rng)
                # A random nine-digit name, AFEW style, that carries no label;
                # drawn from the clip's own seed so that it is stable too.
                names_rng = np.random.default_rng(_clip_seed(seed, subset, emotion, k).spawn(1)[0])
                name = int(names_rng.integers(1, 10**9))
                while name in used_names:  # a one-in-10^7 event for the default set
                    name = int(names_rng.integers(1, 10**9))
                used_names.add(name)
                path = folder / f"{name:09d}{extension.lower()}"
                write_video(path, clip.frames, fps=fps)
                records.append({
                    "path": path.relative_to(root).as_posix(), "emotion": emotion, "subset": subset,
                    "identity": source.identity, "mirrored": flip, "n_frames": n_frames,
                    "fps": float(fps),
                    "expression_frames": [int(i) for i in np.flatnonzero(clip.intensity > 0)],
                    "peak_frames": [int(i) for i in clip.peak_frames],
                    "peak_intensity": round(float(clip.intensity.max()), 6),
                    "intensity": [round(float(v), 4) for v in clip.intensity],
                    "face_size": round(clip.face_size, 3), "background": clip.background,
                    "size": path.stat().st_size,
                })
                landmarks[path.relative_to(root).as_posix()] = clip.landmarks.astype(np.float32)
                if verbose:
                    print(f"[{len(records)}/{n_total}] {path.relative_to(root)} "
                          f"({emotion}, {source.identity}) {time.perf_counter() - started:.1f}s")
    _write_landmarks(root, landmarks)
    _write_manifest(root, {"generator": "sk_emotion.datasets.make_expression_videos",
                           "version": GENERATOR_VERSION, "complete": True, "params": params,
                           "seconds": round(time.perf_counter() - started, 2), "clips": records})
    return _frame_from_records(root, records)
