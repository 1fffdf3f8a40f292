"""The command line: demo, weights report, one-line errors."""

import subprocess
import sys

import pytest

from sk_emotion.cli import main

pytestmark = pytest.mark.usefixtures("private_home")


def _listed_files():
    """Every file of the weights sets ``sk-emotion weights`` reports: the emotion backbones' and MTCNN's."""
    from sk_emotion.weights import EMOTION_WEIGHTS, MTCNNWeights

    return [spec for enum in (*EMOTION_WEIGHTS, MTCNNWeights) for spec in enum.DEFAULT.files.values()]


def test_weights_reports_every_shipped_file_with_checksum(capsys):
    assert main(["weights"]) == 0
    out = capsys.readouterr().out
    for name in ("MiniXceptionWeights.FER2013", "FaceResNetWeights.FERPLUS", "MTCNNWeights.MTCNN"):
        assert name in out
    assert out.count("shipped  ok") == len(_listed_files())
    for spec in _listed_files():
        assert f"{spec.filename}  sha256 {spec.sha256}" in out
        assert str(spec.shipped_path()) in out


def test_weights_reports_damaged_and_missing_files_with_the_fix(capsys, monkeypatch, tmp_path):
    from sk_emotion.weights import WeightsFile

    damaged = tmp_path / "damaged.npz"
    damaged.write_bytes(b"not weights")
    monkeypatch.setattr(WeightsFile, "shipped_path",
                        lambda self: damaged if self.filename.startswith("mini") else tmp_path / "none.npz")
    assert main(["weights"]) == 1
    out = capsys.readouterr().out
    assert "BAD SHA" in out and str(damaged) in out
    n_missing = sum(not spec.filename.startswith("mini") for spec in _listed_files())
    assert out.count("MISSING") == n_missing and "reinstall sk-emotion" in out


