"""The ``sk-emotion`` command line.

Errors are printed as one line on standard error with a non-zero exit status;
``--debug`` shows the full traceback instead.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line, exit status 2."""

    def error(self, message: str) -> None:  # noqa: D102 - argparse API
        self.exit(2, f"sk-emotion: error: {message} (see --help)\n")


def _cmd_weights(args: argparse.Namespace) -> int:
    from .weights import MiniXceptionWeights, MTCNNWeights, cache_dir, sha256sum

    print(f"cache directory: {cache_dir()}  (override with $SK_EMOTION_HOME)")
    status = 0
    for enum in (MiniXceptionWeights, MTCNNWeights):
        weights = enum.DEFAULT
        print(f"\n{enum.__name__}.{weights.name}  licence: {weights.meta['license']}")
        for role, spec in weights.files.items():
            print(f"  {role}: {spec.filename}  sha256 {spec.sha256}")
            usable = False
            for where, path in (("shipped", spec.shipped_path()), ("cache", spec.cached_path())):
                if not path.is_file():
                    if where == "shipped":
                        print(f"    {where:8s} MISSING  {path}")
                    continue
                ok = sha256sum(path) == spec.sha256
                usable = usable or ok
                print(f"    {where:8s} {'ok' if ok else 'BAD SHA':8s} {path}")
            if not usable:
                status = 1
                print("    no valid copy: reinstall sk-emotion, or it is downloaded and converted "
                      f"from {spec.url} on first use")
    return status


def _load_or_zero_shot(model_path, args: argparse.Namespace):
    """The user's trained pipeline, or the pretrained zero-shot pipeline."""
    from .estimators.classifier import EmotionClassifier
    from .estimators.extractor import VideoFaceExtractor
    from .persistence import load_model
    from .pipeline import default_face_cache
    from sklearn.pipeline import make_pipeline

    if model_path:
        model = load_model(model_path)
        if not hasattr(model, "steps"):
            raise ValueError(f"'{model_path}' holds a {type(model).__name__}, not a pipeline from video files")
        return model
    extractor = VideoFaceExtractor(n_frames=args.n_frames, cache_dir=default_face_cache(),
                                   on_error="fallback" if args.fallback else "raise")
    return make_pipeline(extractor, EmotionClassifier.from_pretrained())


def _check_videos(videos: Sequence[str]) -> None:
    from pathlib import Path

    missing = [v for v in videos if not Path(v).exists()]
    if missing:
        raise FileNotFoundError(f"no such video: {', '.join(missing)}")


def _cmd_predict(args: argparse.Namespace) -> int:
    import json

    import pandas as pd

    from .pipeline import _video_table

    _check_videos(args.videos)
    model = _load_or_zero_shot(args.model, args)
    videos = list(args.videos)
    faces = model[:-1].transform(videos)  # decoded and searched once for both tables
    classifier, report = model.steps[-1][1], model.steps[0][1].report_.reset_index(drop=True)
    explanation = classifier.explain(faces) if args.frames else None
    probabilities = explanation.probabilities if explanation else classifier.predict_proba(faces)
    table = _video_table(report, classifier.classes_, probabilities)
    columns = ["video", "label"] + [c for c in table.columns if c.startswith("p_")] + ["face_coverage"]
    with pd.option_context("display.width", 200, "display.max_columns", 30, "display.max_colwidth", 60):
        print(table[columns].round(3).to_string(index=False))
    frames = None
    if explanation is not None:
        frames = explanation.to_frame()
        frames.insert(1, "path", report["path"].to_numpy()[frames["video"].to_numpy()])
        duration = report["duration_s"].to_numpy(dtype=float)[frames["video"].to_numpy()]
        # Sampled frames sit at the centres of n equal time segments of the clip.
        frames.insert(3, "timestamp_s", (frames["frame"].to_numpy() + 0.5) * duration / explanation.n_frames)
    if args.csv:
        table[columns].to_csv(args.csv, index=False)
        if frames is not None:
            frames.to_csv(_sibling(args.csv, "_frames"), index=False)
    if args.json:
        payload = {"videos": json.loads(table[columns].to_json(orient="records"))}
        if frames is not None:
            payload["frames"] = json.loads(frames.to_json(orient="records"))
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(payload, handle, indent=2)
    return 0


def _sibling(path: str, suffix: str) -> str:
    from pathlib import Path

    p = Path(path)
    return str(p.with_name(p.stem + suffix + p.suffix))


