"""The ``sk-emotion`` command line.

Errors are printed as one line on standard error with a non-zero exit status;
``--debug`` shows the full traceback instead.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line, exit status 2."""

    def error(self, message: str) -> None:  # noqa: D102 - argparse API
        self.exit(2, f"sk-emotion: error: {message} (see --help)\n")


class _RegistryHelp(argparse.HelpFormatter):
    """Fills ``{spatial_poolings}`` and ``{temporal_poolings}`` in help texts from the registries.

    Only when the help of ``train`` is shown: the registries import torch,
    which other commands and ``--help`` do not need.
    """

    def _get_help_string(self, action: argparse.Action) -> str:
        text = super()._get_help_string(action) or ""
        if "{spatial_poolings}" in text or "{temporal_poolings}" in text:
            from .nets.spatial import SPATIAL_POOLINGS
            from .nets.temporal import TEMPORAL_POOLINGS

            text = text.replace("{spatial_poolings}", ", ".join(SPATIAL_POOLINGS))
            text = text.replace("{temporal_poolings}", ", ".join(["auto", *TEMPORAL_POOLINGS]))
        return text


def _cmd_weights(args: argparse.Namespace) -> int:
    from .config import cache_dir
    from .weights import MiniXceptionWeights, MTCNNWeights, sha256sum

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


def _load_or_zero_shot(args: argparse.Namespace, *, progress: bool = False):
    """The user's trained pipeline, or the pretrained zero-shot pipeline, with the CLI's error policy.

    ``progress`` shows a bar over the videos (on standard error) while faces are extracted.
    """
    from .estimators.classifier import EmotionClassifier
    from .pipeline import make_emotion_pipeline

    on_error = "fallback" if getattr(args, "fallback", False) else "raise"
    if args.model:
        from .persistence import load_model

        model = load_model(args.model, trusted=args.trusted)
        if not hasattr(model, "steps"):
            raise ValueError(f"'{args.model}' holds a {type(model).__name__}, not a pipeline from video files")
        model.steps[0][1].set_params(on_error=on_error, verbose=int(progress))
        return model
    return make_emotion_pipeline(extractor={"n_frames": args.n_frames, "on_error": on_error,
                                            "verbose": int(progress)},
                                 classifier=EmotionClassifier.from_pretrained())


def _check_outputs(*paths: str | None) -> None:
    """Fail before any work when an output cannot be written."""
    from pathlib import Path

    for path in paths:
        if path and not Path(path).resolve().parent.is_dir():
            raise FileNotFoundError(f"cannot write '{path}': folder '{Path(path).parent}' does not exist")


def _report_failures(table, fallback: bool) -> int:
    """One line per video that got no prediction; the exit status (1 if any, unless --fallback)."""
    bad = table[table["status"] != "ok"]
    kind = "warning" if fallback else "error"
    for row in bad.itertuples():
        print(f"sk-emotion: {kind}: {row.video}: {row.error}", file=sys.stderr)
    return 1 if len(bad) and not fallback else 0


def _cmd_predict(args: argparse.Namespace) -> int:
    import json

    import pandas as pd

    from .pipeline import predict_table

    _check_outputs(args.csv, args.json)
    model = _load_or_zero_shot(args, progress=len(args.videos) > 1)
    table, frames = predict_table(model, list(args.videos), return_frames=True)
    shown = table if args.fallback else table[table["status"] == "ok"]
    columns = list(shown.columns)
    if (shown["status"] == "ok").all():
        columns = [c for c in columns if c not in ("status", "error")]  # nothing to say on screen
    with pd.option_context("display.width", 200, "display.max_columns", 40, "display.max_colwidth", 60):
        if len(shown):
            print(shown[columns].round(3).to_string(index=False))
        if args.frames and not (args.csv or args.json) and len(frames):
            print()
            print(frames.round(3).to_string(index=False))
    if args.csv:
        table.to_csv(args.csv, index=False)
        if args.frames:
            frames.to_csv(_sibling(args.csv, "_frames"), index=False)
    if args.json:
        payload = {"videos": json.loads(table.to_json(orient="records"))}
        if args.frames:
            payload["frames"] = json.loads(frames.to_json(orient="records"))
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(payload, handle, indent=2)
    return _report_failures(table, args.fallback)


