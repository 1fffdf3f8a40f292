"""Emotion timelines on real faces: FER2013 training faces shown in turn, with known segments.

What it measures
----------------
Videos of two people side by side (960x540, 25 fps, H.264), each person a
sequence of real faces from FER2013's **training** folder (its ``test/`` is
never read): every 3-6 s the face changes, alternating between a neutral
face and a face of one of the six emotions (drawn uniformly), every face a
different image.  A face is the 48x48 image upscaled to 144 px (cubic) with
its replicated border faded into a blurred photo background; it sways by a
few pixels, as a seated person does.  Changes are cuts.

:func:`sk_emotion.emotion_timeline` (the zero-shot default model, 2 s
windows every 1 s) runs on each video.  Printed:

* persons found against persons shown, and whether each found person stays
  at one scripted position (ids never swap);
* **window accuracy**: the windows lying wholly inside one face's segment,
  labelled as that face's FER2013 label; per class as well;
* **segment accuracy**: the majority label of a segment's inside windows;
* the reference: the pretrained network on the same images in FER2013's own
  framing (48 -> 64 resize, what it was trained on), and how often the
  window agrees with it.  The network was trained on these faces, so that
  reference is optimistic; the gap to it is what detection, alignment and
  video compression cost;
* seconds of video per second of wall time.

How to run
----------
::

    python benchmarks/timeline_real_faces.py --fer2013 /data/fer2013            # train/<emotion>/*.jpg
    python benchmarks/timeline_real_faces.py --fer2013 /data/fer2013 --seeds 0 --seconds 60
    python benchmarks/timeline_real_faces.py --fer2013 /data/fer2013 --weights FER2013   # the paper's CNN

What counts as a pass
---------------------
A measurement, not a test.  Expected: as many persons as shown, each at its
own place; window accuracy close to the network's per-frame accuracy on
re-aligned faces (``benchmarks/fer2013_framing.py``: about 5 points under
the reference), and neutral windows between emotions not reported as the
emotion next door.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from sk_emotion.emotions import EMOTIONS

SIZE = (960, 540)
FPS = 25
FACE = 144  # upscaled face side, px
FADE = 36  # replicated border faded into the background, px
POSITIONS = (0.3, 0.7)


def _files(root: Path) -> dict[str, list[Path]]:
    files = {c: sorted((root / "train" / c).glob("*.jpg")) for c in EMOTIONS}
    if missing := [c for c, v in files.items() if not v]:
        raise FileNotFoundError(f"no {root / 'train'}/<emotion>/*.jpg files for {missing}")
    return files


def _script(rng: np.random.Generator, files: dict[str, list[Path]], seconds: float, used: set) -> list[tuple]:
    """(start_s, end_s, emotion, file) segments: neutral and an emotion in turn, each a new image."""
    emotions = [c for c in EMOTIONS if c != "neutral"]
    segments, t, neutral = [], 0.0, bool(rng.integers(2))
    while t < seconds - 1e-9:
        end = min(seconds, t + rng.uniform(3.0, 6.0))
        if seconds - end < 3.0:
            end = seconds  # no segment shorter than 3 s at the end
        emotion = "neutral" if neutral else emotions[rng.integers(len(emotions))]
        while (path := files[emotion][rng.integers(len(files[emotion]))]) in used:
            pass
        used.add(path)
        segments.append((t, end, emotion, path))
        t, neutral = end, not neutral
    return segments


def _tile(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The face upscaled with a faded replicated border: (RGB float tile, alpha)."""
    gray = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if gray is None or gray.shape != (48, 48):
        raise ValueError(f"{path}: not a 48x48 grayscale image")
    up = cv2.resize(gray, (FACE, FACE), interpolation=cv2.INTER_CUBIC)
    tile = cv2.copyMakeBorder(up, FADE, FADE, FADE, FADE, cv2.BORDER_REPLICATE).astype(np.float32)
    ramp = np.minimum(np.arange(FACE + 2 * FADE), np.arange(FACE + 2 * FADE)[::-1]) / FADE
    alpha = np.clip(np.minimum.outer(ramp, ramp), 0, 1)[..., None].astype(np.float32)
    return np.repeat(tile[..., None], 3, axis=2), alpha


