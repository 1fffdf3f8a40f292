"""One video's extraction (decode, detect, track, align, cache), and the process pool that runs many.

This is what runs in joblib's worker processes: everything here is picklable
and imports nothing heavy until a video is processed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..config import single_threaded_torch
from ..exceptions import DetectorError
from ..faces.cutting import FaceCutter, enough_faces
from ..faces.tracking import search_and_track
from ..identity import file_identity
from ..schema import REPORT
from ..video.decode import VideoDecodeError, VideoNotFoundError, check_video_path, read_frames
from ._cache import VideoCache
from ._inputs import Item

if TYPE_CHECKING:
    from ..faces.detectors import FrameDetector

__all__ = [
    "COLD_POOL_MIN_VIDEOS",
    "REPORT_COLUMNS",
    "Outcome",
    "Settings",
    "default_process_pool",
    "extract_one",
    "indexed",
    "pool_is_warm",
    "stop_workers_on_sigterm",
    "warm_worker",
]

#: Columns of the per-video report (:meth:`VideoFaceExtractor.transform_with_report`);
#: their one home is :data:`sk_emotion.schema.REPORT`.
REPORT_COLUMNS: tuple[str, ...] = REPORT.leading

#: Pixel value of the clip substituted for unreadable videos (mid-grey).
BLANK_VALUE = 128

@dataclass(frozen=True)
class Settings:
    """The extractor's validated settings: everything a worker needs; picklable.

    :meth:`VideoFaceExtractor.validated_settings
    <sk_emotion.estimators.extractor.VideoFaceExtractor.validated_settings>`
    builds it; the timeline uses it too.
    """

    n_frames: int
    cutter: FaceCutter
    detector: FrameDetector | None
    min_face_coverage: float
    search: str  # "track" (re-detection where the detector can) or "full"
    on_error: str
    cache_dir: str | None
    cache_key: str
    cache_settings: dict

    @property
    def channels(self) -> int:
        return self.cutter.channels

    @property
    def face_size(self) -> int:
        return self.cutter.face_size


@dataclass
class Outcome:
    faces: np.ndarray
    row: dict
    looked_up: bool = False
    hit: bool = False
    written: bool = False


@contextlib.contextmanager
def stop_workers_on_sigterm():
    """Make SIGTERM stop the worker pool as Ctrl-C does, then end the process as SIGTERM would.

    By default SIGTERM kills only the parent: joblib's workers and its
    resource tracker live on, keep writing cache entries and hold the
    parent's output open.  Raising KeyboardInterrupt in the parent lets
    joblib terminate them; videos already finished stay cached.  Only the
    main thread can install a handler; elsewhere nothing changes.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    received = []

    def handler(signum, frame):
        received.append(signum)
        raise KeyboardInterrupt("SIGTERM: stopping the extraction workers")

    signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        if received and previous in (signal.SIG_DFL, None):
            os.kill(os.getpid(), signal.SIGTERM)  # now that the workers are gone, die as asked


def _blank(s: Settings) -> np.ndarray:
    return np.full((s.n_frames, s.channels, s.face_size, s.face_size), BLANK_VALUE, np.uint8)


def _empty_row(name: str) -> dict:
    return {
        "path": name, "frames_in_video": 0, "frames_decoded": 0, "fps": float("nan"),
        "duration_s": float("nan"), "width": 0, "height": 0, "face_coverage": float("nan"),
        "frame_detected": None, "frame_tracked": None, "fallback_used": False, "cached": False, "error": None,
        "warning": None, "frame_times_s": None,
    }


def _describe(exc: BaseException) -> str:
    if isinstance(exc, VideoDecodeError):
        return exc.reason
    return f"{type(exc).__name__}: {exc}"


def _identity(item: Item, mode: str) -> str:
    if item.path is None:
        return item.identity
    # A pipe or a device is refused before hashing would consume it.
    check_video_path(item.path)
    try:
        return file_identity(item.path, mode)
    except FileNotFoundError:
        raise VideoNotFoundError(item.path, "no such file or directory") from None


