"""scikit-learn's estimator contract, checked with the inputs these estimators take.

scikit-learn's ``check_estimator`` feeds 2-D tabular data, which a video
estimator rightly refuses; imbalanced-learn and tslearn meet the same
problem with their own input types and answer it with their own check
generators.  :func:`clip_checks` yields checks that exercise the same
contract (fit returns self, clone and pickle round trips, no side effects of
prediction, invariance to batch order and batch size, reproducibility with
``random_state`` and its use, labels and dtypes, clear errors on empty or NaN input) on
valid face clips ``(n_videos, n_frames, channels, 64, 64)`` for classifiers,
and on in-memory frame arrays ``(n_frames, height, width, 3)`` for the
extractor.

Each check takes ``(name, estimator, data)`` where ``data`` is a
:class:`CheckData`; the estimator passed is never modified (checks clone it).
"""

from __future__ import annotations

import copy
import pickle
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pytest
from sklearn.base import clone, is_classifier
from sklearn.exceptions import NotFittedError
from sklearn.utils._testing import create_memmap_backed_data

__all__ = ["CheckData", "clip_checks"]


@dataclass
class CheckData:
    """Valid inputs for one estimator: X (clips or frame arrays) and labels, if it takes any.

    ``learns`` says whether ``fit`` trains (the ONNX predictor only loads a
    file); ``separable`` whether X's classes carry evidence a model can learn
    (then the fitted model must beat chance on its training data).
    """

    X: np.ndarray | list
    y: np.ndarray | None = None
    learns: bool = True
    separable: bool = False


def _fitted(estimator, data: CheckData):
    return clone(estimator).fit(data.X, data.y)


def _outputs(estimator, X) -> dict[str, np.ndarray]:
    if is_classifier(estimator):
        return {"predict": estimator.predict(X), "predict_proba": estimator.predict_proba(X)}
    return {"transform": estimator.transform(X)}


def _assert_same_outputs(a: dict, b: dict, name: str, *, exact: bool = False) -> None:
    assert a.keys() == b.keys()
    for method in a:
        if exact or a[method].dtype.kind not in "f":
            np.testing.assert_array_equal(a[method], b[method], err_msg=f"{name}: {method}")
        else:
            np.testing.assert_allclose(a[method], b[method], atol=1e-5, err_msg=f"{name}: {method}")


def _subset(X, index):
    return [X[i] for i in index] if isinstance(X, list) else X[index]


# ----------------------------------------------------------------------------- checks
def check_fit_returns_self(name, estimator, data):
    model = clone(estimator)
    assert model.fit(data.X, data.y) is model, f"{name}.fit must return self"


def check_not_fitted_raises(name, estimator, data):
    if not is_classifier(estimator):
        pytest.skip("a stateless transformer predicts without fit, as scikit-learn allows")
    if not data.learns:
        pytest.skip("the ONNX predictor loads its file on first use; it is usable without fit")
    with pytest.raises(NotFittedError):
        clone(estimator).predict(data.X)


def check_params_round_trip_and_clone(name, estimator, data):
    params = estimator.get_params(deep=False)
    assert all(not key.startswith("_") for key in params), f"{name}: private names in get_params"
    rebuilt = type(estimator)(**params)
    for key, value in rebuilt.get_params(deep=False).items():
        assert value is params[key] or value == params[key], f"{name}: {key} changed through __init__"
    twin = clone(estimator)
    twin.set_params(**params)
    assert twin.get_params(deep=False).keys() == params.keys()
    fitted = _fitted(estimator, data)
    unfitted = set(vars(clone(estimator)))  # skorch sets history_ and initialized_ in __init__
    learned = {key for key in vars(fitted) if key.endswith("_") and not key.startswith("_")} - unfitted
    assert not learned & set(vars(clone(fitted))), f"{name}: a clone kept fitted attributes"
    assert clone(fitted).get_params(deep=False).keys() == params.keys()


def check_fit_is_reproducible(name, estimator, data):
    # Same parameters (random_state included), same data: same model.
    first = _outputs(_fitted(estimator, data), data.X)
    _assert_same_outputs(first, _outputs(_fitted(estimator, data), data.X), name)
    seed = estimator.get_params().get("random_state")
    if data.learns and isinstance(seed, int):
        # ... and random_state is used: another seed gives another model.
        other = _outputs(_fitted(clone(estimator).set_params(random_state=seed + 1), data), data.X)
        assert not np.allclose(first["predict_proba"], other["predict_proba"]), f"{name} ignores random_state"


def check_refit_forgets_the_previous_fit(name, estimator, data):
    model = clone(estimator).fit(data.X, data.y)
    first = _outputs(model, data.X)
    if data.learns and data.y is not None:
        half = len(data.y) // 2
        model.fit(_subset(data.X, np.arange(half)), data.y[:half])
    model.fit(data.X, data.y)
    _assert_same_outputs(first, _outputs(model, data.X), name)


def check_pickle_round_trip(name, estimator, data):
    fitted = _fitted(estimator, data)
    before = _outputs(fitted, data.X)
    restored = pickle.loads(pickle.dumps(fitted))
    _assert_same_outputs(before, _outputs(restored, data.X), name, exact=True)
    _assert_same_outputs(before, _outputs(copy.deepcopy(fitted), data.X), name, exact=True)


