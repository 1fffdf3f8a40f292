"""The command line's defaults are those of the functions it calls: read from their signatures, never restated."""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sk_emotion import EmotionClassifier, VideoFaceExtractor
from sk_emotion.cli import _PARAMETERS, build_parser, main
from sk_emotion.timeline import emotion_timeline
from sk_emotion.video.writer import write_video

SIGNATURES = {"VideoFaceExtractor": VideoFaceExtractor, "EmotionClassifier": EmotionClassifier,
              "emotion_timeline": emotion_timeline}
COMMANDS = {"window": "timeline", "hop": "timeline", "min_track": "timeline", "n_frames": "train",
            "epochs": "train", "spatial": "train", "temporal": "train"}


def _help(command: str, dest: str) -> str:
    """The help text of one option, as ``--help`` shows it."""
    parser = build_parser()._subparsers._group_actions[0].choices[command]
    (action,) = [a for a in parser._actions if a.dest == dest]
    return parser._get_formatter()._expand_help(action)


def _default(dest: str):
    target, parameter = _PARAMETERS[dest]
    return inspect.signature(SIGNATURES[target.split(":")[1]]).parameters[parameter].default


@pytest.mark.parametrize("dest", sorted(COMMANDS))
def test_help_shows_the_default_of_the_parameter_the_option_sets(dest):
    default = _default(dest)
    shown = f"{default:g}" if isinstance(default, float) else str(default)
    assert f"(default: {shown}" in _help(COMMANDS[dest], dest)
    # The option itself has no default: left out, it is not passed.
    args = build_parser().parse_args([COMMANDS[dest], "x", *(["--out", "m.skem"] if COMMANDS[dest] == "train" else [])])
    assert getattr(args, dest) is None


def test_the_shown_default_follows_the_signature(monkeypatch):
    def timeline(video, model=None, *, window=3.5, hop=1.0, min_track_s=1.0):
        """A stand-in with another default."""

    import sk_emotion.timeline

    monkeypatch.setattr(sk_emotion.timeline, "emotion_timeline", timeline)
    assert _help("timeline", "window") == "window length in seconds (default: 3.5)"


@pytest.fixture
def video(tmp_path):
    frames = np.random.default_rng(0).integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    return write_video(tmp_path / "clip.avi", frames, fps=5)


def test_timeline_passes_only_the_options_given(video, monkeypatch, capsys):
    import sk_emotion.timeline

    calls = []

    def record(video, model=None, **kwargs):
        calls.append(kwargs)
        return pd.DataFrame(), pd.DataFrame()

    record.__signature__ = inspect.signature(emotion_timeline)  # where the command reads the defaults
    monkeypatch.setattr(sk_emotion.timeline, "emotion_timeline", record)
    assert main(["timeline", str(video)]) == 0
    assert not {"window", "hop", "min_track_s"} & set(calls[-1])
    # The message names the default the timeline used.
    assert f"nobody was found on screen for {_default('min_track'):g} s or more" in capsys.readouterr().out
    assert main(["timeline", str(video), "--hop", "0.5", "--min-track", "3"]) == 0
    assert calls[-1]["hop"] == 0.5 and calls[-1]["min_track_s"] == 3.0 and "window" not in calls[-1]
    assert "nobody was found on screen for 3 s or more" in capsys.readouterr().out


def test_train_passes_only_the_options_given(video, tmp_path, monkeypatch):
    import sk_emotion.pipeline

    root = tmp_path / "videos"
    for label in ("happy", "sad"):
        (root / label).mkdir(parents=True)
        (root / label / "a.avi").write_bytes(Path(video).read_bytes())
    calls = []

    def record(**kwargs):
        calls.append(kwargs)
        raise RuntimeError("recorded")

    monkeypatch.setattr(sk_emotion.pipeline, "make_emotion_pipeline", record)
    common = ["train", str(root), "--layout", "folders", "--out", str(tmp_path / "m.skem")]
    assert main(common) == 1
    extractor, classifier = calls[-1]["extractor"], calls[-1]["classifier"]
    assert not {"n_frames", "n_jobs"} & set(extractor)
    assert not {"max_epochs", "spatial_pooling", "temporal_pooling"} & set(classifier)
    assert main([*common, "--epochs", "3", "--temporal", "mean", "--n-frames", "8", "--n-jobs", "2"]) == 1
    extractor, classifier = calls[-1]["extractor"], calls[-1]["classifier"]
    assert extractor["n_frames"] == 8 and extractor["n_jobs"] == 2
    assert classifier["max_epochs"] == 3 and classifier["temporal_pooling"] == "mean"
    assert "spatial_pooling" not in classifier
