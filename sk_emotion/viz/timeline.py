"""The emotion timeline of a long video at a glance: one panel per person over time.

Built on :class:`matplotlib.figure.Figure` directly, without ``pyplot``, so
it works on machines without a display and leaks no global state; save it
with ``fig.savefig("timeline.png")``.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .._sklearn_compat import validate_params
from ..emotions import EMOTIONS
from ..schema import PERSONS, WINDOWS, classes_of

__all__ = ["plot_timeline", "EMOTION_COLOURS", "class_colours"]

#: One fixed colour per FER2013 emotion, the same in every panel and figure.
EMOTION_COLOURS: dict[str, str] = dict(zip(EMOTIONS, (
    "#d62728",  # red
    "#2ca02c",  # green
    "#5e2a84",  # dark violet
    "#ffb000",  # yellow-orange
    "#1f77b4",  # blue
    "#17becf",  # cyan
    "#c8c8c8",  # light grey
), strict=True))

#: Other labels take colours of this qualitative map (picked by a hash of the
#: name, so a label keeps its colour from one figure to the next).
_OTHER_CMAP = "tab20b"
#: Undecided windows with a face on screen are hatched in this colour.
_UNDECIDED_COLOUR = "0.6"
#: ... on this very light fill, so that undecided windows too thin for a hatch still differ from off screen.
_UNDECIDED_FILL = "0.93"
#: Videos longer than this (seconds) get m:ss time ticks.
_MMSS_ABOVE_S = 120.0
#: Tick spacings (seconds) the time axis may use: the smallest giving at most 12 ticks.
_TICK_STEPS_S = (0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400)

# Heights (inches) of the parts of one person's panel, and around them.
_THUMB_IN, _BAND_IN, _STACK_IN, _TITLE_IN, _EXTRA_IN = 0.62, 0.13, 1.25, 0.3, 1.15
_LEGEND_IN = 0.2


@validate_params({"classes": ["array-like"]}, prefer_skip_nested_validation=True)
def class_colours(classes: Sequence[str]) -> dict[str, tuple[float, float, float, float]]:
    """The colour of each class: fixed for the FER2013 emotions, from a colour map for others.

    Parameters
    ----------
    classes : sequence of str
        Class names, e.g. the ``p_<class>`` suffixes of a timeline table.

    Returns
    -------
    dict of str to (r, g, b, a)
        A colour per class.  The seven FER2013 emotions always get
        :data:`EMOTION_COLOURS`; any other name gets a colour of the
        qualitative ``tab20b`` map chosen by a hash of the name (the next
        free one when two names in ``classes`` collide), so a label keeps
        its colour across figures; more than 20 other names are spread over
        ``turbo`` instead.

    Examples
    --------
    >>> class_colours(["happy", "sad"])["sad"]
    (0.12156862745098039, 0.4666666666666667, 0.7058823529411765, 1.0)
    """
    import matplotlib as mpl
    from matplotlib.colors import to_rgba

    classes = [str(c) for c in classes]
    colours = {c: to_rgba(EMOTION_COLOURS[c]) for c in classes if c in EMOTION_COLOURS}
    others = sorted({c for c in classes if c not in EMOTION_COLOURS})
    palette = mpl.colormaps[_OTHER_CMAP]
    if len(others) > palette.N:
        turbo = mpl.colormaps["turbo"]
        return colours | {c: turbo(0.05 + 0.9 * i / (len(others) - 1)) for i, c in enumerate(others)}
    taken: set[int] = set()
    for name in others:
        slot = zlib.crc32(name.encode("utf-8")) % palette.N
        while slot in taken:  # linear probing keeps two classes of one figure apart
            slot = (slot + 1) % palette.N
        taken.add(slot)
        colours[name] = palette(slot)
    return colours


def _clock(seconds: float, hours: bool = False) -> str:
    """``m:ss`` (or ``h:mm:ss``) of a number of seconds."""
    total = int(round(seconds))
    sign, total = ("-", -total) if total < 0 else ("", total)
    if hours:
        return f"{sign}{total // 3600}:{total % 3600 // 60:02d}:{total % 60:02d}"
    return f"{sign}{total // 60}:{total % 60:02d}"


def _duration(seconds: float) -> str:
    """A human-readable duration: ``42 s``, ``12 min 05 s``, ``1 h 02 min``."""
    if not np.isfinite(seconds):
        return "?"
    if seconds < _MMSS_ABOVE_S:
        return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"
    total = int(round(seconds))
    if total < 3600:
        return f"{total // 60} min {total % 60:02d} s"
    return f"{total // 3600} h {total % 3600 // 60:02d} min"


def _validate_windows(windows: pd.DataFrame, classes: Sequence[str] | None) -> list[str]:
    """Check the windows table; return the classes to draw."""
    found = WINDOWS.check(windows)
    if classes is None:
        classes = found
    else:
        classes = [str(c) for c in classes]
        unknown = [c for c in classes if c not in found]
        if unknown or not classes:
            raise ValueError(f"classes {unknown or classes} have no p_<class> column in windows; "
                             f"its classes are {found}")
        if len(set(classes)) != len(classes):
            raise ValueError(f"classes has duplicates: {classes}")
    if len(windows) == 0:
        raise ValueError("windows is empty: there is no window to draw")
    start = pd.to_numeric(windows["start_s"], errors="coerce").to_numpy(dtype=float)
    end = pd.to_numeric(windows["end_s"], errors="coerce").to_numpy(dtype=float)
    bad = ~(np.isfinite(start) & np.isfinite(end) & (end > start))
    if bad.any():
        row = windows.index[int(np.argmax(bad))]
        raise ValueError(f"{int(bad.sum())} window(s) have no finite start_s < end_s, e.g. row {row!r}: "
                         f"start_s={float(start[bad][0])}, end_s={float(end[bad][0])}")
    if windows["person"].isna().any():
        raise ValueError("windows has rows without a person id")
    labels = windows["label"][windows["label"].notna()].astype(str)
    strays = sorted(set(labels) - set(found))
    if strays:
        raise ValueError(f"labels {strays} have no p_<class> column in windows; its classes are {found}")
    return list(classes)


def _validate_persons(persons: pd.DataFrame, ids: list) -> None:
    """Check the persons table against the person ids of the windows."""
    if not isinstance(persons, pd.DataFrame):
        raise TypeError(f"persons must be a pandas DataFrame or None, got {type(persons).__name__}")
    PERSONS.check(persons)
    if persons["person"].duplicated().any():
        dup = sorted(persons["person"][persons["person"].duplicated()].unique().tolist())
        raise ValueError(f"persons has several rows for person(s) {dup}")
    absent = sorted(set(ids) - set(persons["person"].tolist()))
    if absent:
        raise ValueError(f"person id(s) {absent} of windows are missing from persons")


def _spans(start: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The slice of time each window (sorted by start) stands for: ``(left, right)``.

    Overlapping (or touching) neighbours split their overlap at the middle of
    their centres, so each window owns the part of time nearer its centre
    than any neighbour's (the hop, with 2 s windows every 1 s); a window
    with no overlapping neighbour keeps its own edge, leaving the gap empty.
    """
    centre = (start + end) / 2
    left, right = start.copy(), end.copy()
    touching = start[1:] <= end[:-1]
    cut = np.clip((centre[:-1] + centre[1:]) / 2, start[1:], end[:-1])
    right[:-1] = np.where(touching, cut, end[:-1])
    left[1:] = np.where(touching, cut, start[1:])
    return left, right


