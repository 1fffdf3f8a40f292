"""Rendering: one clip's frames from a face source, an expression and random appearance and motion.

Every random choice of a clip is drawn here from one generator in a fixed
order, which is what makes the generated videos reproducible.  The per-frame
drawing -- a face at an expression intensity, position, scale and roll
(``_Actor``), then lighting and noise (``_Camera``) -- is shared with the
scripted long videos of :mod:`.scripted`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from ._canvas import _CANVAS_H, _CANVAS_W
from ._checks import _check_emotion, _check_frame_size, _check_int, _check_range
from .backgrounds import _background
from .expressions import (
    _CAVITY_RGB,
    _CAVITY_WIDTH,
    _displacement_field,
    _face_unit,
    _intensity_profile,
    _shading_field,
)
from .sources import FaceSource, face_sources

# Margin of the per-clip noise field from which each frame's noise is cut.
_NOISE_PAD = 32


@dataclass(frozen=True)
class ExpressionClip:
    """An in-memory synthetic clip (see :func:`make_expression_clip`).

    The parameters are stored as attributes of the same names.

    Parameters
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


@dataclass(frozen=True)
class _Expression:
    """One emotion's deformation of one face at full intensity: drawn once, scaled per frame."""

    emotion: str
    field: np.ndarray  # backward displacement (2, H, W), see _displacement_field
    shade: np.ndarray | None  # darkening (H, W), see _shading_field

    @classmethod
    def draw(cls, emotion: str, landmarks: np.ndarray, rng: np.random.Generator) -> _Expression:
        field = _displacement_field(emotion, landmarks, rng)
        shade = _shading_field(emotion, landmarks, rng)
        return cls(emotion, field, shade)


class _Actor:
    """A face ready to paste: its canvas with the video's defocus and gamma, its mask as alpha.

    Shared by the clip renderer and the scripted one, so that a face looks and
    moves alike in both: :meth:`layer` applies an expression at an intensity,
    :meth:`placement` builds the canvas-to-frame transform and :meth:`paste`
    composites the layer onto a frame.
    """

    def __init__(self, source: FaceSource, blur_sigma: float, lut: np.ndarray) -> None:
        canvas = lut[cv2.GaussianBlur(source.canvas, (0, 0), blur_sigma)]
        self.rgba = np.dstack([canvas, source.mask * 255.0]).astype(np.float32)
        self.landmarks = source.landmarks
        box = source.box
        self.box_side = max(box[2] - box[0], box[3] - box[1])
        self.centre = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])
        self._gy, self._gx = np.mgrid[0:_CANVAS_H, 0:_CANVAS_W].astype(np.float32)

    def layer(self, expression: _Expression | None, a: float) -> np.ndarray:
        """The RGBA canvas (float32, 0-255) showing ``expression`` at intensity ``a``."""
        if expression is None or not a > 0:
            return self.rgba
        layer = self.rgba
        if expression.shade is not None:
            layer = self.rgba.copy()
            layer[..., :3] *= (1.0 - a * expression.shade)[..., None]
        field = expression.field
        layer = cv2.remap(layer, self._gx - a * field[0], self._gy - a * field[1], cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)
        if expression.emotion in _CAVITY_WIDTH:
            _paint_cavity(layer[..., :3], self.landmarks, field, _CAVITY_WIDTH[expression.emotion], a)
        return layer

    def placement(self, size: float, roll: float, pos: np.ndarray,
                  squeeze: float) -> tuple[np.ndarray, np.ndarray]:
        """(2x2 linear part, 2x3 matrix) mapping the canvas to the frame.

        The face's box becomes ``size`` px wide (before the horizontal
        ``squeeze``), turned by ``roll`` degrees, its centre at ``pos``.
        """
        s = size / self.box_side
        theta = np.deg2rad(roll)
        rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
        linear = s * rot @ np.diag([squeeze, 1.0])
        matrix = np.hstack([linear, (pos - linear @ self.centre)[:, None]])
        return linear, matrix

    def paste(self, frame: np.ndarray, layer: np.ndarray, linear: np.ndarray,
              matrix: np.ndarray) -> np.ndarray:
        """Composite ``layer`` onto ``frame`` (float32, in place); return the face's 5 landmarks there."""
        height, width = frame.shape[:2]
        landmarks = self.landmarks @ linear.T + matrix[:, 2]
        # Paste only over the canvas's footprint (the ROI), not the full frame.
        corners = np.array([[0, 0], [_CANVAS_W, 0], [0, _CANVAS_H], [_CANVAS_W, _CANVAS_H]], float)
        corners = corners @ linear.T + matrix[:, 2]
        x0, y0 = np.maximum(np.floor(corners.min(axis=0)).astype(int), 0)
        x1, y1 = np.minimum(np.ceil(corners.max(axis=0)).astype(int) + 1, [width, height])
        if x1 > x0 and y1 > y0:
            shifted = matrix.copy()
            shifted[:, 2] -= (x0, y0)
            patch = cv2.warpAffine(layer, shifted, (int(x1 - x0), int(y1 - y0)), flags=cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_CONSTANT, borderValue=0)
            alpha = np.ascontiguousarray(patch[..., 3]) * np.float32(1 / 255)
            frame[y0:y1, x0:x1] = cv2.blendLinear(np.ascontiguousarray(patch[..., :3]),
                                                   frame[y0:y1, x0:x1], alpha, 1.0 - alpha)
        return landmarks