def _sibling(path: str, suffix: str) -> str:
    from pathlib import Path

    p = Path(path)
    return str(p.with_name(p.stem + suffix + p.suffix))


def _cmd_explain(args: argparse.Namespace) -> int:
    from .estimators.extractor import ExtractionError
    from .viz import plot_explanation

    _check_outputs(args.out)
    model = _load_or_zero_shot(args)
    extractor = model.steps[0][1]
    try:
        faces, report = extractor.transform_with_report([args.video])
    except ExtractionError as exc:
        faces, report = exc.results, exc.report
    error = report["error"].iloc[0]
    if error is not None:
        # A figure of a substituted clip would explain a made-up input.
        raise ValueError(f"{args.video}: {error}; there is nothing to explain")
    inputs = model[1:-1].transform(faces) if len(model) > 2 else faces
    explanation = model.steps[-1][1].explain(inputs)
    label = explanation.labels[0]
    probability = float(explanation.probabilities[0].max())
    coverage = float(report["face_coverage"].iloc[0])
    detected = report["frame_detected"].iloc[0]
    figure = plot_explanation(faces[0], explanation, face_detected=detected,
                              title=f"{args.video}: {label} (p = {probability:.2f}; "
                                    f"face detected in {coverage:.0%} of the sampled frames)")
    figure.savefig(args.out, dpi=args.dpi)
    print(f"{args.video}: {label} (p = {probability:.2f}) -> {args.out}")
    return 0


def _cmd_timeline(args: argparse.Namespace) -> int:
    import pandas as pd

    from .timeline import emotion_timeline

    _check_outputs(args.csv, args.plot)
    model = _load_or_zero_shot(args) if args.model else None
    if model is None and args.n_frames != 16:
        from .estimators.classifier import EmotionClassifier
        from .pipeline import make_emotion_pipeline

        model = make_emotion_pipeline(extractor={"n_frames": args.n_frames}, cache=False,
                                      classifier=EmotionClassifier.from_pretrained())
    windows, persons = emotion_timeline(args.video, model, window=args.window, hop=args.hop,
                                        min_track_s=args.min_track, verbose=1, return_persons=True)
    with pd.option_context("display.width", 200, "display.max_columns", 40, "display.max_rows", 60):
        summary = persons.drop(columns="thumbnails").round(2)
        print(f"{args.video}: {len(persons)} person(s)")
        print(summary.to_string(index=False))
        if not args.csv:
            print()
            print(windows.round(3).to_string(index=False))
    if args.csv:
        windows.to_csv(args.csv, index=False)
        print(f"windows -> {args.csv}")
    if args.plot and windows.empty:
        # The video was read: an empty result is an answer, not an error.
        print(f"figure not written: nobody was found on screen for {args.min_track:g} s or more in {args.video}",
              file=sys.stderr)
    elif args.plot:
        from .viz.timeline import plot_timeline

        plot_timeline(windows, persons, title=str(args.video)).savefig(args.plot, dpi=args.dpi)
        print(f"figure -> {args.plot}")
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from sklearn.model_selection import GridSearchCV, StratifiedKFold

    from .datasets import load_afew, load_video_folders
    from .nets.video_emotion import check_network_options
    from .persistence import save_model
    from .pipeline import make_emotion_pipeline

    # Options first: a typo must not cost the extraction of every video.
    check_network_options(args.spatial, args.temporal, 4)
    _check_outputs(args.out)
    temperatures = _temperatures(args.temperatures) if args.temperatures else None
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
    if temperatures:
        grid = {"emotionclassifier__temperature": temperatures}
        cv = StratifiedKFold(3, shuffle=True, random_state=args.seed)
        pipe.set_params(emotionclassifier__verbose=0)
        search = GridSearchCV(pipe, grid, cv=cv, verbose=2).fit(videos, labels)
        print(f"best temperature {search.best_params_['emotionclassifier__temperature']} "
              f"(cross-validated accuracy {search.best_score_:.3f})")
        pipe = search.best_estimator_
    else:
        pipe.fit(videos, labels)
    # The saved model predicts quietly; `predict` and `explain` report for themselves.
    pipe.set_params(videofaceextractor__verbose=0, emotionclassifier__verbose=0)
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


