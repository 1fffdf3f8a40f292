"""The whole method as one scikit-learn pipeline, and a per-video result table."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline, make_pipeline

from ._sklearn_compat import validate_params
from .config import cache_dir
from .estimators.classifier import EmotionClassifier
from .estimators.extractor import ExtractionError, VideoFaceExtractor
from .schema import FRAMES, STATUSES, VIDEOS, probability_columns
from .video.sampling import segment_centres

__all__ = ["STATUSES", "PipelineParts", "default_face_cache", "make_emotion_pipeline", "predict_table",
           "split_pipeline"]


def default_face_cache() -> str:
    """Return the folder of the extractor's per-video cache: ``<sk-emotion cache>/faces``.

    Returns
    -------
    str
        The ``faces`` folder inside :func:`~sk_emotion.config.cache_dir`
        (not created here).
    """
    return str(cache_dir() / "faces")


@validate_params(
    {
        "extractor": [None, VideoFaceExtractor, dict],
        "classifier": [None, EmotionClassifier, dict],
        "cache": ["boolean", None, str, os.PathLike],
    },
    prefer_skip_nested_validation=True,
)
def make_emotion_pipeline(
    *,
    extractor: VideoFaceExtractor | dict[str, Any] | None = None,
    classifier: EmotionClassifier | dict[str, Any] | None = None,
    cache: str | os.PathLike | None | bool = True,
) -> Pipeline:
    """``Pipeline(VideoFaceExtractor, EmotionClassifier)`` with the extractor's cache on.

    Step names are ``videofaceextractor`` and ``emotionclassifier``, so grid
    searches address ``emotionclassifier__temperature`` and the like.

    Parameters
    ----------
    extractor : VideoFaceExtractor or dict, optional
        The extraction step, or parameters for a new one.
    classifier : EmotionClassifier or dict, optional
        The classification step, or parameters for a new one.
    cache : bool, path-like or None, default=True
        The extractor's ``cache_dir``: True means :func:`default_face_cache`,
        a path that folder, False or None no cache.  With the cache, grid
        search and cross-validation decode and detect each video once.
        Ignored when ``extractor`` is an instance.

    Returns
    -------
    sklearn.pipeline.Pipeline
        The unfitted two-step pipeline, taking video paths.

    Examples
    --------
    >>> pipe = make_emotion_pipeline(classifier={"temperature": 0.5}, cache=False)
    >>> [name for name, _ in pipe.steps]
    ['videofaceextractor', 'emotionclassifier']
    >>> pipe.get_params()["emotionclassifier__temperature"]
    0.5
    """
    if not isinstance(extractor, VideoFaceExtractor):
        params = dict(extractor or {})
        if "cache_dir" not in params:
            params["cache_dir"] = default_face_cache() if cache is True else (cache or None)
        extractor = VideoFaceExtractor(**params)
    if not isinstance(classifier, EmotionClassifier):
        classifier = EmotionClassifier(**dict(classifier or {}))
    return make_pipeline(extractor, classifier)


@dataclass(frozen=True)
class PipelineParts:
    """A pipeline from video files taken apart: :func:`split_pipeline` returns it.

    Parameters
    ----------
    extractor : VideoFaceExtractor
        The first step.
    between : Pipeline or None
        The steps between the extractor and the classifier (fitted
        transformers of face clips), or None when the classifier follows
        the extractor.
    classifier : estimator
        The last step (``predict_proba``, ``classes_``, ``explain``).
    predictor : estimator
        Everything after the extractor as one estimator: ``classifier``
        itself, or the pipeline's steps after the extractor.
    """

    extractor: VideoFaceExtractor
    between: Pipeline | None
    classifier: Any
    predictor: Any

    def prepare(self, faces: np.ndarray) -> Any:
        """What the classifier takes: ``faces`` through the steps between (unchanged without any).

        Parameters
        ----------
        faces : numpy.ndarray
            Face clips, as the extractor returns them.

        Returns
        -------
        array-like
            The classifier's input.
        """
        return faces if self.between is None else self.between.transform(faces)


def split_pipeline(model: Pipeline) -> PipelineParts:
    """Take a pipeline from video files apart: its extractor, the steps between, its classifier.

    What :func:`predict_table`, :func:`~sk_emotion.timeline.emotion_timeline`
    and the command line use to run the extractor alone (for its report)
    and then the rest on its faces.

    Parameters
    ----------
    model : Pipeline
        A pipeline whose first step is a :class:`VideoFaceExtractor`, such as
        :func:`make_emotion_pipeline` builds.

    Returns
    -------
    PipelineParts
        ``extractor``, ``between`` (None for two steps), ``classifier`` and
        ``predictor``.

    Raises
    ------
    TypeError
        If ``model`` is not a Pipeline of at least two steps, or its first
        step is not a :class:`VideoFaceExtractor`.

    Examples
    --------
    >>> parts = split_pipeline(make_emotion_pipeline(cache=False))
    >>> type(parts.extractor).__name__, parts.between, type(parts.classifier).__name__
    ('VideoFaceExtractor', None, 'EmotionClassifier')
    """
    if not isinstance(model, Pipeline):
        raise TypeError(f"the model must be a Pipeline(VideoFaceExtractor, ..., classifier), "
                        f"got {type(model).__name__}")
    extractor = model.steps[0][1]
    if not isinstance(extractor, VideoFaceExtractor):
        raise TypeError(f"the pipeline's first step must be a VideoFaceExtractor, got {type(extractor).__name__}")
    if len(model.steps) < 2:
        raise TypeError("the pipeline has a VideoFaceExtractor but no classifier after it")
    classifier = model.steps[-1][1]
    if len(model.steps) == 2:
        return PipelineParts(extractor, None, classifier, classifier)
    return PipelineParts(extractor, model[1:-1], classifier, model[1:])


@validate_params(
    {
        "model": [Pipeline],
        "videos": "no_validation",  # the extractor checks them, with messages about paths
        "return_frames": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def predict_table(
    model: Pipeline,
    videos: Sequence[str | os.PathLike] | pd.Series | pd.DataFrame,
    *,
    return_frames: bool = False,
) -> pd.DataFrame | tuple[pd.DataFrame, pd.DataFrame]:
    """Per-video predictions as a table; every input gets a row, failed ones included.

    One decode and one forward pass serve both tables.  A video that could
    not be read, or in which no face was found often enough, keeps its row
    with its ``status`` and ``error`` and no prediction: a prediction of the
    substituted clip would be made up.  A truncated file (decoding stopped
    well before its stated duration, e.g. an interrupted download) is
    predicted from the part that decodes, with ``status`` ``"partial"`` and
    the extractor's warning (where decoding stopped) in ``error``, under
    either ``on_error``: its faces are real, but they do not cover the
    whole video.

    Parameters
    ----------
    model : Pipeline
        A fitted pipeline whose first step is a :class:`VideoFaceExtractor`
        and last step a classifier with ``predict_proba`` and ``classes_``
        (``explain`` too for ``return_frames``).
    videos : list, Series or DataFrame of paths
        What the pipeline's ``predict`` takes.
    return_frames : bool, default=False
        Also return the per-frame table.

    Returns
    -------
    videos : pandas.DataFrame
        One row per input video, in order (:data:`sk_emotion.schema.VIDEOS`):
        ``video``, ``status`` (one of :data:`STATUSES`), ``label`` (None
        unless ``status`` is ``"ok"`` or ``"partial"``), one ``p_<class>``
        column per class (NaN without a label; in
        :func:`~sk_emotion.schema.column_order`), ``face_coverage`` (share
        of sampled frames where the face was detected) and ``error`` (the
        reason, the warning of a partial video, or None).
    frames : pandas.DataFrame
        Only with ``return_frames``: one row per sampled frame of every ok
        or partial video (:data:`sk_emotion.schema.FRAMES`): ``video``,
        ``frame``, ``timestamp_s`` (the time of the sampled frame in the
        video, the report's ``frame_times_s``), ``face_detected`` (False
        where the face box was borrowed from the nearest frame),
        ``face_tracked`` (True where the face was re-detected near its
        expected position rather than found by a whole-frame search), then
        the columns of :meth:`Explanation.to_frame
        <sk_emotion.Explanation.to_frame>`.

    Raises
    ------
    TypeError
        If ``model`` is not a pipeline whose first step is a
        :class:`VideoFaceExtractor` (see :func:`split_pipeline`).
    """
    parts = split_pipeline(model)
    try:
        faces, report = parts.extractor.transform_with_report(videos)
    except ExtractionError as exc:  # the good videos were processed: report them
        faces, report = exc.results, exc.report
        failed_status = "failed"
    else:
        failed_status = "fallback"
    report = report.reset_index(drop=True)
    ok = report["error"].isna().to_numpy()
    classifier = parts.classifier
    classes = np.asarray(classifier.classes_)
    probabilities = np.full((len(report), len(classes)), np.nan)
    explanation = None
    if ok.any():
        inputs = parts.prepare(faces[ok])
        if return_frames:
            explanation = classifier.explain(inputs)
            probabilities[ok] = explanation.probabilities
        else:
            probabilities[ok] = classifier.predict_proba(inputs)
    warning = report["warning"].to_numpy(dtype=object)
    has_warning = pd.notna(warning)
    error = report["error"].to_numpy(dtype=object)
    # One message per row: the failure, the warning of a partial video, or both.
    messages = [f"{e}; {w}" if e is not None and w is not None else (e if e is not None else w)
                for e, w in zip(error, np.where(has_warning, warning, None))]
    values = {
        "video": report["path"],
        "status": np.where(ok, np.where(has_warning, "partial", "ok"), failed_status),
        "label": pd.Series(np.where(ok, classes[np.nan_to_num(probabilities).argmax(axis=1)], None),
                           dtype=object),
        **{name: probabilities[:, i] for name, i in probability_columns(classes).items()},
        "face_coverage": report["face_coverage"].to_numpy(),
        "error": np.array(messages, dtype=object),
    }
    table = pd.DataFrame(values, columns=VIDEOS.columns(classes))
    if not return_frames:
        return table
    return table, _frame_table(report[ok].reset_index(drop=True), explanation, classes)


def _frame_table(report: pd.DataFrame, explanation, classes: np.ndarray) -> pd.DataFrame:
    if explanation is None:
        return pd.DataFrame(columns=FRAMES.columns(classes))
    frames = explanation.to_frame()
    index = frames["video"].to_numpy()
    frames["video"] = report["path"].to_numpy()[index]
    times = [row["frame_times_s"] if isinstance(row["frame_times_s"], (list, tuple))
             # Frame arrays and cache entries older than the column: where the decoder samples.
             else segment_centres(row["duration_s"], explanation.n_frames).tolist()
             for _, row in report.iterrows()]
    for column, name in (("frame_detected", "face_detected"), ("frame_tracked", "face_tracked")):
        frames[name] = [row[f] if isinstance(row, (list, tuple)) else None
                        for row, f in zip(report[column].to_numpy()[index], frames["frame"])]
    frames["timestamp_s"] = [float(times[v][f]) for v, f in zip(index, frames["frame"])]
    return frames[FRAMES.columns(classes)]
