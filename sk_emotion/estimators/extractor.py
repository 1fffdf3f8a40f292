"""``VideoFaceExtractor``: face videos in, aligned face clips out, as a scikit-learn transformer."""

from __future__ import annotations

import contextlib
import math
import numbers
import os
import signal
import threading
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from .._version import __version__
from ..faces.align import align_face, crop_box, template_points
from ..faces.detectors import make_detector
from ..faces.tracking import Track, search_and_track
from ..video.decode import VideoDecodeError, VideoNotFoundError, read_frames, sample_array_frames
from ._cache import CacheInfo, VideoCache, array_identity, file_identity_for_cache

__all__ = ["ExtractionError", "ExtractionWarning", "REPORT_COLUMNS", "VideoFaceExtractor"]

#: Columns of the per-video report (:attr:`VideoFaceExtractor.report_`).
REPORT_COLUMNS: tuple[str, ...] = (
    "path",
    "frames_in_video",
    "frames_decoded",
    "fps",
    "duration_s",
    "width",
    "height",
    "face_coverage",
    "frame_detected",
    "frame_tracked",
    "fallback_used",
    "cached",
    "error",
)

#: Context added around a detector box when a frame has no landmarks.  The
#: FER2013 template square is 0.92 of MTCNN's box side (median over 133 faces,
#: IQR 0.86-0.97) and centred on it, hence a slightly tighter square.
_BOX_MARGIN = -0.04

#: Pixel value of the clip substituted for unreadable videos (mid-grey).
BLANK_VALUE = 128

_COLORS = ("gray", "rgb")
_SEARCHES = ("auto", "track", "full")
_ON_ERROR = ("raise", "fallback")
_CACHE_KEYS = ("stat", "content")

class ExtractionError(ValueError):
    """Some videos of a batch failed; the others were processed (and cached).

    Raised by :meth:`VideoFaceExtractor.transform` with ``on_error="raise"``
    after every video was processed.  The message lists each failed video
    with its reason.

    Parameters
    ----------
    failures : list of (str, str)
        ``(path, reason)`` of each failed video, in input order.
    results : numpy.ndarray or None
        The whole output batch; rows of failed videos hold what
        ``on_error="fallback"`` would have substituted.
    report : pandas.DataFrame or None
        The per-video report (see :attr:`VideoFaceExtractor.report_`);
        failed videos have a non-null ``error``.

    Attributes
    ----------
    failures : list of (str, str)
    results : numpy.ndarray or None
    report : pandas.DataFrame or None
    failed_indices : list of int
        Positions of the failed videos in the input.
    """

    def __init__(self, failures: Sequence[tuple[str, str]], results: np.ndarray | None = None,
                 report: pd.DataFrame | None = None) -> None:
        self.failures = [(str(p), str(r)) for p, r in failures]
        self.results = results
        self.report = report
        if report is not None:
            self.failed_indices = [int(i) for i in np.flatnonzero(report["error"].notna().to_numpy())]
        else:
            self.failed_indices = []
        n_total = len(report) if report is not None else len(self.failures)
        lines = "\n".join(f"  - '{p}': {r}" for p, r in self.failures)
        super().__init__(
            f"{len(self.failures)} of {n_total} videos failed (the others were processed; "
            f"see .results and .report, or pass on_error='fallback'):\n{lines}"
        )

    def __reduce__(self):
        return (type(self), (self.failures, self.results, self.report))


class ExtractionWarning(UserWarning):
    """Videos were substituted under ``on_error="fallback"``."""


# ------------------------------------------------------------------ inputs
@dataclass
class _Item:
    """One input video: a path or an in-memory clip."""

    name: str  # the path, or "<array i>"
    path: str | None = None
    frames: np.ndarray | None = None  # sampled frames of an array input
    identity: str | None = None  # cache identity of an array input
    error: str | None = None  # input problem found while reading X


