"""Whether the extractor's worker pool is warm is asked of the pool, not remembered by transform."""

from __future__ import annotations

import os

from joblib import Parallel, delayed
from joblib.externals.loky import get_reusable_executor

from sk_emotion.estimators._extraction import pool_is_warm


def test_the_pool_is_warm_while_its_workers_live():
    get_reusable_executor().shutdown(wait=True)
    assert not pool_is_warm()
    pids = Parallel(n_jobs=2, prefer="processes")(delayed(os.getpid)() for _ in range(4))
    assert os.getpid() not in pids and pool_is_warm()
    get_reusable_executor().shutdown(wait=True)  # as loky's idle timeout does, worker by worker
    assert not pool_is_warm()
