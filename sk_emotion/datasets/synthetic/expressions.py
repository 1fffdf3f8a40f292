"""The expression model: how each emotion deforms and shades a face, and when it shows.

Kept apart from the pixels (rendering) so that the prototypes can be tuned
and read as data: displacement fields and wrinkles in face units, derived
from the five landmarks, and the per-clip intensity profile.
"""

from __future__ import annotations

import math

import numpy as np

from ._canvas import _CANVAS_H, _CANVAS_W

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