def _is_pathlike(value: Any) -> bool:
    return isinstance(value, (str, os.PathLike))


def _item_from_array(value: Any, i: int, n_frames: int, want_identity: bool) -> _Item:
    name = f"<array {i}>"
    try:
        clip = sample_array_frames(value, n_frames)
    except ValueError as exc:
        return _Item(name, error=f"invalid frame array: {exc}")
    identity = array_identity(np.asarray(value)) if want_identity else None
    return _Item(name, frames=clip.frames, identity=identity)


def _items(X: Any, path_column: str, n_frames: int, want_identity: bool) -> list[_Item]:
    """Turn every supported form of ``X`` into a list of :class:`_Item`."""
    if _is_pathlike(X):
        raise TypeError(
            f"X must be a collection of videos, got a single {type(X).__name__} {os.fspath(X)!r}; "
            "wrap it in a list: transform([path])"
        )
    if isinstance(X, pd.DataFrame):
        if path_column not in X.columns:
            raise ValueError(
                f"X is a DataFrame without the column path_column={path_column!r}; "
                f"its columns are {list(X.columns)}"
            )
        values = list(X[path_column])
    elif isinstance(X, pd.Series):
        values = list(X)
    elif isinstance(X, np.ndarray):
        if X.dtype != object and X.dtype.kind not in "US":
            if X.ndim != 5 or X.shape[-1] != 3 or X.dtype != np.uint8:
                raise ValueError(
                    "a numeric X must be a batch of clips shaped (n_videos, T, H, W, 3) with "
                    f"dtype uint8 (RGB frames); got shape {X.shape} dtype {X.dtype}"
                    + ("; for a single clip pass X[None]" if X.ndim == 4 else "")
                )
            return [_item_from_array(clip, i, n_frames, want_identity) for i, clip in enumerate(X)]
        if X.ndim != 1:
            raise ValueError(f"an array of paths must be 1-d, got shape {X.shape}")
        values = list(X)
    elif isinstance(X, (list, tuple)):
        values = list(X)
    else:
        raise TypeError(
            "X must be a list, tuple, array or pandas Series of video paths or frame arrays, "
            f"a DataFrame with a {path_column!r} column, or a (n_videos, T, H, W, 3) uint8 array; "
            f"got {type(X).__name__}"
        )
    if not values:
        raise ValueError("X is empty: expected at least one video")
    items = []
    for i, value in enumerate(values):
        if _is_pathlike(value):
            path = os.fspath(value)
            items.append(_Item(path, path=path))
        elif isinstance(value, np.ndarray) or (isinstance(value, (list, tuple)) and value):
            items.append(_item_from_array(np.asarray(value), i, n_frames, want_identity))
        else:
            raise TypeError(
                f"X[{i}] must be a video path or a (T, H, W, 3) uint8 frame array, "
                f"got {type(value).__name__} {value!r}"
            )
    return items


# ----------------------------------------------------------- per video work
@dataclass
class _Settings:
    """Everything a worker needs; picklable."""

    n_frames: int
    face_size: int
    color: str
    template: Any
    margin: float
    min_face_size: float
    min_face_coverage: float
    search: str
    on_error: str
    cache_dir: str | None
    cache_key: str
    cache_settings: dict

    @property
    def channels(self) -> int:
        return 1 if self.color == "gray" else 3


@dataclass
class _Outcome:
    faces: np.ndarray
    row: dict
    looked_up: bool = False
    hit: bool = False
    written: bool = False


@contextlib.contextmanager
def _single_threaded_torch():
    """Run torch on one thread (restored afterwards): parallelism is across videos.

    Detection networks on small images gain little from intra-op threads and
    lose a lot when cores are shared (threads spin-waiting on each other).
    """
    import torch

    previous = torch.get_num_threads()
    if previous == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _caller_stacklevel() -> int:
    """``stacklevel`` that points a warning at the user's line, past sklearn's wrappers and ours."""
    import sys

    frame, level = sys._getframe(1), 1
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if not module.startswith(("sk_emotion.", "sklearn.")) and module != "sk_emotion":
            return level
        frame, level = frame.f_back, level + 1
    return 1


