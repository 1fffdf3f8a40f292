"""class_prior: the scores move by log(expected prior / training prior), in every output, never in training."""

import io
import zipfile

import numpy as np
import pytest
import torch
from _helpers import bar_stamp, make_face_clips
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from sk_emotion import EMOTIONS, EmotionClassifier, load_model, save_model
from sk_emotion.weights import FaceResNetWeights


@pytest.fixture(scope="module")
def clips(real_faces):
    # 3 classes, unbalanced: 12 "a", 6 "b", 6 "c" (frequencies 1/2, 1/4, 1/4).
    X, y = make_face_clips(real_faces, 24, n_frames=3, n_classes=3, stamp=bar_stamp, seed=1)
    labels = np.array(["a", "b", "c"])[np.r_[np.zeros(12, int), np.ones(6, int), np.full(6, 2)]]
    return X, labels


@pytest.fixture(scope="module")
def fitted(clips):
    X, y = clips
    return EmotionClassifier(max_epochs=2, random_state=0, train_split=None).fit(X, y)


def _shifted(proba: np.ndarray, ratio: np.ndarray) -> np.ndarray:
    out = proba * ratio
    return out / out.sum(axis=1, keepdims=True)


def test_a_fitted_model_learns_its_labels_frequencies_and_the_prior_moves_its_answers(fitted, clips):
    X, _ = clips
    # add-one frequencies of the labels given to fit: (12+1, 6+1, 6+1) / 27, centred in log space
    expected = np.log(np.array([13, 7, 7]) / 27)
    np.testing.assert_allclose(fitted.module_.training_log_prior.numpy(), expected - expected.mean(), atol=1e-6)
    assert fitted.module_.prior_shift() is None  # class_prior=None: the scores as trained
    model = EmotionClassifier(max_epochs=2, random_state=0, train_split=None, class_prior=[0.2, 0.4, 0.4])
    model.fit(*clips)
    # Training ignores the prior: same seed, same network as without it.
    for (name, a), b in zip(fitted.module_.state_dict().items(), model.module_.state_dict().values()):
        torch.testing.assert_close(a, b, msg=name)
    # One-frame clips: the probabilities move by exactly (q / p), p the training frequencies.
    faces = X[:6, :1]
    plain, moved = fitted.predict_proba(faces), model.predict_proba(faces)
    np.testing.assert_allclose(moved, _shifted(plain, np.array([0.2, 0.4, 0.4]) / (np.array([13, 7, 7]) / 27)),
                               atol=1e-6)
    assert not np.allclose(moved, plain, atol=1e-3)


def test_set_params_takes_effect_at_once_and_a_refused_value_changes_nothing(fitted, clips):
    X, _ = clips
    model = clone(fitted)
    model.fit(*clips)
    before = model.predict_proba(X)
    model.set_params(class_prior="uniform")
    uniform = model.predict_proba(X)
    assert not np.allclose(uniform, before, atol=1e-3)
    with pytest.raises(ValueError, match=r"class_prior must hold 3 positive frequencies.*\['a', 'b', 'c'\]"):
        model.set_params(class_prior=[0.5, 0.5])
    with pytest.raises(ValueError, match="positive"):
        model.set_params(class_prior=[0.5, 0.5, 0.0])
    with pytest.raises(ValueError, match="class_prior"):
        model.set_params(class_prior="balanced")  # not an option: refused before anything changes
    assert model.class_prior == "uniform"
    np.testing.assert_allclose(model.predict_proba(X), uniform)
    model.set_params(class_prior=None)
    np.testing.assert_allclose(model.predict_proba(X), before, atol=1e-6)
    with pytest.raises(ValueError, match="class_prior"):
        EmotionClassifier(class_prior="balanced", max_epochs=1).fit(*clips)
    with pytest.raises(ValueError, match="3 positive frequencies"):
        EmotionClassifier(class_prior=[1, 1], max_epochs=1).fit(*clips)


def test_every_output_sees_the_prior_explain_included(real_faces):
    faces = real_faces[:4, None]
    clf = EmotionClassifier.from_pretrained(class_prior=list(FaceResNetWeights.FERPLUS.meta["class_frequencies"]))
    explanation = clf.explain(faces)
    np.testing.assert_allclose(explanation.probabilities, clf.predict_proba(faces), atol=1e-6)
    np.testing.assert_allclose(explanation.frame_probabilities[:, 0], clf.predict_proba(faces), atol=1e-6)
    plain = EmotionClassifier.from_pretrained(class_prior=None).predict_proba(faces)
    meta = FaceResNetWeights.FERPLUS.meta
    ratio = np.asarray(meta["class_frequencies"]) / np.asarray(meta["training_prior"])
    np.testing.assert_allclose(clf.predict_proba(faces), _shifted(plain, ratio), atol=1e-6)
    assert clf.classes_.tolist() == list(EMOTIONS)