def _background() -> np.ndarray:
    from skimage import data

    photo = cv2.resize(data.rocket(), SIZE, interpolation=cv2.INTER_AREA)
    return cv2.GaussianBlur(photo, (0, 0), 3).astype(np.float32)


def make_video(path: Path, scripts: list[list[tuple]], seconds: float, seed: int) -> None:
    from sk_emotion.video import VideoWriter

    rng = np.random.default_rng(seed)
    bg = _background()
    phases = rng.uniform(0, 2 * np.pi, (len(scripts), 2))
    side = FACE + 2 * FADE
    current = [None] * len(scripts)
    with VideoWriter(path, *SIZE, fps=FPS) as writer:
        for i in range(round(seconds * FPS)):
            t = i / FPS
            frame = bg.copy()
            for p, script in enumerate(scripts):
                segment = next(s for s in script if s[0] <= t < s[1] or s[1] == seconds)
                if current[p] is None or current[p][0] is not segment:
                    current[p] = (segment, *_tile(segment[3]))
                _, tile, alpha = current[p]
                cx = POSITIONS[p] * SIZE[0] + 4 * np.sin(2 * np.pi * t / 7 + phases[p, 0])
                cy = 0.5 * SIZE[1] + 3 * np.sin(2 * np.pi * t / 5 + phases[p, 1])
                x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
                region = frame[y0:y0 + side, x0:x0 + side]
                region[:] = alpha * tile + (1 - alpha) * region
            writer.write(np.clip(frame, 0, 255).astype(np.uint8))


def reference_predictions(paths: list[Path], weights: str | None = None) -> np.ndarray:
    """The pretrained network's label for each image in FER2013's own framing."""
    import torch

    from sk_emotion.nets import load_backbone, preprocess_faces

    net = load_backbone(weights)
    faces = np.stack([cv2.resize(cv2.imread(str(p), cv2.IMREAD_GRAYSCALE), (64, 64)) for p in paths])
    with torch.no_grad():
        logits = net(preprocess_faces(faces))
    return np.asarray(EMOTIONS)[logits.argmax(1).numpy()]


