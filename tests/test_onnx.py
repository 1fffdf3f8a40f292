"""ONNX export and the onnxruntime predictor: equality with torch, metadata, scikit-learn use, errors."""

from pathlib import Path

import numpy as np
import onnx
import pytest
from _helpers import to_float
from sklearn.base import is_classifier
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils.validation import check_is_fitted

from sk_emotion import EmotionClassifier, Explanation, __version__
from sk_emotion.export import OnnxEmotionClassifier, export_onnx, read_onnx_metadata
from sk_emotion.export.format import FORMAT_VERSION, METADATA_PREFIX, OUTPUT_NAMES

ATOL = 1e-4

# name -> (estimator parameters, labels); None parameters mean from_pretrained().
CONFIGS = {
    "attention-softmax": (dict(temperature=0.5), ["happy", "sad"]),
    "avg-mean": (dict(spatial_pooling="avg", temporal_pooling="mean"), [0, 2, 5]),
    "attention-max": (dict(temporal_pooling="max"), ["happy", "sad"]),
    "attention-lstm": (dict(temporal_pooling="lstm"), ["angry", "happy", "sad"]),
    "2heads-stage3-learned-T": (
        dict(n_heads=2, feature_stage=3, learn_temperature=True, temperature=2.0), ["happy", "sad"]),
    "pretrained": (None, None),
}


