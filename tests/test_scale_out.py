"""Scale-out on a real local Dask cluster: extraction and grid search give the local results."""

import joblib
import numpy as np
import pytest
from _helpers import make_face_clips
from dask import distributed
from skimage import data
from sklearn.model_selection import GridSearchCV, PredefinedSplit

from sk_emotion import EmotionClassifier, VideoFaceExtractor
from sk_emotion.video import write_video

pytestmark = pytest.mark.slow  # starts a two-process Dask cluster


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None)
    with cluster, distributed.Client(cluster) as client:
        yield client


@pytest.fixture(scope="module")
def face_videos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("videos")
    photo = data.astronaut()[::2, ::2]
    paths = []
    for i in range(4):
        frames = np.stack([np.roll(photo, 4 * t + 3 * i, axis=1) for t in range(8)])
        paths.append(str(write_video(folder / f"clip{i}.avi", frames)))
    return paths


def _stamp(frames, label, rng):
    frames[:, 8 + 20 * label:14 + 20 * label, 8:56] = 255


def test_extraction_on_dask_equals_local(client, face_videos):
    local = VideoFaceExtractor(n_frames=4).fit_transform(face_videos)
    with distributed.get_task_stream(client) as tasks, joblib.parallel_config(backend="dask"):
        extractor = VideoFaceExtractor(n_frames=4, n_jobs=-1)
        remote, report = extractor.transform_with_report(face_videos)
    np.testing.assert_array_equal(remote, local)
    assert (report["face_coverage"] == 1.0).all()
    assert len(tasks.data) >= 1, "no task ran on the cluster"
    workers = {task["worker"] for task in tasks.data}
    assert workers <= set(client.scheduler_info()["workers"])


def test_grid_search_on_dask_equals_local(client, real_faces):
    X, y = make_face_clips(real_faces, 18, n_frames=3, n_classes=2, stamp=_stamp, seed=0)
    split = PredefinedSplit(np.r_[np.full(12, -1), np.zeros(6)])
    grid = {"temperature": [0.1, 1.0, 10.0]}

    def search():
        return GridSearchCV(EmotionClassifier(max_epochs=3, random_state=0), grid, cv=split, n_jobs=-1)

    local = search().fit(X, y)
    with distributed.get_task_stream(client) as tasks, joblib.parallel_config(backend="dask"):
        remote = search().fit(X, y)
    assert len(tasks.data) >= 3
    np.testing.assert_allclose(remote.cv_results_["mean_test_score"], local.cv_results_["mean_test_score"])
    assert remote.best_params_ == local.best_params_
    np.testing.assert_allclose(remote.predict_proba(X), local.predict_proba(X), atol=1e-6)
