"""The columns of every table the package returns, in one place.

* :data:`REPORT`: the extractor's per-video report
  (:meth:`~sk_emotion.VideoFaceExtractor.transform_with_report`);
* :data:`VIDEOS`: :func:`~sk_emotion.pipeline.predict_table`, one row per video;
* :data:`FRAMES`: its per-frame table (``return_frames=True``);
* :data:`EXPLANATION`: :meth:`Explanation.to_frame <sk_emotion.Explanation.to_frame>`;
* :data:`WINDOWS`: :func:`~sk_emotion.timeline.emotion_timeline`, one row per
  person and window;
* :data:`PERSONS`: its persons table (``return_persons=True``).

Tables with probabilities have one ``p_<class>`` column per class between
their leading and trailing columns, in :func:`column_order`: the seven
FER2013 emotions first, in :data:`~sk_emotion.emotions.EMOTIONS` order, then
any other class in the model's order.  This module imports only numpy and
pandas, so that the figures can check their input without the models.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .emotions import EMOTIONS

__all__ = [
    "EXPLANATION",
    "FRAMES",
    "PERSONS",
    "PROBABILITY_PREFIX",
    "REPORT",
    "STATUSES",
    "VIDEOS",
    "WINDOWS",
    "TableSchema",
    "classes_of",
    "column_order",
    "probability_columns",
]

#: Prefix of the probability columns: ``p_happy`` holds the probability of ``happy``.
PROBABILITY_PREFIX = "p_"

#: ``status`` of a video in :data:`VIDEOS`: predicted from its faces; predicted from the
#: part of a truncated file that decodes (``partial``: the ``error`` column says where it
#: stopped); substituted by the extractor's fallback (``on_error="fallback"``), or failed
#: (``on_error="raise"``).
STATUSES: tuple[str, ...] = ("ok", "partial", "fallback", "failed")


def column_order(classes: np.ndarray | Sequence) -> np.ndarray:
    """Positions of ``classes`` in the documented order of ``p_<class>`` columns in tables.

    The seven FER2013 emotions come first, in the pretrained network's order
    (angry, disgust, fear, happy, sad, surprise, neutral), then any other
    class in the model's own order: zero-shot and trained models (whose
    ``classes_`` are sorted) print their probabilities in the same order.

    Parameters
    ----------
    classes : array-like of shape (n_classes,)
        A model's ``classes_``.

    Returns
    -------
    numpy.ndarray of shape (n_classes,), int
        Indices into ``classes``, in table order.

    Examples
    --------
    >>> column_order(["happy", "neutral", "angry", "bored"]).tolist()
    [2, 0, 1, 3]
    """
    names = [str(c) for c in np.asarray(classes)]
    known = [names.index(e) for e in EMOTIONS if e in names]
    return np.array(known + [i for i, n in enumerate(names) if n not in EMOTIONS], dtype=int)


def probability_columns(classes: np.ndarray | Sequence) -> dict[str, int]:
    """The ``p_<class>`` column of each class, in table order, with the class's index in ``classes``.

    Parameters
    ----------
    classes : array-like of shape (n_classes,)
        A model's ``classes_``, in the column order of its ``predict_proba``.

    Returns
    -------
    dict of str to int
        Column name -> column of ``predict_proba``, in :func:`column_order`.

    Examples
    --------
    >>> probability_columns(["happy", "angry"])
    {'p_angry': 1, 'p_happy': 0}
    """
    names = np.asarray(classes)
    return {f"{PROBABILITY_PREFIX}{names[i]}": int(i) for i in column_order(names)}


def classes_of(table: pd.DataFrame) -> list[str]:
    """The classes a table has probabilities of: its ``p_<class>`` suffixes, in column order.

    Parameters
    ----------
    table : pandas.DataFrame
        A table with ``p_<class>`` columns.

    Returns
    -------
    list of str
        The class names.

    Examples
    --------
    >>> classes_of(pd.DataFrame(columns=["person", "p_happy", "p_sad", "face_coverage"]))
    ['happy', 'sad']
    """
    prefix = PROBABILITY_PREFIX
    return [str(c)[len(prefix):] for c in table.columns if str(c).startswith(prefix) and len(str(c)) > len(prefix)]


@dataclass(frozen=True)
class TableSchema:
    """The columns of one of the package's tables.

    Parameters
    ----------
    name : str
        What the table is called in messages (``"windows"``).
    leading : tuple of str
        The columns before the ``p_<class>`` columns (all of them, for a
        table without probabilities).
    trailing : tuple of str, default=()
        The columns after the ``p_<class>`` columns.
    probabilities : bool, default=True
        Whether the table has ``p_<class>`` columns.
    required : tuple of str or None, default=None
        The columns a reader of the table cannot do without (what
        :meth:`check` asks for); None: every fixed column.
    """

    name: str
    leading: tuple[str, ...]
    trailing: tuple[str, ...] = ()
    probabilities: bool = True
    required: tuple[str, ...] | None = None

    @property
    def fixed(self) -> tuple[str, ...]:
        """The columns that do not depend on the classes: ``leading + trailing``."""
        return self.leading + self.trailing

    def columns(self, classes: np.ndarray | Sequence = ()) -> list[str]:
        """Every column, in order, of the table for a model with these ``classes``.

        Parameters
        ----------
        classes : array-like of shape (n_classes,), default=()
            The model's ``classes_`` (ignored without probabilities).

        Returns
        -------
        list of str
            ``leading``, the ``p_<class>`` columns in :func:`column_order`, ``trailing``.
        """
        middle = list(probability_columns(classes)) if self.probabilities else []
        return [*self.leading, *middle, *self.trailing]

    def check(self, table: object, *, name: str | None = None) -> list[str]:
        """Raise unless ``table`` is a DataFrame with the required columns; return its classes.

        Parameters
        ----------
        table : object
            What was given as this table.
        name : str, optional
            What the message calls it (default: :attr:`name`).

        Returns
        -------
        list of str
            The classes of its ``p_<class>`` columns (see :func:`classes_of`);
            empty for a table without probabilities.

        Raises
        ------
        TypeError
            If ``table`` is not a :class:`pandas.DataFrame`.
        ValueError
            If a required column is missing, or a table with probabilities
            has no ``p_<class>`` column; the message lists the columns it has.
        """
        name = name or self.name
        if not isinstance(table, pd.DataFrame):
            raise TypeError(f"{name} must be a pandas DataFrame, got {type(table).__name__}")
        required = self.fixed if self.required is None else self.required
        missing = [c for c in required if c not in table.columns]
        if missing:
            what = f"the column {missing[0]!r}" if len(missing) == 1 else f"the column(s) {missing}"
            raise ValueError(f"{name} is missing {what}; it has {list(table.columns)}")
        if not self.probabilities:
            return []
        found = classes_of(table)
        if not found:
            raise ValueError(f"{name} has no {PROBABILITY_PREFIX}<class> probability columns "
                             f"(e.g. {PROBABILITY_PREFIX}happy); it has {list(table.columns)}")
        return found


#: The extractor's per-video report: one row per input video.
REPORT = TableSchema(
    "report",
    ("path", "frames_in_video", "frames_decoded", "fps", "duration_s", "width", "height", "face_coverage",
     "frame_detected", "frame_tracked", "frame_times_s", "fallback_used", "cached", "error", "warning"),
    probabilities=False,
)

#: :func:`~sk_emotion.pipeline.predict_table`: one row per input video; ``status`` one of :data:`STATUSES`.
VIDEOS = TableSchema("videos", ("video", "status", "label"), ("face_coverage", "error"))

#: :meth:`Explanation.to_frame <sk_emotion.Explanation.to_frame>`: one row per clip and frame.
EXPLANATION = TableSchema(
    "explanation", ("video", "frame", "video_label", "frame_label", "temporal_weight", "attention_peak"))

#: The per-frame table of :func:`~sk_emotion.pipeline.predict_table`: the explanation's
#: columns, with where each frame is and how its face was found after ``frame``.
FRAMES = TableSchema(
    "frames", (*EXPLANATION.leading[:2], "timestamp_s", "face_detected", "face_tracked", *EXPLANATION.leading[2:]))

#: :func:`~sk_emotion.timeline.emotion_timeline`: one row per person and window.
WINDOWS = TableSchema("windows", ("person", "start_s", "end_s", "label"), ("face_coverage",),
                      required=("person", "start_s", "end_s", "label"))

#: The persons table of :func:`~sk_emotion.timeline.emotion_timeline`: one row per person.
PERSONS = TableSchema(
    "persons",
    ("person", "first_s", "last_s", "on_screen_s", "n_windows", "x", "y", "box_size", "thumbnails"),
    probabilities=False,
    required=("person",),
)
