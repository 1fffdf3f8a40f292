"""``VideoFaceExtractor``: face videos in, aligned face clips out, as a scikit-learn transformer."""

from __future__ import annotations

import os
import sys
import warnings
from numbers import Integral, Real
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from .._sklearn_compat import HasMethods, Interval, StrOptions
from .._version import __version__
from ..exceptions import ExtractionError, ExtractionWarning, TruncatedVideoWarning
from ..faces.align import template_points
from ..faces.cutting import FaceCutter
from ..faces.detectors import DEFAULT_MIN_FACE_SIZE, SMALLEST_MIN_FACE_SIZE, make_detector
from ..limits import MAX_N_FRAMES
from ._cache import CacheInfo
from ._extraction import (
    COLD_POOL_MIN_VIDEOS,
    REPORT_COLUMNS,
    Outcome,
    Settings,
    default_process_pool,
    extract_one,
    indexed,
    pool_is_warm,
    stop_workers_on_sigterm,
    warm_worker,
)
from ._inputs import Item, items_from

if TYPE_CHECKING:
    from collections.abc import Sequence


__all__ = ["ExtractionError", "ExtractionWarning", "REPORT_COLUMNS", "TruncatedVideoWarning",
           "VideoFaceExtractor"]


def _caller_stacklevel() -> int:
    """``stacklevel`` that points a warning at the user's line, past sklearn's wrappers and ours."""
    frame, level = sys._getframe(1), 1
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if not module.startswith(("sk_emotion.", "sklearn.")) and module != "sk_emotion":
            return level
        frame, level = frame.f_back, level + 1
    return 1


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
        (short clips repeat frames); at most :data:`MAX_N_FRAMES` (1024).
    face_size : int or "auto", default="auto"
        Side of the output faces.  ``"auto"``: the input size the package's
        pretrained backbone weights declare (``transforms["input_size"]``,
        64 for both shipped backbones), so faces fit the network without
        matching settings by hand.
    color : {"auto", "gray", "rgb"}, default="auto"
        Output colour: ITU-R BT.601 luma (``0.299 R + 0.587 G + 0.114 B``,
        what FER2013 models expect) or RGB; ``"auto"``: the colour the
        pretrained weights declare (gray).
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
        Smallest face (box side, frame pixels) considered, at least 12
        (MTCNN's cell; smaller would upsample whole frames).  MTCNN's cost
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
    template : {"auto", "fer2013", "arcface"} or array-like of shape (5, 2), default="auto"
        Where the five landmarks go in the output face.  ``"auto"``: the
        ``face_template`` the pretrained weights declare (FER2013's framing
        for both shipped backbones, which learnt from FER2013's faces).  ``"fer2013"`` frames
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
        :class:`ExtractionWarning`.  A truncated file (decoding ends well
        before its stated duration) is not a failure under either policy:
        its frames are sampled over the part that decodes, the report's
        ``warning`` says so and a :class:`TruncatedVideoWarning` names it.
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
        Show a tqdm progress bar (on standard error) when > 0: over the
        videos, or, for a single video, over its sampled frames as they are
        decoded, then converted (a long or 8K video shows progress too).
    path_column : str, default="path"
        Column of the video paths when ``X`` is a DataFrame.

    Notes
    -----
    :meth:`transform` has no side effects: it returns the faces only.
    :meth:`transform_with_report` also returns the per-video report (whose
    columns :data:`REPORT_COLUMNS` lists, see ``docs/extractor.md``), with
    the cache's ``(hits, misses, writes)`` in ``report.attrs["cache_info"]``.

    Examples
    --------
    A short video of a real face (scikit-image's astronaut photo, drifting
    to the right) and a path that does not exist:

    >>> import tempfile
    >>> import numpy as np
    >>> from skimage import data
    >>> from sk_emotion import VideoFaceExtractor
    >>> from sk_emotion.video import write_video
    >>> photo = data.astronaut()[:384, :384]
    >>> frames = np.stack([np.roll(photo, 4 * t, axis=1) for t in range(12)])
    >>> clip = write_video(tempfile.mkdtemp() + "/astronaut.avi", frames, fps=25)
    >>> extractor = VideoFaceExtractor(n_frames=4, on_error="fallback")
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:  # an ExtractionWarning names the file
    ...     faces, report = extractor.transform_with_report([clip, "missing.avi"])
    >>> faces.shape, faces.dtype
    ((2, 4, 1, 64, 64), dtype('uint8'))
    >>> float(report.loc[0, "face_coverage"]), report["fallback_used"].tolist(), report["error"].tolist()
    (1.0, [False, True], [None, 'no such file or directory'])
    """

    _parameter_constraints: dict = {
        "n_frames": [Interval(Integral, 1, MAX_N_FRAMES, closed="both")],
        "face_size": [Interval(Integral, 8, None, closed="left"), StrOptions({"auto"})],
        "color": [StrOptions({"auto", "gray", "rgb"})],
        "detector": [None, str, os.PathLike, callable, HasMethods(["detect_batch"])],
        "min_face_size": [Interval(Real, SMALLEST_MIN_FACE_SIZE, None, closed="left")],
        "min_face_coverage": [Interval(Real, 0, 1, closed="both")],
        "min_confidence": [None, Interval(Real, 0, 1, closed="both")],
        "template": [StrOptions({"auto", "fer2013", "arcface"}), "array-like"],
        "margin": [Interval(Real, -0.5, None, closed="neither")],
        "search": [StrOptions({"auto", "track", "full"})],
        "on_error": [StrOptions({"raise", "fallback"})],
        "cache_dir": [None, str, os.PathLike],
        "cache_key": [StrOptions({"stat", "content"})],
        "n_jobs": [None, Interval(Integral, None, -1, closed="right"), Interval(Integral, 1, None, closed="left")],
        "verbose": ["verbose"],
        "path_column": [str],
    }

    def __init__(
        self,
        *,
        n_frames: int = 16,
        face_size: int | str = "auto",
        color: str = "auto",
        detector: Any = "mtcnn",
        min_face_size: float = DEFAULT_MIN_FACE_SIZE,
        min_face_coverage: float = 0.25,
        min_confidence: float | None = None,
        template: Any = "auto",
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

    def fit(self, X: object = None, y: object = None) -> VideoFaceExtractor:
        """Validate the parameters (the transformer learns nothing).

        Parameters
        ----------
        X : ignored
            Not used, present for the scikit-learn API.
        y : ignored
            Not used, present for the scikit-learn API.

        Returns
        -------
        VideoFaceExtractor
            This estimator.
        """
        self.validated_settings()
        return self

    # ---------------------------------------------------------- validation
    def _face_format(self) -> tuple[int, str, np.ndarray]:
        """Face size, colour and template points, "auto" read from the pretrained weights' transforms."""
        from ..weights import resolve_emotion_weights

        declared = resolve_emotion_weights(None).transforms
        face_size = int(declared["input_size"][0]) if self.face_size == "auto" else int(self.face_size)
        color = declared["color"] if self.color == "auto" else self.color
        template = template_points(declared["face_template"] if isinstance(self.template, str)
                                   and self.template == "auto" else self.template)
        return face_size, color, template

    def validated_settings(self) -> Settings:
        """The parameters, validated, as the extraction runs them.

        What the timeline (:func:`~sk_emotion.timeline.emotion_timeline`)
        takes from the extractor, so that both cut faces, follow them and
        judge their coverage alike.

        Returns
        -------
        Settings
            A frozen, picklable object: ``n_frames``; ``cutter`` (a
            :class:`~sk_emotion.faces.cutting.FaceCutter`: face size,
            colour, template points, margin); ``detector`` (the
            :class:`~sk_emotion.faces.detectors.FrameDetector`, or None);
            ``min_face_coverage``; ``search`` (``"track"``: re-detection
            where the detector can, or ``"full"``); ``on_error``;
            ``cache_dir`` (absolute, or None), ``cache_key`` and
            ``cache_settings`` (what the cache key covers).

        Raises
        ------
        InvalidParameterError
            If a parameter is out of its declared range (a ``ValueError``).
        TypeError
            If ``detector`` is none of the accepted kinds.
        """
        self._validate_params()  # the declarative _parameter_constraints
        face_size, color, template = self._face_format()
        # cheap: the detectors share their loaded networks per process
        detector = make_detector(self.detector, min_face_size=float(self.min_face_size),
                                 min_confidence=self.min_confidence)
        cache_settings = {
            "n_frames": int(self.n_frames),
            "face_size": face_size,
            "color": color,
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
        return Settings(
            n_frames=int(self.n_frames),
            cutter=FaceCutter(face_size=face_size, color=color, template=template,
                              margin=float(self.margin)),
            detector=detector,
            min_face_coverage=float(self.min_face_coverage),
            # "auto" is "track": the tracker searches whole frames for detectors that cannot re-detect.
            search="full" if self.search == "full" else "track",
            on_error=self.on_error,
            cache_dir=None if self.cache_dir is None else os.path.abspath(
                os.path.expanduser(os.fspath(self.cache_dir))),
            cache_key=self.cache_key, cache_settings=cache_settings,
        )

    # ----------------------------------------------------------- transform
    def transform(
        self, X: Sequence[str | os.PathLike | np.ndarray] | pd.Series | pd.DataFrame | np.ndarray
    ) -> np.ndarray:
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

    def transform_with_report(
        self, X: Sequence[str | os.PathLike | np.ndarray] | pd.Series | pd.DataFrame | np.ndarray
    ) -> tuple[np.ndarray, pd.DataFrame]:
        """:meth:`transform` that also returns the per-video report.

        With ``on_error="raise"`` failures still raise :class:`ExtractionError`
        (whose ``.report`` holds the report).

        Parameters
        ----------
        X : list, tuple, array or Series of paths or frame arrays, DataFrame, or ndarray
            As for :meth:`transform`.

        Returns
        -------
        faces : numpy.ndarray
            As returned by :meth:`transform`.
        report : pandas.DataFrame
            One row per video: ``path`` (or ``"<array i>"``),
            ``frames_in_video``, ``frames_decoded`` (frames the decoder
            produced in this call; 0 for cache hits), ``fps``,
            ``duration_s``, ``width``, ``height``, ``face_coverage`` (share
            of sampled frames where the face was detected; NaN without
            detector), ``frame_detected`` (per sampled frame, whether the
            face was detected there rather than borrowed from the nearest
            frame), ``frame_tracked`` (per sampled frame, whether it was
            found by re-detection near its expected position rather than by
            a whole-frame search), ``frame_times_s`` (per sampled frame, the
            time in seconds since the first frame at which the frame used is
            shown; None for frame arrays), ``fallback_used``, ``cached``,
            ``error`` (None when it went well) and ``warning`` (None, or why
            the faces may not represent the whole video: ``"decoding
            stopped at 9.3 s of a stated 19.7 s: the file is probably
            truncated"``; ``duration_s`` is then the decoded part's).
            ``report.attrs["cache_info"]`` is the
            :class:`~sk_emotion.estimators._cache.CacheInfo` of the call.
        """
        faces, report = self._extract(X)
        return faces, report

    def _extract(self, X) -> tuple[np.ndarray, pd.DataFrame]:
        settings = self.validated_settings()
        items = items_from(X, self.path_column, settings.n_frames, settings.cache_dir is not None)
        outcomes = self._run(items, settings)
        faces = np.stack([o.faces for o in outcomes])
        report = pd.DataFrame([o.row for o in outcomes], columns=list(REPORT_COLUMNS))
        for column in ("error", "warning"):
            report[column] = report[column].astype(object).where(report[column].notna(), None)
        failed = report["error"].notna().to_numpy()
        report.loc[failed, "fallback_used"] = True
        report["fallback_used"] = report["fallback_used"].astype(bool)
        report.attrs["cache_info"] = CacheInfo(
            hits=sum(o.hit for o in outcomes),
            misses=sum(o.looked_up and not o.hit for o in outcomes),
            writes=sum(o.written for o in outcomes),
        )
        warned = report["warning"].notna().to_numpy()
        if warned.any():
            lines = "; ".join(f"'{p}': {w}" for p, w in zip(report.loc[warned, "path"],
                                                            report.loc[warned, "warning"]))
            warnings.warn(
                f"{int(warned.sum())} of {len(items)} videos end before their stated duration; their faces "
                f"are sampled from the part that decodes (report['warning']): {lines}",
                TruncatedVideoWarning,
                stacklevel=_caller_stacklevel(),
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

    def _run(self, items: list[Item], settings: Settings) -> list[Outcome]:
        from joblib import Parallel, delayed, effective_n_jobs
        from tqdm.auto import tqdm

        n_jobs = 1 if self.n_jobs is None else effective_n_jobs(self.n_jobs)
        n_jobs = max(1, min(n_jobs, len(items)))
        pool_kwargs = {}
        if n_jobs > 1 and default_process_pool():
            if not pool_is_warm() and len(items) < COLD_POOL_MIN_VIDEOS:
                n_jobs = 1  # starting the workers would cost more than they save
            else:
                pool_kwargs["initializer"] = warm_worker
        if len(items) == 1:
            # One video, maybe long or huge: progress over its sampled frames as they are decoded.
            progress = tqdm(total=settings.n_frames, disable=not self.verbose,
                            desc=f"extracting faces from {os.path.basename(items[0].name)}", unit="frame")
        else:
            progress = tqdm(total=len(items), disable=not self.verbose, desc="extracting faces",
                            unit="video")

        def frames_done(stage: str, done: int, total: int) -> None:
            # Decoding, then converting to RGB (seconds for 8K), then the face search.
            if progress.postfix != stage:
                progress.reset(total)
                progress.set_postfix_str(stage, refresh=False)
            progress.update(done - progress.n)
            if stage == "converting" and done == total:
                progress.set_postfix_str("finding faces")

        outcomes = []
        try:
            if len(items) == 1:
                outcomes.append(extract_one(items[0], settings, frames_done if self.verbose else None))
                progress.update(progress.total - progress.n)
            elif n_jobs == 1:
                for item in items:
                    outcomes.append(extract_one(item, settings))
                    progress.update(1)
            else:
                # No hard-coded backend: loky processes by default, or whatever
                # joblib.parallel_config selects, e.g. "dask" for a Dask cluster.
                # Unordered: a worker that finishes early takes the next video instead
                # of waiting for its neighbour's result to be consumed first.
                parallel = Parallel(n_jobs=n_jobs, prefer="processes",
                                    return_as="generator_unordered", **pool_kwargs)
                done: dict[int, Outcome] = {}
                with stop_workers_on_sigterm():
                    for index, outcome in parallel(delayed(indexed)(i, item, settings)
                                                   for i, item in enumerate(items)):
                        done[index] = outcome
                        progress.update(1)
                outcomes = [done[i] for i in range(len(items))]
        finally:
            progress.close()
        return outcomes
