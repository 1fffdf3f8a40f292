"""Shared fixtures: seeded generators, one torch thread, real face crops, a private cache folder."""

import numpy as np
import pytest
import torch
from _helpers import load_real_faces


@pytest.fixture(autouse=True)
def _seed():
    np.random.seed(0)  # noqa: NPY002 - the legacy global RNG, for code that still uses it
    torch.manual_seed(0)


@pytest.fixture(scope="module")
def one_torch_thread():
    """MTCNN runs single-threaded, as in the extractor (several times faster on shared CPUs)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def real_faces() -> np.ndarray:
    """64x64 gray face crops of real photos shipped by insightface and scikit-image."""
    return load_real_faces()


@pytest.fixture
def private_home(tmp_path, monkeypatch):
    """The package's cache folder (SK_EMOTION_HOME) in the test's own temporary folder."""
    home = tmp_path / "home"
    monkeypatch.setenv("SK_EMOTION_HOME", str(home))
    return home
