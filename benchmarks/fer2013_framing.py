"""How FER2013 frames its faces, and what re-framing costs the pretrained backbone.

What it measures
    Step "template": on a stratified sample of the FER2013 *training* folder,
    MTCNN finds the five landmarks of each 48x48 face (upscaled to 144x144,
    cubic, and padded by 72 replicated pixels, so that the face is of a
    detectable size and does not fill the image; min_face_size 40).  Printed:
    detection rate per class, the median template with its interquartile
    range, its largest difference from the package's declared
    ``template_points("fer2013")`` (a symmetrised median), and eye distance,
    eye height and mouth height.  ``--variants`` re-derives the template
    under other upscale / pad / min_face_size settings (stability).

    Step "framing": on a disjoint stratified sample, each detected face is
    re-framed with :func:`sk_emotion.faces.align_face` and classified by the
    pretrained mini-Xception, against FER2013's own framing (the 48x48 crop
    resized to 64x64): per-frame accuracy, mean true-class probability and
    the paired accuracy difference from that baseline (+- 1 standard error).

    Only ``train/`` is read, never ``test/``.  The network was trained on
    these faces, so absolute accuracies are inflated (memorisation favours
    the exact training framing); only the ordering of framings is meant.

How to run
    python benchmarks/fer2013_framing.py --fer2013 /data/fer2013   # train/<emotion>/*.jpg
    python benchmarks/fer2013_framing.py --fer2013 /data/fer2013 --n 1000 --n-eval 800
    python benchmarks/fer2013_framing.py --fer2013 /data/fer2013 --variants --png framings.png

    Other benchmarks reuse step 2 as a table:
    ``from fer2013_framing import framing_table`` (benchmarks/ on sys.path).

What counts as a pass
    It is a measurement, not a test.  Expected: the derived template matches
    the declared one to about 0.01 (symmetrisation and sampling noise); the
    package default (FER2013 template, replicated border) loses the least
    accuracy of the aligned framings, clearly less than the old default
    (ArcFace, margin 0.1, black border); a replicated border beats a black
    one.  Every aligned framing stays below the baseline on these training
    faces.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
import pandas as pd
import torch

from sk_emotion.emotions import EMOTIONS  # the network's output order
from sk_emotion.faces import MTCNNDetector, align_face, template_points
from sk_emotion.nets import load_mini_xception, preprocess_faces

FOLDERS = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")
POINTS = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")
SRC, FACE = 48, 64
#: Detection set-up (upscale side, pad, pad mode, min_face_size): MTCNN misses
#: faces that fill the image or are under ~40 px, and FER2013 crops are both.
PRIMARY = {"size": 144, "pad": 72, "mode": "replicate", "min_face": 40}
VARIANTS = [{"size": 192, "pad": 96, "mode": "replicate", "min_face": 60},
            {"size": 144, "pad": 72, "mode": "grey", "min_face": 40},
            {"size": 144, "pad": 144, "mode": "replicate", "min_face": 60},
            {"size": 96, "pad": 48, "mode": "replicate", "min_face": 24}]

Framing = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
#: name -> (short label for the picture, function(gray48, upscaled, landmarks) -> 64x64 face).
#: Aligned faces are warped from the upscaled *unpadded* image, where the
#: landmarks live, so that ``border`` alone decides what fills the area outside
#: the 48x48 crop (FER2013 has no context beyond it).
FRAMINGS: dict[str, tuple[str, Framing]] = {
    "baseline: 48->64 resize": ("baseline", lambda g, up, lm: cv2.resize(g, (FACE, FACE))),
    "package default (FER2013, replicate)": ("FER2013 rep (default)", lambda g, up, lm: align_face(up, lm)),
    "FER2013, black border": ("FER2013 black", lambda g, up, lm: align_face(up, lm, border="constant")),
    "ArcFace m=0.1, black (old default)": (
        "ArcFace .1 black (old)", lambda g, up, lm: align_face(up, lm, FACE, 0.1, "constant", "arcface")),
    "ArcFace m=0.1, replicate": (
        "ArcFace .1 rep", lambda g, up, lm: align_face(up, lm, FACE, 0.1, "replicate", "arcface")),
    "ArcFace m=-0.06, black": (
        "ArcFace -.06 black", lambda g, up, lm: align_face(up, lm, FACE, -0.06, "constant", "arcface")),
}
FLIPPED = ("baseline: 48->64 resize", "package default (FER2013, replicate)")
BASELINE = "baseline: 48->64 resize"


def stratified_split(root: Path, n1: int, n2: int, seed: int) -> tuple[list, list]:
    """Two disjoint samples of ``root/train`` of about ``n1`` and ``n2`` files, stratified by class.

    Returns
    -------
    sample1, sample2 : list of (Path, str)
        ``(file, folder name)`` pairs.
    """
    rng = np.random.default_rng(seed)
    files = {c: sorted((Path(root) / "train" / c).glob("*.jpg")) for c in FOLDERS}
    total = sum(len(v) for v in files.values())
    if total == 0:
        raise FileNotFoundError(f"no {Path(root) / 'train'}/<emotion>/*.jpg files")
    s1, s2 = [], []
    for c in FOLDERS:  # same draws for both samples: sample 2 is the next slice of each permutation
        perm = rng.permutation(len(files[c]))
        k1, k2 = (round(n * len(files[c]) / total) for n in (n1, n2))
        s1 += [(files[c][i], c) for i in perm[:k1]]
        s2 += [(files[c][i], c) for i in perm[k1:k1 + k2]]
    return s1, s2


def _load(sample: list) -> list[np.ndarray]:
    images = [cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p, _ in sample]
    if bad := [str(p) for (p, _), im in zip(sample, images) if im is None or im.shape != (SRC, SRC)]:
        raise ValueError(f"not 48x48 grayscale images: {bad[:3]}")
    return images


def _upscale(gray: np.ndarray, size: int) -> np.ndarray:
    return cv2.resize(gray, (size, size), interpolation=cv2.INTER_CUBIC)


def detect_landmarks(images: list[np.ndarray], size: int = 144, pad: int = 72, mode: str = "replicate",
                     min_face: float = 40, batch: int = 64) -> np.ndarray:
    """MTCNN landmarks in the pixels of the upscaled, unpadded face (NaN where none).

    Parameters
    ----------
    images : list of (48, 48) uint8 arrays
    size, pad, mode, min_face : see ``PRIMARY``
        Cubic upscale side, border added on every side ("replicate" or
        "grey"), MTCNN's ``min_face_size``.
    batch : int, default=64

    Returns
    -------
    numpy.ndarray of shape (n, 5, 2)
        Of several faces, the best-scored one centred inside the crop is kept.
    """
    detector = MTCNNDetector(min_face_size=min_face, thresholds=(0.6, 0.7, 0.8))
    border = {"borderType": cv2.BORDER_REPLICATE} if mode == "replicate" else \
        {"borderType": cv2.BORDER_CONSTANT, "value": 128}
    out = np.full((len(images), 5, 2), np.nan)
    for start in range(0, len(images), batch):
        rgb = [np.dstack([cv2.copyMakeBorder(_upscale(g, size), pad, pad, pad, pad, **border)] * 3)
               for g in images[start:start + batch]]
        for j, det in enumerate(detector.detect_batch(rgb)):
            centre = (det.boxes[:, :2] + det.boxes[:, 2:]) / 2 - pad
            inside = np.flatnonzero(((centre >= 0) & (centre <= size)).all(1))
            if inside.size:  # detections come sorted by decreasing score
                out[start + j] = det.landmarks[inside[0]] - pad
    return out


def _geometry(points: np.ndarray) -> dict[str, np.ndarray]:
    """Eye distance, eye height and mouth height of (..., 5, 2) template fractions."""
    return {"eye distance / width": np.hypot(*np.moveaxis(points[..., 1, :] - points[..., 0, :], -1, 0)),
            "eye height (mean y)": points[..., :2, 1].mean(-1),
            "mouth height (mean y)": points[..., 3:, 1].mean(-1)}


def _symmetrise(t: np.ndarray) -> np.ndarray:
    """Average a template with its mirror image (left and right points swapped), as the package does."""
    mirror = t[[1, 0, 2, 4, 3]] * [-1, 1] + [1, 0]
    return (t + mirror) / 2


@torch.no_grad()
def _predict(net: torch.nn.Module, faces: np.ndarray, flip: bool = False) -> np.ndarray:
    probs = []
    for s in range(0, len(faces), 256):
        x = preprocess_faces(faces[s:s + 256])
        p = torch.softmax(net(x), 1)
        if flip:  # test-time flip averaging of the probabilities
            p = (p + torch.softmax(net(torch.flip(x, dims=[3])), 1)) / 2
        probs.append(p.numpy())
    return np.concatenate(probs)


class _Run(NamedTuple):
    table: pd.DataFrame
    faces: dict[str, np.ndarray]
    correct: dict[str, np.ndarray]


def _framing_run(root: Path, n_eval: int, seed: int, n_template: int) -> _Run:
    _, sample = stratified_split(root, n_template, n_eval, seed)
    images = _load(sample)
    lms = detect_landmarks(images, **PRIMARY)
    idx = np.flatnonzero(~np.isnan(lms[:, 0, 0]))  # only faces MTCNN finds can be aligned
    y = np.array([EMOTIONS.index(sample[i][1]) for i in idx])
    ups = {i: _upscale(images[i], PRIMARY["size"]) for i in idx}
    net = load_mini_xception().eval()
    faces, probs = {}, {}
    for name, (_, fn) in FRAMINGS.items():
        faces[name] = np.stack([fn(images[i], ups[i], lms[i]) for i in idx])
        probs[name] = _predict(net, faces[name])
    for name in FLIPPED:
        probs[name + " + flip"] = _predict(net, faces[name], flip=True)
    correct = {name: p.argmax(1) == y for name, p in probs.items()}
    rows = []
    for name, p in probs.items():
        d = correct[name].astype(float) - correct[BASELINE]  # paired: same faces
        rows.append({"framing": name, "accuracy": correct[name].mean(),
                     "mean_true_prob": float(p[np.arange(len(y)), y].mean()),
                     "delta_vs_baseline": d.mean(), "se": d.std(ddof=1) / np.sqrt(len(d))})
    table = pd.DataFrame(rows)
    table.attrs.update(n_sampled=len(sample), n_faces=len(idx), seed=seed)
    return _Run(table, faces, correct)


def framing_table(root: str | Path, n_eval: int = 2000, seed: int = 0, *, n_template: int = 3000) -> pd.DataFrame:
    """Per-frame accuracy of the pretrained backbone on FER2013 train faces under several framings.

    Parameters
    ----------
    root : str or Path
        FER2013 folder holding ``train/<emotion>/*.jpg`` (``test/`` is never read).
    n_eval : int, default=2000
        Size of the stratified evaluation sample; faces MTCNN misses (~14%) are dropped.
    seed : int, default=0
    n_template : int, default=3000
        Size of the template sample the evaluation sample is kept disjoint from.

    Returns
    -------
    pandas.DataFrame
        One row per framing: ``framing``, ``accuracy``, ``mean_true_prob``,
        ``delta_vs_baseline`` (paired accuracy difference from the 48->64
        resize) and ``se`` (its standard error).  ``attrs`` holds
        ``n_sampled``, ``n_faces`` and ``seed``.
    """
    return _framing_run(Path(root), n_eval, seed, n_template).table


def _print_template_step(root: Path, n: int, seed: int, variants: bool) -> None:
    sample, _ = stratified_split(root, n, 0, seed)
    images, labels = _load(sample), np.array([c for _, c in sample])
    lms = detect_landmarks(images, **PRIMARY)
    ok = ~np.isnan(lms[:, 0, 0])
    print(f"\n== template: {len(sample)} train faces, upscale 48->{PRIMARY['size']} cubic, pad {PRIMARY['pad']} "
          f"{PRIMARY['mode']}, min_face_size {PRIMARY['min_face']} ==\n")
    rates = pd.DataFrame([(c, int((labels == c).sum()), int(ok[labels == c].sum())) for c in FOLDERS]
                         + [("all", len(labels), int(ok.sum()))], columns=["class", "n", "detected"])
    rates["rate"] = (rates.detected / rates.n).map("{:.1%}".format)
    print(rates.to_string(index=False))
    norm = (lms[ok] + 0.5) / PRIMARY["size"]  # fractions of the crop, pixel-centre convention
    q25, median, q75 = np.percentile(norm, [25, 50, 75], axis=0)
    declared = template_points("fer2013")
    print("\nmedian template ((coord + 0.5) / side) vs the package's declared template_points('fer2013'):")
    print(pd.DataFrame({"x": median[:, 0], "y": median[:, 1], "IQR x": (q75 - q25)[:, 0],
                        "IQR y": (q75 - q25)[:, 1], "declared x": declared[:, 0], "declared y": declared[:, 1]},
                       index=POINTS).round(4).to_string())
    print(f"max |median - declared| = {np.abs(median - declared).max():.4f}; "
          f"symmetrised median: {np.abs(_symmetrise(median) - declared).max():.4f}")
    per_face, decl = _geometry(norm), _geometry(declared)
    print(pd.DataFrame([(k, *np.percentile(v, [50, 25, 75]), decl[k]) for k, v in per_face.items()],
                       columns=["quantity", "median", "q25", "q75", "declared"]).round(4).to_string(index=False))
    if variants:  # stability: the template should not depend on the detection set-up
        rows = []
        for v in [PRIMARY, *VARIANTS]:
            lv = lms if v is PRIMARY else detect_landmarks(images, **v)
            nv = (lv[~np.isnan(lv[:, 0, 0])] + 0.5) / v["size"]
            rows.append((f"{v['size']}px pad{v['pad']} {v['mode']} mfs{v['min_face']}", len(nv),
                         np.abs(np.median(nv, axis=0) - median).max(),
                         *(np.median(g) for g in _geometry(nv).values())))
        print("\nstability across detection set-ups (max |d| of the median template vs the primary; "
              "per-face medians):")
        print(pd.DataFrame(rows, columns=["set-up", "detected", "max |d|", "eye dist", "eye y", "mouth y"])
              .round(4).to_string(index=False))


def _save_grid(path: Path, faces: dict[str, np.ndarray], seed: int, n_rows: int = 6, zoom: int = 3) -> None:
    """Random faces (rows) under every framing (columns), for a visual check."""
    pick = np.random.default_rng(seed + 1).choice(len(faces[BASELINE]), n_rows, replace=False)
    cell, head = FACE * zoom, 20
    canvas = np.full((head + n_rows * (cell + 4), len(faces) * (cell + 4)), 255, np.uint8)
    for c, (name, stack) in enumerate(faces.items()):
        x0 = c * (cell + 4)
        cv2.putText(canvas, FRAMINGS[name][0], (x0 + 2, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.42, 0, 1)
        for r, k in enumerate(pick):
            y0 = head + r * (cell + 4)
            canvas[y0:y0 + cell, x0:x0 + cell] = cv2.resize(stack[k], (cell, cell), interpolation=cv2.INTER_NEAREST)
    cv2.imwrite(str(path), canvas)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fer2013", type=Path, required=True, help="folder with train/<emotion>/*.jpg")
    parser.add_argument("--n", type=int, default=3000, help="template sample size")
    parser.add_argument("--n-eval", type=int, default=2000, help="disjoint framing sample size")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--step", choices=("template", "framing", "all"), default="all")
    parser.add_argument("--variants", action="store_true", help="also check the template's stability")
    parser.add_argument("--png", type=Path, help="save a grid of faces under every framing")
    args = parser.parse_args()
    torch.set_num_threads(1)  # comparable timings; the work is small
    cv2.setNumThreads(1)
    start = time.perf_counter()
    if args.step in ("template", "all"):
        _print_template_step(args.fer2013, args.n, args.seed, args.variants)
    if args.step in ("framing", "all"):
        run = _framing_run(args.fer2013, args.n_eval, args.seed, args.n)
        t = run.table
        print(f"\n== framing: {t.attrs['n_faces']} of {t.attrs['n_sampled']} train faces detected "
              f"(disjoint from the template sample); deltas paired vs the baseline, +- 1 SE ==\n")
        shown = t.assign(delta=[f"{d:+.3f} +- {s:.3f}" for d, s in zip(t.delta_vs_baseline, t.se)])
        print(shown[["framing", "accuracy", "mean_true_prob", "delta"]].round(3).to_string(index=False))
        c = run.correct
        for a, b in [("package default (FER2013, replicate)", "FER2013, black border"),
                     ("package default (FER2013, replicate)", "ArcFace m=0.1, black (old default)")]:
            d = c[a].astype(float) - c[b]
            print(f"{a} - {b}: {d.mean():+.3f} +- {d.std(ddof=1) / np.sqrt(len(d)):.3f}")
        if args.png:
            _save_grid(args.png, run.faces, args.seed)
            print(f"grid of framings: {args.png}")
    print(f"\ndone in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
