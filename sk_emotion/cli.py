"""The ``sk-emotion`` command line.

Errors are printed as one line on standard error with a non-zero exit status;
``--debug`` shows the full traceback instead.  Arguments, inputs and outputs
are checked before any model is loaded or video decoded (exit status 2 for a
command line that cannot work, 1 for a file system that refuses it); outputs
are written whole or not at all (:mod:`sk_emotion.outputs`), before anything
is printed.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import stat
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from .limits import MAX_N_FRAMES
from .video.formats import DEFAULT_FOLDER_FPS

__all__ = ["main"]

#: ``explain`` draws one column per frame: beyond this, no screen or page shows it.
MAX_EXPLAIN_FRAMES = 64
#: ``--dpi`` bounds: the largest figure (64 frames in ``explain``, 97 inches
#: wide) stays under the 65,536-pixel side Agg can render.
MIN_DPI, MAX_DPI = 10, 600
#: Figure formats ``--out`` and ``--plot`` accept: those matplotlib writes without extra software.
FIGURE_SUFFIXES = (".png", ".pdf", ".svg")


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line, exit status 2."""

    def error(self, message: str) -> None:  # noqa: D102 - argparse API
        self.exit(2, f"sk-emotion: error: {message} (see --help)\n")


class _UsageError(ValueError):
    """A command line that cannot work as given, found before any work: exit status 2."""


class _GuardedStdout:
    """Stands in for ``sys.stdout``: once its reader has gone (``... | head``), output is dropped.

    A closed pipe is the reader's choice, not an error of the command, whose
    files and exit status stay what they would have been.  As the Python
    documentation advises, the descriptor is pointed at ``os.devnull`` so that
    the interpreter's last flush at exit does not fail in turn.
    """

    def __init__(self, stream) -> None:
        self._stream = stream
        self.reader_gone = False

    def write(self, text: str) -> int:
        if not self.reader_gone:
            try:
                return self._stream.write(text)
            except BrokenPipeError:
                self._drop()
        return len(text)

    def flush(self) -> None:
        if not self.reader_gone:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._drop()

    def _drop(self) -> None:
        self.reader_gone = True
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)
        except (OSError, ValueError):  # no descriptor (an in-memory stream): nothing left to flush
            pass

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


@contextlib.contextmanager
def _guarded_stdout() -> Iterator[None]:
    previous = sys.stdout
    guard = sys.stdout = _GuardedStdout(previous)
    try:
        yield
        guard.flush()  # a reader that left shows here, inside the guard, not at interpreter exit
    finally:
        sys.stdout = previous


@contextlib.contextmanager
def _warnings_as_lines() -> Iterator[None]:
    """Show each warning as one line, ``sk-emotion: warning: <message>``, each distinct message once.

    Python's own format adds the file, line and source of whoever warned
    (``sys.exit(main())``, a line of skorch): noise to a user.  Repeats are
    dropped because libraries reset the warning registry (a grid search
    repeats one training warning per fit).
    """
    seen: set[str] = set()

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        text = "; ".join(part.strip() for part in str(message).splitlines() if part.strip())
        if text not in seen:
            seen.add(text)
            print(f"sk-emotion: warning: {text}", file=sys.stderr)

    previous = warnings.showwarning
    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = previous


#: The parameter each option sets, as ``("module:callable", parameter)``: an option
#: left out is not passed, so the callable's own default applies, and the help shows
#: that default, read from its signature (never restated here).
_PARAMETERS: dict[str, tuple[str, str]] = {
    "n_frames": ("sk_emotion.estimators.extractor:VideoFaceExtractor", "n_frames"),
    "n_jobs": ("sk_emotion.estimators.extractor:VideoFaceExtractor", "n_jobs"),
    "epochs": ("sk_emotion.estimators.classifier:EmotionClassifier", "max_epochs"),
    "spatial": ("sk_emotion.estimators.classifier:EmotionClassifier", "spatial_pooling"),
    "temporal": ("sk_emotion.estimators.classifier:EmotionClassifier", "temporal_pooling"),
    "window": ("sk_emotion.timeline:emotion_timeline", "window"),
    "hop": ("sk_emotion.timeline:emotion_timeline", "hop"),
    "min_track": ("sk_emotion.timeline:emotion_timeline", "min_track_s"),
}