def _steps(left: np.ndarray, right: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Step outlines: two points per window, NaN rows between windows that do not touch.

    ``values`` has shape (n_windows, k); NaN values (undecided windows) leave
    the step out, and so do the NaN rows: nothing is drawn across a gap.
    """
    n, k = values.shape
    x = np.column_stack([left, right, right]).ravel()
    y = np.repeat(values, 3, axis=0)
    y[2::3] = np.nan  # separator after each window ...
    joined = np.append(right[:-1] >= left[1:], False)
    keep = np.ones(3 * n, dtype=bool)
    keep[2::3] = ~joined  # ... kept only where the next window does not start at its end
    return x[keep], y[keep].reshape(-1, k)


def _runs(left: np.ndarray, right: np.ndarray, labels: np.ndarray) -> dict[str, list[tuple[float, float]]]:
    """Per label, its ``(x, width)`` stretches: touching windows of one label merged."""
    runs: dict[str, list[tuple[float, float]]] = {}
    i, n = 0, len(labels)
    while i < n:
        if labels[i] is None:
            i += 1
            continue
        j = i
        while j + 1 < n and labels[j + 1] == labels[i] and left[j + 1] <= right[j]:
            j += 1
        runs.setdefault(labels[i], []).append((float(left[i]), float(right[j] - left[i])))
        i = j + 1
    return runs


def _thumbnail_image(image: object) -> tuple[np.ndarray, str | None]:
    """A face crop as ``(uint8 array, colour map)`` for ``OffsetImage``."""
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[-1] in (3, 4))) or min(array.shape[:2]) == 0:
        raise ValueError(f"a thumbnail must be an (h, w, 3) RGB image, got shape {array.shape}")
    return np.clip(array, 0, 255).astype(np.uint8), ("gray" if array.ndim == 2 else None)


def _thumbnails(value: object, person: object, max_thumbnails: int, min_gap_s: float) -> list:
    """At most ``max_thumbnails`` ``(time, image)`` of a person, spread over time, none overlapping."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    items = []
    for item in value:
        try:
            t, image = item
            t = float(t)
        except (TypeError, ValueError):
            raise ValueError(f"thumbnails of person {person} must be (time_s, image) pairs, got {item!r:.60}") from None
        items.append((t, image))
    items.sort(key=lambda item: item[0])
    if max_thumbnails == 0 or not items:
        return []
    if len(items) > max_thumbnails:  # evenly spaced in rank: spread over the person's screen time
        picks = np.unique(np.linspace(0, len(items) - 1, max_thumbnails).round().astype(int))
        items = [items[i] for i in picks]
    kept = [items[0]]
    for item in items[1:]:
        if item[0] - kept[-1][0] >= min_gap_s:
            kept.append(item)
    return [(t, *_thumbnail_image(image)) for t, image in kept]


def _time_axis(ax: object, t0: float, t1: float) -> str:
    """Ticks of the shared time axis; returns its label."""
    from matplotlib.ticker import FuncFormatter, MultipleLocator

    span = t1 - t0
    step = next((s for s in _TICK_STEPS_S if span / s <= 12), _TICK_STEPS_S[-1])
    ax.xaxis.set_major_locator(MultipleLocator(step))
    if t1 <= _MMSS_ABOVE_S:
        return "time (s)"
    hours = t1 >= 3600
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: _clock(x, hours)))
    return "time (h:mm:ss)" if hours else "time (m:ss)"


