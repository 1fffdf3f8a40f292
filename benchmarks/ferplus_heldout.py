"""Backbones on the held-out FER+ faces: majority accuracy, per-class recall, time per face.

What it measures
    The faces a training run held out (``RUN/split.npz`` of
    ``python -m sk_emotion.weights.train``: 10% of FER+'s FER2013Train,
    stratified by majority label, by image) with a unique FER+ majority:
    each backbone's accuracy against that majority, its recall per class and
    their mean, without and with mirror averaging; and the time per face of
    a batch of 64 on one thread (channels-last, batch norms folded: the
    package's inference path), median of 5 rounds.  With several weights,
    also their ensemble (the mean of their log-probabilities; its time is
    the sum of theirs).

    Caveat: the mini-Xception (``FER2013``) was trained on all of FER2013's
    training faces, these included, against FER2013's own labels.

How to run
    python benchmarks/ferplus_heldout.py --ferplus data/FER2013Train --run runs/resnet24 \\
        [--weights FERPLUS FER2013 FER2013=runs/mx/mini_xception_ferplus.npz]

What counts as a pass
    The shipped default reaches a majority accuracy of at least 0.84 and a
    mean per-class recall of at least 0.70.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import torch
from zero_shot_rule import backbone, heldout_parser

from sk_emotion.datasets.ferplus import load_ferplus
from sk_emotion.emotions import EMOTIONS
from sk_emotion.weights.train import evaluate, predict_logits


def ms_per_face(net: torch.nn.Module, rounds: int = 5) -> float:
    torch.set_num_threads(1)
    folded = net.folded().to(memory_format=torch.channels_last)
    x = torch.randn(64, 1, 64, 64).contiguous(memory_format=torch.channels_last)
    times = []
    with torch.no_grad():
        folded(x)
        for _ in range(rounds):
            start = time.perf_counter()
            folded(x)
            times.append(time.perf_counter() - start)
    return float(np.median(times)) / 64 * 1000


def main() -> int:
    args = heldout_parser(__doc__.split("\n\n")[0]).parse_args()
    split = np.load(f"{args.run}/split.npz", allow_pickle=False)
    data = load_ferplus(args.ferplus)
    if list(split["names"]) != list(data.names):
        raise SystemExit("the run's split.npz was made for other faces")
    held = np.flatnonzero(split["held_out"])
    majority = data.majority[held]
    counts = np.bincount(majority[majority >= 0], minlength=len(EMOTIONS))
    print(f"{len(held)} held-out faces, {int((majority >= 0).sum())} with a unique majority: "
          + ", ".join(f"{e} {n}" for e, n in zip(EMOTIONS, counts)))
    log_probs: dict[bool, list[np.ndarray]] = {False: [], True: []}
    total_ms = 0.0
    print(f"\n{'weights':34s} {'mirror':6s} {'acc':>6s} {'recall':>6s} "
          + " ".join(f"{e[:7]:>7s}" for e in EMOTIONS) + f" {'ms/face':>8s} {'params':>9s}")
    for weights in args.weights:
        torch.set_num_threads(2)
        net = backbone(weights)
        params = sum(p.numel() for p in net.parameters())
        speed = ms_per_face(net)
        total_ms += speed
        for mirror in (False, True):
            torch.set_num_threads(2)
            logits = predict_logits(net, data.images[held], flip=mirror)
            log_probs[mirror].append(torch.log_softmax(torch.from_numpy(logits), dim=1).numpy())
            _row(weights, mirror, evaluate(logits, majority), speed * (2 if mirror else 1), params)
    if len(args.weights) > 1:
        # The ensemble: the mean of the backbones' log-probabilities (a product of experts).
        for mirror in (False, True):
            _row("ensemble of the above", mirror, evaluate(np.mean(log_probs[mirror], axis=0), majority),
                 total_ms * (2 if mirror else 1), None)
    return 0


def _row(name: str, mirror: bool, report: dict, ms: float, params: int | None) -> None:
    print(f"{name:34s} {mirror!s:6s} {report['accuracy']:6.3f} {report['mean_recall']:6.3f} "
          + " ".join(f"{report['recall'][e]:7.3f}" for e in EMOTIONS)
          + f" {ms:8.2f} {params if params is not None else '-':>9}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
