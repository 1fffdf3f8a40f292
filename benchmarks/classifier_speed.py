"""Training and prediction speed of EmotionClassifier on AFEW-sized data.

What it measures
    Fit time per epoch and prediction throughput (clips per second) for
    AFEW's training-set size (773 clips of 16 frames, 64x64 gray), with the
    backbone frozen (features computed once, then cached) and fine-tuned
    (backbone run forward and backward every epoch).  The clips are random
    pixels: speed does not depend on content.

    Then the backbone's memory layout, on the same frames: inference
    (forward only) and a fine-tuning step (forward and backward) in the
    default contiguous layout and in channels-last.  Each layout runs in a
    child process, because channels-last backward kernels of oneDNN crash
    the process on some AVX-512 CPUs (AMD Zen 4/5); the crash is reported,
    and channels-last training is also measured with oneDNN capped at AVX2
    (``ONEDNN_MAX_CPU_ISA=AVX2``, which must be set before torch starts).

How to run
    python benchmarks/classifier_speed.py               # full AFEW size
    python benchmarks/classifier_speed.py --n-clips 100 # quick look

What counts as a pass
    The frozen path is at least 5x faster per epoch than fine-tuning (the
    reason the cache exists), and a frozen fit of the default 40 epochs on
    AFEW-sized data takes a few minutes at most on a 2-core laptop.  The
    layout table justifies the package's choice: channels-last where no
    backward pass can follow (frozen feature pass, prediction), contiguous
    for training.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import torch

from sk_emotion import EmotionClassifier


def _layout_probe(layout: str, phase: str, n_frames: int, repeats: int = 3) -> dict:
    """Seconds per frame of the backbone's inference or training step in one layout (child process)."""
    from sk_emotion.nets import load_mini_xception

    fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
    torch.manual_seed(0)
    x = (torch.rand(n_frames, 1, 64, 64) * 2 - 1).contiguous(memory_format=fmt)
    net = load_mini_xception().to(memory_format=fmt)
    if phase == "inference":
        net.eval()
        with torch.inference_mode():
            for chunk in torch.split(x, 64):  # warm-up
                net.forward_stage(chunk, 4)
            start = time.perf_counter()
            for _ in range(repeats):
                for chunk in torch.split(x, 64):
                    net.forward_stage(chunk, 4)
        return {"inference": (time.perf_counter() - start) / (repeats * n_frames)}
    net.train()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-4)
    start = time.perf_counter()
    for _ in range(repeats):
        for chunk in torch.split(x, 64):
            optimizer.zero_grad()
            net.forward_stage(chunk, 4).square().mean().backward()
            optimizer.step()
    return {"training": (time.perf_counter() - start) / (repeats * n_frames)}


def _run_probe(layout: str, phase: str, n_frames: int, env_extra: dict | None = None) -> float | str:
    env = {**os.environ, **(env_extra or {})}
    result = subprocess.run(
        [sys.executable, __file__, "--layout-probe", layout, "--phase", phase, "--n-frames", str(n_frames)],
        capture_output=True, text=True, env=env,
    )
    if result.returncode < 0:
        return f"crashed ({signal.Signals(-result.returncode).name})"
    if result.returncode != 0:
        return f"failed: {result.stderr.strip().splitlines()[-1]}"
    return float(json.loads(result.stdout.strip().splitlines()[-1])[phase])


def layout_table(n_frames: int, frames_per_epoch: int) -> None:
    """Print inference and training cost of each layout, each in its own process."""
    runs = [
        ("contiguous", "contiguous", None),
        ("channels-last", "channels_last", None),
        ("channels-last, oneDNN capped at AVX2", "channels_last", {"ONEDNN_MAX_CPU_ISA": "AVX2"}),
        ("contiguous, oneDNN capped at AVX2", "contiguous", {"ONEDNN_MAX_CPU_ISA": "AVX2"}),
    ]
    print(f"\nbackbone layout ({n_frames} frames, chunks of 64, torch threads {torch.get_num_threads()}; "
          f"epoch = {frames_per_epoch} frames):")
    base: dict[str, float] = {}
    for label, layout, env in runs:
        cells = []
        for phase in ("inference", "training"):
            res = _run_probe(layout, phase, n_frames, env)
            if isinstance(res, str):
                cells.append(f"{phase} {res:28s}")
                continue
            base.setdefault(phase, res)
            value = f"{1000 * res:6.2f} ms/frame" if phase == "inference" else f"{res * frames_per_epoch:6.1f} s/epoch"
            cells.append(f"{phase} {value} ({base[phase] / res:4.2f}x)")
        print(f"  {label:38s} " + "   ".join(cells))