def _cmd_explain(args: argparse.Namespace) -> int:
    from .viz import plot_explanation

    _check_videos([args.video])
    model = _load_or_zero_shot(args.model, args)
    faces = model[:-1].transform([args.video])
    explanation = model.steps[-1][1].explain(faces)
    figure = plot_explanation(faces[0], explanation, title=f"{args.video}: {explanation.labels[0]}")
    figure.savefig(args.out, dpi=args.dpi)
    print(f"{args.video}: {explanation.labels[0]} -> {args.out}")
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from sklearn.model_selection import GridSearchCV, StratifiedKFold

    from .datasets import load_afew, load_video_folders
    from .nets.video_emotion import check_network_options
    from .persistence import save_model
    from .pipeline import make_emotion_pipeline

    # Options first: a typo must not cost the extraction of every video.
    check_network_options(args.spatial, args.temporal, 4)
    if args.layout == "afew":
        table = load_afew(args.root)
        table = table[table["subset"] == "train"] if args.train_only else table
        videos, labels = table["path"].tolist(), table["emotion"].to_numpy()
    else:
        table = load_video_folders(args.root)
        videos, labels = table["path"].tolist(), table["label"].to_numpy()
    print(f"{len(videos)} videos, classes: {sorted(set(labels))}")
    pipe = make_emotion_pipeline(
        extractor={"n_frames": args.n_frames, "verbose": 1, "n_jobs": args.n_jobs,
                   "on_error": "fallback" if args.fallback else "raise"},
        classifier={"max_epochs": args.epochs, "random_state": args.seed, "verbose": 1,
                    "spatial_pooling": args.spatial, "temporal_pooling": args.temporal},
    )
    if args.temperatures:
        grid = {"emotionclassifier__temperature": [float(t) for t in args.temperatures.split(",")]}
        cv = StratifiedKFold(3, shuffle=True, random_state=args.seed)
        pipe.set_params(emotionclassifier__verbose=0)
        search = GridSearchCV(pipe, grid, cv=cv, verbose=2).fit(videos, labels)
        print(f"best temperature {search.best_params_['emotionclassifier__temperature']} "
              f"(cross-validated accuracy {search.best_score_:.3f})")
        pipe = search.best_estimator_
    else:
        pipe.fit(videos, labels)
    save_model(pipe, args.out)
    print(f"saved {args.out}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo, run_photo_demo

    if args.photos:
        run_photo_demo(verbose=not args.quiet)
    else:
        run_demo(root=args.root, quick=args.quick, verbose=not args.quiet)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="sk-emotion", description="Emotion recognition in face videos.")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    demo = sub.add_parser("demo", help="train and compare the method on the embedded expression videos")
    demo.add_argument("--quiet", action="store_true", help="print only the result table")
    demo.add_argument("--photos", action="store_true",
                      help="instead, run the pretrained model on real faces of package-shipped photos")
    demo.add_argument("--root", help="folder for the generated videos (default: the package cache)")
    demo.add_argument("--quick", action="store_true", help="fewer videos and epochs (a smoke test)")
    demo.set_defaults(func=_cmd_demo)

    weights = sub.add_parser("weights", help="where the pretrained files are, and their checksum status")
    weights.set_defaults(func=_cmd_weights)

    def model_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--model", help="trained model file (sk-emotion train); default: pretrained zero-shot model")
        p.add_argument("--n-frames", type=int, default=16, help="frames sampled per video (zero-shot model)")
        p.add_argument("--fallback", action="store_true",
                       help="use a centred crop for videos without a face instead of failing")

    predict = sub.add_parser("predict", help="predict the emotion of each video")
    predict.add_argument("videos", nargs="+", metavar="VIDEO")
    model_options(predict)
    predict.add_argument("--csv", help="write the per-video table as CSV")
    predict.add_argument("--json", help="write the results as JSON")
    predict.add_argument("--frames", action="store_true",
                         help="also the per-frame table (CSV: <name>_frames.csv; JSON: 'frames')")
    predict.set_defaults(func=_cmd_predict)

    explain = sub.add_parser("explain", help="draw attention, frame probabilities and temporal weights of a video")
    explain.add_argument("video", metavar="VIDEO")
    explain.add_argument("--out", required=True, help="PNG file to write")
    explain.add_argument("--dpi", type=int, default=120)
    model_options(explain)
    explain.set_defaults(func=_cmd_explain)

    train = sub.add_parser("train", help="train the method on a folder of labelled videos")
    train.add_argument("root", metavar="ROOT")
    train.add_argument("--layout", choices=("afew", "folders"), default="afew")
    train.add_argument("--out", required=True, help="model file to write")
    train.add_argument("--temperatures",
                       help="comma-separated temperatures to search (frame-probability units), e.g. 0.1,0.2,0.35")
    train.add_argument("--epochs", type=int, default=40)
    train.add_argument("--n-frames", type=int, default=16)
    train.add_argument("--n-jobs", type=int, default=1)
    # Choices are checked against the pooling registries when training starts
    # (importing them here would import torch for every command, --help included).
    train.add_argument("--spatial", default="attention", help="spatial pooling: attention (default), avg")
    train.add_argument("--temporal", default="auto",
                       help="temporal pooling: auto (default), softmax, expressive, mean, max, lstm")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--train-only", action="store_true", help="AFEW: train on Train_AFEW only")
    train.add_argument("--fallback", action="store_true")
    train.set_defaults(func=_cmd_train)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sk-emotion`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("sk-emotion: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # one line for users, the traceback with --debug
        if args.debug:
            raise
        lines = [line.strip(" -") for line in str(exc).strip().splitlines() if line.strip()]
        message = "; ".join(lines) if lines else type(exc).__name__
        print(f"sk-emotion: error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
