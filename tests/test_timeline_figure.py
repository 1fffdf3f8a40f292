"""The emotion timeline figure is drawn for real and what it shows is checked, not just that it runs."""


import numpy as np
import pandas as pd
import pytest
from _helpers import render_figure
from matplotlib.colors import to_rgba
from matplotlib.offsetbox import AnnotationBbox, OffsetImage

from sk_emotion.emotions import EMOTIONS
from sk_emotion.viz import plot_timeline
from sk_emotion.viz.timeline import EMOTION_COLOURS, class_colours

CLASSES = list(EMOTIONS)


def _window(person, start, label, coverage=1.0, duration=2.0, rest="neutral"):
    """A window whose label has probability 0.7 and ``rest`` 0.3 (or 1.0 for the label ``rest``)."""
    p = dict.fromkeys(CLASSES, 0.0)
    if label is None:
        p = dict.fromkeys(CLASSES, np.nan)
    else:
        p[label] += 0.7
        p[rest] += 0.3
    return {"person": person, "start_s": float(start), "end_s": float(start) + duration, "label": label,
            **{f"p_{c}": v for c, v in p.items()}, "face_coverage": coverage}


def _face(value):
    return np.full((64, 64, 3), value, dtype=np.uint8)


@pytest.fixture
def tables():
    """Person 0: happy then sad (2 s windows every 1 s), off screen from 10 s to 15 s, then angry with
    one undecided window; person 5: neutral from 2 s to 8 s."""
    rows = [_window(0, s, "happy") for s in range(0, 4)] + [_window(0, s, "sad") for s in range(4, 9)]
    rows += [_window(0, 15, "angry"), _window(0, 16, None, coverage=0.2),
             _window(0, 17, "angry"), _window(0, 18, "angry")]
    rows += [_window(5, s, "neutral") for s in range(2, 7)]
    windows = pd.DataFrame(rows).sample(frac=1.0, random_state=0)  # row order must not matter
    persons = pd.DataFrame({
        "person": [5, 0], "first_s": [2.0, 0.0], "last_s": [8.0, 20.0], "on_screen_s": [6.0, 15.0],
        "n_windows": [5, 13],
        "thumbnails": [[(t, _face(10 * i)) for i, t in enumerate(np.linspace(2, 8, 8))], []],
    })
    return windows, persons


def _axis(fig, label):
    (ax,) = [ax for ax in fig.axes if ax.get_label() == label]
    return ax


def _band(ax):
    """Label -> list of (x0, x1) stretches of a label band."""
    stretches = {}
    for collection in ax.collections:
        for path in collection.get_paths():
            xs = path.vertices[:, 0]
            stretches.setdefault(collection.get_label(), []).append((xs.min(), xs.max()))
    return stretches


def _pixel(pixels, ax, x, y):
    """RGBA (0-1) of the rendered pixel at data point (x, y) of ax."""
    px, py = ax.transData.transform((x, y))
    return pixels[int(round(pixels.shape[0] - py)), int(round(px))] / 255.0


def test_one_panel_per_person_in_the_persons_order_with_id_and_screen_time(tables):
    windows, persons = tables
    fig = plot_timeline(windows, persons)
    render_figure(fig)
    labels = [ax.get_label() for ax in fig.axes]
    assert labels == ["thumbnails 5", "band 5", "probabilities 5", "band 0", "probabilities 0", "legend"]
    assert _axis(fig, "thumbnails 5").get_title(loc="left").startswith("person 5  \u2013  on screen 6.0 s")
    assert _axis(fig, "band 0").get_title(loc="left").startswith("person 0  \u2013  on screen 15 s")
    # Thumbnails, band and probabilities are stacked from top to bottom in each panel.
    tops = [_axis(fig, name).get_position() for name in ("thumbnails 5", "band 5", "probabilities 5")]
    assert tops[0].y0 >= tops[1].y1 - 1e-6 and tops[1].y0 >= tops[2].y1 - 1e-6
    # Without a persons table: panels in id order, on-screen time from the windows.
    fig = plot_timeline(windows)
    assert [ax.get_label() for ax in fig.axes] == ["band 0", "probabilities 0", "band 5", "probabilities 5", "legend"]
    assert "on screen 6.0 s" in _axis(fig, "band 5").get_title(loc="left")