def _signature_default(dest: str):
    """The default of the parameter that option ``dest`` sets (see :data:`_PARAMETERS`)."""
    import importlib
    import inspect

    target, parameter = _PARAMETERS[dest]
    module, name = target.split(":")
    return inspect.signature(getattr(importlib.import_module(module), name)).parameters[parameter].default


def _given(args: argparse.Namespace, **options: str) -> dict:
    """``{parameter: value}`` of the options (``parameter=dest``) the user gave; the others are left out."""
    return {parameter: getattr(args, dest) for parameter, dest in options.items() if getattr(args, dest) is not None}


class _LazyHelp(argparse.HelpFormatter):
    """Fills help placeholders from the code they describe, only when a help is shown.

    ``{default}`` is the default of the parameter the option sets
    (:data:`_PARAMETERS`); ``{spatial_poolings}`` and ``{temporal_poolings}``
    are the names of the pooling registries.  Reading them imports torch,
    which parsing and the other commands do not need.
    """

    def _get_help_string(self, action: argparse.Action) -> str:
        text = super()._get_help_string(action) or ""
        if "{default}" in text:
            default = _signature_default(action.dest)
            text = text.replace("{default}", f"{default:g}" if isinstance(default, float) else str(default))
        if "{spatial_poolings}" in text or "{temporal_poolings}" in text:
            from .nets.spatial import SPATIAL_POOLINGS
            from .nets.temporal import TEMPORAL_POOLINGS

            text = text.replace("{spatial_poolings}", ", ".join(SPATIAL_POOLINGS.options))
            text = text.replace("{temporal_poolings}", ", ".join(TEMPORAL_POOLINGS.options))
        return text


def _cmd_weights(args: argparse.Namespace) -> int:
    from .config import cache_dir
    from .weights import EMOTION_WEIGHTS, MTCNNWeights, sha256sum

    print(f"cache directory: {cache_dir()}  (override with $SK_EMOTION_HOME)")
    status = 0
    for enum in (*EMOTION_WEIGHTS, MTCNNWeights):
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


#: ``--class-prior`` choices: what each sets ``EmotionClassifier(class_prior=...)`` to.
_CLASS_PRIORS = ("uniform", "none", "faces")


def _apply_class_prior(args: argparse.Namespace, model: Any) -> Any:
    """Set the classifier's ``class_prior`` from ``--class-prior``, when given; the model otherwise as it is."""
    choice = getattr(args, "class_prior", None)
    if choice is None:
        return model
    from .pipeline import split_pipeline

    classifier = split_pipeline(model).predictor
    if choice == "faces":
        from .weights import resolve_emotion_weights

        meta = resolve_emotion_weights(classifier.weights).meta
        frequencies = dict(zip(meta["categories"], meta["class_frequencies"]))
        classes = [str(c) for c in classifier.classes_]
        if sorted(classes) != sorted(frequencies):
            raise ValueError(f"--class-prior faces needs a model of the emotions {list(meta['categories'])}; "
                             f"this one predicts {classes}: use uniform or none")
        value: Any = [frequencies[c] for c in classes]  # by name: a fitted model's columns are sorted
    else:
        value = None if choice == "none" else choice
    classifier.set_params(class_prior=value)
    return model


def _load_or_zero_shot(args: argparse.Namespace, *, progress: bool = False):
    """The user's trained pipeline, or the pretrained zero-shot pipeline, with the CLI's error policy.

    ``progress`` shows a bar over the videos (on standard error) while faces are extracted.
    """
    from .estimators.classifier import EmotionClassifier
    from .pipeline import make_emotion_pipeline, split_pipeline

    on_error = "fallback" if getattr(args, "fallback", False) else "raise"
    if args.model:
        from .persistence import load_model

        model = load_model(args.model, trusted=args.trusted)
        if not hasattr(model, "steps"):
            raise ValueError(f"'{args.model}' holds a {type(model).__name__}, not a pipeline from video files")
        split_pipeline(model).extractor.set_params(on_error=on_error, verbose=int(progress))
        return _apply_class_prior(args, model)
    return _apply_class_prior(args, make_emotion_pipeline(
        extractor={"on_error": on_error, "verbose": int(progress), **_given(args, n_frames="n_frames")},
        classifier=EmotionClassifier.from_pretrained()))