def check_prediction_has_no_side_effects(name, estimator, data):
    fitted = _fitted(estimator, data)
    _outputs(fitted, data.X)  # first use may load a file: that is not a side effect of prediction
    # Pickled state (as the estimator defines it) plus the identity of every attribute:
    # a loaded runtime session is not picklable but must not be replaced either.
    state = pickle.dumps(fitted), {key: id(value) for key, value in vars(fitted).items()}
    _outputs(fitted, data.X)
    after = pickle.dumps(fitted), {key: id(value) for key, value in vars(fitted).items()}
    assert after == state, f"{name}: predicting changed the estimator"


def check_batch_order_and_size_invariance(name, estimator, data):
    fitted = _fitted(estimator, data)
    whole = _outputs(fitted, data.X)
    order = np.random.default_rng(0).permutation(len(data.X))
    permuted = _outputs(fitted, _subset(data.X, order))
    _assert_same_outputs({k: v[order] for k, v in whole.items()}, permuted, name)
    for start in range(0, len(data.X), 3):
        part = _outputs(fitted, _subset(data.X, np.arange(start, min(start + 3, len(data.X)))))
        _assert_same_outputs({k: v[start:start + 3] for k, v in whole.items()}, part, name)


def check_input_containers_and_dtypes(name, estimator, data):
    fitted = _fitted(estimator, data)
    reference = _outputs(fitted, data.X)
    variants = {"memmap (read-only)": create_memmap_backed_data(data.X)}
    if isinstance(data.X, list):
        variants["tuple"] = tuple(data.X)
        variants["read-only arrays"] = [np.require(x, requirements="C") for x in data.X]
        for x in variants["read-only arrays"]:
            x.setflags(write=False)
    else:
        variants["float32"] = data.X.astype(np.float32)
        variants["float64"] = data.X.astype(np.float64)
        variants["list of clips"] = list(data.X)
    for label, X in variants.items():
        _assert_same_outputs(reference, _outputs(fitted, X), f"{name} ({label})")


def check_classifier_outputs(name, estimator, data):
    fitted = _fitted(estimator, data)
    proba = fitted.predict_proba(data.X)
    assert proba.shape == (len(data.X), len(fitted.classes_))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(fitted.predict(data.X), fitted.classes_[proba.argmax(axis=1)])
    assert fitted.score(data.X, fitted.predict(data.X)) == 1.0
    if data.learns:
        assert list(fitted.classes_) == sorted(set(data.y))
        if data.separable:
            chance = np.bincount(np.unique(data.y, return_inverse=True)[1]).max() / len(data.y)
            assert fitted.score(data.X, data.y) > chance + 0.2, f"{name} did not learn separable clips"


def check_classifier_label_types(name, estimator, data):
    if not data.learns:
        pytest.skip("the ONNX predictor's labels are fixed by its file")
    classes, codes = np.unique(data.y, return_inverse=True)
    for labels in (codes, codes.astype(np.int64) + 10, classes[codes].astype(object)):
        fitted = clone(estimator).fit(data.X, labels)
        assert set(fitted.predict(data.X)) <= set(labels)
        kind = fitted.predict(data.X).dtype.kind
        assert kind == "i" if np.asarray(labels).dtype.kind == "i" else kind in "OU", kind  # ints stay ints
    with pytest.raises(ValueError):
        clone(estimator).fit(data.X, data.y[:-1])  # one label short
    with pytest.raises(ValueError):
        clone(estimator).fit(data.X, np.c_[codes, codes])  # 2-D y


def check_bad_batches_raise_value_error(name, estimator, data):
    fitted = _fitted(estimator, data)
    method = fitted.predict if is_classifier(fitted) else fitted.transform
    empty = [] if isinstance(data.X, list) else data.X[:0]
    with pytest.raises(ValueError, match=r"(?i)empty|no video|0 videos"):
        method(empty)
    if not isinstance(data.X, list):
        nan = data.X[:1].astype(np.float32)
        nan[0, 0, 0, 0, 0] = np.nan
        with pytest.raises(ValueError, match="NaN"):
            method(nan)


def check_transformer_output(name, estimator, data):
    fitted = _fitted(estimator, data)
    out = fitted.transform(data.X)
    np.testing.assert_array_equal(clone(estimator).fit_transform(data.X, data.y), out)
    settings = fitted.validated_settings()  # "auto" sizes and colours resolved from the weights
    cutter = settings.cutter
    channels = 3 if cutter.color == "rgb" else 1
    assert out.shape == (len(data.X), settings.n_frames, channels, cutter.face_size, cutter.face_size)
    assert out.dtype == np.uint8


_COMMON = (
    check_fit_returns_self,
    check_not_fitted_raises,
    check_params_round_trip_and_clone,
    check_fit_is_reproducible,
    check_refit_forgets_the_previous_fit,
    check_pickle_round_trip,
    check_prediction_has_no_side_effects,
    check_batch_order_and_size_invariance,
    check_input_containers_and_dtypes,
    check_bad_batches_raise_value_error,
)
_CLASSIFIER = (check_classifier_outputs, check_classifier_label_types)
_TRANSFORMER = (check_transformer_output,)


def clip_checks(estimator) -> Iterator[Callable[[str, object, CheckData], None]]:
    """The checks that apply to ``estimator``: the common ones, then the classifier's or the transformer's.

    Parameters
    ----------
    estimator : estimator
        An unfitted estimator instance.

    Yields
    ------
    callable
        ``check(name, estimator, data)``.
    """
    yield from _COMMON + (_CLASSIFIER if is_classifier(estimator) else _TRANSFORMER)