def test_band_has_each_label_in_its_colour_where_the_label_is_and_nothing_in_gaps(tables):
    windows, persons = tables
    fig = plot_timeline(windows, persons)
    pixels = render_figure(fig)
    band = _axis(fig, "band 0")
    stretches = _band(band)
    # Overlapping windows split at the middle of their centres: happy ends at 4.5 s where sad begins.
    assert stretches["happy"] == [pytest.approx((0.0, 4.5))]
    assert stretches["sad"] == [pytest.approx((4.5, 10.0))]
    assert stretches["angry"] == [pytest.approx((15.0, 16.5)), pytest.approx((17.5, 20.0))]
    for collection in band.collections:
        assert tuple(collection.get_facecolor()[0]) == pytest.approx(to_rgba(EMOTION_COLOURS[collection.get_label()]))
    for label, x in [("happy", 2.0), ("sad", 7.0), ("angry", 19.0)]:
        assert _pixel(pixels, band, x, 0.5) == pytest.approx(to_rgba(EMOTION_COLOURS[label]), abs=0.02)
    # Off screen (10-15 s) and the undecided window (16.5-17.5 s): no stretch, white pixels.
    for x0, x1 in [s for spans in stretches.values() for s in spans]:
        assert x1 <= 10.0 or x0 >= 15.0
        assert x1 <= 16.5 or x0 >= 17.5
    for x in (12.5, 17.0):
        assert _pixel(pixels, band, x, 0.5) == pytest.approx((1, 1, 1, 1), abs=0.02)
    assert set(_band(_axis(fig, "band 5"))) == {"neutral"}


def test_stack_shows_the_probabilities_and_leaves_the_off_screen_gap_empty(tables):
    windows, persons = tables
    fig = plot_timeline(windows, persons)
    pixels = render_figure(fig)
    ax = _axis(fig, "probabilities 0")
    layers = [c for c in ax.collections if c.get_gid() and c.get_gid().startswith("p_")]
    assert [c.get_label() for c in layers] == CLASSES  # stacked bottom to top in class order
    # happy window at 2 s: happy from 0 to 0.7, neutral above it up to 1.
    happy, neutral = to_rgba(EMOTION_COLOURS["happy"]), to_rgba(EMOTION_COLOURS["neutral"])
    assert _pixel(pixels, ax, 2.0, 0.35) == pytest.approx(happy, abs=0.02)
    assert _pixel(pixels, ax, 2.0, 0.85) == pytest.approx(neutral, abs=0.02)
    # Nothing is drawn or interpolated while the person is off screen.
    for collection in ax.collections:
        for path in collection.get_paths():
            xs = path.vertices[:, 0]
            assert not np.any((xs > 10.0) & (xs < 15.0))
    for y in (0.1, 0.5, 0.9):
        assert _pixel(pixels, ax, 12.5, y) == pytest.approx((1, 1, 1, 1), abs=0.02)
    # The undecided window with a face on screen is hatched, not left blank, and not coloured.
    (hatched,) = [c for c in ax.collections if c.get_gid() == "undecided"]
    assert hatched.get_hatch()
    (path,) = hatched.get_paths()
    assert (path.vertices[:, 0].min(), path.vertices[:, 0].max()) == pytest.approx((16.5, 17.5))