@validate_params(
    {
        # The tables are checked against their schemas, and max_thumbnails with the
        # message it has always had, in the function.
        "windows": "no_validation",
        "persons": "no_validation",
        "classes": [None, "array-like"],
        "max_thumbnails": "no_validation",
        "figsize": [None, "array-like"],
        "title": [None, str],
    },
    prefer_skip_nested_validation=True,
)
def plot_timeline(
    windows: pd.DataFrame,
    persons: pd.DataFrame | None = None,
    *,
    classes: Sequence[str] | None = None,
    max_thumbnails: int = 6,
    figsize: tuple[float, float] | None = None,
    title: str | None = None,
) -> Figure:
    """Draw the emotion timeline of a video: one panel per person, probabilities over time.

    Each person gets a panel, stacked vertically on one shared time axis
    (seconds, or m:ss ticks beyond two minutes), titled with the person's id
    and on-screen time.  From bottom to top a panel shows the stacked
    probability of each emotion per window; a thin band with the colour of
    each window's decided label; and a strip of face thumbnails at their
    times, above the data.  Each class has one colour in every panel and
    figure (:func:`class_colours`), named in a single legend.  Where a person
    is off screen nothing is drawn; windows on screen whose face was too
    little to decide are hatched in grey and leave the band empty.

    Parameters
    ----------
    windows : pandas.DataFrame
        One row per (person, window), as ``emotion_timeline`` returns
        (:data:`sk_emotion.schema.WINDOWS`): ``person``, ``start_s``, ``end_s``, ``label`` (None/NaN when
        undecided), a ``p_<class>`` column per class (NaN when undecided)
        and, optionally, ``face_coverage`` (an undecided window with a
        coverage of 0 counts as off screen).
    persons : pandas.DataFrame, optional
        One row per person: ``person`` and, optionally, ``on_screen_s``,
        ``first_s``, ``last_s`` (shown in the titles) and ``thumbnails``
        (a list of ``(time_s, image)``, image an (h, w, 3) uint8 RGB face
        crop).  Panels follow its row order; it must list every person of
        ``windows``.  Without it, panels follow the person ids and the
        on-screen time is the time covered by the person's windows.
    classes : sequence of str, optional
        Classes to stack, bottom to top (default: every ``p_<class>``
        column, in column order).  The legend names them, then any other
        label the bands show.
    max_thumbnails : int, default=6
        Most thumbnails drawn per person, spread over its screen time
        (fewer when they would overlap).
    figsize : (float, float), optional
        Figure size in inches (default: 11 wide, about 2 per person high).
    title : str, optional
        Figure title (default: the number of persons and the video's span).

    Returns
    -------
    matplotlib.figure.Figure
        Axes in order, per person: the thumbnail strip (only for a person
        with thumbnails to draw), the label band, then the probability
        axis, all sharing one time axis; last, a hidden axis holding the
        figure's one legend.  Axes are labelled
        ``"thumbnails <id>"``, ``"band <id>"``, ``"probabilities <id>"``
        and ``"legend"``.  Thumbnails are
        :class:`~matplotlib.offsetbox.AnnotationBbox` artists of the strip;
        band stretches are one collection per label, labelled with it; each
        class's layer of the stack is one collection, labelled with it.

    Raises
    ------
    ValueError
        If a column is missing, there is no ``p_<class>`` column, a class or
        label has no probability column, a window has no finite
        ``start_s < end_s``, or a person of ``windows`` is not in
        ``persons``.
    TypeError
        If ``windows`` or ``persons`` is not a DataFrame.

    Examples
    --------
    >>> import pandas as pd
    >>> windows = pd.DataFrame({"person": [0, 0], "start_s": [0.0, 1.0], "end_s": [2.0, 3.0],
    ...                         "label": ["happy", None], "p_happy": [0.8, None], "p_sad": [0.2, None]})
    >>> fig = plot_timeline(windows)
    >>> [ax.get_label() for ax in fig.axes]
    ['band 0', 'probabilities 0', 'legend']
    """
    from matplotlib.patches import Patch

    classes = _validate_windows(windows, classes)
    if isinstance(max_thumbnails, bool) or not isinstance(max_thumbnails, (int, np.integer)) or max_thumbnails < 0:
        raise ValueError(f"max_thumbnails must be a non-negative int, got {max_thumbnails!r}")
    ids = sorted(windows["person"].unique().tolist())
    if persons is not None:
        _validate_persons(persons, ids)
        ids = persons["person"].tolist()
        info = persons.set_index("person")
    else:
        info = pd.DataFrame(index=pd.Index(ids, name="person"))
    labelled = set(windows["label"][windows["label"].notna()].astype(str))
    shown = list(classes) + [c for c in classes_of(windows) if c in labelled and c not in classes]
    colours = class_colours(classes_of(windows))
    t0 = float(windows["start_s"].min())
    t1 = float(windows["end_s"].max())
    span = max(t1 - t0, 1e-9)

    # Thumbnails first: which persons get a strip decides the layout.
    width = figsize[0] if figsize is not None else 11.0
    axis_width_in = max(width - 1.3, 1.0)
    thumb_in = _THUMB_IN if figsize is None else _THUMB_IN * min(1.0, figsize[1] / _default_height(len(ids), len(ids)))
    min_gap_s = 1.08 * thumb_in / axis_width_in * span  # thumbnails are square-ish: no overlap
    thumbs = {}
    for person in ids:
        value = info["thumbnails"].get(person) if "thumbnails" in info.columns else None
        thumbs[person] = _thumbnails(value, person, int(max_thumbnails), min_gap_s)
    n_strips = sum(bool(v) for v in thumbs.values())
    if figsize is None:
        figsize = (width, _default_height(len(ids), n_strips))

    ratios = [_LEGEND_IN]  # the legend's row: a figure legend would collide with the title
    for person in ids:
        ratios += ([_THUMB_IN] if thumbs[person] else []) + [_BAND_IN, _STACK_IN]
    fig = Figure(figsize=figsize, layout="constrained")
    fig.get_layout_engine().set(h_pad=0.02, hspace=0.0)
    grid = fig.add_gridspec(len(ratios), 1, height_ratios=ratios)
    row, shared, stack_axes = 1, None, []
    for person in ids:
        rows = windows[windows["person"] == person].sort_values("start_s", kind="stable")
        start = rows["start_s"].to_numpy(dtype=float)
        end = rows["end_s"].to_numpy(dtype=float)
        left, right = _spans(start, end)
        probabilities = rows[[f"p_{c}" for c in classes]].to_numpy(dtype=float)
        decided = np.isfinite(probabilities).all(axis=1)
        labels = np.array([None if pd.isna(v) else str(v) for v in rows["label"]], dtype=object)

        top_ax = None
        if thumbs[person]:
            thumb_ax = fig.add_subplot(grid[row], sharex=shared, label=f"thumbnails {person}")
            row, shared, top_ax = row + 1, shared or thumb_ax, thumb_ax
            _draw_thumbnails(thumb_ax, thumbs[person], thumb_in)
        band_ax = fig.add_subplot(grid[row], sharex=shared, label=f"band {person}")
        stack_ax = fig.add_subplot(grid[row + 1], sharex=shared or band_ax, label=f"probabilities {person}")
        row, shared, top_ax = row + 2, shared or band_ax, top_ax or band_ax
        stack_axes.append(stack_ax)

        # Steps, not a stackplot at window centres: with overlapping windows a
        # line between centres invents gradual changes and bridges gaps, and
        # bars spanning whole windows would cover each other.  Each window
        # owns the slice of time nearer its centre than its neighbours' (the
        # hop), so every value is drawn once, at its time, and a gap (off
        # screen, or undecided) stays empty.
        if len(rows):
            x, cumulative = _steps(left, right, np.where(decided[:, None], probabilities, np.nan).cumsum(axis=1))
            lower = np.zeros(len(x))
            lower[np.isnan(cumulative[:, 0])] = np.nan
            for k, name in enumerate(classes):
                stack_ax.fill_between(x, lower, cumulative[:, k], color=colours[name], linewidth=0.3,
                                      label=name, gid=f"p_{name}")
                lower = cumulative[:, k]
            coverage = (pd.to_numeric(rows["face_coverage"], errors="coerce").fillna(1.0).to_numpy(dtype=float)
                        if "face_coverage" in rows.columns else np.ones(len(rows)))
            undecided = ~decided & (coverage > 0)
            if undecided.any():
                hx, hy = _steps(left, right, np.where(undecided, 1.0, np.nan)[:, None])
                stack_ax.fill_between(hx, 0, hy[:, 0], facecolor=_UNDECIDED_FILL, edgecolor=_UNDECIDED_COLOUR,
                                      hatch="////", linewidth=0, gid="undecided")
            for name, stretches in _runs(left, right, labels).items():
                band_ax.broken_barh(stretches, (0, 1), facecolors=colours[name], edgecolors=colours[name],
                                    linewidth=0.3, label=name, gid=f"label_{name}")
        if not decided.any():
            note = "no window of this person could be decided" if len(rows) else "no window for this person"
            stack_ax.text(0.5, 0.5, note, transform=stack_ax.transAxes, ha="center", va="center",
                          fontsize=8, color="dimgray", bbox={"facecolor": "white", "edgecolor": "none", "pad": 2})

        stack_ax.set_ylim(0, 1)
        stack_ax.set_yticks([0, 0.5, 1], ["0", ".5", "1"])
        stack_ax.set_ylabel("p", fontsize=8, rotation=0, labelpad=8, va="center")
        stack_ax.tick_params(labelsize=7)
        band_ax.set_ylim(0, 1)
        band_ax.set_yticks([])
        band_ax.set_ylabel("label", fontsize=6, rotation=0, ha="right", va="center")
        for ax in (band_ax, *([top_ax] if top_ax is not band_ax else [])):
            ax.tick_params(axis="x", which="both", bottom=False, labelbottom=False)
        stack_ax.tick_params(axis="x", labelbottom=False)
        top_ax.set_title(_person_title(person, info, left, right), fontsize=9, loc="left")

    bottom = stack_axes[-1]
    bottom.set_xlim(t0, t1)
    bottom.tick_params(axis="x", labelbottom=True)
    bottom.set_xlabel(_time_axis(bottom, t0, t1), fontsize=8)

    legend_ax = fig.add_subplot(grid[0], label="legend")
    legend_ax.set_axis_off()
    handles = [Patch(facecolor=colours[c], edgecolor="none", label=c) for c in shown]
    legend_ax.legend(handles=handles, loc="center", ncols=min(len(shown), 9), fontsize=8, frameon=False,
                     handlelength=1.2, columnspacing=1.4, borderaxespad=0.0, borderpad=0.0)
    fig.suptitle(title or _default_title(len(ids), t0, t1), fontsize=10)
    fig.supxlabel("stack: probability of each emotion per window;  band: decided label;  "
                  "hatched: face on screen but too little to decide;  blank: off screen",
                  fontsize=6.5, color="dimgray")
    return fig


