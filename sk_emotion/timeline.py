"""Emotion timelines of long videos: per person, per time window, the emotion shown.

A clip classifier answers "which emotion does this short clip show".  An
interview, a therapy session or a meeting asks "how do the emotions of each
person change over these twenty minutes".  :func:`emotion_timeline` answers
that with the same model and the same face settings as
:func:`~sk_emotion.pipeline.predict_table`, window by window:

1. The video is decoded once, front to back
   (:class:`~sk_emotion.video.stream.FrameSampler`); only the frames the
   windows sample are converted, at ``n_frames`` per window: the grid
   ``(j + 1/2) * window / n_frames`` seconds.  A window starting at ``s``
   samples the grid points in ``[s, s + window)``, which are exactly the
   frames the extractor samples from that window cut as its own clip
   (segment centres), so windows that overlap share their frames.
2. Every face is followed with a stable person id
   (:class:`~sk_emotion.faces.persons.PersonTracker`): whole-frame
   searches on anchor frames, re-detection in between, re-identification
   by position after a short absence.
3. Each person's faces are cut as the extractor cuts them (same template,
   size, colour) as soon as their frame is decoded; the frame is then
   dropped.  When a window is complete its clip goes to the classifier
   (in batches); its faces are dropped once no later window needs them.
   Memory therefore does not grow with the video's length.

The per-window answer is that of the model on that window cut as its own
clip, up to the landmarks: a person followed across the whole video is
re-detected from where they were a sample earlier, while the clip extractor
starts with a whole-frame search at the window's first frame and re-detects
in batches aimed ahead (the aligned faces then differ by a few hundredths of
the eye distance).  Over 25 windows of five scripted videos the labels were
equal in 23 and the probabilities within 0.059 (median 0.009) of the clip's;
the tests bound that difference.
"""

from __future__ import annotations

import math
import os
import queue
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .exceptions import TruncatedVideoWarning
from .schema import PERSONS, WINDOWS
from .video.formats import DEFAULT_FOLDER_FPS
from .video.sampling import window_grid

__all__ = ["TIMELINE_COLUMNS", "emotion_timeline", "timeline_classifier"]

#: Columns of the windows table but the ``p_<class>`` ones, which follow ``label``
#: (their one home is :data:`sk_emotion.schema.WINDOWS`).
TIMELINE_COLUMNS: tuple[str, ...] = WINDOWS.fixed

#: Columns of the persons table (:data:`sk_emotion.schema.PERSONS`).
PERSON_COLUMNS: tuple[str, ...] = PERSONS.leading

_THUMBNAIL_SIZE = 64

# Sampled frames decoded ahead in a background thread (0: decode in line).
# A few suffice to keep the decoder busy; each 720p frame is 2.8 MB.
_READ_AHEAD = 4


@dataclass
class _PersonState:
    faces: dict[int, np.ndarray] = field(default_factory=dict)  # sample index -> (C, S, S) uint8 face
    features: dict[int, np.ndarray] = field(default_factory=dict)  # sample index -> the face's backbone features
    first_s: float = math.inf
    last_s: float = -math.inf
    n_detected: int = 0
    sum_box: np.ndarray = field(default_factory=lambda: np.zeros(4))  # for the mean position and size
    thumbnails: list[tuple[float, np.ndarray]] = field(default_factory=list)
    thumbnail_every: float = 0.0
    next_thumbnail_s: float = 0.0


def _mean_place(state: _PersonState) -> dict[str, float]:
    x1, y1, x2, y2 = state.sum_box / max(state.n_detected, 1)
    return {"x": (x1 + x2) / 2, "y": (y1 + y2) / 2, "box_size": max(x2 - x1, y2 - y1)}


