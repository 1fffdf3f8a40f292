"""The whole pipeline on the embedded expression videos: AFEW protocol, grid search, one decode per video."""

import subprocess
import sys
from collections import Counter

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, cross_val_score

import sk_emotion.estimators._extraction as extraction_module
from sk_emotion import (
    EmotionClassifier,
    load_model,
    make_emotion_pipeline,
    predict_table,
    save_model,
)
from sk_emotion.datasets import afew_predefined_split, load_afew, make_expression_videos
from sk_emotion.demo import QUICK_DATA
from sk_emotion.persistence import UntrustedModelError


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("expressions")
    make_expression_videos(root, random_state=0, **QUICK_DATA)
    return load_afew(root)


@pytest.fixture
def decode_counter(monkeypatch):
    calls = Counter()
    original = extraction_module.read_frames

    def counting(path, *args, **kwargs):
        calls[str(path)] += 1
        return original(path, *args, **kwargs)

    monkeypatch.setattr(extraction_module, "read_frames", counting)
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
    # The fold's score is the accuracy of a clone fitted on the training subset (cache hits now).
    train = data["subset"].eq("train").to_numpy()
    refit = clone(pipe).fit(data["path"][train], data["emotion"][train])
    assert scores[0] == pytest.approx(np.mean(refit.predict(data["path"][~train]) == data["emotion"][~train]))
    # The refitted search predicts string emotions for videos.
    assert set(search.predict(data["path"][:3])) <= set(data["emotion"])


@pytest.mark.slow
def test_predict_table_and_saved_model_in_a_new_process(data, tmp_path):
    train = data[data["subset"] == "train"]
    pipe = make_emotion_pipeline(classifier={"max_epochs": 3, "random_state": 0}, cache=tmp_path / "faces")
    pipe.fit(train["path"], train["emotion"])
    videos = list(data["path"][-4:])
    table = predict_table(pipe, videos)
    assert list(table.columns[:3]) == ["video", "status", "label"] and (table["status"] == "ok").all()
    assert table.filter(like="p_").shape[1] == len(pipe.classes_)
    np.testing.assert_allclose(table.filter(like="p_").sum(axis=1), 1.0, atol=1e-5)
    assert (table["face_coverage"] > 0.9).all()
    np.testing.assert_array_equal(table["label"], pipe.predict(videos))

    model_path = save_model(pipe, tmp_path / "model.skem")
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
        load_model(tmp_path / "other.joblib", trusted=True)
    with pytest.raises(FileNotFoundError, match="nowhere.joblib"):
        load_model(tmp_path / "nowhere.joblib")


class _Payload:
    """Unpickling this runs ``os.system``: what a crafted model file does."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def test_a_malicious_pickle_is_refused_without_running_its_payload(tmp_path):
    import joblib

    marker = tmp_path / "pwned"
    evil = tmp_path / "model.joblib"
    joblib.dump({"format": "sk-emotion-model/1", "model": _Payload(marker)}, evil)
    with pytest.raises(UntrustedModelError, match="trusted=True"):
        load_model(evil)
    assert not marker.exists()
    # The command line refuses it too, in one line, and names --trusted.
    from sk_emotion.cli import main

    assert main(["predict", "clip.avi", "--model", str(evil)]) == 1
    assert not marker.exists()


def test_a_data_model_naming_foreign_code_is_refused(tmp_path):
    import json
    import zipfile

    marker = tmp_path / "pwned"
    manifest = {"format": "sk-emotion-model/2", "versions": {},
                "model": {"type": "EmotionClassifier",
                          "params": {"criterion": {"__class__": "os:system"}}}}
    path = tmp_path / "evil.skem"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("manifest.json", json.dumps(manifest))
    with pytest.raises(UntrustedModelError, match="os:system"):
        load_model(path)
    manifest["model"] = {"type": "subprocess.Popen", "params": {"args": f"touch {marker}"}}
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("manifest.json", json.dumps(manifest))
    with pytest.raises(UntrustedModelError, match="unknown step type"):
        load_model(path)
    assert not marker.exists()


def test_data_models_round_trip_and_joblib_needs_trust(tmp_path, real_faces):
    rng = np.random.default_rng(0)
    X = real_faces[rng.integers(0, len(real_faces), (20, 3))]
    y = np.array(["happy", "sad", "neutral", "angry"] * 5)
    clf = EmotionClassifier(max_epochs=2, lr=0.01, temperature=0.3, random_state=0).fit(X, y)
    loaded = load_model(save_model(clf, tmp_path / "clf.skem"))
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    assert loaded.get_params()["temperature"] == 0.3 and loaded.n_frames_in_ == 3
    np.testing.assert_array_equal(loaded.classes_, clf.classes_)
    pickled = save_model(clf, tmp_path / "clf.joblib", format="joblib")
    with pytest.raises(UntrustedModelError):
        load_model(pickled)
    np.testing.assert_array_equal(load_model(pickled, trusted=True).predict_proba(X), clf.predict_proba(X))
    # A callable detector is code, not data: the data format refuses it and says what to do.
    pipe = make_emotion_pipeline(extractor={"detector": lambda image: (np.zeros((0, 4)), None)},
                                 classifier=clf, cache=False)
    with pytest.raises(ValueError, match="detector=.*format='joblib'"):
        save_model(pipe, tmp_path / "pipe.skem")
    assert not (tmp_path / "pipe.skem").exists()
