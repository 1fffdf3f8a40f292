"""The structure of the paper's Table 1: spatial x temporal pooling, validation accuracy.

What it measures
    Validation accuracy (mean and standard deviation over seeds) of
    {average, attention} spatial pooling x {mean, max, softmax, LSTM}
    temporal pooling, trained on the training split and scored on the
    validation split.  Softmax pooling's temperature is chosen by 3-fold
    cross-validation on the training split, as a user would.  Faces are
    extracted once (cached) and shared by all configurations.

How to run
    python benchmarks/table1.py                       # embedded expression videos
    python benchmarks/table1.py --afew /data/AFEW     # your AFEW copy (Train_AFEW / Val_AFEW)
    python benchmarks/table1.py --seeds 0 1 2 --out results/table1

    Writes <out>.md (Markdown table) and <out>.csv (one row per config and seed).

What counts as a pass
    It is a measurement, not a test: the figures go into docs/results.md with
    the command that produced them.  On the embedded data the method
    (attention + softmax) is expected to be at or near the top, and every
    configuration well above chance (1/7).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from sk_emotion import VideoFaceExtractor
from sk_emotion.datasets import load_afew
from sk_emotion.experiments import TABLE1_CONFIGS, evaluate_configs, summarise, to_markdown
from sk_emotion.pipeline import default_face_cache


def main() -> None:
    parser = argparse.ArgumentParser(description="Table 1: spatial x temporal pooling")
    parser.add_argument("--afew", help="AFEW root; default: the embedded expression videos")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--n-frames", type=int, default=16)
    parser.add_argument("--n-jobs", type=int, default=1, help="parallel extraction processes")
    parser.add_argument("--out", default="table1", help="output path without extension")
    args = parser.parse_args()

    start = time.perf_counter()
    if args.afew:
        root = Path(args.afew)
    else:
        from sk_emotion.datasets.synthetic import default_data_dir, make_expression_videos

        root = default_data_dir()
        make_expression_videos(root, random_state=0)
    table = load_afew(root)
    print(f"data: {root} ({(table.subset == 'train').sum()} train, {(table.subset == 'val').sum()} val videos)")

    extractor = VideoFaceExtractor(n_frames=args.n_frames, cache_dir=default_face_cache(),
                                   n_jobs=args.n_jobs, on_error="fallback", verbose=1)
    faces, report = extractor.transform_with_report(table["path"])
    print(f"faces found in {report['face_coverage'].mean():.1%} of sampled frames")
    train = (table["subset"] == "train").to_numpy()
    results = evaluate_configs(
        faces[train], table.loc[train, "emotion"].to_numpy(),
        faces[~train], table.loc[~train, "emotion"].to_numpy(),
        TABLE1_CONFIGS, seeds=args.seeds, base_params={"max_epochs": args.epochs}, progress=print,
    )
    markdown = to_markdown(summarise(results))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    results.to_csv(out.with_suffix(".csv"), index=False)
    out.with_suffix(".md").write_text(markdown + "\n")
    print()
    print(markdown)
    print(f"\nwritten {out.with_suffix('.md')} and {out.with_suffix('.csv')} in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