def backbone_flops() -> float:
    """Floating-point operations of the backbone up to stage 4 for one 64x64 frame (2 per MAC)."""
    from sk_emotion.nets import load_mini_xception

    net = load_mini_xception()
    macs = []

    def count(module, inputs, output):
        kh, kw = module.kernel_size
        macs.append(output.numel() * (module.in_channels // module.groups) * kh * kw)

    hooks = [m.register_forward_hook(count) for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    with torch.inference_mode():
        net.forward_stage(torch.zeros(1, 1, 64, 64), 4)
    for hook in hooks:
        hook.remove()
    return 2.0 * sum(macs)


def conv_peak_gflops(threads: int) -> float:
    """GFLOP/s of a large dense 3x3 convolution (64 -> 64 channels, 32x32): the machine's conv ceiling."""
    torch.set_num_threads(threads)
    x = torch.randn(64, 64, 32, 32).contiguous(memory_format=torch.channels_last)
    w = torch.randn(64, 64, 3, 3).contiguous(memory_format=torch.channels_last)
    flops = 2.0 * 64 * 64 * 32 * 32 * 64 * 9
    with torch.inference_mode():
        torch.nn.functional.conv2d(x, w, padding=1)
        start = time.perf_counter()
        for _ in range(5):
            torch.nn.functional.conv2d(x, w, padding=1)
    return 5 * flops / (time.perf_counter() - start) / 1e9


def inference_table(n_frames: int) -> None:
    """The feature pass as prediction runs it: channels-last, batch norms folded or not, 1 or 2 threads."""
    from sk_emotion.nets import load_mini_xception
    from sk_emotion.nets.mini_xception import fold_batchnorm

    flops = backbone_flops()
    x = (torch.rand(n_frames, 1, 64, 64) * 2 - 1).contiguous(memory_format=torch.channels_last)
    plain = load_mini_xception().to(memory_format=torch.channels_last)
    folded = fold_batchnorm(load_mini_xception()).to(memory_format=torch.channels_last)
    print(f"\nfeature pass (stage 4, {flops / 1e6:.1f} MFLOP per frame, {n_frames} frames in chunks of 64, "
          "median of 7 interleaved rounds):")
    nets = (("batch norms kept", plain), ("batch norms folded", folded))
    for threads in (1, 2):
        peak = conv_peak_gflops(threads)
        torch.set_num_threads(threads)
        times: dict[str, list[float]] = {label: [] for label, _ in nets}
        with torch.inference_mode():
            for _, net in nets:  # warm-up
                for chunk in torch.split(x, 64):
                    net.forward_stage(chunk, 4)
            for _ in range(7):  # interleaved, so that load changes hit both alike
                for label, net in nets:
                    start = time.perf_counter()
                    for chunk in torch.split(x, 64):
                        net.forward_stage(chunk, 4)
                    times[label].append((time.perf_counter() - start) / n_frames)
        for label, _ in nets:
            seconds = float(np.median(times[label]))
            print(f"  {threads} thread(s), {label:18s} {1000 * seconds:5.2f} ms/frame, "
                  f"{flops / seconds / 1e9:5.1f} GFLOP/s = {flops / seconds / 1e9 / peak:4.0%} of the "
                  f"dense-conv peak ({peak:.0f} GFLOP/s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-clips", type=int, default=773)
    parser.add_argument("--n-frames", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--fine-tune-epochs", type=int, default=1)
    parser.add_argument("--layout-frames", type=int, default=1024,
                        help="frames of the layout comparison")
    parser.add_argument("--layout-probe", choices=("contiguous", "channels_last"), help=argparse.SUPPRESS)
    parser.add_argument("--phase", choices=("inference", "training"), help=argparse.SUPPRESS)
    parser.add_argument("--layout-only", action="store_true", help="only the layout comparison")
    args = parser.parse_args()
    if args.layout_probe:
        print(json.dumps(_layout_probe(args.layout_probe, args.phase, args.n_frames)))
        return
    if args.layout_only:
        layout_table(args.layout_frames, args.n_clips * args.n_frames)
        inference_table(args.layout_frames)
        return

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
    layout_table(args.layout_frames, args.n_clips * args.n_frames)
    inference_table(args.layout_frames)


if __name__ == "__main__":
    main()