# ------------------------------------------------------------------ checks before any work
def _check_outputs(outputs: dict[str, str | None], inputs: dict | None = None) -> None:
    """Outputs that would destroy a file are usage errors (2); a file system that refuses them, errors (1)."""
    from .outputs import check_outputs

    try:
        check_outputs(outputs, inputs)
    except OSError:
        raise
    except ValueError as exc:
        raise _UsageError(str(exc)) from None


def _check_videos(paths: Sequence[str], *, must_exist: bool) -> None:
    """Refuse standard input, pipes and devices (decoding reads a file by name, more than once).

    A missing or empty file is refused here only when ``must_exist`` (one
    video); ``predict`` reports it in its table, with the other videos' results.
    """
    from .exceptions import VideoDecodeError
    from .video.decode import check_video_path

    for path in paths:
        if path == "":
            raise _UsageError("VIDEO '' is an empty file name (an unset shell variable?)")
        if path == "-" and not os.path.lexists(path):
            raise _UsageError("VIDEO '-': reading videos from standard input is not supported; "
                              "save the video to a file and give its name")
        try:
            check_video_path(path)
        except VideoDecodeError as exc:
            try:
                mode = os.stat(path).st_mode
            except OSError:  # missing
                mode = stat.S_IFREG
            special = not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))
            if special:  # no run of this command line can read it
                raise _UsageError(str(exc)) from None
            if must_exist:
                raise


def _check_model_options(args: argparse.Namespace) -> None:
    if args.model and args.n_frames is not None:
        raise _UsageError("--n-frames cannot be combined with --model: a saved model samples the number of "
                          "frames it was trained with")
    if args.trusted and not args.model:
        raise _UsageError("--trusted applies to a --model file only")


def _check_figure(option: str, path: str | None) -> None:
    if path is not None and Path(path).suffix.lower() not in FIGURE_SUFFIXES:
        raise _UsageError(f"{option} '{path}': the figure's format comes from its extension, one of "
                          f"{', '.join(FIGURE_SUFFIXES)}")


def _check_predict(args: argparse.Namespace) -> None:
    _check_model_options(args)
    _check_videos(args.videos, must_exist=False)
    frames_csv = _sibling(args.csv, "_frames") if args.csv and args.frames else None
    _check_outputs({"--csv": args.csv, "--json": args.json, "--frames (per-frame CSV)": frames_csv},
                   {"VIDEO": args.videos, "--model": args.model})


def _check_explain(args: argparse.Namespace) -> None:
    _check_model_options(args)
    _check_figure("--out", args.out)
    _check_videos([args.video], must_exist=True)
    _check_outputs({"--out": args.out}, {"VIDEO": args.video, "--model": args.model})


def _check_timeline(args: argparse.Namespace) -> None:
    _check_model_options(args)
    _check_figure("--plot", args.plot)
    _check_videos([args.video], must_exist=True)
    _check_outputs({"--csv": args.csv, "--plot": args.plot}, {"VIDEO": args.video, "--model": args.model})
    from .persistence import saved_n_frames
    from .video.sampling import window_grid

    if args.model is None:
        n_frames = args.n_frames if args.n_frames is not None else _signature_default("n_frames")
    else:  # read from the file's manifest, nothing built
        n_frames = saved_n_frames(args.model)
    window = args.window if args.window is not None else _signature_default("window")
    hop = args.hop if args.hop is not None else _signature_default("hop")
    try:
        if n_frames is None:  # unknown until the model loads: only the window's own bounds here
            window_grid(window, window, 1)
        else:
            window_grid(window, hop, n_frames)
    except ValueError as exc:
        raise _UsageError(str(exc)) from None


def _check_train(args: argparse.Namespace) -> None:
    from .nets.spatial import SPATIAL_POOLINGS
    from .nets.temporal import TEMPORAL_POOLINGS

    for registry, name in ((SPATIAL_POOLINGS, args.spatial), (TEMPORAL_POOLINGS, args.temporal)):
        if name is not None:
            registry.check(name)
    if args.temperatures:
        _temperatures(args.temperatures)
    root = Path(args.root)
    if root.exists() and not root.is_dir():
        raise NotADirectoryError(f"ROOT '{root}' is a file, not a folder: give the folder that holds "
                                 + ("Train_AFEW and Val_AFEW" if args.layout == "afew" else "one folder per class"))
    _check_outputs({"--out": args.out})  # the clips are checked once listed, in _cmd_train


def _check_nothing(args: argparse.Namespace) -> None:
    """Commands without files to check."""