def score(windows: pd.DataFrame, persons: pd.DataFrame, scripts: list[list[tuple]]) -> tuple[pd.DataFrame, dict]:
    """Inside windows with their truth, and the tracking checks."""
    xs = np.array(POSITIONS) * SIZE[0]
    owner = {int(r.person): int(np.abs(xs - r.x).argmin()) for r in persons.itertuples()}
    placed = all(abs(r.x - xs[owner[int(r.person)]]) < 20 for r in persons.itertuples())
    rows = []
    for r in windows.dropna(subset=["label"]).itertuples():
        script = scripts[owner[int(r.person)]]
        inside = [k for k, s in enumerate(script) if s[0] <= r.start_s and r.end_s <= s[1] + 1e-9]
        if inside:
            k = inside[0]
            rows.append({"person": owner[int(r.person)], "segment": k, "start_s": r.start_s, "truth": script[k][2],
                         "file": script[k][3], "label": r.label})
    checks = {"persons": len(persons), "shown": len(scripts), "one_per_place": len(set(owner.values())) == len(owner),
              "placed": placed}
    return pd.DataFrame(rows), checks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fer2013", required=True, type=Path, help="folder holding train/<emotion>/*.jpg")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--weights", default=None,
                        help="backbone weights (FERPLUS, FER2013; default: the package's default)")
    parser.add_argument("--class-prior", default=None, choices=["none", "uniform", "faces"],
                        help="the model's class_prior (default: none, as timeline_classifier); "
                             "faces: the weights' meta['class_frequencies']")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "sk_emotion_timeline_real")
    args = parser.parse_args(argv)

    from sk_emotion import EmotionClassifier, emotion_timeline, make_emotion_pipeline

    files = _files(args.fer2013)
    args.workdir.mkdir(parents=True, exist_ok=True)
    from sk_emotion.weights import resolve_emotion_weights

    choices = {"none": None, "uniform": "uniform", "faces": None if args.class_prior != "faces" else
               list(resolve_emotion_weights(args.weights).meta["class_frequencies"])}
    prior = {} if args.class_prior is None else {"class_prior": choices[args.class_prior]}
    # The timeline's own zero-shot default (timeline_classifier) unless --class-prior says otherwise.
    classifier = EmotionClassifier.from_pretrained(args.weights, **{"class_prior": None, **prior})
    model = make_emotion_pipeline(classifier=classifier, cache=False)
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} before the run; "
          f"weights {args.weights or 'default'}; class_prior {classifier.class_prior}")
    tables, speeds = [], []
    for seed in args.seeds:
        rng = np.random.default_rng(seed)
        used: set = set()
        scripts = [_script(rng, files, args.seconds, used) for _ in POSITIONS]
        path = args.workdir / f"real_faces_{seed}_{int(args.seconds)}s.mp4"
        make_video(path, scripts, args.seconds, seed)
        t0 = time.perf_counter()
        windows, persons = emotion_timeline(path, model, return_persons=True, max_thumbnails=0)
        wall = time.perf_counter() - t0
        speeds.append(args.seconds / wall)
        table, checks = score(windows, persons, scripts)
        table["seed"] = seed
        tables.append(table)
        found = persons.on_screen_s.sum() / (args.seconds * len(POSITIONS))
        print(f"seed {seed}: faces found in {found:.1%} of the sampled frames; ids: "
              f"{' '.join(f'{r.person}@x={r.x:.0f} {r.first_s:.1f}-{r.last_s:.1f}s' for r in persons.itertuples())}")
        print(f"seed {seed}: {checks['persons']} person(s) found for {checks['shown']} shown, "
              f"one per place: {checks['one_per_place']}, at their place: {checks['placed']}; "
              f"{len(table)} inside windows, accuracy {np.mean(table.label == table.truth):.3f}; "
              f"{args.seconds / wall:.1f}x real time")
    table = pd.concat(tables, ignore_index=True)
    images = sorted(set(table.file))
    reference = dict(zip(images, reference_predictions(images, args.weights)))
    table["reference"] = table.file.map(reference)
    table["correct"] = table.label == table.truth
    by_image = table.groupby("file").first()
    print()
    print(f"inside windows: {len(table)} over {table.groupby(['seed', 'person', 'segment']).ngroups} segments "
          f"({len(images)} FER2013 training images), {len(args.seeds)} video(s) of {args.seconds:.0f} s")
    print(f"window accuracy:    {table.correct.mean():.3f}")
    segments = table.groupby(["seed", "person", "segment"]).agg(
        truth=("truth", "first"), label=("label", lambda s: s.value_counts().index[0]))
    print(f"segment accuracy:   {np.mean(segments.truth == segments.label):.3f} (majority of inside windows)")
    print(f"reference accuracy: {np.mean(by_image.reference == by_image.truth):.3f} "
          f"(network on the same images, FER2013 framing)")
    print(f"agreement of windows with the reference: {np.mean(table.label == table.reference):.3f}")
    print(f"speed: {np.mean(speeds):.1f}x real time (mean over videos)")
    print()
    per_class = table.groupby("truth").agg(windows=("correct", "size"), accuracy=("correct", "mean"))
    per_class["reference"] = by_image.groupby("truth").apply(lambda g: np.mean(g.reference == g.name))
    print(per_class.round(3).to_string())
    print()
    print(pd.crosstab(table.truth, table.label).to_string())
    print(f"load average after the run: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