def extract_one(item: Item, s: Settings, progress: Callable[[str, int, int], None] | None = None) -> Outcome:
    """Decode, detect, track and crop one video; never raises for a bad video.

    ``progress(stage, done, total)`` is called as the sampled frames are
    decoded and converted (see :func:`~sk_emotion.video.read_frames`).
    """
    row = _empty_row(item.name)
    if item.error is not None:
        row["error"] = item.error
        return Outcome(_blank(s), row)
    cache = VideoCache(s.cache_dir) if s.cache_dir is not None else None
    key = None
    looked_up = False
    try:
        if cache is not None:
            key = VideoCache.key(_identity(item, s.cache_key), s.cache_settings)
            hit = cache.load(key)
            looked_up = True
            expected = (s.n_frames, s.channels, s.face_size, s.face_size)
            if hit is not None and hit[0].shape == expected and hit[0].dtype == np.uint8:
                faces, cached_row = hit
                for column in ("warning", "frame_times_s"):  # entries written before the column existed
                    cached_row.setdefault(column, None)
                cached_row.update(path=item.name, cached=True, frames_decoded=0)
                return Outcome(faces, cached_row, looked_up=True, hit=True)
        if item.path is not None:
            clip = read_frames(item.path, s.n_frames, progress=progress)
            info = clip.info
            # A truncated file: its frames are real, sampled over the part that decodes; say so.
            row.update(frames_in_video=int(info.n_frames), frames_decoded=int(clip.n_decoded),
                       fps=float(info.fps), duration_s=float(info.duration_s), warning=clip.truncation,
                       frame_times_s=[float(t) for t in clip.timestamps_s])
            frames = clip.frames
        else:
            frames = item.frames
            row.update(frames_in_video=int(len(frames)))
        row.update(height=int(frames.shape[1]), width=int(frames.shape[2]))
        if s.detector is None:
            faces = s.cutter.resize_clip(frames)
        else:
            with single_threaded_torch():
                track = search_and_track(list(frames), s.detector, search=s.search)
            row["face_coverage"] = track.coverage
            row["frame_detected"] = [bool(v) for v in track.detected]
            row["frame_tracked"] = [bool(v) for v in track.tracked]
            n_found, n_sampled = int(track.detected.sum()), len(frames)
            if enough_faces(n_found, n_sampled, s.min_face_coverage):
                faces = s.cutter.cut_clip(frames, track.landmarks, track.boxes)
            else:
                # One false detection on a wall must not yield a confident answer.
                row["error"] = (f"no face found in {n_sampled - n_found} of {n_sampled} sampled frames "
                                f"(min_face_coverage={s.min_face_coverage:g})")
                faces = s.cutter.centre_clip(frames)
    except DetectorError:  # the extractor's setting, not this video: every video would fail alike
        raise
    except Exception as exc:  # one bad video must never lose the others
        row["error"] = _describe(exc)
        return Outcome(_blank(s), row, looked_up=looked_up)
    written = False
    if cache is not None and key is not None:
        # A video without faces is cached too (with its error): finding out
        # that it has none is the most expensive case.
        written = cache.store(key, faces, row)
    return Outcome(faces, row, looked_up=looked_up, written=written)


# ----------------------------------------------------------------- the pool
def indexed(index: int, item: Item, settings: Settings) -> tuple[int, Outcome]:
    return index, extract_one(item, settings)



#: A cold process pool (each worker starts Python, imports torch and loads the
#: detector: about 2 s on idle cores, 10 s on loaded ones) pays off only for
#: calls of at least this many videos (2 workers save about 0.05 s a video);
#: shorter calls run in this process.  A warm pool is always used.
COLD_POOL_MIN_VIDEOS = 40


def default_process_pool() -> bool:
    """Whether joblib would run the videos on its own loky processes (not Dask, not threads)."""
    from joblib.parallel import LokyBackend, get_active_backend

    backend, _ = get_active_backend(prefer="processes")
    return isinstance(backend, LokyBackend)


def pool_is_warm() -> bool:
    """Whether joblib's reusable loky pool has live workers, so that a call pays no start-up.

    Asked of the pool itself rather than remembered: idle workers leave after
    loky's timeout (300 s), and another caller may have shut the pool down.
    Where loky's internals differ from what this reads, the pool counts as
    cold (short calls then run in this process, which is never wrong).
    """
    from joblib.externals.loky import reusable_executor

    executor = getattr(reusable_executor, "_executor", None)
    try:
        return (executor is not None and not executor._flags.shutdown and executor._flags.broken is None
                and len(executor._processes) > 0)
    except AttributeError:
        return False


def warm_worker() -> None:
    """Run once in each new loky worker, before its first video.

    One torch thread (parallelism is across workers: two threads per worker
    on shared cores ran 5-10x slower), and the detector networks loaded now,
    so that loky's memory-leak watch, which takes its reference after the
    first task, does not count them as growth and recycle the worker.
    """
    import torch

    from ..nets.mtcnn import load_mtcnn

    torch.set_num_threads(1)
    load_mtcnn()