class _Camera:
    """What the camera adds to a composed frame: lighting (gain, colour cast, gradient, flicker) and noise.

    The flicker runs ``flicker_freq`` cycles per ``period`` frames.
    """

    def __init__(self, width: int, height: int, gain: float, cast: np.ndarray, slope: float, angle: float,
                 flicker: tuple[float, float, float], noise_sigma: float, noise_seed: int,
                 period: float) -> None:
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
        ramp = ((xs - width / 2) * np.cos(angle) + (ys - height / 2) * np.sin(angle)) / width
        self.light = ((gain * (1.0 + slope * ramp))[..., None] * cast).astype(np.float32)
        self.flicker_amp, self.flicker_freq, self.flicker_phase = flicker
        self.period = period
        self.width, self.height = width, height
        self.noise_rng = np.random.default_rng(noise_seed)
        self.noise = self.noise_rng.standard_normal((height + _NOISE_PAD, width + _NOISE_PAD, 3),
                                                    dtype=np.float32)
        self.noise *= np.float32(noise_sigma)

    @classmethod
    def draw(cls, width: int, height: int, rng: np.random.Generator, period: float) -> _Camera:
        """A camera with the clip generator's ranges of lighting and noise."""
        gain = rng.uniform(0.65, 1.25)
        cast = rng.uniform(0.9, 1.1, 3)
        slope, angle = rng.uniform(-0.5, 0.5), rng.uniform(0, 2 * np.pi)
        flicker = (rng.uniform(0, 0.05), rng.uniform(0.3, 2.0), rng.uniform(0, 6.3))
        noise_sigma = rng.uniform(1.0, 6.0)
        return cls(width, height, gain, cast, slope, angle, flicker, noise_sigma,
                   int(rng.integers(2**63)), period)

    def expose(self, frame: np.ndarray, t: int) -> np.ndarray:
        """Frame ``t`` (float32 composite) as the camera records it: uint8 RGB."""
        flicker = 1.0 + self.flicker_amp * math.sin(
            2 * math.pi * self.flicker_freq * t / self.period + self.flicker_phase)
        frame = cv2.multiply(frame, self.light, scale=flicker)
        # Sensor noise: a random window of a per-video noise field (drawing
        # fresh Gaussian noise for every frame cost 10x the rest of the frame).
        dy, dx = self.noise_rng.integers(0, _NOISE_PAD, 2)
        # cv2.add rounds and saturates to uint8 in one pass.
        return cv2.add(frame, self.noise[dy:dy + self.height, dx:dx + self.width], dtype=cv2.CV_8U)


def _gamma_lut(gamma: float) -> np.ndarray:
    return np.clip(255.0 * (np.arange(256) / 255.0) ** gamma, 0, 255).astype(np.float32)


def _apply_gamma(bg: np.ndarray, gamma: float) -> np.ndarray:
    return (255.0 * (np.clip(bg, 0, 255) / 255.0) ** gamma).astype(np.float32)


def _render(source: FaceSource, emotion: str, n_frames: int, width: int, height: int,
            face_size: tuple[float, float], peak_fraction: tuple[float, float],
            rng: np.random.Generator) -> ExpressionClip:
    """Render one clip; every random choice comes from ``rng``, in a fixed order."""
    # --- expression and its timing
    peak = rng.uniform(0.8, 1.0)
    profile = _intensity_profile(n_frames, peak_fraction, peak, rng)
    if emotion == "neutral":
        profile[:] = 0.0
    expression = _Expression.draw(emotion, source.landmarks, rng)

    # --- appearance, per clip: defocus, gamma (applied to actor and background
    # before compositing; a pointwise map commutes with the paste up to the
    # mask's feathered edge), lighting field, noise level
    bg, bg_kind = _background(width, height, rng)
    gamma = rng.uniform(0.75, 1.35)
    actor = _Actor(source, rng.uniform(0.3, 1.2), _gamma_lut(gamma))
    bg = _apply_gamma(bg, gamma)
    gain = rng.uniform(0.65, 1.25)
    cast = rng.uniform(0.9, 1.1, 3)
    slope, angle = rng.uniform(-0.5, 0.5), rng.uniform(0, 2 * np.pi)
    flicker_amp, flicker_freq = rng.uniform(0, 0.05), rng.uniform(0.3, 2.0)
    flicker_phase = rng.uniform(0, 6.3)
    noise_sigma = rng.uniform(1.0, 6.0)

    # --- geometry: size, rotation, squeeze, drift, jitter
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
    camera = _Camera(width, height, gain, cast, slope, angle, (flicker_amp, flicker_freq, flicker_phase),
                     noise_sigma, int(rng.integers(2**63)), period=n_frames)

    # --- frames
    frames = np.empty((n_frames, height, width, 3), np.uint8)
    landmarks = np.empty((n_frames, 5, 2))
    t_axis = _smoothstep(np.linspace(0.0, 1.0, n_frames))
    for t in range(n_frames):
        layer = actor.layer(expression, float(profile[t]))
        linear, matrix = actor.placement(size0 + (size1 - size0) * t_axis[t],
                                         roll0 + (roll1 - roll0) * t_axis[t] + jitter_roll[t],
                                         start + (end - start) * t_axis[t] + jitter_xy[t], squeeze)
        frame = bg.copy()
        landmarks[t] = actor.paste(frame, layer, linear, matrix)
        frames[t] = camera.expose(frame, t)
    return ExpressionClip(frames=frames, emotion=emotion, intensity=profile, landmarks=landmarks,
                          identity=source.identity, mirrored=False, face_size=float(size0),
                          background=bg_kind)


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
        The frames, with the emotion, per-frame intensity, ground-truth
        landmarks and the random choices made (identity, mirroring, face
        size, background).
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
