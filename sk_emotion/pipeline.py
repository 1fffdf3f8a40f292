"""The whole method as one scikit-learn pipeline, and a per-video result table."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline, make_pipeline

from .estimators.classifier import EmotionClassifier
from .estimators.extractor import VideoFaceExtractor
from .weights import cache_dir

__all__ = ["make_emotion_pipeline", "predict_table", "default_face_cache"]


def default_face_cache() -> str:
    """Folder of the extractor's per-video cache: ``<sk-emotion cache>/faces``."""
    return str(cache_dir() / "faces")


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


def predict_table(model: Pipeline, videos) -> pd.DataFrame:
    """Per-video predictions as a table: label, probabilities and face coverage.

    Parameters
    ----------
    model : Pipeline
        A fitted pipeline whose first step is a :class:`VideoFaceExtractor`
        and last step a classifier with ``predict_proba`` and ``classes_``.
    videos : list, Series or DataFrame of paths
        What the pipeline's ``predict`` takes.

    Returns
    -------
    pandas.DataFrame
        One row per video: ``video``, ``label``, one ``p_<class>`` column per
        class, ``face_coverage`` (share of sampled frames where a face was
        found) and ``error`` (None unless the extractor's fallback policy
        replaced the video).
    """
    extractor = model.steps[0][1]
    if not isinstance(extractor, VideoFaceExtractor):
        raise TypeError(f"the pipeline's first step must be a VideoFaceExtractor, got {type(extractor).__name__}")
    faces = model[:-1].transform(videos)
    classifier = model.steps[-1][1]
    return _video_table(extractor.report_, classifier.classes_, classifier.predict_proba(faces))


def _video_table(report: pd.DataFrame, classes, probabilities: np.ndarray) -> pd.DataFrame:
    """The per-video table from an extractor report and the matching probabilities."""
    report = report.reset_index(drop=True)
    classes = np.asarray(classes)
    table = pd.DataFrame({"video": report["path"], "label": classes[probabilities.argmax(axis=1)]})
    for column, name in enumerate(classes):
        table[f"p_{name}"] = probabilities[:, column]
    table["face_coverage"] = report["face_coverage"].to_numpy()
    table["error"] = report["error"].to_numpy()
    return table