def _report_failures(table, fallback: bool) -> int:
    """One line per video without a whole answer; the exit status (1 if any failed, unless --fallback).

    A ``partial`` row (a truncated file, labelled from the part that decodes)
    is a warning: its answer is shown and it does not fail the batch.
    """
    failed = table["status"].isin(("fallback", "failed"))
    for row in table[table["status"] != "ok"].itertuples():
        kind = "error" if row.status != "partial" and not fallback else "warning"
        print(f"sk-emotion: {kind}: {row.video}: {row.error}", file=sys.stderr)
    return 1 if failed.any() and not fallback else 0


def _cmd_predict(args: argparse.Namespace) -> int:
    import json

    import pandas as pd

    from .exceptions import ExtractionWarning
    from .pipeline import predict_table

    # One video's bar (frames) only where someone watches; a batch's (videos) always, as before.
    model = _load_or_zero_shot(args, progress=len(args.videos) > 1 or sys.stderr.isatty())
    with warnings.catch_warnings():
        # Its summary of the fallback clips repeats the one line per failed video given below.
        warnings.simplefilter("ignore", ExtractionWarning)
        table, frames = predict_table(model, list(args.videos), return_frames=True)
    # Files first: a reader that stops early (`| head`) or an interrupt while
    # printing must not cost them.  One output that cannot be written (a full
    # disk) costs neither the others nor the table on screen.
    outputs: list[tuple[str, str, Callable[[Path], object]]] = []
    if args.csv:
        outputs.append(("--csv", args.csv, lambda path: table.to_csv(path, index=False)))
        if args.frames:
            outputs.append(("--frames", _sibling(args.csv, "_frames"), lambda path: frames.to_csv(path, index=False)))
    if args.json:
        payload = {"videos": json.loads(table.to_json(orient="records"))}
        if args.frames:
            payload["frames"] = json.loads(frames.to_json(orient="records"))
        outputs.append(("--json", args.json,
                        lambda path: path.write_text(json.dumps(payload, indent=2), encoding="utf-8")))
    unwritten = _write_each(outputs)
    shown = table if args.fallback else table[table["status"].isin(("ok", "partial"))]
    columns = list(shown.columns)
    if (shown["status"] == "ok").all():
        columns = [c for c in columns if c not in ("status", "error")]  # nothing to say on screen
    with pd.option_context("display.width", 200, "display.max_columns", 40, "display.max_colwidth", 60):
        if len(shown):
            print(shown[columns].round(3).to_string(index=False))
        if args.frames and not (args.csv or args.json) and len(frames):
            print()
            print(frames.round(3).to_string(index=False))
    return max(_report_failures(table, args.fallback), 1 if unwritten else 0)


def _write(path: str, write: Callable[[Path], object], option: str | None = None) -> None:
    """``write(temporary path)``, then the file replaces ``path`` whole (never half a file).

    A failed write raises an ``OSError`` whose message names the option (when
    given) and the file, e.g. ``--csv '/dev/full': cannot write (No space left
    on device)``.
    """
    from .outputs import atomic_output

    try:
        with atomic_output(path) as partial:
            write(partial)
    except OSError as exc:
        named = f"{option} '{path}'" if option else f"'{path}'"
        error = OSError(f"{named}: cannot write ({exc.strerror or exc})")
        error.errno = exc.errno
        raise error from exc


def _write_each(outputs: Sequence[tuple[str, str, Callable[[Path], object]]]) -> set[str]:
    """Write every ``(option, path, write)``; one that fails is reported and the others still written.

    Returns the options whose file could not be written.
    """
    unwritten = set()
    for option, path, write in outputs:
        try:
            _write(path, write, option=option)
        except OSError as exc:
            print(f"sk-emotion: error: {exc}", file=sys.stderr)
            unwritten.add(option)
    return unwritten


def _figure_writer(figure, path: str, dpi: int) -> Callable[[Path], object]:
    # The temporary name has no figure extension: the format is said explicitly.
    return lambda partial: figure.savefig(partial, dpi=dpi, format=Path(path).suffix[1:].lower())


def _save_figure(figure, path: str, dpi: int, option: str) -> None:
    _write(path, _figure_writer(figure, path, dpi), option=option)


def _sibling(path: str, suffix: str) -> str:
    p = Path(path)
    return str(p.with_name(p.stem + suffix + p.suffix))