def _rewrite(src_path, dst_path, *, drop_counts: bool, format_: str | None = None) -> list[str]:
    """Copy a model file, optionally without the network's training_counts and with another format."""
    dropped = []
    with zipfile.ZipFile(src_path) as src, zipfile.ZipFile(dst_path, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith(".npz") and drop_counts:
                buffer = io.BytesIO()
                with zipfile.ZipFile(io.BytesIO(data)) as inner, zipfile.ZipFile(buffer, "w") as out:
                    for member in inner.infolist():
                        if member.filename == "training_counts.npy":
                            dropped.append(member.filename)
                        else:
                            out.writestr(member, inner.read(member))
                data = buffer.getvalue()
            if info.filename == "manifest.json" and format_:
                data = data.replace(b"sk-emotion-model/3", format_.encode())
            dst.writestr(info, data)
    return dropped


def test_saved_models_keep_the_prior_and_older_files_still_load(fitted, clips, tmp_path):
    X, _ = clips
    model = clone(fitted).set_params(class_prior=np.array([0.1, 0.3, 0.6]))
    model.fit(*clips)
    path = save_model(model, tmp_path / "prior.skem")
    loaded = load_model(path)
    assert loaded.class_prior == [0.1, 0.3, 0.6]
    np.testing.assert_array_equal(loaded.module_.training_counts.numpy(), [12, 6, 6])
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X), atol=1e-6)
    # A current file must hold the counts: one without them is refused, naming the array.
    assert _rewrite(path, tmp_path / "cut.skem", drop_counts=True) == ["training_counts.npy"]
    with pytest.raises(ValueError, match="training_counts"):
        load_model(tmp_path / "cut.skem")
    # A file of the format before class priors (sk-emotion-model/2) has none: balanced classes stand in,
    # with a warning; the scores as trained are untouched.
    _rewrite(save_model(fitted, tmp_path / "plain.skem"), tmp_path / "old.skem", drop_counts=True,
             format_="sk-emotion-model/2")
    with pytest.warns(UserWarning, match="predates class priors"):
        old = load_model(tmp_path / "old.skem")
    np.testing.assert_array_equal(old.module_.training_counts.numpy(), [0, 0, 0])
    np.testing.assert_allclose(old.predict_proba(X), fitted.predict_proba(X), atol=1e-6)
    old.set_params(class_prior="uniform")  # against balanced classes: no shift at all
    np.testing.assert_allclose(old.predict_proba(X), fitted.predict_proba(X), atol=1e-6)


def test_partial_fit_adds_its_labels_and_a_failed_fit_leaves_no_half_fitted_model(clips):
    X, y = clips
    model = EmotionClassifier(max_epochs=1, random_state=0, train_split=None).fit(X, y)
    model.partial_fit(X[:2], y[:2])  # two more "a"
    np.testing.assert_array_equal(model.module_.training_counts.numpy(), [14, 6, 6])
    model.set_params(class_prior=[0.2, 0.3, 0.5])
    with pytest.raises(ValueError, match=r"2 positive frequencies, one per class of classes_ \['a', 'b'\]"):
        model.fit(X[y != "c"], y[y != "c"])  # two classes now: the prior no longer fits
    with pytest.raises(NotFittedError):
        model.predict(X)


def test_the_cli_gives_the_faces_prior_by_class_name(real_faces):
    from argparse import Namespace

    from sklearn.pipeline import Pipeline

    from sk_emotion import VideoFaceExtractor
    from sk_emotion.cli import _apply_class_prior

    X, _ = make_face_clips(real_faces, 14, n_frames=2, n_classes=2, stamp=bar_stamp, seed=2)
    labels = np.array(EMOTIONS * 2)
    clf = EmotionClassifier(max_epochs=1, random_state=0, train_split=None).fit(X, labels)
    assert clf.classes_.tolist() != list(EMOTIONS)  # sorted, not the weights' order
    pipe = Pipeline([("faces", VideoFaceExtractor()), ("clf", clf)])
    _apply_class_prior(Namespace(class_prior="faces"), pipe)
    frequencies = dict(zip(EMOTIONS, FaceResNetWeights.FERPLUS.meta["class_frequencies"]))
    assert clf.class_prior == [frequencies[c] for c in clf.classes_]
    three = EmotionClassifier(max_epochs=1, random_state=0, train_split=None).fit(X[:6], labels[:3].repeat(2))
    with pytest.raises(ValueError, match="--class-prior faces needs a model of the emotions"):
        _apply_class_prior(Namespace(class_prior="faces"), Pipeline([("faces", VideoFaceExtractor()),
                                                                     ("clf", three)]))


def test_timelines_keep_the_scores_as_trained_and_clips_take_the_declared_rule(real_faces):
    from sk_emotion.timeline import _resolve_model, timeline_classifier

    _, default = _resolve_model(None)
    assert default.class_prior is None and default.module_.prior_shift() is None
    faces = real_faces[:3, None]
    np.testing.assert_allclose(timeline_classifier().predict_proba(faces),
                               EmotionClassifier.from_pretrained(class_prior=None).predict_proba(faces), atol=1e-7)
    clips = EmotionClassifier.from_pretrained()
    assert clips.class_prior == FaceResNetWeights.FERPLUS.meta["zero_shot"]["class_prior"] == "uniform"


def test_an_exported_model_answers_with_its_prior(fitted, clips, tmp_path):
    from sk_emotion.export import OnnxEmotionClassifier, export_onnx, read_onnx_metadata

    X, _ = clips
    model = clone(fitted).set_params(class_prior="uniform")
    model.fit(*clips)
    path = export_onnx(model, tmp_path / "uniform.onnx")
    np.testing.assert_allclose(OnnxEmotionClassifier(path).predict_proba(X), model.predict_proba(X), atol=1e-5)
    # (1/3) / training frequencies (13, 7, 7) / 27, as log ratios centred: what the graph adds
    shift = -np.log(np.array([13, 7, 7]) / 27)
    np.testing.assert_allclose(read_onnx_metadata(path)["class_prior_shift"], shift - shift.mean(), atol=1e-5)


def test_a_pickle_from_before_class_priors_still_predicts(fitted, clips):
    import pickle

    X, _ = clips
    old = pickle.loads(pickle.dumps(fitted))
    # What a pickle written before class priors holds: no parameter, no buffers.
    del old.__dict__["class_prior"]
    del old.module_._buffers["training_counts"], old.module_._buffers["target_log_prior"]
    restored = pickle.loads(pickle.dumps(old))
    assert restored.class_prior is None
    np.testing.assert_allclose(restored.predict_proba(X), fitted.predict_proba(X), atol=1e-6)
