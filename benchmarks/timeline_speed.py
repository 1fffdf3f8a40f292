"""Speed and memory of ``emotion_timeline`` on long 720p videos, against the decoding floor.

What it measures
----------------
Generated 1280x720, 25 fps H.264 videos (``make_scripted_video``: faces from
the photos that ship with insightface and scikit-image, each with its own
scripted expressions) with one face and with three faces side by side, 30 s
and 5 min long.  For each video, in a fresh process (so that peak memory is
this video's alone):

* the floor: decoding the video front to back and converting the frames the
  timeline samples (``FrameSampler``, 8 per second with the defaults);
* ``emotion_timeline`` with the defaults (zero-shot model, 2 s windows
  every 1 s, 16 frames per window, whole-frame searches once a second,
  re-detection in between), the model loaded beforehand;
* seconds of video per second of wall time, CPU seconds per second of video,
  peak resident memory (``VmHWM``) after loading and at the end, and the persons found
  against the number scripted.

How to run
----------
::

    python benchmarks/timeline_speed.py                 # 1 and 3 faces, 30 s and 5 min
    python benchmarks/timeline_speed.py --durations 30  # quicker
    python benchmarks/timeline_speed.py --durations 30 --faces 1 --weights default FERPLUS:nomirror FER2013

The videos are written once under ``--cache`` and reused.

What counts as a pass
---------------------
On an idle 2-core machine: at least **5x real time with one face**, and the
5-minute video's peak memory within a few MiB of the 30-second one's (memory
independent of length).  Wall-clock figures on a loaded machine drop with
the load: compare the CPU seconds per video second.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EMOTION_CYCLE = ("happy", "neutral", "surprise", "neutral", "sad", "happy")
POSITIONS = {1: [(0.5, 0.45)], 3: [(0.2, 0.45), (0.5, 0.5), (0.8, 0.45)]}


def make_video(path: Path, n_faces: int, duration_s: float) -> Path:
    """A scripted video: each face changes expression every 5-9 s, the faces out of phase."""
    from sk_emotion.datasets.synthetic import PersonScript, make_scripted_video

    people = []
    for i, position in enumerate(POSITIONS[n_faces]):
        segments, t, k = [], 1.0 + 1.5 * i, i
        while t + 3 < duration_s:
            length = 5.0 + (k % 3) * 2.0
            emotion = EMOTION_CYCLE[k % len(EMOTION_CYCLE)]
            if emotion != "neutral":
                segments.append((t, min(t + length, duration_s), emotion))
            t += length
            k += 1
        people.append(PersonScript(segments=segments, position=position, face_size=150.0))
    if not path.exists():
        tmp = path.with_suffix(".part.mp4")
        make_scripted_video(tmp, people, duration_s=duration_s, fps=25.0, frame_size=(1280, 720), random_state=0)
        os.replace(tmp, path)
    return path


def _peak_rss_mib() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, not inherited from the parent)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _measure(kind: str, path: str, spec: str) -> dict:
    """Run in a child process: one measurement, with this process's peak memory."""
    import numpy as np

    from sk_emotion.video.stream import FrameSampler

    rss_start = _peak_rss_mib()
    if kind == "floor":
        t0, c0 = time.perf_counter(), time.process_time()
        sampler = FrameSampler(path, 2.0 / 16)
        n = sum(1 for _ in sampler)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        out = {"samples": n, "video_s": float(sampler.end_time_s)}
    else:
        from sk_emotion import EmotionClassifier, emotion_timeline, make_emotion_pipeline

        name, _, option = spec.partition(":")
        options = {"mirror": False} if option == "nomirror" else {}
        classifier = EmotionClassifier.from_pretrained(None if name == "default" else name, **options)
        model = make_emotion_pipeline(classifier=classifier, cache=False)
        # Warm: the networks load on first use, as they would once per process.
        from sk_emotion.nets.mtcnn import load_mtcnn

        load_mtcnn()
        model.steps[-1][1].predict_proba(np.zeros((1, 16, 64, 64), np.uint8))
        rss_start = _peak_rss_mib()
        t0, c0 = time.perf_counter(), time.process_time()
        windows, persons = emotion_timeline(path, model, return_persons=True)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        out = {"video_s": float(windows["end_s"].max()) if len(windows) else float("nan"),
               "persons": int(len(persons)), "windows": int(len(windows)),
               "labelled": float(windows["label"].notna().mean()) if len(windows) else float("nan")}
    out.update(wall_s=wall, cpu_s=cpu, rss_start_MiB=rss_start,
               peak_rss_MiB=_peak_rss_mib())
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--durations", type=float, nargs="+", default=[30.0, 300.0])
    parser.add_argument("--faces", type=int, nargs="+", default=[1, 3], choices=sorted(POSITIONS))
    parser.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "sk_emotion_timeline_bench"))
    parser.add_argument("--weights", nargs="+", default=["default"],
                        help="zero-shot models to time: default, FERPLUS, FER2013, each optionally "
                             "with ':nomirror' (mirror averaging off)")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_measure(*args.child)))
        return 0

    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()[0]
    print(f"machine: {os.cpu_count()} cores, load average {load:.2f} before the run")
    rows = []
    for n_faces in args.faces:
        for duration in args.durations:
            t0 = time.perf_counter()
            path = make_video(cache / f"timeline_{n_faces}faces_{int(duration)}s.mp4", n_faces, duration)
            made = time.perf_counter() - t0
            if made > 1:
                print(f"wrote {path.name} in {made:.0f} s")
            floor = _child("floor", path, "-")
            for spec in args.weights:
                tl = _child("timeline", path, spec)
                rows.append({"faces": n_faces, "duration_s": duration, "weights": spec,
                             "floor": floor, "timeline": tl})
                video_s = floor["video_s"]
                print(f"{n_faces} face(s), {video_s:5.0f} s of video, {spec}: "
                      f"floor {video_s / floor['wall_s']:5.1f}x real time ({floor['peak_rss_MiB']:.0f} MiB); "
                      f"timeline {video_s / tl['wall_s']:5.1f}x real time, "
                      f"{tl['cpu_s'] / video_s:.3f} CPU s per video s, "
                      f"peak {tl['peak_rss_MiB']:.0f} MiB (after loading {tl['rss_start_MiB']:.0f}), "
                      f"{tl['persons']} person(s) for {n_faces}, {tl['labelled']:.0%} windows labelled; "
                      f"timeline / floor wall time {tl['wall_s'] / floor['wall_s']:.2f}")
    print()
    print("| faces | video | model | floor (decode) | timeline | CPU s / video s | peak memory | persons |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        floor, tl = r["floor"], r["timeline"]
        video_s = floor["video_s"]
        print(f"| {r['faces']} | {video_s:.0f} s | {r['weights']} | {video_s / floor['wall_s']:.1f}x | "
              f"**{video_s / tl['wall_s']:.1f}x** | {tl['cpu_s'] / video_s:.3f} | "
              f"{tl['peak_rss_MiB']:.0f} MiB | {tl['persons']} / {r['faces']} |")
    by_faces: dict[tuple, list[dict]] = {}
    for r in rows:
        by_faces.setdefault((r["faces"], r["weights"]), []).append(r)
    for (n_faces, _), group in by_faces.items():
        if len(group) > 1:
            short, long = group[0]["timeline"], group[-1]["timeline"]
            print(f"{n_faces} face(s): peak memory {long['peak_rss_MiB']:.0f} MiB for "
                  f"{group[-1]['duration_s']:.0f} s against {short['peak_rss_MiB']:.0f} MiB for "
                  f"{group[0]['duration_s']:.0f} s (ratio {long['peak_rss_MiB'] / short['peak_rss_MiB']:.2f})")
    print(f"load average after the run: {os.getloadavg()[0]:.2f}")
    return 0


def _child(kind: str, path: Path, spec: str) -> dict:
    """One measurement in a fresh process (its own peak memory)."""
    child = subprocess.run([sys.executable, __file__, "--child", kind, str(path), spec],
                           capture_output=True, text=True, check=True)
    return json.loads(child.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    sys.exit(main())
