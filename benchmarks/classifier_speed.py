"""Training and prediction speed of EmotionClassifier on AFEW-sized data.

What it measures
    Fit time per epoch and prediction throughput (clips per second) for
    AFEW's training-set size (773 clips of 16 frames, 64x64 gray), with the
    backbone frozen (features computed once, then cached) and fine-tuned
    (backbone run forward and backward every epoch).  The clips are random
    pixels: speed does not depend on content.

How to run
    python benchmarks/classifier_speed.py               # full AFEW size
    python benchmarks/classifier_speed.py --n-clips 100 # quick look

What counts as a pass
    The frozen path is at least 5x faster per epoch than fine-tuning (the
    reason the cache exists), and a frozen fit of the default 40 epochs on
    AFEW-sized data takes a few minutes at most on a 2-core laptop.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from sk_emotion import EmotionClassifier


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-clips", type=int, default=773)
    parser.add_argument("--n-frames", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--fine-tune-epochs", type=int, default=1)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (args.n_clips, args.n_frames, 64, 64), dtype=np.uint8)
    y = rng.choice(["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"], args.n_clips)
    print(f"data: {args.n_clips} clips x {args.n_frames} frames x 64x64, torch threads {torch.get_num_threads()}")

    rows = []
    for label, params, epochs in [
        ("frozen (cached features)", dict(freeze_backbone=True), args.epochs),
        ("fine-tuned", dict(freeze_backbone=False), args.fine_tune_epochs),
    ]:
        clf = EmotionClassifier(max_epochs=epochs, random_state=0, **params)
        start = time.perf_counter()
        clf.fit(X, y)
        total = time.perf_counter() - start
        per_epoch = float(np.mean(clf.history[:, "dur"]))
        start = time.perf_counter()
        clf.predict_proba(X)
        predict_s = time.perf_counter() - start
        rows.append((label, total, per_epoch, args.n_clips / predict_s))
        print(f"{label:26s} fit {total:7.1f} s total ({epochs} epochs), {per_epoch:7.2f} s/epoch, "
              f"predict {args.n_clips / predict_s:7.1f} clips/s")
    frozen, tuned = rows
    setup = frozen[1] - args.epochs * frozen[2]
    print(f"frozen: one-off feature pass and set-up {setup:.1f} s, then {frozen[2]:.2f} s/epoch")
    print(f"speed-up per epoch, frozen vs fine-tuned: {tuned[2] / frozen[2]:.1f}x")
    print(f"speed-up for a 40-epoch fit: "
          f"{(40 * tuned[2]) / (setup + 40 * frozen[2]):.1f}x")


if __name__ == "__main__":
    main()