@contextlib.contextmanager
def _stop_workers_on_sigterm():
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


def _to_color(frames: np.ndarray, color: str) -> np.ndarray:
    """(T, H, W, 3) RGB -> (T, H, W, C) with ITU-R BT.601 luma for gray."""
    if color == "rgb":
        return frames
    return np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames])[..., None]


def _resize(frame: np.ndarray, size: int) -> np.ndarray:
    h, w = frame.shape[:2]
    interp = cv2.INTER_AREA if (h > size or w > size) else cv2.INTER_LINEAR
    out = cv2.resize(frame, (size, size), interpolation=interp)
    return out[..., None] if out.ndim == 2 else out


def _crop_faces(frames: np.ndarray, track: Track | None, s: _Settings) -> np.ndarray:
    """Aligned (or box-cropped) faces, (T, C, face_size, face_size) uint8.

    Faces are cut from the RGB frames and converted to gray afterwards: the
    luma of a warped face is the warp of the luma (both linear), and
    converting a 64x64 face instead of a 720x576 frame saves about 5 ms a
    video.
    """
    out = np.empty((len(frames), s.channels, s.face_size, s.face_size), np.uint8)
    for t, frame in enumerate(frames):
        if track is None:
            face = _resize(frame, s.face_size)
        elif np.isfinite(track.landmarks[t]).all():
            face = align_face(frame, track.landmarks[t], s.face_size, s.margin, template=s.template)
        else:
            face = crop_box(frame, track.boxes[t], s.face_size, s.margin + _BOX_MARGIN)
        face = _to_color(face.reshape(1, s.face_size, s.face_size, -1), s.color)[0]
        out[t] = face.transpose(2, 0, 1)
    return out


def _centre_crops(frames: np.ndarray, s: _Settings) -> np.ndarray:
    colored = _to_color(frames, s.color)
    return np.stack([crop_box(f, None, s.face_size, 0.0).reshape(s.face_size, s.face_size, -1)
                     .transpose(2, 0, 1) for f in colored])


def _blank(s: _Settings) -> np.ndarray:
    return np.full((s.n_frames, s.channels, s.face_size, s.face_size), BLANK_VALUE, np.uint8)


def _empty_row(name: str) -> dict:
    return {
        "path": name, "frames_in_video": 0, "frames_decoded": 0, "fps": float("nan"),
        "duration_s": float("nan"), "width": 0, "height": 0, "face_coverage": float("nan"),
        "frame_detected": None, "frame_tracked": None, "fallback_used": False, "cached": False, "error": None,
    }


def _describe(exc: BaseException) -> str:
    if isinstance(exc, VideoDecodeError):
        return exc.reason
    return f"{type(exc).__name__}: {exc}"


def _identity(item: _Item, mode: str) -> str:
    if item.path is None:
        return item.identity
    try:
        return file_identity_for_cache(item.path, mode)
    except FileNotFoundError:
        raise VideoNotFoundError(item.path, "no such file or directory") from None


