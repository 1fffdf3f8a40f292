"""Speed of the whole zero-shot pipeline (extract + classify) for each backbone, with its floor.

What it measures
----------------
The AFEW-like clips of ``benchmarks/extraction_speed.py`` (720x576 MPEG-4
AVI, 2-4 s, real faces), ``--n-frames`` (16) faces per video.  In one run,
warm (worker processes started and networks loaded on other clips first),
no cache:

* the floor: extraction alone (``VideoFaceExtractor``, ``n_jobs``);
* ``make_emotion_pipeline(...).predict`` with each backbone named by
  ``--weights`` (default: the FER+ FaceResNet and the FER2013
  mini-Xception), and the classification step alone on the extracted faces,
  with the CPU seconds per video of each.

How to run
----------
::

    python benchmarks/pipeline_speed.py [--videos 64] [--n-jobs 2] [--weights FERPLUS FER2013] [--mirror] [--repeats 3]

On a shared machine, ``--repeats N`` times every row N times, one after the
other, and prints the best and the median (neighbours' load only ever slows
a run down).

What counts as a pass
---------------------
On 2 idle cores, at least **10 videos/s** for the default backbone with
``n_jobs=2``.  On a loaded machine, compare the CPU seconds per video.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from extraction_speed import cpu_seconds, warm_up, write_clips

from sk_emotion import EmotionClassifier, VideoFaceExtractor, make_emotion_pipeline


def _timed(fn, repeats: int = 1) -> list[tuple[float, float]]:
    """``(wall s, CPU s)`` of each of ``repeats`` calls of ``fn``."""
    runs = []
    for _ in range(repeats):
        cpu, start = cpu_seconds(), time.perf_counter()
        fn()
        runs.append((time.perf_counter() - start, cpu_seconds() - cpu))
    return runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=int, default=64)
    parser.add_argument("--n-frames", type=int, default=16)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--weights", nargs="+", default=["FERPLUS", "FER2013"])
    parser.add_argument("--mirror", action="store_true",
                        help="also measure each backbone with mirror averaging (mirror=True)")
    parser.add_argument("--folder", help="where the clips are written (default: a temporary folder)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="time every row this many times; print the best and the median")
    args = parser.parse_args(argv)
    folder = Path(args.folder or tempfile.mkdtemp(prefix="sk_emotion_pipeline_speed_"))
    paths = write_clips(folder, args.videos, seed=0)
    warm = write_clips(folder, 4, seed=1)

    def row(name: str, runs: list[tuple[float, float]]) -> None:
        rates = sorted(args.videos / seconds for seconds, _ in runs)
        cpus = sorted(cpu / args.videos for _, cpu in runs)
        line = f"{name:<34} {rates[-1]:7.2f} videos/s  {cpus[0]:6.3f} CPU s/video"
        if len(runs) > 1:
            line += (f"  (best of {len(runs)}; median {rates[len(rates) // 2]:.2f} videos/s, "
                     f"{cpus[len(cpus) // 2]:.3f} CPU s/video)")
        print(line, flush=True)

    extractor = VideoFaceExtractor(n_frames=args.n_frames, n_jobs=args.n_jobs)
    warm_up(extractor, warm)
    faces = []
    row(f"extraction only (n_jobs={args.n_jobs})",
        _timed(lambda: faces.append(extractor.transform(paths)), args.repeats))
    for weights in args.weights:
        for mirror in (False, True) if args.mirror else (None,):
            # None: the weights' own zero-shot setting.
            options = {} if mirror is None else {"mirror": mirror}
            name = weights if mirror is None else f"{weights}, mirror={mirror}"
            clf = EmotionClassifier.from_pretrained(weights, **options)
            clf.predict(faces[0][:4])
            row(f"classification only ({name})", _timed(lambda clf=clf: clf.predict(faces[0]), args.repeats))
            pipe = make_emotion_pipeline(extractor=extractor, classifier=clf)
            pipe.predict(warm)
            row(f"pipeline ({name}, n_jobs={args.n_jobs})", _timed(lambda pipe=pipe: pipe.predict(paths), args.repeats))
    return 0


if __name__ == "__main__":
    sys.exit(main())
