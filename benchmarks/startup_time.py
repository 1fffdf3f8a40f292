"""Start-up time of the package and its command line.

What it measures
    Wall time of fresh processes (median of ``--repeats`` runs): a bare
    ``python -c pass`` (the floor), ``import sk_emotion``, ``sk-emotion
    --help``, a command-line usage error (an unknown option), importing the
    ONNX predictor, and ``import torch`` for comparison (what every command
    paid before the package imported its heavy dependencies lazily).

How to run
    python benchmarks/startup_time.py [--repeats 5]

What counts as a pass
    ``sk-emotion --help`` and usage errors answer in well under a second on
    an idle 2-core machine, i.e. a small multiple of the bare interpreter
    floor and far below ``import torch``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time


def _time(command: list[str], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    cli = shutil.which("sk-emotion") or os.path.join(os.path.dirname(sys.executable), "sk-emotion")
    python = sys.executable
    runs = [
        ("python -c pass (floor)", [python, "-c", "pass"]),
        ("import sk_emotion", [python, "-c", "import sk_emotion"]),
        ("sk-emotion --help", [cli, "--help"]),
        ("sk-emotion predict --no-such-option", [cli, "predict", "--no-such-option"]),
        ("import the ONNX predictor", [python, "-c", "from sk_emotion.export import OnnxEmotionClassifier"]),
        ("import torch (comparison)", [python, "-c", "import torch"]),
    ]
    print(f"median of {args.repeats} runs, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
    floor = None
    for label, command in runs:
        seconds = _time(command, args.repeats)
        floor = floor or seconds
        print(f"  {label:38s} {seconds:6.3f} s  ({seconds / floor:5.1f}x floor)")


if __name__ == "__main__":
    main()