def _extract_one(item: _Item, s: _Settings, detector) -> _Outcome:
    """Decode, detect, track and crop one video; never raises for a bad video."""
    row = _empty_row(item.name)
    if item.error is not None:
        row["error"] = item.error
        return _Outcome(_blank(s), row)
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
                cached_row.update(path=item.name, cached=True, frames_decoded=0)
                return _Outcome(faces, cached_row, looked_up=True, hit=True)
        if item.path is not None:
            clip = read_frames(item.path, s.n_frames, return_timestamps=False)
            info = clip.info
            row.update(frames_in_video=int(info.n_frames), frames_decoded=int(clip.n_decoded),
                       fps=float(info.fps), duration_s=float(info.duration_s))
            frames = clip.frames
        else:
            frames = item.frames
            row.update(frames_in_video=int(len(frames)))
        row.update(height=int(frames.shape[1]), width=int(frames.shape[2]))
        if detector is None:
            faces = _crop_faces(frames, None, s)
        else:
            search = s.search
            if search == "auto":
                search = "track" if detector.supports_refine else "full"
            with _single_threaded_torch():
                track = search_and_track(list(frames), detector, search=search)
            row["face_coverage"] = track.coverage
            row["frame_detected"] = [bool(v) for v in track.detected]
            row["frame_tracked"] = [bool(v) for v in track.tracked]
            n_found, n_sampled = int(track.detected.sum()), len(frames)
            if n_found >= max(1, math.ceil(s.min_face_coverage * n_sampled - 1e-9)):
                faces = _crop_faces(frames, track, s)
            else:
                # One false detection on a wall must not yield a confident answer.
                row["error"] = (f"no face found in {n_sampled - n_found} of {n_sampled} sampled frames "
                                f"(min_face_coverage={s.min_face_coverage:g})")
                faces = _centre_crops(frames, s)
    except Exception as exc:  # one bad video must never lose the others
        row["error"] = _describe(exc)
        return _Outcome(_blank(s), row, looked_up=looked_up)
    written = False
    if cache is not None and key is not None:
        # A video without faces is cached too (with its error): finding out
        # that it has none is the most expensive case.
        written = cache.store(key, faces, row)
    return _Outcome(faces, row, looked_up=looked_up, written=written)


