"""Declarative validation: the pooling registries, the temperature rule, scikit-learn's private API in one place."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
import sklearn
import torch
from packaging.requirements import Requirement
from torch import nn

from sk_emotion import EmotionClassifier
from sk_emotion._sklearn_compat import InvalidParameterError
from sk_emotion.nets.registry import Registry
from sk_emotion.nets.spatial import SPATIAL_POOLINGS, register_spatial_pooling
from sk_emotion.nets.temporal import (
    TEMPERATURE,
    TEMPORAL_POOLINGS,
    ExpressivePooling,
    SoftmaxPooling,
    register_temporal_pooling,
)

ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------ registries
class _Base(nn.Module):
    name = ""


def test_a_registry_registers_lists_checks_and_builds():
    registry = Registry("block", _Base, aliases=("auto",))

    @registry.register
    class Scaled(_Base):
        name = "scaled"

        def __init__(self, factor: float = 1.0) -> None:
            super().__init__()
            self.factor = factor

    assert registry == {"scaled": Scaled} and registry.options == ("auto", "scaled")
    assert registry.check("auto") == "auto" and registry.check("scaled") == "scaled"
    with pytest.raises(ValueError, match=re.escape("block must be one of ['auto', 'scaled'], got 'big'")):
        registry.check("big")
    built = registry.build("scaled", factor=2.0, unrelated=3)  # each class takes what it accepts
    assert isinstance(built, Scaled) and built.factor == 2.0
    with pytest.raises(ValueError, match=re.escape("block must be one of ['scaled'], got 'auto'")):
        registry.build("auto")  # an alias is resolved before building
    with pytest.raises(TypeError, match="must be a _Base subclass with a 'name'"):
        registry.register(nn.Identity)


def test_the_pooling_registries_are_registries_of_their_base_class():
    assert SPATIAL_POOLINGS.options == ("avg", "attention")
    assert TEMPORAL_POOLINGS.options[0] == "auto" and {"softmax", "expressive"} <= set(TEMPORAL_POOLINGS)
    assert register_spatial_pooling == SPATIAL_POOLINGS.register
    assert register_temporal_pooling == TEMPORAL_POOLINGS.register
    with pytest.raises(TypeError, match="TemporalPooling subclass"):
        register_temporal_pooling(type("Wrong", (SPATIAL_POOLINGS.base,), {"name": "wrong"}))
    # The estimator's constraints are the registries' options.
    constraints = EmotionClassifier()._parameter_constraints
    for option, registry in (("spatial_pooling", SPATIAL_POOLINGS), ("temporal_pooling", TEMPORAL_POOLINGS)):
        (names,) = constraints[option]
        assert names.options == set(registry.options)


# ------------------------------------------------------------------ the temperature
@pytest.mark.parametrize("value", [0.2, 1, np.float32(0.35), 1e6])
def test_the_temperature_rule_accepts_positive_finite_numbers(value):
    assert TEMPERATURE.is_satisfied_by(value)
    assert SoftmaxPooling(temperature=value).temperature == pytest.approx(float(value), rel=1e-6)


@pytest.mark.parametrize("value", [0, -0.1, math.inf, math.nan, True, "0.2"])
def test_the_temperature_rule_is_one_rule(value):
    assert not TEMPERATURE.is_satisfied_by(value)
    expected = "'temperature' parameter of {} must be {}a float in the range (0.0, inf)"
    # The network ...
    with pytest.raises(InvalidParameterError, match=re.escape(expected.format("SoftmaxPooling", ""))):
        SoftmaxPooling(temperature=value)
    pooling = ExpressivePooling(["happy", "neutral"])
    with pytest.raises(InvalidParameterError, match=re.escape(expected.format("ExpressivePooling", ""))):
        pooling.set_temperature(value)
    assert pooling.temperature == pytest.approx(ExpressivePooling.default_temperature)
    # ... and the estimator, before it builds one.
    X = np.zeros((2, 2, 64, 64), np.uint8)
    with pytest.raises(InvalidParameterError, match=re.escape(expected.format("EmotionClassifier", "None or "))):
        EmotionClassifier(temperature=value, max_epochs=1).fit(X, ["happy", "sad"])


def test_a_fitted_model_refuses_a_bad_temperature_before_changing(real_faces):
    clf = EmotionClassifier.from_pretrained(temperature=0.3)
    with pytest.raises(InvalidParameterError, match="EmotionClassifier must be None or a float"):
        clf.set_params(temperature=math.inf)
    assert clf.temperature == 0.3 and clf.module_.temporal.temperature == pytest.approx(0.3)
    clf.set_params(temperature=None)  # the pooling's default
    assert clf.module_.temporal.temperature == pytest.approx(ExpressivePooling.default_temperature)
    with torch.inference_mode():
        assert clf.predict_proba(real_faces[:2, None]).shape == (2, 7)


# ------------------------------------------------------------------ scikit-learn's private API
def test_the_installed_scikit_learn_satisfies_the_declared_range():
    # The first requirement naming it is the dependency (the extras come after); tomllib needs Python 3.11.
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    declared = Requirement(re.search(r'^\s*"(scikit-learn[^"]*)",', text, flags=re.MULTILINE).group(1))
    assert any(spec.operator == "<" for spec in declared.specifier), "the private API needs an upper bound"
    assert declared.specifier.contains(sklearn.__version__), (sklearn.__version__, str(declared.specifier))


# Modules that still import it themselves: each is to import sk_emotion._sklearn_compat instead.
_NOT_YET_MOVED: set[str] = set()


def test_scikit_learn_s_private_validation_is_imported_in_one_place():
    importers = {str(path.relative_to(ROOT)) for path in (ROOT / "sk_emotion").rglob("*.py")
                 if "sklearn.utils._param_validation" in path.read_text(encoding="utf-8")}
    assert importers - _NOT_YET_MOVED == {"sk_emotion/_sklearn_compat.py"}


# ------------------------------------------------------------------ public functions
def _calls():
    import pandas as pd

    from sk_emotion.export import OnnxEmotionClassifier, export_onnx, read_onnx_metadata
    from sk_emotion.pipeline import make_emotion_pipeline, predict_table
    from sk_emotion.viz import plot_confusion_matrix, plot_explanation, plot_timeline, upsample_map
    from sk_emotion.viz.timeline import class_colours

    windows = pd.DataFrame({"person": [0], "start_s": [0.0], "end_s": [2.0], "label": ["happy"], "p_happy": [1.0]})
    return [
        (lambda: make_emotion_pipeline(cache=3), "'cache' parameter of make_emotion_pipeline"),
        (lambda: make_emotion_pipeline(classifier=[("temperature", 0.2)]), "'classifier' parameter"),
        (lambda: predict_table(EmotionClassifier(), ["a.mp4"]), "'model' parameter of predict_table must be an"
                                                                 " instance of 'sklearn.pipeline.Pipeline'"),
        (lambda: predict_table(make_emotion_pipeline(cache=False), ["a.mp4"], return_frames="yes"),
         "'return_frames' parameter of predict_table"),
        (lambda: plot_confusion_matrix(["a"], ["a"], normalize="rows"), "'normalize' parameter"),
        (lambda: plot_explanation(np.zeros((2, 64, 64)), explanation="x"), "'explanation' parameter"),
        (lambda: upsample_map(np.ones((2, 2)), size=3), "'size' parameter of upsample_map"),
        (lambda: class_colours("happy"), "'classes' parameter of class_colours"),
        (lambda: plot_timeline(windows, title=3), "'title' parameter of plot_timeline"),
        (lambda: export_onnx(EmotionClassifier(), "m.onnx", n_frames=True), "'n_frames' parameter of export_onnx"),
        (lambda: read_onnx_metadata(3), "'path' parameter of read_onnx_metadata"),
        (lambda: OnnxEmotionClassifier("m.onnx", batch_size=True).fit(), "'batch_size' parameter"),
        (lambda: OnnxEmotionClassifier("m.onnx", n_threads=-1).fit(), "'n_threads' parameter"),
        (lambda: OnnxEmotionClassifier(3).fit(), "'path' parameter of OnnxEmotionClassifier"),
    ]


@pytest.mark.parametrize(("call", "message"), _calls(), ids=[message for _, message in _calls()])
def test_public_functions_validate_their_parameters_declaratively(call, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing is written, but a path may be tried
    with pytest.raises(InvalidParameterError, match=re.escape(message)):
        call()