def timeline_classifier() -> Any:
    """The zero-shot classifier of timelines: the pretrained network with its scores as trained.

    Unlike clip classification (``EmotionClassifier.from_pretrained()``,
    whose FER+ rule assumes every emotion equally likely, as in balanced
    video sets), a timeline's windows are mostly neutral moments of one
    person; there the uniform class prior reads neutral windows as emotions
    (on real-face timelines, neutral windows 0.85 -> 0.75 right, all windows
    0.712 -> 0.674; ``docs/weights.md``, *Class priors*), so timelines keep
    ``class_prior=None``.

    Returns
    -------
    EmotionClassifier
        ``EmotionClassifier.from_pretrained(class_prior=None)``.
    """
    from .estimators.classifier import EmotionClassifier

    return EmotionClassifier.from_pretrained(class_prior=None)


def _resolve_model(model: Any) -> tuple[Any, Any]:
    """(extractor, classifier) of a fitted pipeline, a lone classifier, or None (zero-shot)."""
    from sklearn.pipeline import Pipeline

    from .estimators.extractor import VideoFaceExtractor

    if model is None:
        return VideoFaceExtractor(), timeline_classifier()
    if isinstance(model, Pipeline):
        from .pipeline import split_pipeline

        parts = split_pipeline(model)
        first, classifier = parts.extractor, parts.predictor
    else:
        first, classifier = VideoFaceExtractor(), model
    if not hasattr(classifier, "predict_proba"):
        raise TypeError(f"the model must predict probabilities; {type(classifier).__name__} has no predict_proba")
    try:
        classifier.classes_  # noqa: B018 - fitted or not
    except AttributeError:
        raise ValueError("the model is not fitted: fit it, or pass model=None for the zero-shot model") from None
    return first, classifier


class _Failed:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def _read_ahead(iterable: Iterable, depth: int) -> Iterator:
    """Iterate ``iterable`` in a background thread, at most ``depth`` items ahead.

    Decoding (PyAV releases the GIL) then runs on one core while detection
    and classification (single-threaded torch) run on another.  Exceptions
    are raised in the consumer; a consumer that stops early stops the thread.
    """
    items: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                items.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in iterable:
                if not put(item):
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            put(_Failed(exc))
            return
        put(done)

    thread = threading.Thread(target=work, name="sk-emotion-read-ahead", daemon=True)
    thread.start()
    try:
        while (item := items.get()) is not done:
            if isinstance(item, _Failed):
                raise item.exc
            yield item
    finally:
        stop.set()
        thread.join()


def _spread(items: list, k: int) -> list:
    """At most ``k`` of ``items``, evenly spread, the first and the last included."""
    if len(items) <= k:
        return items
    return [items[i] for i in np.unique(np.linspace(0, len(items) - 1, k).round().astype(int))] if k else []


def _fill(faces: dict[int, np.ndarray], indices: range) -> tuple[np.ndarray, np.ndarray]:
    """The window's clip: each sample's face, or the nearest detected one's (earlier on ties)."""
    from .faces.cutting import nearest_detected

    detected = np.array([j in faces for j in indices])
    return np.stack([faces[indices[s]] for s in nearest_detected(detected)]), detected


def _frame_encoder(classifier: Any) -> Any:
    """``classifier`` if it can score clips from their frames' features (each face encoded once), else None."""
    from .estimators.classifier import EmotionClassifier

    return classifier if isinstance(classifier, EmotionClassifier) else None