def _cmd_explain(args: argparse.Namespace) -> int:
    from .estimators.extractor import ExtractionError
    from .pipeline import split_pipeline
    from .viz import plot_explanation

    parts = split_pipeline(_load_or_zero_shot(args))
    try:
        faces, report = parts.extractor.transform_with_report([args.video])
    except ExtractionError as exc:
        faces, report = exc.results, exc.report
    error = report["error"].iloc[0]
    if error is not None:
        # A figure of a substituted clip would explain a made-up input.
        raise ValueError(f"{args.video}: {error}; there is nothing to explain")
    explanation = parts.classifier.explain(parts.prepare(faces))
    label = explanation.labels[0]
    probability = float(explanation.probabilities[0].max())
    coverage = float(report["face_coverage"].iloc[0])
    detected = report["frame_detected"].iloc[0]
    figure = plot_explanation(faces[0], explanation, face_detected=detected,
                              title=f"{args.video}: {label} (p = {probability:.2f}; "
                                    f"face detected in {coverage:.0%} of the sampled frames)")
    _save_figure(figure, args.out, args.dpi, "--out")
    print(f"{args.video}: {label} (p = {probability:.2f}) -> {args.out}")
    return 0


def _cmd_timeline(args: argparse.Namespace) -> int:
    import pandas as pd

    from .timeline import emotion_timeline, timeline_classifier

    model = _load_or_zero_shot(args) if args.model else None
    if model is None and (args.n_frames is not None or args.class_prior is not None):
        from .pipeline import make_emotion_pipeline

        model = _apply_class_prior(args, make_emotion_pipeline(
            extractor=_given(args, n_frames="n_frames"), cache=False, classifier=timeline_classifier()))
    options = _given(args, window="window", hop="hop", min_track_s="min_track")
    windows, persons = emotion_timeline(args.video, model, folder_fps=args.fps, verbose=1, return_persons=True,
                                        **options)
    # The video was read: an empty result is an answer, not an error.
    min_track = options.get("min_track_s", _signature_default("min_track"))
    nobody = f"nobody was found on screen for {min_track:g} s or more"
    outputs: list[tuple[str, str, Callable[[Path], object]]] = []
    if args.csv:
        outputs.append(("--csv", args.csv, lambda path: windows.to_csv(path, index=False)))
    if args.plot and not windows.empty:
        from .viz.timeline import plot_timeline

        figure = plot_timeline(windows, persons, title=str(args.video))
        outputs.append(("--plot", args.plot, _figure_writer(figure, args.plot, args.dpi)))
    unwritten = _write_each(outputs)
    with pd.option_context("display.width", 200, "display.max_columns", 40, "display.max_rows", 60):
        if persons.empty:
            print(f"{args.video}: {nobody}")
        else:
            print(f"{args.video}: {len(persons)} person(s)")
            print(persons.drop(columns="thumbnails").round(2).to_string(index=False))
            if not args.csv:
                print()
                print(windows.round(3).to_string(index=False))
    if args.csv and "--csv" not in unwritten:
        print(f"windows -> {args.csv}")
    if args.plot and windows.empty:
        print(f"figure not written: {nobody} in {args.video}", file=sys.stderr)
    elif args.plot and "--plot" not in unwritten:
        print(f"figure -> {args.plot}")
    return 1 if unwritten else 0


