r"""Train a face network on FER+ votes: ``python -m sk_emotion.weights.train``.

Reproducible and resumable.  Each run writes into ``--out``:

``split.npz``
    Which faces are held out (10% of every majority class, by image): every
    choice (epoch, logit adjustment, architecture) is made on them, never on
    FER2013's test faces.
``checkpoint.pt`` / ``best.pt``
    The last epoch (model, optimiser, schedule, random states) and the best
    epoch by held-out score (mean of majority accuracy and mean per-class
    recall); ``--resume`` continues from ``checkpoint.pt``.
``log.jsonl``
    One line per epoch: losses, held-out accuracy, per-class recall, times.
``<name>.npz``
    With ``--export``: the best epoch's ``state_dict`` as plain arrays, the
    format the package ships.

Targets are soft: the FER+ vote distribution mixed with FER2013's original
label (``--fer2013-weight``), which keeps disgust and fear, where FER+ has few
faces.  Training batches are drawn with weights ``n_class ** -balance`` of each
face's majority class.

``--init`` starts from a file of arrays (e.g. the shipped weights) to fine-tune
it, usually with ``--warmup-epochs 0`` and a smaller ``--lr``;
``--logit-adjust TAU`` shifts the exported head's bias by ``TAU * log(prior)``
(:func:`adjust_bias`), trading rare-class recall for majority accuracy.

Example
-------
::

    python -m sk_emotion.weights.train --ferplus data/FER2013Train --fer2013 fer2013/train \\
        --out runs/resnet32 --arch resnet --width 32 --epochs 30 --threads 2
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..emotions import EMOTIONS
from .augment import Augmentation, augment_batch, resize_faces

__all__ = ["adjust_bias", "build_network", "class_prior", "evaluate", "main", "soft_targets", "target_prior"]


def build_network(arch: str, width: int = 32) -> torch.nn.Module:
    """The network named ``arch``: "resnet" (:class:`FaceResNet`) or "mini_xception" (from scratch).

    Parameters
    ----------
    arch : {"resnet", "mini_xception"}
        The architecture.
    width : int, default=32
        First-stage channels of the ResNet.

    Returns
    -------
    torch.nn.Module
        A freshly initialised network taking ``(N, 1, 64, 64)`` faces in [-1, 1].
    """
    if arch == "resnet":
        from ..nets.face_resnet import FaceResNet

        return FaceResNet(len(EMOTIONS), width=width)
    if arch == "mini_xception":
        from ..nets.mini_xception import MiniXception

        return MiniXception(len(EMOTIONS))
    raise ValueError(f"arch must be 'resnet' or 'mini_xception', got {arch!r}")


def soft_targets(votes: np.ndarray, fer2013: np.ndarray, fer2013_weight: float) -> np.ndarray:
    """Vote distributions mixed with FER2013's one-hot label where it is known.

    Parameters
    ----------
    votes : numpy.ndarray of shape (n, 7)
        FER+ votes per emotion.
    fer2013 : numpy.ndarray of shape (n,)
        FER2013 label index, -1 when unknown (the votes alone then).
    fer2013_weight : float
        Weight of the FER2013 label, in [0, 1].

    Returns
    -------
    numpy.ndarray of shape (n, 7), float32
        Rows summing to 1.
    """
    dist = votes / votes.sum(axis=1, keepdims=True)
    onehot = np.zeros_like(dist)
    known = fer2013 >= 0
    onehot[known, fer2013[known]] = 1.0
    weight = np.where(known, fer2013_weight, 0.0)[:, None]
    return ((1 - weight) * dist + weight * onehot).astype(np.float32)


def class_prior(majority: np.ndarray) -> np.ndarray:
    """Class frequencies among faces with a unique majority label.

    Parameters
    ----------
    majority : numpy.ndarray of shape (n,)
        Majority class index, -1 for ties (left out).

    Returns
    -------
    numpy.ndarray of shape (7,)
        Frequencies summing to 1.
    """
    counts = np.bincount(majority[majority >= 0], minlength=len(EMOTIONS)).astype(np.float64)
    return counts / counts.sum()


def target_prior(targets: np.ndarray, sample_weight: np.ndarray | None = None) -> np.ndarray:
    """Class frequencies of soft targets, as a sampler with ``sample_weight`` draws them.

    With the recipe's sampling weights this is the prior the network's scores
    assume (a weights set's ``meta["training_prior"]``); without weights, the
    training faces' own frequencies (``meta["class_frequencies"]``).  The
    estimator's ``class_prior`` shifts scores by the log ratio of the two
    (``docs/weights.md``, *Class priors*).

    Parameters
    ----------
    targets : numpy.ndarray of shape (n, 7)
        Soft targets, rows summing to 1 (:func:`soft_targets`).
    sample_weight : numpy.ndarray of shape (n,), optional
        How often each face is drawn, relatively (default: equally).

    Returns
    -------
    numpy.ndarray of shape (7,)
        Frequencies summing to 1.
    """
    weight = np.ones(len(targets)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    prior = (weight[:, None] * targets).sum(axis=0) / weight.sum()
    return prior / prior.sum()


def adjust_bias(bias: np.ndarray, prior: np.ndarray, tau: float) -> np.ndarray:
    """The head's bias plus ``tau * log(prior)``: post-hoc logit adjustment.

    Training draws faces with weights ``n_class ** -balance``, which buys recall
    of the rare classes (disgust, fear) with a bias against the frequent ones
    (neutral, happy).  Adding ``tau * log(prior)`` to every logit moves that
    trade back by a chosen amount without retraining (Menon et al., "Long-tail
    learning via logit adjustment", ICLR 2021).  The head averages per-position
    scores into logits, so shifting its bias shifts the logits, the class map
    and the attention stage's scores alike.

    Parameters
    ----------
    bias : numpy.ndarray of shape (7,)
        The head's bias.
    prior : numpy.ndarray of shape (7,)
        Class frequencies of the training faces (majority labels), summing to 1.
    tau : float
        Strength; 0 leaves the bias unchanged.

    Returns
    -------
    numpy.ndarray of shape (7,)
        The adjusted bias, same dtype.
    """
    if np.any(prior <= 0):
        raise ValueError("every class needs training faces to adjust its logit")
    return (bias + tau * np.log(prior)).astype(bias.dtype)


def _scale(x: torch.Tensor) -> torch.Tensor:
    return x / 127.5 - 1.0          # 0-255 -> [-1, 1], the package's gray-network convention


@torch.no_grad()
def predict_logits(net: torch.nn.Module, images: np.ndarray, batch_size: int = 512,
                   flip: bool = False) -> np.ndarray:
    """Logits of ``(n, 48, 48)`` faces resized to 64x64 (optionally averaged with their mirror).

    Parameters
    ----------
    net : torch.nn.Module
        The network.
    images : numpy.ndarray of shape (n, H, W), uint8
        Gray faces.
    batch_size : int, default=512
        Faces per forward pass.
    flip : bool, default=False
        Average the logits of each face and its mirror image.

    Returns
    -------
    numpy.ndarray of shape (n, 7)
        Logits.
    """
    net.eval()
    out = []
    for start in range(0, len(images), batch_size):
        x = _scale(resize_faces(images[start:start + batch_size]))
        logits = net(x)
        if flip:
            logits = (logits + net(torch.flip(x, dims=[-1]))) / 2
        out.append(logits.numpy())
    return np.concatenate(out)


def evaluate(logits: np.ndarray, majority: np.ndarray) -> dict:
    """Majority-label accuracy and per-class recall over faces with a unique majority.

    Parameters
    ----------
    logits : numpy.ndarray of shape (n, 7)
        Scores.
    majority : numpy.ndarray of shape (n,)
        Majority class, -1 for ties (left out).

    Returns
    -------
    dict
        ``accuracy``, ``mean_recall``, ``recall`` (per emotion), ``n``.
    """
    keep = majority >= 0
    pred = logits[keep].argmax(axis=1)
    truth = majority[keep]
    recall = {EMOTIONS[c]: float((pred[truth == c] == c).mean()) if (truth == c).any() else float("nan")
              for c in range(len(EMOTIONS))}
    return {"accuracy": float((pred == truth).mean()), "mean_recall": float(np.nanmean(list(recall.values()))),
            "recall": recall, "n": int(keep.sum())}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m sk_emotion.weights.train", description=__doc__.split("\n")[0])
    p.add_argument("--ferplus", required=True, help="FER+'s FER2013Train folder (PNGs and label.csv)")
    p.add_argument("--fer2013", help="FER2013's training split as <emotion>/ folders (original labels)")
    p.add_argument("--out", required=True, help="run folder: split, checkpoints, log")
    p.add_argument("--arch", default="resnet", choices=["resnet", "mini_xception"])
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--fer2013-weight", type=float, default=0.3)
    p.add_argument("--balance", type=float, default=0.5, help="sampling weight n_class ** -balance")
    p.add_argument("--no-augment", action="store_true")
    p.add_argument("--holdout", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--channels-last", action="store_true",
                   help="channels-last memory (about 1.5x faster; ignored on AVX-512 CPUs, where it crashes)")
    p.add_argument("--limit", type=int, help="use only the first N faces (smoke test)")
    p.add_argument("--max-steps", type=int, help="stop each epoch after N steps (smoke test)")
    p.add_argument("--init", help="start from these arrays (.npz, e.g. a shipped file): fine-tuning")
    p.add_argument("--warmup-epochs", type=int, default=1, help="epochs of linear learning-rate warm-up")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--export", help="write the best epoch's arrays to this .npz at the end")
    p.add_argument("--logit-adjust", type=float, default=0.0, metavar="TAU",
                   help="at export, add TAU * log(class prior of the training faces) to the head's bias")
    return p


def _load_data(args: argparse.Namespace, out: Path):
    from ..datasets.ferplus import load_ferplus, stratified_holdout

    data = load_ferplus(args.ferplus, args.fer2013, limit=args.limit)
    split_file = out / "split.npz"
    if split_file.is_file():
        saved = np.load(split_file, allow_pickle=False)
        if list(saved["names"]) != list(data.names):
            raise ValueError(f"'{split_file}' was made for other faces; use a new --out")
        held = saved["held_out"]
    else:
        held = stratified_holdout(data.majority, args.holdout, args.seed)
        np.savez(split_file, names=data.names, held_out=held)
    return data, held


def _training_layout(channels_last: bool) -> torch.memory_format:
    # Channels-last trains about 1.5x faster on CPU, but oneDNN's backward kernels for it
    # crash the process on some setups ("double free": AMD Zen 4 with AVX-512, and an AVX2
    # CPU with 4-channel layers), so it is opt-in and never used where AVX-512 is present.
    if channels_last and not torch.backends.cpu.get_cpu_capability().startswith("AVX512"):
        return torch.channels_last
    return torch.contiguous_format


def _epoch_order(weights: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    return rng.choice(len(weights), size=n, replace=True, p=weights / weights.sum())


def main(argv: list[str] | None = None) -> int:
    """Run the training recipe; see the module docstring.

    Parameters
    ----------
    argv : list of str, optional
        Command-line arguments (``sys.argv[1:]`` by default).

    Returns
    -------
    int
        Exit status.
    """
    args = _parser().parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    data, held = _load_data(args, out)
    train_idx = np.flatnonzero(~held)
    targets = soft_targets(data.votes, data.fer2013, args.fer2013_weight)
    majority = data.majority
    counts = np.bincount(np.where(majority >= 0, majority, targets.argmax(1)), minlength=len(EMOTIONS))
    primary = np.where(majority >= 0, majority, targets.argmax(1))
    sample_weight = counts[primary[train_idx]].astype(np.float64) ** -args.balance

    layout = _training_layout(args.channels_last)
    net = build_network(args.arch, args.width)
    if args.init:  # the package's own loader: every array, exact shapes, the file named on a mismatch
        from ..nets.mini_xception import _load_state_arrays

        _load_state_arrays(net, args.init)
    net = net.to(memory_format=layout)
    steps_per_epoch = len(train_idx) // args.batch_size
    if args.max_steps:
        steps_per_epoch = min(steps_per_epoch, args.max_steps)
    total = steps_per_epoch * args.epochs
    opt = torch.optim.SGD(net.parameters(), lr=args.lr, momentum=0.9, nesterov=True,
                          weight_decay=args.weight_decay)
    warmup = steps_per_epoch * args.warmup_epochs

    def lr_at(step: int) -> float:
        if step < warmup:  # warmup == 0: no warm-up (fine-tuning)
            return (step + 1) / warmup
        return 0.5 * (1 + np.cos(np.pi * (step - warmup) / max(1, total - warmup)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    aug = Augmentation(enabled=not args.no_augment)
    start_epoch, best_score = 0, -1.0
    rng = np.random.default_rng(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    ckpt = out / "checkpoint.pt"
    if args.resume and ckpt.is_file():
        state = torch.load(ckpt, weights_only=False)  # our own file, written below
        net.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        start_epoch, best_score = state["epoch"] + 1, state["best_score"]
        rng.bit_generator.state = state["rng"]
        gen.set_state(state["gen"])
        print(f"resumed after epoch {state['epoch'] + 1}", flush=True)
    config = {k: v for k, v in vars(args).items()}
    config["augmentation"] = asdict(aug)
    # What the exported network's scores assume, and the faces' own frequencies: a weights set
    # declares them as meta["training_prior"] and meta["class_frequencies"].
    config["training_prior"] = target_prior(targets[train_idx], sample_weight).round(4).tolist()
    config["class_frequencies"] = target_prior(targets[train_idx]).round(4).tolist()
    (out / "config.json").write_text(json.dumps(config, indent=1))
    held_idx = np.flatnonzero(held)
    for epoch in range(start_epoch, args.epochs):
        net.train()
        t0 = time.time()
        order = _epoch_order(sample_weight, steps_per_epoch * args.batch_size, rng)
        running = 0.0
        for step in range(steps_per_epoch):
            batch = train_idx[order[step * args.batch_size:(step + 1) * args.batch_size]]
            x = _scale(augment_batch(data.images[batch], aug, gen, rng)).contiguous(memory_format=layout)
            y = torch.from_numpy(targets[batch])
            loss = -(y * F.log_softmax(net(x), dim=1)).sum(1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            running += loss.item()
        train_s = time.time() - t0
        logits = predict_logits(net, data.images[held_idx])
        metrics = evaluate(logits, majority[held_idx])
        held_loss = float(-(torch.from_numpy(targets[held_idx])
                            * F.log_softmax(torch.from_numpy(logits), 1)).sum(1).mean())
        score = (metrics["accuracy"] + metrics["mean_recall"]) / 2
        record = {"epoch": epoch + 1, "train_loss": running / steps_per_epoch, "held_loss": held_loss,
                  **metrics, "score": score, "train_s": round(train_s, 1), "lr": sched.get_last_lr()[0]}
        with open(out / "log.jsonl", "a") as log:
            log.write(json.dumps(record) + "\n")
        print(f"epoch {epoch + 1}/{args.epochs} loss {record['train_loss']:.3f} held-out acc "
              f"{metrics['accuracy']:.3f} mean recall {metrics['mean_recall']:.3f} ({train_s:.0f} s)", flush=True)
        if score > best_score:
            best_score = score
            torch.save({"model": net.state_dict(), "epoch": epoch, "metrics": metrics, "config": config},
                       out / "best.pt")
        torch.save({"model": net.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                    "epoch": epoch, "best_score": best_score, "rng": rng.bit_generator.state,
                    "gen": gen.get_state()}, out / ".checkpoint.tmp")
        (out / ".checkpoint.tmp").replace(ckpt)
    if args.export:
        from .arrays import write_arrays

        best = torch.load(out / "best.pt", weights_only=False)
        arrays = {k: v.numpy() for k, v in best["model"].items()}
        if args.logit_adjust:
            arrays["head.bias"] = adjust_bias(arrays["head.bias"], class_prior(majority[train_idx]),
                                              args.logit_adjust)
            print(f"head bias shifted by {args.logit_adjust} * log(prior)", flush=True)
        write_arrays(args.export, arrays)
        print(f"wrote {args.export}", flush=True)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