class _Timeline:
    """One pass over one video with fixed settings; see :func:`emotion_timeline`."""

    def __init__(self, video: str, settings: Any, classifier: Any, *, window: float, hop: float,
                 min_track_s: float, anchor_every_s: float, reid_max_gap_s: float, max_thumbnails: int,
                 batch_size: int, folder_fps: float, progress: Callable[[float], None] | None) -> None:
        self.video = video
        self.classifier = classifier
        self.encoder = _frame_encoder(classifier)
        # The extractor's validated settings: its face cutter, detector, search and coverage rule.
        self.n_frames = settings.n_frames
        self.cutter = settings.cutter
        self.min_face_coverage = settings.min_face_coverage
        self.search = settings.search
        self.detector = settings.detector
        if self.detector is None:
            raise ValueError("a timeline needs a face detector: the extractor has detector=None")
        self.window, self.hop = float(window), float(hop)
        self.min_track_s = float(min_track_s)
        self.anchor_every_s = float(anchor_every_s)
        self.reid_max_gap_s = float(reid_max_gap_s)
        self.max_thumbnails = int(max_thumbnails)
        self.batch_size = int(batch_size)
        self.folder_fps = folder_fps
        self.progress = progress
        # After run(): why the video ended early (if it did), and the duration its container states.
        self.truncation: str | None = None
        self.stated_duration_s: float | None = None

    # ------------------------------------------------------------------ pass
    def run(self, step: float, per_hop: int, single_window: bool = False) -> tuple[list[dict], dict, float]:
        """Rows (one per person and window), person states, and the video's end time."""
        from .faces.persons import PersonTracker
        from .video.stream import FrameSampler

        sampler = FrameSampler(self.video, step, folder_fps=self.folder_fps)
        duration_hint = float(sampler.info.duration_s) if np.isfinite(sampler.info.duration_s) else 0.0
        thumbnail_every = max(duration_hint / max(self.max_thumbnails, 1), self.window)
        tracker = PersonTracker(self.detector, anchor_every=max(1, round(self.anchor_every_s / step)),
                                reid_max_gap_s=self.reid_max_gap_s, search=self.search)
        persons: dict[int, _PersonState] = {}
        rows: list[dict] = []
        pending: list[tuple[int, np.ndarray]] = []  # (row index, clip) awaiting the classifier
        n = self.n_frames
        next_window = 0
        j = -1
        for sample in _read_ahead(sampler, _READ_AHEAD) if _READ_AHEAD else sampler:
            j, frame = sample.index, sample.image
            for obs in tracker.update(frame, sample.time_s):
                if obs.person not in persons:
                    persons[obs.person] = _PersonState(thumbnail_every=thumbnail_every)
                state = persons[obs.person]
                state.faces[j] = np.ascontiguousarray(self.cutter.cut(frame, obs.landmarks, obs.box))
                state.first_s = min(state.first_s, sample.time_s)
                state.last_s = max(state.last_s, sample.time_s)
                state.n_detected += 1
                state.sum_box += obs.box
                if self.max_thumbnails > 0 and sample.time_s >= state.next_thumbnail_s:
                    state.thumbnails.append((sample.time_s, self._thumbnail(frame, obs)))
                    if len(state.thumbnails) >= 2 * self.max_thumbnails:
                        # More than the duration foretold (or none was stated): every other one, twice apart.
                        state.thumbnails = state.thumbnails[::2]
                        state.thumbnail_every *= 2
                    state.next_thumbnail_s = sample.time_s + state.thumbnail_every
            if self.progress is not None:
                self.progress(sample.time_s + step / 2)  # the end of this sample's share of the video
            # Windows whose last sample this was are complete.
            while next_window * per_hop + n - 1 <= j and not (single_window and next_window > 0):
                self._close_window(next_window, step, per_hop, persons, rows, pending, single_window)
                next_window += 1
                if len(pending) >= self.batch_size:
                    self._classify(rows, pending)
            first_needed = next_window * per_hop
            for state in persons.values():
                for old in [k for k in state.faces if k < first_needed]:
                    del state.faces[old]
                    state.features.pop(old, None)
        covered = (next_window - 1) * per_hop + n - 1  # the last sample of the last complete window
        if not single_window and covered < j and next_window * per_hop <= j:
            # Samples after the last complete window: the next window, which the video ends inside,
            # covers them with the samples that exist, up to the end.
            self._close_window(next_window, step, per_hop, persons, rows, pending, single_window, last=j)
        self._classify(rows, pending)
        self.truncation = sampler.truncation
        self.stated_duration_s = sampler.info.stated_duration_s
        return rows, persons, sampler.end_time_s

    def _thumbnail(self, frame: np.ndarray, obs: Any) -> np.ndarray:
        from .faces.align import cut_face

        return cut_face(frame, obs.landmarks, obs.box, _THUMBNAIL_SIZE, 0.15, self.cutter.template)

    def _close_window(self, k: int, step: float, per_hop: int, persons: dict[int, _PersonState],
                      rows: list[dict], pending: list, single_window: bool, last: int | None = None) -> None:
        """Rows of window ``k`` for the persons on screen in it; ``last``: the video's last sample, inside it."""
        from .faces.cutting import enough_faces

        first = k * per_hop
        indices = range(first, first + self.n_frames)
        within = indices if last is None else range(first, min(first + self.n_frames, last + 1))
        # Rounded so that 8 * 0.3 s reads 2.4 s, not 2.4000000000000004 s.
        start = 0.0 if single_window else round(k * self.hop, 9)
        end = round(self.n_frames * step, 9) if single_window else round(start + self.window, 9)
        if self.encoder is not None:
            self._encode(persons, indices)
        for person_id in sorted(persons):
            state = persons[person_id]
            if not any(j in state.faces for j in within):
                continue  # not on screen in this window
            # Samples past the video's end are filled like missed detections, but do not count as such.
            clip, detected = _fill(state.faces if self.encoder is None else state.features, indices)
            found = int(detected[:len(within)].sum())
            row = {"person": person_id, "start_s": start, "end_s": end, "label": None,
                   "face_coverage": found / len(within)}
            rows.append(row)
            if enough_faces(found, len(within), self.min_face_coverage):
                pending.append((len(rows) - 1, clip))

    def _encode(self, persons: dict[int, _PersonState], indices: range) -> None:
        """Backbone features of the window's faces not encoded yet, in one batch."""
        todo = [(state, j) for state in persons.values() for j in indices
                if j in state.faces and j not in state.features]
        if todo:
            features = self.encoder._encode_faces(np.stack([state.faces[j] for state, j in todo]))
            for (state, j), f in zip(todo, features):
                state.features[j] = f

    def _classify(self, rows: list[dict], pending: list) -> None:
        if not pending:
            return
        clips = np.stack([clip for _, clip in pending])
        if self.encoder is not None:  # the clips hold their faces' features
            proba = np.asarray(self.encoder._predict_proba_encoded(clips))
        else:
            proba = np.asarray(self.classifier.predict_proba(clips))
        classes = np.asarray(self.classifier.classes_)
        for (i, _), p in zip(pending, proba):
            label = classes[int(p.argmax())]
            rows[i]["label"] = label.item() if isinstance(label, np.generic) else label
            rows[i]["proba"] = p
        pending.clear()