def _cmd_train(args: argparse.Namespace) -> int:
    from sklearn.model_selection import GridSearchCV, StratifiedKFold

    from .datasets import load_afew, load_video_folders
    from .persistence import save_model
    from .pipeline import make_emotion_pipeline

    # Options were checked (_check_train); the listing is cheap, the extraction is not.
    temperatures = _temperatures(args.temperatures) if args.temperatures else None
    if args.layout == "afew":
        table = load_afew(args.root)
        table = table[table["subset"] == "train"] if args.train_only else table
        videos, labels = table["path"].tolist(), table["emotion"].to_numpy()
    else:
        table = load_video_folders(args.root)
        videos, labels = table["path"].tolist(), table["label"].to_numpy()
    _check_outputs({"--out": args.out}, {"training video": videos})
    classes = sorted(set(labels))
    if len(classes) < 2:
        raise ValueError(f"ROOT '{args.root}' holds videos of one class only ({classes[0]!r}, {len(videos)} "
                         "videos): a classifier needs at least two classes")
    print(f"{len(videos)} videos, classes: {classes}")
    pipe = make_emotion_pipeline(
        extractor={"verbose": 1, "on_error": "fallback" if args.fallback else "raise",
                   **_given(args, n_frames="n_frames", n_jobs="n_jobs")},
        classifier={"random_state": args.seed, "verbose": 1,
                    **_given(args, max_epochs="epochs", spatial_pooling="spatial", temporal_pooling="temporal")},
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
    from .nets.temporal import TEMPERATURE

    try:
        values = [float(t) for t in text.split(",")]
    except ValueError:
        raise ValueError(f"--temperatures must be comma-separated numbers, got {text!r}") from None
    if not all(TEMPERATURE.is_satisfied_by(v) for v in values):
        raise _UsageError(f"--temperatures must be positive finite numbers, got {text!r}")
    return values


def _int_in(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: an integer from ``low`` to ``high`` (no upper bound when None)."""
    expected = ("a positive integer" if low == 1 else f"an integer >= {low}") if high is None else (
        f"a positive integer, at most {high}" if low == 1 else f"an integer from {low} to {high}")

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {value}")
        return value

    return parse


def _seconds(*, zero: bool, unit: str = "seconds") -> Callable[[str], float]:
    """An argparse type: a finite number of ``unit``, > 0 (or >= 0 when ``zero``)."""
    expected = f"a finite number of {unit} >= 0" if zero else f"a finite number of {unit} > 0"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if not math.isfinite(value) or value < 0 or (value == 0 and not zero):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return parse


def _n_jobs(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value == 0 or value < -1:
        raise argparse.ArgumentTypeError(f"expected a positive number of processes, or -1 for all cores, got {text!r}")
    return value


_positive_int = _int_in(1)


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
    demo.set_defaults(func=_cmd_demo, check=_check_nothing)

    weights = sub.add_parser("weights", help="where the pretrained files are, and their checksum status")
    weights.set_defaults(func=_cmd_weights, check=_check_nothing)

    def model_options(p: argparse.ArgumentParser, fallback: bool = True, max_frames: int = MAX_N_FRAMES) -> None:
        p.add_argument("--model", help="trained model file (sk-emotion train); default: pretrained zero-shot model")
        p.add_argument("--trusted", action="store_true",
                       help="allow a pickle-based model file (.joblib): loading it can run any code it holds, "
                            "so only for files you made yourself")
        p.add_argument("--n-frames", type=_int_in(1, max_frames), default=None,
                       help=f"frames sampled per video, 1 to {max_frames} (default: {{default}}); pretrained model "
                            "only: a --model samples what it was trained with")
        p.add_argument("--class-prior", choices=_CLASS_PRIORS, default=None,
                       help="how often each emotion is expected: uniform (the zero-shot default of predict and "
                            "explain: balanced video sets), none (the scores as trained; the default of timeline), "
                            "faces (the training faces' own frequencies: single photos); a --model keeps its own; "
                            "see docs/classifier.md, Class priors")
        if fallback:
            p.add_argument("--fallback", action="store_true",
                           help="keep videos that cannot be read or show no face in the output, marked "
                                "status=fallback with their error and no label, instead of failing")

    predict = sub.add_parser("predict", help="predict the emotion of each video",
                           formatter_class=_LazyHelp)
    predict.add_argument("videos", nargs="+", metavar="VIDEO")
    model_options(predict)
    predict.add_argument("--csv", help="write the per-video table as CSV")
    predict.add_argument("--json", help="write the results as JSON")
    predict.add_argument("--frames", action="store_true",
                         help="also the per-frame table (printed; CSV: <name>_frames.csv; JSON: 'frames')")
    predict.set_defaults(func=_cmd_predict, check=_check_predict)

    explain = sub.add_parser("explain", help="draw attention, frame probabilities and temporal weights of a video",
                           formatter_class=_LazyHelp)
    explain.add_argument("video", metavar="VIDEO")
    explain.add_argument("--out", required=True, help="figure to write: .png, .pdf or .svg")
    explain.add_argument("--dpi", type=_int_in(MIN_DPI, MAX_DPI), default=120,
                         help=f"resolution, {MIN_DPI} to {MAX_DPI} (default: %(default)s)")
    model_options(explain, max_frames=MAX_EXPLAIN_FRAMES)
    explain.set_defaults(func=_cmd_explain, check=_check_explain)

    timeline = sub.add_parser("timeline", help="emotions of every person in a long video, window by window",
                           formatter_class=_LazyHelp)
    timeline.add_argument("video", metavar="VIDEO")
    model_options(timeline, fallback=False)
    timeline.add_argument("--window", type=_seconds(zero=False),
                          help="window length in seconds (default: {default})")
    timeline.add_argument("--hop", type=_seconds(zero=False),
                          help="seconds between window starts, a multiple of window / n-frames (default: {default})")
    timeline.add_argument("--min-track", type=_seconds(zero=True),
                          help="drop persons on screen for less than this many seconds; 0 keeps all "
                               "(default: {default})")
    timeline.add_argument("--fps", type=_seconds(zero=False, unit="frames per second"), default=DEFAULT_FOLDER_FPS,
                          help="frame rate of VIDEO when it is a folder of frame images (default: %(default)g)")
    timeline.add_argument("--csv", help="write the windows table as CSV")
    timeline.add_argument("--plot", help="write the timeline figure: .png, .pdf or .svg")
    timeline.add_argument("--dpi", type=_int_in(MIN_DPI, MAX_DPI), default=100,
                          help=f"resolution of --plot, {MIN_DPI} to {MAX_DPI} (default: %(default)s)")
    timeline.set_defaults(func=_cmd_timeline, check=_check_timeline)

    train = sub.add_parser("train", help="train the method on a folder of labelled videos",
                           formatter_class=_LazyHelp)
    train.add_argument("root", metavar="ROOT")
    train.add_argument("--layout", choices=("afew", "folders"), default="afew")
    train.add_argument("--out", required=True,
                       help="model file to write (data only, no pickle: safe to share; e.g. model.skem)")
    train.add_argument("--temperatures",
                       help="comma-separated temperatures to search (frame-probability units), e.g. 0.1,0.2,0.35")
    train.add_argument("--epochs", type=_positive_int,
                       help="most training epochs (default: {default}; early stopping usually ends sooner)")
    train.add_argument("--n-frames", type=_int_in(1, MAX_N_FRAMES),
                       help=f"frames sampled per video, 1 to {MAX_N_FRAMES} (default: {{default}})")
    train.add_argument("--n-jobs", type=_n_jobs, help="processes extracting faces; -1: all cores")
    # Names come from the pooling registries, checked when training starts and
    # listed by `train --help` (importing them here would import torch for every command).
    train.add_argument("--spatial", help="spatial pooling, one of: {spatial_poolings} (default: {default})")
    train.add_argument("--temporal", help="temporal pooling, one of: {temporal_poolings} (default: {default})")
    train.add_argument("--seed", type=_int_in(0, 2**32 - 1), default=0)
    train.add_argument("--train-only", action="store_true", help="AFEW: train on Train_AFEW only")
    train.add_argument("--fallback", action="store_true")
    train.set_defaults(func=_cmd_train, check=_check_train)
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
        The exit status: 0 on success; 1 on an error (or a video without a
        prediction, unless ``--fallback``); 2 on a command line that cannot
        work (an output that is an input or another output, ``--n-frames``
        with ``--model``, ...), found before any work; 130 when interrupted.
        A reader that closes standard output early (``| head``) changes
        nothing: files are written first, the rest of the printing is dropped.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    hooks = contextlib.ExitStack()
    with hooks:
        hooks.enter_context(_guarded_stdout())
        if not args.debug:  # --debug keeps Python's full warning format
            hooks.enter_context(_warnings_as_lines())
        try:
            args.check(args)
            return int(args.func(args) or 0)
        except _UsageError as exc:
            print(f"sk-emotion: error: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("sk-emotion: interrupted", file=sys.stderr)
            return 130
        except Exception as exc:  # one line for users, the traceback with --debug
            if args.debug:
                raise
            # Bullet marks of multi-line messages go; an option's leading "--" stays.
            lines = [line.strip().removeprefix("- ") for line in str(exc).strip().splitlines() if line.strip()]
            message = "; ".join(lines) if lines else type(exc).__name__
            from .exceptions import DetectorError  # loaded by now: something raised it

            if getattr(args, "model", None) and isinstance(exc, DetectorError):
                message += f" (the face detector the model file '{args.model}' names)"
            print(f"sk-emotion: error: {message}", file=sys.stderr)
            return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
