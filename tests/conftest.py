"""Shared fixtures: seeded generators and small face clips built from real face crops."""

from pathlib import Path

import numpy as np
import pytest
import torch

DATA = Path(__file__).parent / "data"


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
    reference = np.load(DATA / "keras_mini_xception_reference.npz")
    keep = [i for i, kind in enumerate(reference["kinds"]) if str(kind).startswith("face")]
    return reference["images"][keep]


def make_face_clips(faces, n, *, n_frames, n_classes, stamp, seed, noise=10.0):
    """Clips of a real face with lighting and noise changes, stamped with class evidence.

    ``stamp(frames, label, rng)`` edits the float frames of one clip in place.
    """
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_classes, n)
    clips = np.empty((n, n_frames, 64, 64), np.float32)
    for i in range(n):
        base = faces[rng.integers(len(faces))].astype(np.float32)
        gains = rng.uniform(0.7, 1.1, n_frames)[:, None, None]
        clips[i] = base * gains + rng.normal(0, noise, (n_frames, 64, 64))
        stamp(clips[i], labels[i], rng)
    names = np.array(["angry", "happy", "sad", "surprise"])[:n_classes]
    return np.clip(clips, 0, 255).astype(np.uint8), names[labels]
