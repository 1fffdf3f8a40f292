"""The whole pipeline on the embedded expression videos: AFEW protocol, grid search, one decode per video."""

import subprocess
import sys
from collections import Counter

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, cross_val_score

import sk_emotion.estimators.extractor as extractor_module
from sk_emotion import (
    EmotionClassifier,
    VideoFaceExtractor,
    load_model,
    make_emotion_pipeline,
    predict_table,
    save_model,
)
from sk_emotion.datasets import afew_predefined_split, load_afew, make_expression_videos
from sk_emotion.demo import QUICK_DATA


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("expressions")
    make_expression_videos(root, random_state=0, **QUICK_DATA)
    return load_afew(root)


@pytest.fixture
def decode_counter(monkeypatch):
    calls = Counter()
    original = extractor_module.read_frames

    def counting(path, *args, **kwargs):
        calls[str(path)] += 1
        return original(path, *args, **kwargs)

    monkeypatch.setattr(extractor_module, "read_frames", counting)
    return calls


def test_generated_tree_is_afew_shaped(data):
    assert data["subset"].value_counts().to_dict() == {"train": 21, "val": 14}
    assert data["emotion"].nunique() == 7


@pytest.mark.slow
def test_grid_search_and_cross_validation_extract_each_video_once(data, tmp_path, decode_counter):
    pipe = make_emotion_pipeline(classifier={"max_epochs": 3, "random_state": 0}, cache=tmp_path / "faces")
    split = afew_predefined_split(data)
    search = GridSearchCV(pipe, {"emotionclassifier__temperature": [0.1, 1.0, 10.0]}, cv=split)
    search.fit(data["path"], data["emotion"])
    scores = cross_val_score(pipe, data["path"], data["emotion"], cv=split)

    assert len(decode_counter) == len(data)
    assert set(decode_counter.values()) == {1}, "a video was decoded twice"
    assert search.best_params_["emotionclassifier__temperature"] in (0.1, 1.0, 10.0)
    assert 0.0 <= scores[0] <= 1.0
    # The refitted search predicts string emotions for videos.
    assert set(search.predict(data["path"][:3])) <= set(data["emotion"])


@pytest.mark.slow
def test_predict_table_and_saved_model_in_a_new_process(data, tmp_path):
    train = data[data["subset"] == "train"]
    pipe = make_emotion_pipeline(classifier={"max_epochs": 3, "random_state": 0}, cache=tmp_path / "faces")
    pipe.fit(train["path"], train["emotion"])
    videos = list(data["path"][-4:])
    table = predict_table(pipe, videos)
    assert list(table.columns[:2]) == ["video", "label"]
    assert table.filter(like="p_").shape[1] == len(pipe.classes_)
    np.testing.assert_allclose(table.filter(like="p_").sum(axis=1), 1.0, atol=1e-5)
    assert (table["face_coverage"] > 0.9).all()
    np.testing.assert_array_equal(table["label"], pipe.predict(videos))

    model_path = save_model(pipe, tmp_path / "model.joblib")
    expected = pipe.predict_proba(videos)
    np.save(tmp_path / "videos.npy", np.array(videos))
    script = (
        "import numpy as np, sys\n"
        "from sk_emotion import load_model\n"
        f"model = load_model(r'{model_path}')\n"
        f"videos = list(np.load(r'{tmp_path / 'videos.npy'}'))\n"
        f"np.save(r'{tmp_path / 'loaded.npy'}', model.predict_proba(videos))\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=300)
    np.testing.assert_array_equal(np.load(tmp_path / "loaded.npy"), expected)
    assert type(load_model(model_path)).__name__ == "Pipeline"


def test_load_model_rejects_other_files(tmp_path):
    import joblib

    joblib.dump({"something": 1}, tmp_path / "other.joblib")
    with pytest.raises(ValueError, match="not an sk-emotion model file"):
        load_model(tmp_path / "other.joblib")
    with pytest.raises(FileNotFoundError, match="nowhere.joblib"):
        load_model(tmp_path / "nowhere.joblib")


@pytest.mark.slow
def test_demo_quick_prints_the_accuracy_table(tmp_path, capsys, monkeypatch):
    from sk_emotion.demo import run_demo

    monkeypatch.setenv("SK_EMOTION_HOME", str(tmp_path))
    summary = run_demo(quick=True, verbose=False)
    out = capsys.readouterr().out
    assert "Validation accuracy" in out and "attention + softmax (method)" in out
    assert summary["model"].tolist()[0] == "zero-shot FER2013 CNN"
    assert len(summary) == 5 and summary["val_accuracy"].between(0, 100).all()


@pytest.mark.slow
@pytest.mark.parametrize("script", ["quickstart.py", "grid_search_temperature.py", "afew_cross_validation.py"])
def test_examples_run(script, tmp_path):
    import os
    from pathlib import Path

    env = {**os.environ, "SK_EMOTION_HOME": str(tmp_path)}
    path = Path(__file__).parents[1] / "examples" / script
    result = subprocess.run([sys.executable, str(path), "--quick"], capture_output=True, text=True,
                            env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "accuracy" in result.stdout or "best temperature" in result.stdout
