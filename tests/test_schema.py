"""The table schema (sk_emotion.schema) and the pipeline split (sk_emotion.pipeline.split_pipeline)."""

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from sk_emotion import EmotionClassifier, VideoFaceExtractor
from sk_emotion.emotions import EMOTIONS
from sk_emotion.estimators.explanation import Explanation
from sk_emotion.pipeline import make_emotion_pipeline, split_pipeline
from sk_emotion.schema import (
    EXPLANATION,
    FRAMES,
    PERSONS,
    REPORT,
    VIDEOS,
    WINDOWS,
    classes_of,
    column_order,
    probability_columns,
)


def test_probability_columns_put_the_fer2013_emotions_first_in_their_order():
    classes = np.array(["surprise", "bored", "angry", "neutral", "awake"])
    columns = probability_columns(classes)
    assert list(columns) == ["p_angry", "p_surprise", "p_neutral", "p_bored", "p_awake"]
    assert [classes[i] for i in columns.values()] == ["angry", "surprise", "neutral", "bored", "awake"]
    assert column_order(list(reversed(EMOTIONS))).tolist() == [6, 5, 4, 3, 2, 1, 0]
    assert probability_columns([2, 0]) == {"p_2": 0, "p_0": 1}  # integer labels keep the model's order


def test_columns_and_classes_of_are_inverse():
    classes = ["sad", "happy", "bored"]
    columns = WINDOWS.columns(classes)
    assert columns == ["person", "start_s", "end_s", "label", "p_happy", "p_sad", "p_bored", "face_coverage"]
    assert classes_of(pd.DataFrame(columns=columns)) == ["happy", "sad", "bored"]
    assert PERSONS.columns(classes) == list(PERSONS.leading)  # no probabilities
    assert FRAMES.columns(["happy"])[:5] == ["video", "frame", "timestamp_s", "face_detected", "face_tracked"]


def test_check_names_what_is_missing():
    windows = pd.DataFrame(columns=WINDOWS.columns(["happy"]))
    assert WINDOWS.check(windows) == ["happy"]
    assert WINDOWS.check(windows.drop(columns="face_coverage")) == ["happy"]  # optional for a reader
    with pytest.raises(ValueError, match=r"windows is missing the column\(s\) \['start_s', 'label'\]"):
        WINDOWS.check(windows.drop(columns=["start_s", "label"]))
    with pytest.raises(ValueError, match="table is missing the column 'label'; it has"):
        WINDOWS.check(windows.drop(columns="label"), name="table")
    with pytest.raises(ValueError, match="no p_<class> probability columns"):
        WINDOWS.check(windows.drop(columns="p_happy"))
    with pytest.raises(TypeError, match="persons must be a pandas DataFrame, got dict"):
        PERSONS.check({"person": [0]})
    assert PERSONS.check(pd.DataFrame({"person": [0]})) == []


def test_the_tables_follow_the_schema(real_faces):
    clf = EmotionClassifier.from_pretrained()
    clips = real_faces[:2, None].repeat(3, axis=1)
    explanation = clf.explain(clips)
    assert isinstance(explanation, Explanation)
    assert list(explanation.to_frame().columns) == EXPLANATION.columns(clf.classes_)
    assert EXPLANATION.columns(clf.classes_)[-7:] == [f"p_{e}" for e in EMOTIONS]


def test_the_modules_that_build_tables_use_the_schemas_columns():
    from sk_emotion.estimators._extraction import REPORT_COLUMNS
    from sk_emotion.timeline import PERSON_COLUMNS, TIMELINE_COLUMNS

    assert tuple(REPORT_COLUMNS) == REPORT.leading
    assert tuple(TIMELINE_COLUMNS) == WINDOWS.fixed
    assert tuple(PERSON_COLUMNS) == PERSONS.leading
    assert VIDEOS.fixed == ("video", "status", "label", "face_coverage", "error")


def test_split_pipeline_returns_each_part():
    two = make_emotion_pipeline(cache=False)
    parts = split_pipeline(two)
    assert parts.extractor is two.steps[0][1] and parts.classifier is two.steps[1][1]
    assert parts.between is None and parts.predictor is parts.classifier
    faces = np.zeros((1, 2, 64, 64), np.uint8)
    assert parts.prepare(faces) is faces

    flip = FunctionTransformer(lambda x: 255 - x)
    three = Pipeline([("faces", VideoFaceExtractor()), ("flip", flip), ("clf", EmotionClassifier())])
    parts = split_pipeline(three)
    assert [name for name, _ in parts.between.steps] == ["flip"]
    assert [name for name, _ in parts.predictor.steps] == ["flip", "clf"]
    assert parts.classifier is three.steps[-1][1]
    assert (parts.prepare(faces) == 255).all()


@pytest.mark.parametrize(("model", "message"), [
    (EmotionClassifier(), "the model must be a Pipeline"),
    (Pipeline([("clf", EmotionClassifier()), ("faces", VideoFaceExtractor())]),
     "first step must be a VideoFaceExtractor, got EmotionClassifier"),
    (Pipeline([("faces", VideoFaceExtractor())]), "no classifier after it"),
])
def test_split_pipeline_refuses_other_models(model, message):
    with pytest.raises(TypeError, match=message):
        split_pipeline(model)


def test_the_frames_table_carries_the_decoder_s_frame_times(tmp_path):
    from sk_emotion.pipeline import predict_table
    from sk_emotion.video.writer import write_video

    rng = np.random.default_rng(0)
    path = write_video(tmp_path / "clip.avi", rng.integers(0, 256, (50, 64, 64, 3), dtype=np.uint8), fps=10)
    pipe = make_emotion_pipeline(extractor={"detector": None, "n_frames": 4}, cache=False,
                                 classifier=EmotionClassifier.from_pretrained())
    _, report = pipe[0].transform_with_report([path])
    table, frames = predict_table(pipe, [path], return_frames=True)
    assert list(table.columns) == VIDEOS.columns(EMOTIONS) and list(frames.columns) == FRAMES.columns(EMOTIONS)
    # 5 s at 10 fps: the frames on screen at the centres of four 1.25 s segments.
    np.testing.assert_allclose(report.loc[0, "frame_times_s"], [0.6, 1.8, 3.1, 4.3])
    np.testing.assert_allclose(frames["timestamp_s"], report.loc[0, "frame_times_s"])