def emotion_timeline(
    video: str | os.PathLike,
    model: Any = None,
    *,
    window: float = 2.0,
    hop: float = 1.0,
    min_track_s: float = 1.0,
    anchor_every_s: float = 1.0,
    reid_max_gap_s: float = 5.0,
    max_thumbnails: int = 6,
    batch_size: int = 32,
    verbose: int = 0,
    return_persons: bool = False,
    folder_fps: float = DEFAULT_FOLDER_FPS,
) -> pd.DataFrame | tuple[pd.DataFrame, pd.DataFrame]:
    """The emotions of every person in a video, window by window.

    Parameters
    ----------
    video : str or path-like
        A video file, or a folder of frame images (natural order, shown at
        ``folder_fps``, as the extractor reads folders).
    model : Pipeline, classifier or None, default=None
        A fitted ``Pipeline(VideoFaceExtractor, ...)`` (e.g. from
        :func:`~sk_emotion.pipeline.make_emotion_pipeline` or
        :func:`~sk_emotion.persistence.load_model`): its extractor's
        validated settings (``n_frames``, the detector with its
        ``min_face_size`` and ``min_confidence``, template, size, colour,
        margin, ``min_face_coverage`` and ``search``: ``"full"`` searches
        every sample whole) and its classifier are used.  The extractor's
        ``on_error`` does not apply (a timeline is of one video: a video
        that cannot be read raises, and a window where a person's face is
        found too rarely gets no label), nor do ``cache_dir`` and
        ``cache_key`` (the timeline holds no clip to cache: each face is
        classified in its windows and dropped), ``n_jobs``, ``verbose``
        and ``path_column``.  A fitted
        classifier alone (:class:`~sk_emotion.EmotionClassifier`,
        :class:`~sk_emotion.export.predictor.OnnxEmotionClassifier`) uses the
        default extractor settings.  None: the pretrained zero-shot model
        (:func:`timeline_classifier`).
    window : float, default=2.0
        Window length in seconds; each window samples the extractor's
        ``n_frames`` frames (at segment centres, as a clip would).
    hop : float, default=1.0
        Seconds between window starts; a multiple of ``window / n_frames``.
    min_track_s : float, default=1.0
        Persons on screen for less than this (seconds of detected samples)
        are dropped: passers-by and false detections.
    anchor_every_s : float, default=1.0
        Seconds between whole-frame searches (where new persons are found).
    reid_max_gap_s : float, default=5.0
        A face that appears where a person was lost at most this long ago,
        at a similar size, gets that person's id back (after a short
        occlusion, a look away, a cut back to the same shot).  After a longer
        absence, or elsewhere in the frame, it is a new person: ids follow
        positions, not faces (no face embedding is used).
    max_thumbnails : int, default=6
        Face thumbnails kept per person, spread over their time on screen
        (for :func:`~sk_emotion.viz.timeline.plot_timeline`).
    batch_size : int, default=32
        Windows classified at once.
    verbose : int, default=0
        1 shows a progress bar in seconds of video (on standard error).
    return_persons : bool, default=False
        Also return the persons table.
    folder_fps : float, default=30.0
        Frame rate of a folder of frame images (times and windows are in
        seconds of ``image index / folder_fps``); ignored for video files.

    Returns
    -------
    windows : pandas.DataFrame
        One row per person and window where that person is on screen:
        ``person`` (0, 1, ... in order of first appearance, left to right
        among faces that appear together), ``start_s``,
        ``end_s``, ``label`` (None when the person's face was found in fewer
        than ``min_face_coverage`` of the window's samples), one ``p_<class>``
        column per class (NaN without a label), ``face_coverage`` (share of
        the window's samples where the face was found).  Sorted by person,
        then time.  The windows start every ``hop`` seconds; the last one
        ends with the video: when the video ends inside a window, that window
        is kept with the samples that exist (its ``end_s`` is the video's end,
        and the answer repeats its last samples to make up ``n_frames``), so
        no part of the video goes unreported.  A video shorter than
        ``window`` is one window, sampled as a clip.  ``windows.attrs``
        holds ``"end_s"`` (where the decoded video ends),
        ``"stated_duration_s"`` (the container's claim, or None) and
        ``"warning"``: None, or, for a file that ends well before its stated
        duration (an interrupted download), where decoding stopped; a
        :class:`~sk_emotion.video.TruncatedVideoWarning` says the same, and
        there are no windows after ``end_s``.
    persons : pandas.DataFrame
        With ``return_persons=True``: one row per person: ``person``,
        ``first_s`` and ``last_s`` (first and last sample where found),
        ``on_screen_s`` (samples found times the sample spacing; a person
        on screen for the whole of a video shorter than ``min_track_s`` is
        kept),
        ``n_windows`` (windows with a label), ``x``, ``y`` and
        ``box_size`` (mean centre and side of the face's box, in frame
        pixels: which face is whom), ``thumbnails`` (list of
        ``(time_s, 64x64x3 uint8 RGB face)``).

    Raises
    ------
    VideoNotFoundError, VideoDecodeError
        If the video is missing or cannot be decoded (a pipe such as
        ``/dev/stdin`` is refused: save the video to a file).
    ValueError
        For invalid parameters (``hop`` not a multiple of the sample spacing...).
    TypeError
        If ``video`` is not a path (a file object, bytes in memory).
    """
    from .estimators.explanation import column_order
    from .video.decode import check_video_path

    extractor, classifier = _resolve_model(model)
    settings = extractor.validated_settings()
    for name, value in (("min_track_s", min_track_s), ("anchor_every_s", anchor_every_s),
                        ("reid_max_gap_s", reid_max_gap_s)):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) or not value >= 0:
            raise ValueError(f"{name} must be a number of seconds >= 0, got {value!r}")
    for name, value in (("max_thumbnails", max_thumbnails), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < (name == "batch_size"):
            raise ValueError(f"{name} must be an integer >= {int(name == 'batch_size')}, got {value!r}")
    if isinstance(folder_fps, bool) or not isinstance(folder_fps, (int, float, np.floating)) or not folder_fps > 0:
        raise ValueError(f"folder_fps must be a positive number of frames per second, got {folder_fps!r}")
    step, per_hop = window_grid(window, hop, settings.n_frames)
    video = check_video_path(video)
    bar = None
    progress = None
    if verbose:
        from tqdm.auto import tqdm

        from .video.decode import probe_video

        stated = probe_video(video, folder_fps=folder_fps).duration_s
        # Some containers (raw streams, live captures) state no duration: a bar without a total.
        total = round(stated, 1) if np.isfinite(stated) and stated > 0 else None
        bar = tqdm(total=total, unit="s", desc="timeline")
        progress = lambda done: bar.update(round(min(done, total or done) - bar.n, 3))  # noqa: E731
    from .config import single_threaded_torch

    timeline = _Timeline(video, settings, classifier, window=window, hop=hop, min_track_s=min_track_s,
                         anchor_every_s=anchor_every_s, reid_max_gap_s=reid_max_gap_s,
                         max_thumbnails=max_thumbnails, batch_size=batch_size, folder_fps=folder_fps,
                         progress=progress)
    try:
        with single_threaded_torch():
            rows, persons, end_s = timeline.run(step, per_hop)
            if end_s < window:
                # Shorter than one window: the whole video is the one window, sampled as a clip.
                step = end_s / settings.n_frames
                timeline.progress = None
                rows, persons, end_s = timeline.run(step, 1, single_window=True)
        if bar is not None:
            # The whole video was read (a truncated one only up to where it ends).
            read = float(end_s) if timeline.truncation or not total else total
            bar.update(round(read - bar.n, 3))
    finally:
        if bar is not None:
            bar.close()
    if timeline.truncation is not None:
        warnings.warn(f"'{video}': {timeline.truncation}; the timeline ends there, at {float(end_s):.1f} s",
                      TruncatedVideoWarning, stacklevel=2)

    classes = np.asarray(classifier.classes_)
    order = column_order(classes)
    end_s = float(end_s)
    # A person on screen for the whole of a video shorter than min_track_s is kept.
    min_track = min(min_track_s, end_s)
    on_screen = {p: min(persons[p].n_detected * step, end_s) for p in persons}
    # Ids in order of first appearance, left to right among faces found in the same frame.
    keep = [p for p in sorted(persons, key=lambda p: (persons[p].first_s, _mean_place(persons[p])["x"]))
            if on_screen[p] >= min_track - 1e-9]
    renumber = {old: new for new, old in enumerate(keep)}
    records = []
    for row in rows:
        if row["person"] not in renumber:
            continue
        proba = row.pop("proba", None)
        # The last window ends with the video (it may be shorter than `window`).
        record = {**row, "person": renumber[row["person"]], "end_s": min(row["end_s"], round(end_s, 9))}
        for i in order:
            record[f"p_{classes[i]}"] = float(proba[i]) if proba is not None else float("nan")
        records.append(record)
    columns = WINDOWS.columns(classes)
    windows = pd.DataFrame.from_records(records, columns=columns)
    windows = windows.sort_values(["person", "start_s"], kind="stable").reset_index(drop=True)
    windows.attrs.update(end_s=end_s, stated_duration_s=timeline.stated_duration_s, warning=timeline.truncation)
    if not return_persons:
        return windows
    labelled = windows.dropna(subset=["label"]).groupby("person").size()
    people = pd.DataFrame.from_records(
        [{"person": renumber[p], "first_s": persons[p].first_s, "last_s": persons[p].last_s,
          "on_screen_s": on_screen[p], "n_windows": int(labelled.get(renumber[p], 0)),
          **_mean_place(persons[p]), "thumbnails": _spread(persons[p].thumbnails, max_thumbnails)} for p in keep],
        columns=list(PERSON_COLUMNS))
    return windows, people
