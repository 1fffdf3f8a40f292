"""Scripted long videos: several people side by side whose expressions change at known times.

The ground truth of an emotion *timeline*: each person follows a script of
``(start_s, end_s, emotion)`` segments (neutral in between), may leave the
frame and come back, and the video is written frame by frame (a 5-minute 720p
video needs no more memory than a few frames).  The faces are drawn by the
same code as the clips of :func:`make_expression_clip` (``rendering._Actor``
and ``rendering._Camera``), so they look, move and are lit alike.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Real
from typing import Any

import numpy as np
import pandas as pd

from ...emotions import EMOTIONS
from ...video.writer import VideoWriter
from ._checks import _check_frame_size
from .backgrounds import _BACKGROUNDS, _background
from .rendering import _Actor, _apply_gamma, _Camera, _Expression, _gamma_lut
from .sources import FaceSource, face_sources

__all__ = ["PersonScript", "make_scripted_video"]

# Largest peak intensity: the clip generator's fields are scaled for at most
# 1; beyond 1.5 the warps smear the eyes and lips visibly.
_MAX_INTENSITY = 1.5
# The flicker's time base: flicker_freq (0.3-2) cycles per this many seconds.
_FLICKER_PERIOD_S = 4.0
# Smallest face (side of the detector box, px): below, the detector misses it.
_MIN_FACE = 20.0
# Slack on segment and visibility bounds, for times computed in floating point.
_EPS = 1e-9


@dataclass(frozen=True)
class PersonScript:
    """What one person of a :func:`make_scripted_video` video does, and where.

    The parameters are stored as attributes of the same names.

    Parameters
    ----------
    identity : str, optional
        A :attr:`FaceSource.identity` (see :func:`face_sources`).  None: drawn
        from the video's ``random_state`` among the faces no other person of
        the video uses, so that people are told apart.
    segments : sequence of (float, float, str), default=()
        ``(start_s, end_s, emotion)``: the expression shown from ``start_s``
        (included) to ``end_s`` (excluded), one of
        :data:`sk_emotion.emotions.EMOTIONS`.  Segments must not overlap and
        must lie within the video; outside them the face is neutral.  The
        intensity rises over the segment's first ``ramp_s`` seconds and falls
        over its last ``ramp_s`` seconds (see :func:`make_scripted_video`).
    position : (float, float), default=(0.5, 0.5)
        Centre of the face's box as a fraction of the frame's width and
        height, in [0, 1].  Small natural motion moves the face by a few
        percent of its size around it.
    face_size : float, default=160.0
        Side of the face detector's box in pixels, at least 20 and at most
        0.8 x the frame's shorter side.
    visible : sequence of (float, float), optional
        ``(start_s, end_s)`` intervals during which the person is in the
        frame (start included, end excluded); outside them the person is not
        drawn at all.  None: always visible.
    mirrored : bool, default=False
        Flip the face left-right.
    intensity : float, default=1.0
        Peak intensity of the person's expressions, in (0, 1.5]: 1 is the
        top of :func:`make_expression_clip`'s range; above 1 exaggerates
        them (the pretrained FER2013 network recognises surprise in most
        faces at 1.3, rarely at 1).
    """

    identity: str | None = None
    segments: Sequence[tuple[float, float, str]] = ()
    position: tuple[float, float] = (0.5, 0.5)
    face_size: float = 160.0
    visible: Sequence[tuple[float, float]] | None = None
    mirrored: bool = False
    intensity: float = 1.0


def _smoothstep(x: np.ndarray | float) -> np.ndarray | float:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


class _Person:
    """A validated script with its face, expressions and motion: the state of one person while rendering."""

    def __init__(self, index: int, script: PersonScript, source: FaceSource,
                 segments: list[tuple[float, float, str]], visible: list[tuple[float, float]] | None,
                 centre: np.ndarray, seed: np.random.SeedSequence, ramp_s: float) -> None:
        self.index, self.script, self.source = index, script, source
        self.segments, self.visible = segments, visible
        self.centre = centre
        self.ramp_s = ramp_s
        rng = np.random.default_rng(seed)
        # Each segment gets its own draw of the expression (jittered amplitudes
        # and widths), as two clips of one emotion differ.
        self.expressions = [_Expression.draw(emotion, source.landmarks, rng) for _, _, emotion in segments]
        size = float(script.face_size)
        self.size = size
        # Slow sway of position, scale and roll (a person sitting still), and
        # a fixed slight yaw; small enough that the face stays where scripted.
        self.roll0 = rng.uniform(-4.0, 4.0)
        self.squeeze = rng.uniform(0.92, 1.0)
        self.sway_xy = rng.uniform(0.01, 0.03, 2) * size
        self.sway_roll = rng.uniform(0.5, 2.0)
        self.sway_scale = rng.uniform(0.0, 0.03)
        self.freq = 1.0 / rng.uniform(4.0, 12.0, 4)  # x, y, roll, scale, in Hz
        self.phase = rng.uniform(0.0, 2 * np.pi, 4)
        # Per-frame jitter, drawn frame by frame (streaming) from its own generator.
        self.jitter_rng = np.random.default_rng(rng.integers(2**63))
        self.actor: _Actor | None = None

    def is_visible(self, t: float) -> bool:
        return self.visible is None or any(a <= t < b for a, b in self.visible)

    def expression_at(self, t: float) -> tuple[_Expression | None, float]:
        """The expression shown at time ``t`` and its intensity (smoothstep ramps inside the segment)."""
        for (start, end, _), expression in zip(self.segments, self.expressions):
            if start <= t < end:
                if expression.emotion == "neutral":  # a scripted neutral stretch: nothing to warp
                    return None, 0.0
                peak = float(self.script.intensity)
                ramp = min(self.ramp_s, (end - start) / 2)
                if ramp <= 0:
                    return expression, peak
                return expression, peak * float(_smoothstep((t - start) / ramp) * _smoothstep((end - t) / ramp))
        return None, 0.0

    def pose(self, t: float, jitter: np.ndarray) -> tuple[float, float, np.ndarray]:
        """(size, roll in degrees, centre) at time ``t``."""
        wave = np.sin(2 * np.pi * self.freq * t + self.phase)
        pos = self.centre + self.sway_xy * wave[:2] + 0.4 * jitter[:2]
        roll = self.roll0 + self.sway_roll * wave[2] + 0.3 * jitter[2]
        return self.size * (1.0 + self.sway_scale * wave[3]), roll, pos


# ------------------------------------------------------------------ checks
def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number, got {value!r}")
    return float(value)


def _intervals(items: Any, what: str, duration_s: float, labelled: bool) -> list[tuple]:
    """Sorted, checked (start, end[, emotion]) intervals within [0, duration_s], without overlap."""
    size = 3 if labelled else 2
    form = "(start_s, end_s, emotion)" if labelled else "(start_s, end_s)"
    if isinstance(items, (str, bytes)) or not isinstance(items, Sequence):
        raise ValueError(f"{what} must be a sequence of {form}, got {items!r}")
    out = []
    for item in items:
        if isinstance(item, (str, bytes)) or not isinstance(item, Sequence) or len(item) != size:
            raise ValueError(f"{what}: each entry must be {form}, got {item!r}")
        start, end = _number(item[0], f"{what}: start of {item!r}"), _number(item[1], f"{what}: end of {item!r}")
        if labelled and item[2] not in EMOTIONS:
            raise ValueError(f"{what}: unknown emotion {item[2]!r} in {item!r}; expected one of {list(EMOTIONS)}")
        if not start < end:
            raise ValueError(f"{what}: {item!r} must have start_s < end_s")
        if start < -_EPS or end > duration_s + _EPS:
            raise ValueError(f"{what}: {item!r} is outside the video [0, {duration_s:g}] s")
        out.append((max(start, 0.0), min(end, duration_s), *item[2:]))
    out.sort(key=lambda interval: interval[0])
    for previous, current in zip(out, out[1:]):
        if current[0] < previous[1] - _EPS:
            raise ValueError(f"{what}: {previous!r} and {current!r} overlap")
    return out


def _cast(people: Sequence[PersonScript], seed: int) -> list[FaceSource]:
    """A face per person: the scripted identity, else distinct ones drawn from the faces nobody else uses."""
    sources = {s.identity: s for s in face_sources()}
    for i, person in enumerate(people):
        if person.identity is not None and person.identity not in sources:
            raise ValueError(f"people[{i}]: unknown identity {person.identity!r}; "
                             f"expected one of {list(sources)}")
    taken = {p.identity for p in people if p.identity is not None}
    free = [name for name in sources if name not in taken]
    wanted = sum(p.identity is None for p in people)
    if wanted > len(free):
        raise ValueError(f"{wanted} people without an identity but only {len(free)} other faces available "
                         f"({len(sources)} in all); name the identities (they may repeat)")
    order = np.random.default_rng(np.random.SeedSequence([seed, 2])).permutation(len(free))
    drawn = iter(free[i] for i in order)
    return [sources[p.identity if p.identity is not None else next(drawn)] for p in people]


def _truth(people: list[_Person], duration_s: float) -> pd.DataFrame:
    """One row per (person, segment or neutral stretch) while visible."""
    rows = []
    for person in people:
        pieces, at = [], 0.0
        for start, end, emotion in person.segments:
            if start > at + _EPS:
                pieces.append((at, start, "neutral"))
            pieces.append((start, end, emotion))
            at = end
        if at < duration_s - _EPS:
            pieces.append((at, duration_s, "neutral"))
        visible = [(0.0, duration_s)] if person.visible is None else person.visible
        for start, end, emotion in pieces:
            for a, b in visible:
                lo, hi = max(start, a), min(end, b)
                if hi > lo + _EPS:
                    rows.append({"person": person.index, "identity": person.source.identity,
                                 "start_s": lo, "end_s": hi, "emotion": emotion})
    table = pd.DataFrame(rows, columns=["person", "identity", "start_s", "end_s", "emotion"])
    return table.astype({"person": "int64", "start_s": "float64", "end_s": "float64"})


def make_scripted_video(
    path: str | os.PathLike,
    people: Sequence[PersonScript],
    *,
    duration_s: float,
    fps: float = 25.0,
    frame_size: tuple[int, int] = (1280, 720),
    background: str = "photo",
    ramp_s: float = 0.3,
    random_state: int | np.random.Generator | None = 0,
) -> pd.DataFrame:
    """Write a video of people whose expressions follow scripts, and return the ground truth.

    Each person (a real face, as in :func:`make_expression_clip`) sits at a
    scripted place, shows the scripted expressions at the scripted times and
    is neutral in between; a person may leave the frame and come back
    (``visible``).  Frames are rendered and encoded one at a time, so the
    memory used does not grow with the duration.

    Frame ``i`` shows time ``i / fps``.  In a segment ``(start_s, end_s,
    emotion)`` the expression's intensity rises from 0 at ``start_s`` to its
    peak (the person's ``intensity``) over ``ramp_s`` seconds (a smoothstep), holds, and falls back to 0 over the
    last ``ramp_s`` seconds before ``end_s`` (segments shorter than
    ``2 * ramp_s`` peak lower).  Background, lighting, defocus and sensor
    noise are drawn once per video from ``random_state``, from the clip
    generator's ranges; the faces sway slowly by a few percent of their size
    and a few degrees of roll.  Later people are drawn over earlier ones
    where they overlap.

    Parameters
    ----------
    path : str or path-like
        Output file; its extension picks the container and codec as
        :func:`sk_emotion.video.write_video` does: ``.avi`` (MPEG-4 Part 2),
        ``.mp4``, ``.mov`` or ``.mkv`` (H.264 when FFmpeg has it).
    people : sequence of PersonScript
        Who is in the video, what they do and where (at least one person).
    duration_s : float
        Length of the video in seconds; it has ``round(duration_s * fps)``
        frames.
    fps : float, default=25.0
        Frame rate.
    frame_size : (int, int), default=(1280, 720)
        Frame ``(width, height)`` in pixels.
    background : {"photo", "noise", "gradient"}, default="photo"
        A blurred face-free texture photo, smooth colour noise or a colour
        gradient (which photo or colours: from ``random_state``).
    ramp_s : float, default=0.3
        Duration of an expression's onset and of its offset, in seconds.
    random_state : int, numpy.random.Generator or None, default=0
        Seed of every random choice (identities left None, expression
        details, motion, background, lighting, noise); the same int gives
        the same file.  Scene, casting and each person draw from their own
        streams, so adding a person at the end of ``people`` changes neither
        the background nor the others' motion.

    Returns
    -------
    pandas.DataFrame
        The ground truth: one row per (person, segment) while the person is
        visible, neutral stretches included, sorted by person and time, with
        columns ``person`` (index in ``people``), ``identity``, ``start_s``,
        ``end_s`` (the row's time interval, end excluded) and ``emotion``.
        ``attrs`` holds ``path``, ``n_frames``, ``fps``, ``frame_size``,
        ``background``, ``"landmarks"`` (float32 array of shape ``(n_frames,
        n_people, 5, 2)``: each face's five undeformed landmarks -- left eye,
        right eye, nose, left and right mouth corners -- per frame, NaN while
        the person is not visible) and ``"intensity"`` (float32 array of shape
        ``(n_frames, n_people)``: the expression's intensity, 0 when neutral,
        NaN while not visible).  pandas refuses to ``concat`` or ``merge``
        two tables whose ``attrs`` hold arrays: empty them first
        (``table.attrs = {}``).

    Raises
    ------
    ValueError
        If a script is invalid (the message names the person and the
        problem): an unknown identity or emotion, overlapping segments or
        visibility intervals, one outside ``[0, duration_s]``, a position
        outside ``[0, 1]``, a face too small or too large for the frame, an
        intensity outside (0, 1.5], more people without an identity than
        faces; or if another parameter is.

    Examples
    --------
    Two people side by side; the second one leaves the frame for a second:

    >>> import tempfile
    >>> from pathlib import Path
    >>> from sk_emotion.datasets import PersonScript, make_scripted_video
    >>> tmp = tempfile.TemporaryDirectory()
    >>> people = [PersonScript(segments=[(0.5, 1.5, "happy")], position=(0.3, 0.5), face_size=80),
    ...           PersonScript(segments=[(0.0, 1.0, "surprise")], position=(0.7, 0.5), face_size=80,
    ...                        visible=[(0.0, 1.0)])]
    >>> truth = make_scripted_video(Path(tmp.name) / "two.mp4", people, duration_s=2.0,
    ...                             frame_size=(320, 240))
    >>> truth[["person", "start_s", "end_s", "emotion"]]
       person  start_s  end_s   emotion
    0       0      0.0    0.5   neutral
    1       0      0.5    1.5     happy
    2       0      1.5    2.0   neutral
    3       1      0.0    1.0  surprise
    >>> truth.attrs["n_frames"], truth.attrs["landmarks"].shape
    (50, (50, 2, 5, 2))
    >>> tmp.cleanup()
    """
    from .writer import _resolve_seed

    path = os.fspath(path)
    ext = os.path.splitext(path)[1].lower()
    if ext not in (".avi", ".mp4", ".mov", ".mkv"):
        raise ValueError(f"path must end in .avi, .mp4, .mov or .mkv, got {path!r}")
    duration_s = _number(duration_s, "duration_s")
    fps = _number(fps, "fps")
    if not (duration_s > 0 and fps > 0):
        raise ValueError(f"duration_s and fps must be positive, got {duration_s!r} and {fps!r}")
    n_frames = int(round(duration_s * fps))
    if n_frames < 1:
        raise ValueError(f"duration_s * fps must be at least one frame, got {duration_s * fps:g}")
    width, height = _check_frame_size(frame_size)
    if background not in _BACKGROUNDS:
        raise ValueError(f"background must be one of {list(_BACKGROUNDS)}, got {background!r}")
    ramp_s = _number(ramp_s, "ramp_s")
    if ramp_s < 0:
        raise ValueError(f"ramp_s must be >= 0, got {ramp_s!r}")
    if isinstance(people, PersonScript) or not isinstance(people, Sequence) or not people:
        raise ValueError(f"people must be a non-empty sequence of PersonScript, got {people!r}")
    for i, script in enumerate(people):
        if not isinstance(script, PersonScript):
            raise ValueError(f"people[{i}] must be a PersonScript, got {script!r}")
    seed, _ = _resolve_seed(random_state)

    largest = 0.8 * min(width, height)
    checked = []
    for i, script in enumerate(people):
        what = f"people[{i}]"
        segments = _intervals(script.segments, f"{what}.segments", duration_s, labelled=True)
        visible = None if script.visible is None else _intervals(script.visible, f"{what}.visible",
                                                                 duration_s, labelled=False)
        try:
            x, y = (_number(v, f"{what}.position") for v in script.position)
        except (TypeError, ValueError):
            raise ValueError(f"{what}.position must be (x, y) fractions of the frame, "
                             f"got {script.position!r}") from None
        if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
            raise ValueError(f"{what}.position must be within [0, 1] x [0, 1], got {script.position!r}")
        face = _number(script.face_size, f"{what}.face_size")
        if face < _MIN_FACE:
            raise ValueError(f"{what}.face_size must be at least {_MIN_FACE:g} px, got {face:g}")
        if face > largest:
            raise ValueError(f"{what}.face_size {face:g} px is too large for the {width}x{height} frame "
                             f"(at most 0.8 x its shorter side: {largest:g} px)")
        peak = _number(script.intensity, f"{what}.intensity")
        if not 0 < peak <= _MAX_INTENSITY:
            raise ValueError(f"{what}.intensity must be in (0, {_MAX_INTENSITY:g}], got {peak:g}")
        if not isinstance(script.mirrored, (bool, np.bool_)):
            raise ValueError(f"{what}.mirrored must be a bool, got {script.mirrored!r}")
        checked.append((segments, visible, np.array([x * width, y * height])))
    cast = _cast(people, seed)

    cast_people = []
    for i, (script, source, (segments, visible, centre)) in enumerate(zip(people, cast, checked)):
        source = source.mirrored() if script.mirrored else source
        cast_people.append(_Person(i, script, source, segments, visible, centre,
                                   np.random.SeedSequence([seed, 1, i]), ramp_s))

    # The scene, from its own stream: background, then the camera's look
    # (gamma and defocus, applied to faces and background alike), then its
    # lighting and noise.
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0]))
    bg, bg_kind = _background(width, height, rng, kind=background)
    gamma = rng.uniform(0.75, 1.35)
    blur_sigma = rng.uniform(0.3, 1.2)
    lut = _gamma_lut(gamma)
    bg = _apply_gamma(bg, gamma)
    camera = _Camera.draw(width, height, rng, period=_FLICKER_PERIOD_S * fps)
    for person in cast_people:
        person.actor = _Actor(person.source, blur_sigma, lut)

    landmarks = np.full((n_frames, len(people), 5, 2), np.nan, np.float32)
    intensity = np.full((n_frames, len(people)), np.nan, np.float32)
    # Frame by frame: a long video is never held in memory.
    with VideoWriter(path, width, height, fps) as writer:
        for i in range(n_frames):
            t = i / fps
            frame = bg.copy()
            for person in cast_people:
                jitter = person.jitter_rng.standard_normal(3)  # drawn even when hidden: motion keeps its course
                if not person.is_visible(t):
                    continue
                expression, a = person.expression_at(t)
                size, roll, pos = person.pose(t, jitter)
                actor = person.actor
                linear, matrix = actor.placement(size, roll, pos, person.squeeze)
                landmarks[i, person.index] = actor.paste(frame, actor.layer(expression, a), linear, matrix)
                intensity[i, person.index] = a
            writer.write(camera.expose(frame, i))

    table = _truth(cast_people, duration_s)
    table.attrs.update({"path": path, "n_frames": n_frames, "fps": fps, "frame_size": (width, height),
                        "background": bg_kind, "landmarks": landmarks, "intensity": intensity})
    return table
