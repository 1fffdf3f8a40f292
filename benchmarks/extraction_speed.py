"""Speed of ``VideoFaceExtractor`` on AFEW-like clips, against the naive way.

What it measures
----------------
Throughput of face extraction on synthetic clips shaped like AFEW's: 720x576
MPEG-4 AVI at 25 fps, 2 to 4 s long, showing real faces (the photos that
ship with insightface and scikit-image -- ``t1.jpg``, ``Tom_Hanks_54745.png``
and the astronaut -- pasted on real-photo backgrounds, moving and changing
scale).  For each setting it prints videos per second and sampled frames per
second (``n_frames`` faces are produced per video):

* ``extractor n_jobs=1`` and ``n_jobs=2``: ``VideoFaceExtractor`` with its
  defaults (MTCNN, ``search="auto"``), no cache.  Worker processes and
  networks are warmed up on other clips first, so the figure is the steady
  state of a long extraction (start-up costs ~5 s per process once).
* ``extractor search=full``: every sampled frame searched whole (n_jobs=1).
* ``cached n_jobs=1``: the same videos again with a warm ``cache_dir``
  (what every grid-search candidate and CV fold after the first pays).
* ``naive``: decode every frame of the clip and run MTCNN on every frame
  (batches of 16, same minimum face size, one thread), then keep
  ``n_frames``.

Each line also gives the CPU seconds spent per video (this process and its
joblib workers, through psutil).  On a shared machine wall-clock figures
drop with the other load; ``2 / (CPU s/video)`` is what two idle cores
deliver, and is printed for the n_jobs=2 line.

Clips are written once to ``--workdir`` (default: a temporary folder).

How to run
----------
::

    python benchmarks/extraction_speed.py                    # 16 videos, 16 frames
    python benchmarks/extraction_speed.py --n-videos 8 --naive-videos 1   # quicker

What counts as a pass
---------------------
At least **3 videos/s with n_jobs=2 on 2 CPU cores** for 16 sampled frames
per video (``PASS``/``FAIL`` is printed for the measured figure).  The
machine must be otherwise idle for the measured figure to count; on a
loaded machine, judge the CPU-time projection printed next to it.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

WIDTH, HEIGHT, FPS = 720, 576, 25
TARGET_VIDEOS_PER_S = 3.0


# ------------------------------------------------------------------ clips
def face_sources() -> list[np.ndarray]:
    """RGB crops with one or more real faces and some context around them."""
    import skimage.data

    # Found without importing insightface (slow).
    root = Path(importlib.util.find_spec("insightface").submodule_search_locations[0])
    images = root / "data" / "images"
    t1 = cv2.imread(str(images / "t1.jpg"))[..., ::-1]
    hanks = cv2.imread(str(images / "Tom_Hanks_54745.png"))[..., ::-1]
    astronaut = skimage.data.astronaut()
    hanks = cv2.copyMakeBorder(hanks, 24, 24, 24, 24, cv2.BORDER_REPLICATE)
    return [
        np.ascontiguousarray(astronaut[20:240, 130:330]),   # one face, ~100 px tall
        np.ascontiguousarray(hanks),                          # one face
        np.ascontiguousarray(t1[20:260, 840:1080]),           # one face of the group photo
        np.ascontiguousarray(t1[120:440, 230:620]),           # two faces side by side
    ]


def backgrounds() -> list[np.ndarray]:
    import skimage.data

    return [cv2.resize(im, (WIDTH, HEIGHT), interpolation=cv2.INTER_AREA)
            for im in (skimage.data.coffee(), skimage.data.rocket(), skimage.data.chelsea())]


def make_clip(i: int, sources, bgs, rng) -> np.ndarray:
    """One clip: a face source moving along a line and zooming, on a background."""
    source = sources[i % len(sources)]
    bg = bgs[i % len(bgs)]
    n = int(rng.uniform(2.0, 4.0) * FPS)
    target_h = rng.uniform(1.2, 2.2) * 100  # source height in pixels (faces ~80-200 px)
    base = target_h / source.shape[0]
    s0, s1 = base * rng.uniform(0.85, 1.0), base * rng.uniform(1.0, 1.2)
    h1, w1 = int(source.shape[0] * s1), int(source.shape[1] * s1)
    x0, y0 = rng.uniform(0, WIDTH - w1), rng.uniform(0, HEIGHT - h1)
    x1, y1 = rng.uniform(0, WIDTH - w1), rng.uniform(0, HEIGHT - h1)
    frames = np.empty((n, HEIGHT, WIDTH, 3), np.uint8)
    for t in range(n):
        a = t / max(n - 1, 1)
        s = s0 + a * (s1 - s0)
        patch = cv2.resize(source, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
        ph, pw = patch.shape[:2]
        x, y = int(x0 + a * (x1 - x0)), int(y0 + a * (y1 - y0))
        frame = bg.copy()
        frame[y:y + ph, x:x + pw] = patch[: HEIGHT - y, : WIDTH - x]
        frames[t] = frame
    return frames


def write_clips(folder: Path, n_videos: int, seed: int = 0) -> list[str]:
    from sk_emotion.video import write_video

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    sources, bgs = face_sources(), backgrounds()
    paths = []
    for i in range(n_videos):
        path = folder / f"clip_{seed}_{i:03d}.avi"
        clip = make_clip(i, sources, bgs, rng)  # always drawn: same clips whether cached or not
        if not path.exists():
            write_video(path, clip, fps=FPS)
        paths.append(str(path))
    return paths


# ----------------------------------------------------------------- timing
def naive(paths: list[str], n_frames: int, min_face_size: float) -> float:
    """Decode every frame, detect in every frame, keep n_frames: seconds."""
    import av

    from sk_emotion.faces import MTCNNDetector
    from sk_emotion.video import sample_frame_indices

    import torch

    torch.set_num_threads(1)  # as the extractor runs it: one video per core
    detector = MTCNNDetector(min_face_size=min_face_size)
    start = time.perf_counter()
    for path in paths:
        with av.open(path) as container:
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
        dets = []
        for i in range(0, len(frames), 16):
            dets.extend(detector.detect_batch(frames[i:i + 16]))
        keep = sample_frame_indices(len(frames), n_frames)
        _ = [dets[k] for k in keep]
    return time.perf_counter() - start


def cpu_seconds() -> float:
    """CPU time (user + system) of this process and its live children (joblib workers)."""
    try:
        import psutil
    except ImportError:  # children not counted
        return time.process_time()
    me = psutil.Process()
    total = 0.0
    for proc in [me] + me.children(recursive=True):
        try:
            t = proc.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def timed(extractor, paths) -> tuple[float, float]:
    """Wall seconds and CPU seconds of ``extractor.transform(paths)``."""
    cpu, start = cpu_seconds(), time.perf_counter()
    extractor.transform(paths)
    return time.perf_counter() - start, cpu_seconds() - cpu


def line(name: str, n_videos: int, n_frames: int, seconds: float, cpu: float | None = None,
         extra: str = "") -> None:
    vps = n_videos / seconds
    cpu_text = f"{cpu / n_videos:6.3f} CPU s/video" if cpu is not None else " " * 17
    print(f"{name:<24} {n_videos:>3} videos {seconds:7.2f} s {vps:7.2f} videos/s "
          f"{vps * n_frames:7.1f} frames/s {cpu_text} {extra}", flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-videos", type=int, default=16)
    parser.add_argument("--n-frames", type=int, default=16)
    parser.add_argument("--naive-videos", type=int, default=2,
                        help="videos for the naive baseline (slow); 0 to skip")
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--skip-full", action="store_true", help="skip the search='full' line")
    args = parser.parse_args(argv)

    from sk_emotion.estimators.extractor import VideoFaceExtractor

    tmp = tempfile.TemporaryDirectory() if args.workdir is None else None
    work = Path(tmp.name) if tmp is not None else args.workdir
    t0 = time.perf_counter()
    paths = write_clips(work / "clips", args.n_videos, seed=0)
    warm = write_clips(work / "clips", 2, seed=1)
    print(f"{len(paths)} AFEW-like clips ({WIDTH}x{HEIGHT}, {FPS} fps, 2-4 s, MPEG-4 AVI) "
          f"ready in {time.perf_counter() - t0:.1f} s; {os.cpu_count()} CPU cores, "
          f"load average {os.getloadavg()[0]:.1f} (figures assume an idle machine)", flush=True)

    n = args.n_frames
    cores = os.cpu_count() or 1
    for jobs in args.jobs:
        ex = VideoFaceExtractor(n_frames=n, n_jobs=jobs)
        ex.transform(warm * jobs)  # start workers, load networks
        seconds, cpu = timed(ex, paths)
        cover = ex.report_["face_coverage"].mean()
        line(f"extractor n_jobs={jobs}", len(paths), n, seconds, cpu, f"coverage {cover:.2f}")
        if jobs == 2:
            measured = len(paths) / seconds
            projected = 2 * len(paths) / cpu  # two cores, each busy with one video at a time
            verdict = "PASS" if measured >= TARGET_VIDEOS_PER_S else "FAIL"
            print(f"  -> target >= {TARGET_VIDEOS_PER_S:g} videos/s with n_jobs=2 on 2 cores: "
                  f"{verdict} as measured ({measured:.2f}); from CPU time, 2 idle cores give "
                  f"{projected:.2f} videos/s", flush=True)
    if not args.skip_full:
        ex = VideoFaceExtractor(n_frames=n, search="full")
        ex.transform(warm)
        seconds, cpu = timed(ex, paths)
        line("extractor search=full", len(paths), n, seconds, cpu,
             f"coverage {ex.report_['face_coverage'].mean():.2f}")

    cache = work / "cache"
    ex = VideoFaceExtractor(n_frames=n, cache_dir=cache)
    ex.transform(paths)
    seconds, cpu = timed(ex, paths)
    line("cached n_jobs=1", len(paths), n, seconds, cpu, f"hits {ex.cache_info_.hits}")

    if args.naive_videos:
        subset = paths[: args.naive_videos]
        cpu = cpu_seconds()
        seconds = naive(subset, n, ex.min_face_size)
        line("naive (every frame)", len(subset), n, seconds, cpu_seconds() - cpu)
    print(f"load average after: {os.getloadavg()[0]:.1f} on {cores} cores", flush=True)
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    raise SystemExit(main())