# --------------------------------------------------------------- estimator
class VideoFaceExtractor(TransformerMixin, BaseEstimator):
    """Extract the subject's aligned face from sampled frames of each video.

    For every video: ``n_frames`` frames are sampled uniformly over the
    whole clip, faces are detected (batched over the frames), the main face
    -- largest and most confident in the first frames with faces -- is
    followed across the frames by overlap so that another person never
    swaps in, frames where it is missed borrow the nearest frame's face,
    and each face is aligned on its five landmarks (a similarity transform
    that puts the eyes, nose and mouth corners on fixed positions) and
    converted to gray or RGB.

    The transformer is stateless: :meth:`fit` only validates the
    parameters, and :meth:`transform` works without it.

    Parameters
    ----------
    n_frames : int, default=16
        Frames sampled per video, uniformly in time over the whole clip
        (short clips repeat frames).
    face_size : int, default=64
        Side of the output faces; 64 matches the pretrained FER2013 backbone.
    color : {"gray", "rgb"}, default="gray"
        Output colour: ITU-R BT.601 luma (``0.299 R + 0.587 G + 0.114 B``,
        what FER2013 models expect) or RGB.
    detector : str, path-like, callable, detector object or None, default="mtcnn"
        ``"mtcnn"``: the built-in PyTorch MTCNN (offline, MIT-licensed
        weights).  ``"scrfd"``, the path of an insightface ONNX detection
        model, an unpacked pack folder or a pack name (``"buffalo_l"``):
        run through insightface on onnxruntime (models for non-commercial
        use only).  A callable ``f(rgb_image) -> (boxes, landmarks)`` with
        boxes (N, 4) or (N, 5) (score column) and landmarks (N, 5, 2) or
        None.  An object with ``detect_batch`` (e.g. a configured
        :class:`~sk_emotion.faces.MTCNNDetector`).  None: the inputs are
        already face crops; frames are only resized and colour-converted.
    min_face_size : float, default=40
        Smallest face (box side, frame pixels) considered.  MTCNN's cost
        grows as ``1 / min_face_size**2``.
    min_face_coverage : float, default=0.25
        Smallest share of the sampled frames in which the face must be
        detected; below it the video fails with "no face found in N of M
        sampled frames" (a single false detection on a wall must not give a
        confident answer).  Frames without a detection borrow the nearest
        detected frame's face; ``report["frame_detected"]`` says which.
    min_confidence : float or None, default=None
        Minimum face score (None: the detector's default, MTCNN 0.8,
        insightface 0.5).
    template : {"fer2013", "arcface"} or array-like of shape (5, 2), default="fer2013"
        Where the five landmarks go in the output face.  ``"fer2013"`` frames
        faces the way the pretrained FER2013 backbone saw them in training
        (the template its weights declare, measured on FER2013 itself; a
        looser crop costs the backbone up to 18 points of accuracy, see
        ``docs/extractor.md``); ``"arcface"`` is insightface's framing; or
        five ``(x, y)`` fractions of the side (see
        :func:`sk_emotion.faces.template_points`).  Pixels outside the frame
        replicate its border (black borders cost accuracy).
    margin : float, default=0.0
        Extra context around the template square, as a fraction of its side
        added on each side (see :func:`sk_emotion.faces.canonical_template`);
        for box crops (frames without landmarks), fraction of the box side.
    search : {"auto", "track", "full"}, default="auto"
        Where to search faces.  ``"full"``: every sampled frame, whole.
        ``"track"``: the first frame whole, then the subject is followed by
        re-detection near where it is expected (MTCNN's R-Net and O-Net on
        one box, about 2 ms a frame), and a frame is searched whole only
        where that fails -- 6-7x faster on 720x576 frames, landmarks within
        the detector's own error of a full search (see
        ``docs/extractor.md``); needs a detector that can re-detect (MTCNN).
        ``"auto"``: ``"track"`` when the detector can, ``"full"`` otherwise.
    on_error : {"raise", "fallback"}, default="raise"
        What to do with videos that fail (missing, corrupt, without frames,
        without any face).  Either way every video is processed and good
        results are kept (and cached).  ``"raise"``: then raise one
        :class:`ExtractionError` listing every failure and carrying the
        results and report.  ``"fallback"``: substitute a centred square
        crop of each sampled frame for videos without faces and a uniform
        grey clip (value 128) for unreadable ones, and emit an
        :class:`ExtractionWarning`.
    cache_dir : path-like or None, default=None
        Folder of the per-video cache (None: no cache).  With a cache, a
        video is decoded and searched once per setting of the parameters
        that change the output, across calls, clones, grid-search and
        cross-validation folds, and processes.
    cache_key : {"stat", "content"}, default="stat"
        How video files are identified in the cache: absolute path, size
        and modification time, or the SHA-256 of their bytes.
    n_jobs : int or None, default=None
        Videos processed in parallel (joblib; loky processes by default, or
        the backend chosen with ``joblib.parallel_config``, e.g. ``"dask"``
        to run on a Dask cluster);
        None means 1, -1 all cores.
    verbose : int, default=0
        Show a tqdm progress bar when > 0.
    path_column : str, default="path"
        Column of the video paths when ``X`` is a DataFrame.

    Attributes
    ----------
    report_ : pandas.DataFrame
        Set by :meth:`transform`: one row per video with ``path`` (or
        ``"<array i>"``), ``frames_in_video``, ``frames_decoded`` (frames
        the decoder produced in this call; 0 for cache hits), ``fps``,
        ``duration_s``, ``width``, ``height``, ``face_coverage`` (share of
        sampled frames where the face was detected; NaN without detector),
        ``frame_detected`` (per sampled frame, whether the face was detected
        there rather than borrowed from the nearest frame; None without
        detector), ``frame_tracked`` (per sampled frame, whether it was found
        by re-detection near its expected position rather than by a
        whole-frame search), ``fallback_used``, ``cached`` and ``error``
        (None when it went well).
    cache_info_ : CacheInfo
        Set by :meth:`transform`: ``(hits, misses, writes)`` of the cache
        in that call (all 0 without ``cache_dir``).

    Examples
    --------
    >>> from sk_emotion import VideoFaceExtractor                # doctest: +SKIP
    >>> extractor = VideoFaceExtractor(n_frames=16, cache_dir="~/.cache/faces")  # doctest: +SKIP
    >>> X = extractor.fit_transform(["clip1.avi", "clip2.avi"])  # doctest: +SKIP
    >>> X.shape, X.dtype                                         # doctest: +SKIP
    ((2, 16, 1, 64, 64), dtype('uint8'))
    >>> extractor.report_[["path", "face_coverage", "error"]]    # doctest: +SKIP
    """

    def __init__(
        self,
        *,
        n_frames: int = 16,
        face_size: int = 64,
        color: str = "gray",
        detector: Any = "mtcnn",
        min_face_size: float = 40,
        min_face_coverage: float = 0.25,
        min_confidence: float | None = None,
        template: Any = "fer2013",
        margin: float = 0.0,
        search: str = "auto",
        on_error: str = "raise",
        cache_dir: str | os.PathLike | None = None,
        cache_key: str = "stat",
        n_jobs: int | None = None,
        verbose: int = 0,
        path_column: str = "path",
    ) -> None:
        self.n_frames = n_frames
        self.face_size = face_size
        self.color = color
        self.detector = detector
        self.min_face_size = min_face_size
        self.min_face_coverage = min_face_coverage
        self.min_confidence = min_confidence
        self.template = template
        self.margin = margin
        self.search = search
        self.on_error = on_error
        self.cache_dir = cache_dir
        self.cache_key = cache_key
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.path_column = path_column

    # ------------------------------------------------------------ sklearn
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.non_deterministic = False
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        return tags

    def fit(self, X=None, y=None):
        """Validate the parameters (the transformer learns nothing).

        Parameters
        ----------
        X : ignored
        y : ignored

        Returns
        -------
        self
        """
        self._check_params()
        return self

    # ---------------------------------------------------------- validation
    def _check_params(self):
        def positive_int(value, name, minimum=1):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
                raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")

        positive_int(self.n_frames, "n_frames")
        positive_int(self.face_size, "face_size", 8)
        if self.color not in _COLORS:
            raise ValueError(f"color must be one of {_COLORS}, got {self.color!r}")
        if (isinstance(self.min_face_size, bool) or not isinstance(self.min_face_size, numbers.Real)
                or not self.min_face_size > 0):
            raise ValueError(f"min_face_size must be a positive number, got {self.min_face_size!r}")
        if (isinstance(self.min_face_coverage, bool) or not isinstance(self.min_face_coverage, numbers.Real)
                or not 0 <= self.min_face_coverage <= 1):
            raise ValueError(f"min_face_coverage must be in [0, 1], got {self.min_face_coverage!r}")
        if self.min_confidence is not None and (
                isinstance(self.min_confidence, bool) or not isinstance(self.min_confidence, numbers.Real)
                or not 0 <= self.min_confidence <= 1):
            raise ValueError(f"min_confidence must be None or in [0, 1], got {self.min_confidence!r}")
        if (isinstance(self.margin, bool) or not isinstance(self.margin, numbers.Real)
                or not self.margin > -0.5):
            raise ValueError(f"margin must be a number > -0.5, got {self.margin!r}")
        template = template_points(self.template)
        if self.search not in _SEARCHES:
            raise ValueError(f"search must be one of {_SEARCHES}, got {self.search!r}")
        if self.on_error not in _ON_ERROR:
            raise ValueError(f"on_error must be one of {_ON_ERROR}, got {self.on_error!r}")
        if self.cache_dir is not None and not _is_pathlike(self.cache_dir):
            raise TypeError(f"cache_dir must be None or a path, got {type(self.cache_dir).__name__}")
        if self.cache_key not in _CACHE_KEYS:
            raise ValueError(f"cache_key must be one of {_CACHE_KEYS}, got {self.cache_key!r}")
        if self.n_jobs is not None and (isinstance(self.n_jobs, bool)
                                        or not isinstance(self.n_jobs, numbers.Integral)
                                        or self.n_jobs == 0):
            raise ValueError(f"n_jobs must be None or a non-zero int, got {self.n_jobs!r}")
        if isinstance(self.verbose, bool) or not isinstance(self.verbose, numbers.Integral):
            raise ValueError(f"verbose must be an int, got {self.verbose!r}")
        if not isinstance(self.path_column, str):
            raise TypeError(f"path_column must be a str, got {type(self.path_column).__name__}")
        detector = make_detector(self.detector, min_face_size=float(self.min_face_size),
                                 min_confidence=self.min_confidence)
        cache_settings = {
            "n_frames": int(self.n_frames),
            "face_size": int(self.face_size),
            "color": self.color,
            "detector": None if detector is None else detector.identity,
            "min_face_size": float(self.min_face_size),
            "min_face_coverage": float(self.min_face_coverage),
            "min_confidence": None if self.min_confidence is None else float(self.min_confidence),
            "template": np.round(template, 6).tolist(),
            "margin": float(self.margin),
            "border": "replicate",
            "search": self.search if detector is not None else None,
            "version": __version__,
        }
        settings = _Settings(
            n_frames=int(self.n_frames), face_size=int(self.face_size), color=self.color,
            template=template, margin=float(self.margin), min_face_size=float(self.min_face_size),
            min_face_coverage=float(self.min_face_coverage),
            search=self.search, on_error=self.on_error,
            cache_dir=None if self.cache_dir is None else os.path.abspath(
                os.path.expanduser(os.fspath(self.cache_dir))),
            cache_key=self.cache_key, cache_settings=cache_settings,
        )
        return settings, detector

    # ----------------------------------------------------------- transform
    def transform(self, X) -> np.ndarray:
        """Extract the face clip of each video.

        Parameters
        ----------
        X : list, tuple, array or Series of paths or frame arrays, DataFrame, or ndarray
            Video files or image folders (paths), in-memory clips of shape
            (T, H, W, 3) uint8 RGB, a DataFrame whose ``path_column`` holds
            paths, or a (n_videos, T, H, W, 3) uint8 array.

        Returns
        -------
        numpy.ndarray of shape (n_videos, n_frames, channels, face_size, face_size), uint8
            ``channels`` is 1 for gray, 3 for RGB.

        Raises
        ------
        ExtractionError
            With ``on_error="raise"``, when any video failed; raised after
            all videos were processed, carrying ``.results`` and ``.report``.
        ValueError, TypeError
            For invalid parameters or an ``X`` of an unsupported form.
        """
        faces, report = self._extract(X)
        return faces

    def transform_with_report(self, X) -> tuple[np.ndarray, pd.DataFrame]:
        """:meth:`transform` that also returns the per-video report.

        With ``on_error="raise"`` failures still raise :class:`ExtractionError`
        (whose ``.report`` holds the report).

        Returns
        -------
        faces : numpy.ndarray
            As returned by :meth:`transform`.
        report : pandas.DataFrame
            As :attr:`report_`.
        """
        faces, report = self._extract(X)
        return faces, report

    def _extract(self, X) -> tuple[np.ndarray, pd.DataFrame]:
        settings, detector = self._check_params()
        items = _items(X, self.path_column, settings.n_frames, settings.cache_dir is not None)
        outcomes = self._run(items, settings, detector)
        faces = np.stack([o.faces for o in outcomes])
        report = pd.DataFrame([o.row for o in outcomes], columns=list(REPORT_COLUMNS))
        report["error"] = report["error"].astype(object).where(report["error"].notna(), None)
        failed = report["error"].notna().to_numpy()
        report.loc[failed, "fallback_used"] = True
        report["fallback_used"] = report["fallback_used"].astype(bool)
        self.report_ = report
        self.cache_info_ = CacheInfo(
            hits=sum(o.hit for o in outcomes),
            misses=sum(o.looked_up and not o.hit for o in outcomes),
            writes=sum(o.written for o in outcomes),
        )
        if failed.any():
            failures = list(zip(report.loc[failed, "path"], report.loc[failed, "error"]))
            if settings.on_error == "raise":
                raise ExtractionError(failures, results=faces, report=report)
            lines = "; ".join(f"'{p}': {r}" for p, r in failures)
            warnings.warn(
                f"{len(failures)} of {len(items)} videos replaced by a fallback clip "
                f"(centred crop when no face was found, grey clip when unreadable): {lines}",
                ExtractionWarning,
                stacklevel=_caller_stacklevel(),
            )
        return faces, report

    def _run(self, items: list[_Item], settings: _Settings, detector) -> list[_Outcome]:
        from joblib import Parallel, delayed, effective_n_jobs
        from tqdm.auto import tqdm

        n_jobs = 1 if self.n_jobs is None else effective_n_jobs(self.n_jobs)
        n_jobs = max(1, min(n_jobs, len(items)))
        pool_kwargs = {}
        if n_jobs > 1 and _default_process_pool():
            if not _pool_is_warm() and len(items) < COLD_POOL_MIN_VIDEOS:
                n_jobs = 1  # starting the workers would cost more than they save
            else:
                pool_kwargs["initializer"] = _warm_worker
        progress = tqdm(total=len(items), disable=not self.verbose, desc="extracting faces",
                        unit="video")
        outcomes = []
        try:
            if n_jobs == 1:
                for item in items:
                    outcomes.append(_extract_one(item, settings, detector))
                    progress.update(1)
            else:
                # No hard-coded backend: loky processes by default, or whatever
                # joblib.parallel_config selects, e.g. "dask" for a Dask cluster.
                # Unordered: a worker that finishes early takes the next video instead
                # of waiting for its neighbour's result to be consumed first.
                parallel = Parallel(n_jobs=n_jobs, prefer="processes",
                                    return_as="generator_unordered", **pool_kwargs)
                done: dict[int, _Outcome] = {}
                with _stop_workers_on_sigterm():
                    for index, outcome in parallel(delayed(_indexed)(i, item, settings, detector)
                                                   for i, item in enumerate(items)):
                        done[index] = outcome
                        progress.update(1)
                outcomes = [done[i] for i in range(len(items))]
                if pool_kwargs:
                    _mark_pool_used()
        finally:
            progress.close()
        return outcomes