def _default_height(n_persons: int, n_strips: int) -> float:
    """Figure height (inches) for the default size."""
    return _EXTRA_IN + n_persons * (_BAND_IN + _STACK_IN + _TITLE_IN) + n_strips * _THUMB_IN


def _default_title(n_persons: int, t0: float, t1: float) -> str:
    """``emotion timeline: 2 persons, 0:00-1:00``."""
    hours = t1 >= 3600
    who = f"{n_persons} person" + ("s" if n_persons != 1 else "")
    return f"emotion timeline: {who}, {_clock(t0, hours)}-{_clock(t1, hours)} ({_duration(t1 - t0)})"


def _person_title(person: object, info: pd.DataFrame, left: np.ndarray, right: np.ndarray) -> str:
    """``person 3 - on screen 42 s (0:05-1:00)``."""
    row = info.loc[person] if person in info.index else pd.Series(dtype=object)
    on_screen = row.get("on_screen_s")
    if on_screen is None or pd.isna(on_screen):  # the time the person's windows cover
        on_screen = float(np.sum(right - left)) if len(left) else 0.0
    first = row.get("first_s")
    first = float(left.min()) if (first is None or pd.isna(first)) and len(left) else first
    last = row.get("last_s")
    last = float(right.max()) if (last is None or pd.isna(last)) and len(right) else last
    text = f"person {person}  \u2013  on screen {_duration(float(on_screen))}"
    if first is not None and last is not None and not (pd.isna(first) or pd.isna(last)):
        hours = float(last) >= 3600
        text += f"  ({_clock(float(first), hours)}\u2013{_clock(float(last), hours)})"
    return text


def _draw_thumbnails(ax: object, thumbs: list, height_in: float) -> None:
    """Face crops centred at their times in the strip ``ax``, each with a tick pointing at its time."""
    from matplotlib.offsetbox import AnnotationBbox, OffsetImage

    ax.set_ylim(0, 1)
    ax.set_yticks([])
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.spines["bottom"].set_color("0.8")
    ax.patch.set_alpha(0.0)
    size_pt = 0.8 * height_in * 72.0
    for t, image, cmap in thumbs:
        zoom = size_pt / image.shape[0]
        box = AnnotationBbox(OffsetImage(image, zoom=zoom, cmap=cmap), (t, 0.5),
                             xycoords=("data", "axes fraction"), frameon=True, pad=0.08,
                             bboxprops={"edgecolor": "0.6", "linewidth": 0.5}, annotation_clip=False)
        box.set_gid("thumbnail")
        ax.add_artist(box)
    ax.vlines([t for t, _, _ in thumbs], 0.0, 0.5 - size_pt / (2 * 72.0 * height_in), color="0.45", linewidth=0.8)