def test_thumbnails_per_panel_at_their_times_above_the_data(tables):
    windows, persons = tables
    fig = plot_timeline(windows, persons, max_thumbnails=4)
    render_figure(fig)
    strip = _axis(fig, "thumbnails 5")
    boxes = [a for a in strip.artists if isinstance(a, AnnotationBbox)]
    assert len(boxes) == 4 and all(isinstance(b.offsetbox, OffsetImage) for b in boxes)
    times = np.linspace(2, 8, 8)
    assert [b.xy[0] for b in boxes] == pytest.approx([times[0], times[2], times[5], times[7]])
    assert boxes[0].offsetbox.get_data() == pytest.approx(_face(0))
    renderer = fig.canvas.get_renderer()
    extents = [b.get_window_extent(renderer) for b in boxes]
    data_area = _axis(fig, "probabilities 5").get_window_extent(renderer)
    band_area = _axis(fig, "band 5").get_window_extent(renderer)
    for i, extent in enumerate(extents):
        assert not extent.overlaps(data_area) and not extent.overlaps(band_area)
        assert all(not extent.overlaps(other) for other in extents[i + 1:])
    # Person 0 has none: no strip.  max_thumbnails=0 or no thumbnails column: no strip at all.
    assert not any(ax.get_label() == "thumbnails 0" for ax in fig.axes)
    for fig in (plot_timeline(windows, persons, max_thumbnails=0),
                plot_timeline(windows, persons.drop(columns="thumbnails"))):
        assert not any(ax.get_label().startswith("thumbnails") for ax in fig.axes)


def test_thumbnails_close_in_time_are_thinned_so_they_never_overlap(tables):
    windows, persons = tables
    persons = persons.assign(thumbnails=[[(2.0 + 0.1 * i, _face(i)) for i in range(5)], []])
    fig = plot_timeline(windows, persons)
    boxes = [a for a in _axis(fig, "thumbnails 5").artists if isinstance(a, AnnotationBbox)]
    assert len(boxes) == 1