def _temperatures(text: str) -> list[float]:
    try:
        values = [float(t) for t in text.split(",")]
    except ValueError:
        raise ValueError(f"--temperatures must be comma-separated numbers, got {text!r}") from None
    if not all(v > 0 for v in values):
        raise ValueError(f"--temperatures must be positive, got {text!r}")
    return values


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


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

    def model_options(p: argparse.ArgumentParser, fallback: bool = True) -> None:
        p.add_argument("--model", help="trained model file (sk-emotion train); default: pretrained zero-shot model")
        p.add_argument("--trusted", action="store_true",
                       help="allow a pickle-based model file (.joblib): loading it can run any code it holds, "
                            "so only for files you made yourself")
        p.add_argument("--n-frames", type=_positive_int, default=16,
                       help="frames sampled per video (zero-shot model)")
        if fallback:
            p.add_argument("--fallback", action="store_true",
                           help="keep videos that cannot be read or show no face in the output, marked "
                                "status=fallback with their error and no label, instead of failing")

    predict = sub.add_parser("predict", help="predict the emotion of each video")
    predict.add_argument("videos", nargs="+", metavar="VIDEO")
    model_options(predict)
    predict.add_argument("--csv", help="write the per-video table as CSV")
    predict.add_argument("--json", help="write the results as JSON")
    predict.add_argument("--frames", action="store_true",
                         help="also the per-frame table (printed; CSV: <name>_frames.csv; JSON: 'frames')")
    predict.set_defaults(func=_cmd_predict)

    explain = sub.add_parser("explain", help="draw attention, frame probabilities and temporal weights of a video")
    explain.add_argument("video", metavar="VIDEO")
    explain.add_argument("--out", required=True, help="PNG file to write")
    explain.add_argument("--dpi", type=int, default=120)
    model_options(explain)
    explain.set_defaults(func=_cmd_explain)

    timeline = sub.add_parser("timeline", help="emotions of every person in a long video, window by window")
    timeline.add_argument("video", metavar="VIDEO")
    model_options(timeline, fallback=False)
    timeline.add_argument("--window", type=float, default=2.0, help="window length in seconds (default: 2)")
    timeline.add_argument("--hop", type=float, default=1.0,
                          help="seconds between window starts, a multiple of window / n-frames (default: 1)")
    timeline.add_argument("--min-track", type=float, default=1.0,
                          help="drop persons on screen for less than this many seconds (default: 1)")
    timeline.add_argument("--csv", help="write the windows table as CSV")
    timeline.add_argument("--plot", help="write the timeline figure (PNG)")
    timeline.add_argument("--dpi", type=int, default=100)
    timeline.set_defaults(func=_cmd_timeline)

    train = sub.add_parser("train", help="train the method on a folder of labelled videos",
                           formatter_class=_RegistryHelp)
    train.add_argument("root", metavar="ROOT")
    train.add_argument("--layout", choices=("afew", "folders"), default="afew")
    train.add_argument("--out", required=True,
                       help="model file to write (data only, no pickle: safe to share; e.g. model.skem)")
    train.add_argument("--temperatures",
                       help="comma-separated temperatures to search (frame-probability units), e.g. 0.1,0.2,0.35")
    train.add_argument("--epochs", type=_positive_int, default=40,
                       help="most training epochs (early stopping usually ends sooner)")
    train.add_argument("--n-frames", type=_positive_int, default=16)
    train.add_argument("--n-jobs", type=int, default=1)
    # Names come from the pooling registries, checked when training starts and
    # listed by `train --help` (importing them here would import torch for every command).
    train.add_argument("--spatial", default="attention",
                       help="spatial pooling, one of: {spatial_poolings} (default: %(default)s)")
    train.add_argument("--temporal", default="auto",
                       help="temporal pooling, one of: {temporal_poolings} (default: %(default)s)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--train-only", action="store_true", help="AFEW: train on Train_AFEW only")
    train.add_argument("--fallback", action="store_true")
    train.set_defaults(func=_cmd_train)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sk-emotion`` console script.

    Errors are reported as one line on standard error (the full traceback
    with ``--debug``); usage errors exit with status 2.

    Parameters
    ----------
    argv : sequence of str, optional
        The command-line arguments, without the program name; None reads
        ``sys.argv[1:]``.

    Returns
    -------
    int
        The exit status: 0 on success, 1 on an error (or a video without a
        prediction, unless ``--fallback``), 130 when interrupted.
    """
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