# ----------------------------------------------------------------- the pool
def _indexed(index: int, item: _Item, settings: _Settings, detector) -> tuple[int, _Outcome]:
    return index, _extract_one(item, settings, detector)



#: A cold process pool (each worker starts Python, imports torch and loads the
#: detector: about 2 s on idle cores, 10 s on loaded ones) pays off only for
#: calls of at least this many videos (2 workers save about 0.05 s a video);
#: shorter calls run in this process.  A warm pool is always used.
COLD_POOL_MIN_VIDEOS = 40

#: loky keeps idle workers this long (seconds); a pool used more recently than
#: this counts as warm.
_POOL_IDLE_TIMEOUT = 300.0
_last_pool_use: float | None = None


def _default_process_pool() -> bool:
    """Whether joblib would run the videos on its own loky processes (not Dask, not threads)."""
    from joblib.parallel import LokyBackend, get_active_backend

    backend, _ = get_active_backend(prefer="processes")
    return isinstance(backend, LokyBackend)


def _pool_is_warm() -> bool:
    return _last_pool_use is not None and time.monotonic() - _last_pool_use < 0.8 * _POOL_IDLE_TIMEOUT


def _mark_pool_used() -> None:
    global _last_pool_use
    _last_pool_use = time.monotonic()


def _warm_worker() -> None:
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