def test_one_legend_with_the_classes_and_fixed_colours(tables):
    windows, persons = tables
    fig = plot_timeline(windows, persons)
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None] + list(fig.legends)
    assert len(legends) == 1
    (legend,) = legends
    assert [t.get_text() for t in legend.get_texts()] == CLASSES
    for text, handle in zip(legend.get_texts(), legend.legend_handles):
        assert tuple(handle.get_facecolor()) == pytest.approx(to_rgba(EMOTION_COLOURS[text.get_text()]))
    # A subset of classes: only those are stacked, in that order; labels of the band are named too.
    fig = plot_timeline(windows, persons, classes=["sad", "happy"])
    (legend,) = [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    assert [t.get_text() for t in legend.get_texts()] == ["sad", "happy", "angry", "neutral"]
    layers = [c.get_label() for c in _axis(fig, "probabilities 0").collections if c.get_gid().startswith("p_")]
    assert layers == ["sad", "happy"]


def test_colours_are_fixed_for_emotions_and_stable_for_other_labels():
    assert class_colours(["sad"])["sad"] == class_colours(CLASSES)["sad"] == to_rgba("#1f77b4")
    assert len(set(class_colours(CLASSES).values())) == 7
    one = class_colours(["bored", "focused", "happy"])
    assert one["bored"] == class_colours(["bored"])["bored"]  # same label, same colour, figure to figure
    assert len(set(one.values())) == 3
    many = class_colours([f"c{i}" for i in range(30)])
    assert len(set(many.values())) == 30


def test_time_axis_spans_the_windows_in_seconds_or_minutes(tables):
    windows, persons = tables
    fig = plot_timeline(windows, persons)
    ax = _axis(fig, "probabilities 0")
    assert ax.get_xlim() == pytest.approx((0.0, 20.0))
    assert all(a.get_xlim() == pytest.approx((0.0, 20.0)) for a in fig.axes if a.get_label() != "legend")
    assert ax.get_xlabel() == "time (s)"
    assert fig.get_suptitle().startswith("emotion timeline: 2 persons")
    assert plot_timeline(windows, persons, title="my video").get_suptitle() == "my video"


def test_a_20_minute_video_draws_with_minute_ticks():
    rng = np.random.default_rng(0)
    starts = np.arange(1200, dtype=float)
    p = rng.dirichlet(np.ones(7), size=1200)
    windows = pd.DataFrame({"person": 3, "start_s": starts, "end_s": starts + 2.0,
                            "label": np.array(CLASSES, dtype=object)[p.argmax(axis=1)],
                            **{f"p_{c}": p[:, k] for k, c in enumerate(CLASSES)}, "face_coverage": 1.0})
    windows.loc[300:360, "label"] = None
    windows.loc[300:360, [f"p_{c}" for c in CLASSES]] = np.nan
    persons = pd.DataFrame({"person": [3], "on_screen_s": [1140.0],
                            "thumbnails": [[(t, _face(128)) for t in range(0, 1200, 10)]]})
    fig = plot_timeline(windows, persons)
    render_figure(fig)
    ax = _axis(fig, "probabilities 3")
    assert ax.get_xlim() == pytest.approx((0.0, 1201.0))
    assert ax.get_xlabel() == "time (m:ss)"
    ticks = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert "2:00" in ticks and "10:00" in ticks
    assert len([a for a in _axis(fig, "thumbnails 3").artists if isinstance(a, AnnotationBbox)]) == 6
    assert "on screen 19 min 00 s" in _axis(fig, "thumbnails 3").get_title(loc="left")


def test_single_window_and_a_person_never_decided():
    one = pd.DataFrame([_window(1, 3.0, "fear")])
    fig = plot_timeline(one)
    render_figure(fig)
    assert _band(_axis(fig, "band 1")) == {"fear": [pytest.approx((3.0, 5.0))]}
    assert _axis(fig, "probabilities 1").get_xlim() == pytest.approx((3.0, 5.0))

    undecided = pd.DataFrame([_window(2, s, None, coverage=0.3) for s in range(5)] + [_window(4, 0, "sad")])
    fig = plot_timeline(undecided)
    render_figure(fig)
    assert len(_axis(fig, "band 2").collections) == 0
    ax = _axis(fig, "probabilities 2")
    assert [c.get_gid() for c in ax.collections if c.get_paths()] == ["undecided"]
    assert any("could be decided" in t.get_text() for t in ax.texts)


def test_any_labels_work():
    rows = [{"person": 0, "start_s": float(s), "end_s": s + 2.0, "label": label, "p_bored": pb, "p_focused": 1 - pb}
            for s, label, pb in [(0, "bored", 0.9), (1, "bored", 0.6), (2, "focused", 0.2)]]
    fig = plot_timeline(pd.DataFrame(rows))
    pixels = render_figure(fig)
    colours = class_colours(["bored", "focused"])
    band = _axis(fig, "band 0")
    assert set(_band(band)) == {"bored", "focused"}
    assert _pixel(pixels, band, 0.5, 0.5) == pytest.approx(colours["bored"], abs=0.02)
    assert _pixel(pixels, band, 3.5, 0.5) == pytest.approx(colours["focused"], abs=0.02)


@pytest.mark.parametrize(("change", "message"), [
    (lambda w, p: (w.drop(columns=["end_s", "label"]), p), r"missing the column\(s\) \['end_s', 'label'\]"),
    (lambda w, p: (w[["person", "start_s", "end_s", "label"]], p), "no p_<class> probability columns"),
    (lambda w, p: (w, p[p.person == 5]), r"person id\(s\) \[0\] of windows are missing from persons"),
    (lambda w, p: (w, p.drop(columns="person")), "persons is missing the column 'person'"),
    (lambda w, p: (w.assign(end_s=w.start_s), p), "no finite start_s < end_s"),
    (lambda w, p: (w.iloc[:0], p), "windows is empty"),
    (lambda w, p: (w.assign(label="bored"), p), r"labels \['bored'\] have no p_<class> column"),
    (lambda w, p: (w, p.assign(thumbnails=[[(1.0, np.zeros((4, 4, 7)))], []])), "must be an \\(h, w, 3\\) RGB image"),
])
def test_bad_input_is_named(tables, change, message):
    windows, persons = change(*tables)
    with pytest.raises(ValueError, match=message):
        plot_timeline(windows, persons)


def test_bad_arguments_are_named(tables):
    windows, persons = tables
    with pytest.raises(ValueError, match=r"classes \['joy'\] have no p_<class> column"):
        plot_timeline(windows, classes=["happy", "joy"])
    with pytest.raises(ValueError, match="max_thumbnails must be a non-negative int"):
        plot_timeline(windows, persons, max_thumbnails=-1)
    with pytest.raises(TypeError, match="windows must be a pandas DataFrame"):
        plot_timeline(windows.to_dict())