def _clips(n, t, *, seed=0, channels=None):
    rng = np.random.default_rng(seed)
    shape = (n, t, 64, 64) if channels is None else (n, t, channels, 64, 64)
    return rng.integers(0, 256, shape, dtype=np.uint8)


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    """``build(name)``: a tiny fitted model (or the pretrained one) and its ONNX file, made once."""
    made = {}

    def build(name):
        if name not in made:
            params, labels = CONFIGS[name]
            if params is None:
                clf = EmotionClassifier.from_pretrained()
            else:
                y = np.array(labels * (12 // len(labels)))
                clf = EmotionClassifier(max_epochs=2, random_state=0, **params).fit(_clips(len(y), 4), y)
            # A str path on purpose: export_onnx takes str and path-like.
            made[name] = clf, export_onnx(clf, str(tmp_path_factory.mktemp("onnx") / f"{name}.onnx"))
        return made[name]

    return build


@pytest.fixture(scope="module", params=list(CONFIGS))
def exported(request, build):
    clf, path = build(request.param)
    return clf, path, OnnxEmotionClassifier(path)


@pytest.fixture(scope="module")
def default_export(build):
    return build("attention-softmax")


# ------------------------------------------------------------------------- equality
def test_outputs_equal_torch_for_batch_sizes_and_frame_counts(exported):
    clf, _, onnx_clf = exported
    # Batch sizes 1 and 5, frame counts 1, 8 and 16 (the export traced 2 clips of 16 frames).
    for n, t in [(1, 1), (5, 8), (1, 16)]:
        X = _clips(n, t, seed=10 * n + t)
        want, got = clf.explain(X), onnx_clf.explain(X, batch_size=2)
        np.testing.assert_allclose(onnx_clf.predict_proba(X), want.probabilities, atol=ATOL, rtol=0)
        assert isinstance(got, Explanation)
        np.testing.assert_array_equal(got.classes, want.classes)
        np.testing.assert_array_equal(got.labels, want.labels)
        for field in ("probabilities", "frame_probabilities", "temporal_weights",
                      "class_temporal_weights", "attention_maps"):
            a, b = getattr(got, field), getattr(want, field)
            assert a.shape == b.shape, field
            np.testing.assert_allclose(a, b, atol=ATOL, rtol=0, err_msg=field)


def test_rgb_and_float_input_match_torch(default_export):
    clf, path = default_export
    onnx_clf = OnnxEmotionClassifier(path, batch_size=None)
    rgb = _clips(3, 5, channels=3)
    np.testing.assert_allclose(onnx_clf.predict_proba(rgb), clf.predict_proba(rgb), atol=ATOL, rtol=0)
    gray = to_float(_clips(3, 5))
    np.testing.assert_allclose(onnx_clf.predict_proba(gray), clf.predict_proba(gray), atol=ATOL, rtol=0)


# ------------------------------------------------------------------------- metadata
def test_metadata_round_trip(exported):
    clf, path, onnx_clf = exported
    meta = read_onnx_metadata(path)
    np.testing.assert_array_equal(meta["classes"], clf.classes_)
    assert meta["classes"].dtype == clf.classes_.dtype
    np.testing.assert_array_equal(onnx_clf.classes_, clf.classes_)
    assert onnx_clf.classes_.dtype == clf.classes_.dtype
    assert meta["version"] == __version__
    assert meta["input_size"] == (64, 64) and meta["input_color"] == "gray"
    assert meta["rgb_to_gray"] == [0.299, 0.587, 0.114]
    assert meta["spatial_pooling"] == clf.module_.spatial_pooling
    assert meta["temporal_pooling"] == clf.module_.temporal_pooling
    if clf.module_.temporal_pooling in ("softmax", "expressive"):
        assert meta["temperature"] == pytest.approx(float(clf.module_.temporal.log_temperature.detach().exp()))
    else:
        assert meta["temperature"] is None
    assert meta["n_frames_in"] == clf.n_frames_in_
    shift = clf.module_.prior_shift()  # the pretrained model's uniform class prior; none for the others
    assert (shift is None) == (clf.class_prior is None)
    if shift is not None:
        np.testing.assert_allclose(meta["class_prior_shift"], shift.numpy(), atol=1e-6)
    else:
        assert meta["class_prior_shift"] is None
    assert onnx_clf.metadata_["outputs"] == list(OUTPUT_NAMES)


def test_graph_signature_is_dynamic_float32_gray(default_export):
    clf, path = default_export
    model = onnx.load(str(path))
    (graph_input,) = model.graph.input
    tensor = graph_input.type.tensor_type
    assert tensor.elem_type == onnx.TensorProto.FLOAT
    dims = [d.dim_param or d.dim_value for d in tensor.shape.dim]
    assert dims == ["batch", "frames", 1, 64, 64]
    assert [o.name for o in model.graph.output] == list(OUTPUT_NAMES)
    assert str(clf.classes_.tolist()) in model.doc_string


def test_export_leaves_the_estimator_unchanged(default_export):
    clf, _ = default_export
    X = _clips(2, 3)
    before = clf.predict_proba(X)
    clf.module_.train()
    export_onnx(clf, default_export[1].parent / "again.onnx", n_frames=3, opset=13)
    assert clf.module_.training
    clf.module_.eval()
    np.testing.assert_array_equal(clf.predict_proba(X), before)


# ------------------------------------------------------------------- scikit-learn use
# Pickle and clone round trips: the ONNX case of test_estimator_checks.py.
def test_session_is_opened_lazily_and_never_pickled(default_export):
    _, path = default_export
    onnx_clf = OnnxEmotionClassifier(path, batch_size=4, n_threads=1)
    assert not hasattr(onnx_clf, "_ort_session")  # nothing opened in __init__
    onnx_clf.predict_proba(_clips(6, 4))  # opens the session
    assert not any(key.startswith("_ort") for key in onnx_clf.__getstate__())


def test_pipeline_after_a_transformer(default_export):
    clf, path = default_export
    assert isinstance(path, Path)
    X, y = _clips(6, 4), np.array(["happy", "sad"] * 3)
    pipe = make_pipeline(FunctionTransformer(to_float), OnnxEmotionClassifier(path))
    np.testing.assert_array_equal(pipe.predict(X), clf.predict(X))  # usable without fit
    np.testing.assert_array_equal(pipe.classes_, clf.classes_)
    before = pipe.predict_proba(X)
    assert pipe.fit(X, y) is pipe  # fit loads, never trains
    np.testing.assert_array_equal(pipe.predict_proba(X), before)
    assert pipe.score(X, y) == pytest.approx(np.mean(clf.predict(X) == y))
    assert is_classifier(pipe[-1])
    check_is_fitted(OnnxEmotionClassifier(path))


# ---------------------------------------------------------------------------- errors
def test_missing_file_names_the_path(tmp_path):
    missing = tmp_path / "nowhere" / "model.onnx"
    onnx_clf = OnnxEmotionClassifier(missing)  # __init__ only stores
    for call in (lambda: onnx_clf.predict(_clips(1, 2)), onnx_clf.fit, lambda: read_onnx_metadata(missing)):
        with pytest.raises(FileNotFoundError, match="model.onnx"):
            call()


def test_wrong_input_shape_and_bad_parameters(default_export):
    _, path = default_export
    onnx_clf = OnnxEmotionClassifier(path)
    with pytest.raises(ValueError, match=r"got shape \(2, 4, 32, 32\)"):
        onnx_clf.predict(np.zeros((2, 4, 32, 32), np.uint8))
    with pytest.raises(ValueError, match="2 channels|channels"):
        onnx_clf.predict_proba(np.zeros((2, 4, 2, 64, 64), np.uint8))
    with pytest.raises(ValueError, match="NaN"):
        onnx_clf.predict(np.full((1, 2, 64, 64), np.nan, np.float32))
    with pytest.raises(ValueError, match="batch_size"):
        onnx_clf.explain(_clips(1, 2), batch_size=0)
    with pytest.raises(ValueError, match="n_threads"):
        OnnxEmotionClassifier(path, n_threads=-1).predict(_clips(1, 2))


def test_foreign_onnx_file_is_rejected(tmp_path):
    node = onnx.helper.make_node("Identity", ["x"], ["y"])
    value = onnx.helper.make_tensor_value_info
    graph = onnx.helper.make_graph([node], "g", [value("x", onnx.TensorProto.FLOAT, [1])],
                                   [value("y", onnx.TensorProto.FLOAT, [1])])
    path = tmp_path / "foreign.onnx"
    onnx.save(onnx.helper.make_model(graph), str(path))
    with pytest.raises(ValueError, match="not written by sk_emotion.export_onnx"):
        OnnxEmotionClassifier(path).predict(_clips(1, 2))
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(ValueError, match="junk.onnx"):
        OnnxEmotionClassifier(tmp_path / "junk.onnx").fit()


def test_a_file_from_a_newer_metadata_format_is_refused(default_export, tmp_path):
    _, path = default_export
    model = onnx.load(str(path))
    for entry in model.metadata_props:
        if entry.key == METADATA_PREFIX + "format_version":
            entry.value = str(FORMAT_VERSION + 1)
    newer = tmp_path / "newer.onnx"
    onnx.save(model, str(newer))
    with pytest.raises(ValueError, match=rf"newer.onnx' uses sk-emotion ONNX metadata format {FORMAT_VERSION + 1}"):
        OnnxEmotionClassifier(newer).fit()


def test_export_errors(default_export, tmp_path):
    clf, _ = default_export
    with pytest.raises(NotFittedError, match="nothing to export"):
        export_onnx(EmotionClassifier(), tmp_path / "m.onnx")
    with pytest.raises(TypeError, match="EmotionClassifier"):
        export_onnx(make_pipeline(clf), tmp_path / "m.onnx")
    for opset in (11, 99, 17.0):
        with pytest.raises(ValueError, match="opset must be an integer from 12"):
            export_onnx(clf, tmp_path / "m.onnx", opset=opset)
    with pytest.raises(ValueError, match="n_frames"):
        export_onnx(clf, tmp_path / "m.onnx", n_frames=0)
    assert not list(tmp_path.iterdir())  # nothing written on failure


def test_exporter_failure_and_failed_check_raise_runtime_error(default_export, tmp_path, monkeypatch):
    import sk_emotion.export.exporter as module

    clf, _ = default_export

    def broken_export(*args, **kwargs):
        raise RuntimeError("operator not supported")

    with monkeypatch.context() as patch:
        patch.setattr(module.torch.onnx, "export", broken_export)
        with pytest.raises(RuntimeError, match="attention/softmax network to ONNX opset 17: operator not"):
            export_onnx(clf, tmp_path / "m.onnx")
    monkeypatch.setattr(module, "_VERIFY_ATOL", -1.0)  # any difference now counts as a failure
    with pytest.raises(RuntimeError, match="differs from the network on probabilities"):
        export_onnx(clf, tmp_path / "m.onnx", n_frames=2)
    assert not list(tmp_path.iterdir())


def test_to_onnx_method_and_top_level_exports(default_export, tmp_path):
    import sk_emotion

    clf, _ = default_export
    path = clf.to_onnx(tmp_path / "method.onnx", n_frames=2)
    assert path == tmp_path / "method.onnx"
    assert sk_emotion.OnnxEmotionClassifier is OnnxEmotionClassifier
    assert sk_emotion.export_onnx is export_onnx
    np.testing.assert_array_equal(sk_emotion.OnnxEmotionClassifier(path).classes_, clf.classes_)


# A predictor deployed without torch: every import of torch or skorch fails in the child.
_NO_TORCH_SCRIPT = """
import sys

class _NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "skorch"):
            raise ImportError(f"{name} is not installed in this deployment")

sys.meta_path.insert(0, _NoTorch())
import numpy as np
from sk_emotion.export import OnnxEmotionClassifier

clf = OnnxEmotionClassifier(sys.argv[1])
np.save(sys.argv[3], clf.predict_proba(np.load(sys.argv[2])))
print(sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "skorch", "cv2", "av")))
"""


def test_predictor_runs_where_torch_cannot_be_imported(default_export, tmp_path):
    import subprocess
    import sys

    clf, path = default_export
    X = _clips(3, 6, seed=7)
    np.save(tmp_path / "X.npy", X)
    result = subprocess.run(
        [sys.executable, "-c", _NO_TORCH_SCRIPT, str(path), str(tmp_path / "X.npy"), str(tmp_path / "p.npy")],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"  # nothing heavy was imported
    np.testing.assert_allclose(np.load(tmp_path / "p.npy"), clf.predict_proba(X), atol=ATOL)