def test_errors_are_one_line_and_non_zero(capsys, monkeypatch, tmp_path):
    from sk_emotion.weights import WeightsFile

    monkeypatch.setattr(WeightsFile, "shipped_path", lambda self: tmp_path / "none.npz")
    monkeypatch.setattr(WeightsFile, "download", lambda self, dest: (_ for _ in ()).throw(OSError("offline")))
    assert main(["demo", "--photos", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("sk-emotion: error:")
    assert "pip install --force-reinstall" in err
    with pytest.raises(OSError):
        main(["--debug", "demo", "--photos", "--quiet"])


def test_unknown_option_is_a_usage_error():
    result = subprocess.run([sys.executable, "-m", "sk_emotion.cli", "predict-all"],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_photo_demo_prints_emotions_of_real_faces(capsys):
    assert main(["demo", "--photos"]) == 0
    out = capsys.readouterr().out
    assert "t1.jpg (insightface)" in out and "astronaut (scikit-image)" in out
    assert "happy" in out
    # six people in the group photo, one astronaut, one Tom Hanks
    assert "8 faces" in out


# --------------------------------------------------------------------------- video commands
import json  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from sk_emotion import load_model  # noqa: E402
from sk_emotion.datasets import load_afew, make_expression_videos  # noqa: E402
from sk_emotion.demo import QUICK_DATA  # noqa: E402
from sk_emotion.video import write_video  # noqa: E402


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli_videos")
    make_expression_videos(root, random_state=1, **QUICK_DATA)
    return root, load_afew(root)


def test_predict_prints_table_and_writes_csv_json_and_frames(videos, tmp_path, capsys):
    _, table = videos
    paths = table["path"][:2].tolist()
    csv, js = tmp_path / "out.csv", tmp_path / "out.json"
    assert main(["predict", *paths, "--n-frames", "6", "--csv", str(csv), "--json", str(js), "--frames"]) == 0
    out = capsys.readouterr().out
    assert "face_coverage" in out and "p_happy" in out
    result = pd.read_csv(csv)
    assert list(result.columns) == ["video", "status", "label", "p_angry", "p_disgust", "p_fear", "p_happy",
                                    "p_sad", "p_surprise", "p_neutral", "face_coverage", "error"]
    assert (result["status"] == "ok").all() and result["error"].isna().all()
    assert len(result) == 2 and (result["face_coverage"] > 0.9).all()
    np.testing.assert_allclose(result.filter(like="p_").sum(axis=1), 1.0, atol=1e-3)
    frames = pd.read_csv(tmp_path / "out_frames.csv")
    assert len(frames) == 12
    assert {"frame", "timestamp_s", "face_detected", "face_tracked", "video_label", "frame_label",
            "temporal_weight", "p_happy"} <= set(frames.columns)
    # One whole-frame search per video, the other frames tracked.
    assert frames.groupby("video")["face_tracked"].sum().tolist() == [5, 5]
    assert frames["timestamp_s"].is_monotonic_increasing or frames.groupby("video")["timestamp_s"].apply(
        lambda s: s.is_monotonic_increasing).all()
    payload = json.loads(js.read_text())
    assert len(payload["videos"]) == 2 and len(payload["frames"]) == 12


def test_class_prior_option_sets_the_zero_shot_models_prior(videos, tmp_path):
    from sk_emotion import EmotionClassifier, make_emotion_pipeline, predict_table
    from sk_emotion.weights import FaceResNetWeights

    _, table = videos
    paths = table["path"][:2].tolist()
    found = {}
    for choice, value in (("none", None), ("faces", list(FaceResNetWeights.FERPLUS.meta["class_frequencies"])),
                          (None, "uniform")):
        csv = tmp_path / f"{choice}.csv"
        assert main(["predict", *paths, "--n-frames", "6", "--csv", str(csv),
                     *(["--class-prior", choice] if choice else [])]) == 0
        found[choice] = pd.read_csv(csv).filter(like="p_").to_numpy()
        model = make_emotion_pipeline(extractor={"n_frames": 6}, cache=False,
                                      classifier=EmotionClassifier.from_pretrained(class_prior=value))
        expected = predict_table(model, paths).filter(like="p_").to_numpy()
        np.testing.assert_allclose(found[choice], expected, atol=1e-5)
    assert np.abs(found["none"] - found[None]).max() > 1e-3  # the default is the uniform prior, not none


def test_explain_writes_a_png(videos, tmp_path, capsys):
    _, table = videos
    out = tmp_path / "figure.png"
    assert main(["explain", table["path"][0], "--out", str(out), "--n-frames", "6"]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert str(out) in capsys.readouterr().out


@pytest.mark.slow
def test_train_then_predict_with_the_saved_model(videos, tmp_path, capsys):
    root, table = videos
    model = tmp_path / "model.skem"
    assert main(["train", str(root), "--layout", "afew", "--out", str(model), "--epochs", "2",
                 "--n-frames", "4", "--temperatures", "0.1,0.35"]) == 0
    out = capsys.readouterr().out
    assert "best temperature" in out and model.is_file()
    csv = tmp_path / "predictions.csv"
    assert main(["predict", *table["path"][:2], "--model", str(model), "--csv", str(csv)]) == 0
    # The command's labels are the saved model's own predictions for those videos.
    expected = load_model(model).predict(list(table["path"][:2]))
    assert pd.read_csv(csv)["label"].tolist() == list(expected)


@pytest.fixture
def bad_inputs(tmp_path):
    corrupt = tmp_path / "random.avi"
    corrupt.write_bytes(np.random.default_rng(0).bytes(4000))
    empty = tmp_path / "empty.avi"
    empty.write_bytes(b"")
    faceless = tmp_path / "faceless.avi"
    write_video(faceless, np.tile(np.linspace(0, 255, 96, dtype=np.uint8)[None, None, :, None], (8, 80, 1, 3)))
    return {"corrupt": str(corrupt), "empty": str(empty), "faceless": str(faceless),
            "missing": str(tmp_path / "missing.avi")}


def test_one_bad_input_does_not_discard_the_good_results(videos, bad_inputs, capsys):
    """The defect: `predict good1 good2 random.avi` printed only an error; the good results were lost."""
    _, table = videos
    good = table["path"][:2].tolist()
    assert main(["predict", *good, bad_inputs["corrupt"], bad_inputs["missing"], "--n-frames", "4"]) == 1
    captured = capsys.readouterr()
    for path in good:
        assert path in captured.out  # the table of the good videos
    # Besides the progress bar (several videos), one line per failed input.
    lines = [line for line in captured.err.splitlines() if line.startswith("sk-emotion:")]
    assert len(lines) == 2 and all(line.startswith("sk-emotion: error: ") for line in lines)
    assert "extracting faces" in captured.err
    assert bad_inputs["corrupt"] in lines[0] and bad_inputs["missing"] in lines[1]
    assert "no such file" in lines[1]
    assert not any(artefact in captured.err for artefact in ("):;", ".results", ".report", "on_error="))


def test_fallback_rows_are_marked_in_every_output_and_never_predicted(videos, bad_inputs, tmp_path, capsys):
    """The defect: --fallback gave corrupt and empty files a normal-looking 'neutral 0.632' row."""
    _, table = videos
    good = table["path"][0]
    paths = [good, bad_inputs["corrupt"], bad_inputs["empty"], bad_inputs["faceless"], bad_inputs["missing"]]
    csv, js = tmp_path / "out.csv", tmp_path / "out.json"
    assert main(["predict", *paths, "--fallback", "--n-frames", "4", "--csv", str(csv), "--json", str(js)]) == 0
    captured = capsys.readouterr()
    assert "status" in captured.out and "fallback" in captured.out and "error" in captured.out
    assert captured.err.count("sk-emotion: warning: ") == 4 and "sk-emotion: error" not in captured.err
    result = pd.read_csv(csv)
    assert result["status"].tolist() == ["ok", "fallback", "fallback", "fallback", "fallback"]
    assert result["label"].notna().tolist() == [True, False, False, False, False]
    assert result.filter(like="p_").iloc[1:].isna().all().all()
    assert "empty file" in result.loc[2, "error"] and "no face found" in result.loc[3, "error"]
    records = json.loads(js.read_text())["videos"]
    assert [r["status"] for r in records] == result["status"].tolist()
    assert records[1]["label"] is None and records[1]["error"]


def test_explain_refuses_a_video_it_cannot_explain(bad_inputs, tmp_path, capsys):
    out = tmp_path / "figure.png"
    for flags in ([], ["--fallback"]):
        assert main(["explain", bad_inputs["faceless"], "--out", str(out), "--n-frames", "4", *flags]) == 1
        err = capsys.readouterr().err
        assert "nothing to explain" in err and "no face found" in err
    assert not out.exists()


def test_frames_without_an_output_file_are_printed(videos, capsys):
    _, table = videos
    assert main(["predict", table["path"][0], "--n-frames", "3", "--frames"]) == 0
    out = capsys.readouterr().out
    assert "frame_label" in out and "timestamp_s" in out


def test_arguments_are_checked_before_any_work(videos, tmp_path, capsys, monkeypatch):
    import sk_emotion.estimators._extraction as extraction_module

    monkeypatch.setattr(extraction_module, "read_frames", lambda *a, **k: pytest.fail("decoded a video"))
    _, table = videos
    with pytest.raises(SystemExit) as stop:
        main(["predict", table["path"][0], "--n-frames", "0"])
    assert stop.value.code == 2 and "positive integer" in capsys.readouterr().err
    assert main(["predict", table["path"][0], "--csv", str(tmp_path / "no" / "dir" / "x.csv")]) == 1
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", str(tmp_path), "--out", str(tmp_path / "m.skem"), "--epochs", "0"])
    assert main(["train", str(tmp_path), "--out", str(tmp_path / "m.skem"), "--temporal", "median"]) == 1
    assert "temporal_pooling must be one of" in capsys.readouterr().err


def test_bad_videos_give_one_line_errors(tmp_path, capsys):
    assert main(["predict", str(tmp_path / "missing.avi")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "missing.avi" in err

    corrupt = tmp_path / "corrupt.avi"
    corrupt.write_bytes(np.random.default_rng(0).bytes(4000))
    assert main(["predict", str(corrupt)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "corrupt.avi" in err

    faceless = tmp_path / "faceless.avi"
    gradient = np.tile(np.linspace(0, 255, 96, dtype=np.uint8)[None, None, :, None], (8, 80, 1, 3))
    write_video(faceless, gradient)
    assert main(["predict", str(faceless)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "faceless.avi" in err and "face" in err
    assert main(["predict", str(faceless), "--fallback"]) == 0
    assert "fallback" in capsys.readouterr().out
