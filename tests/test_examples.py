"""The runnable examples run to the end (on the embedded data, with --quick) and print what they promise."""

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).parents[1] / "examples"


def _run(tmp_path, name, *args):
    env = {**os.environ, "SK_EMOTION_HOME": str(tmp_path / "home")}
    result = subprocess.run([sys.executable, str(EXAMPLES / name), *args], capture_output=True, text=True,
                            timeout=600, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_quickstart(tmp_path):
    out = _run(tmp_path, "quickstart.py", "--quick", "--root", str(tmp_path / "data"))
    assert "validation accuracy:" in out and "temporal_weight" in out


def test_grid_search_temperature(tmp_path):
    out = _run(tmp_path, "grid_search_temperature.py", "--quick", "--root", str(tmp_path / "data"))
    assert "temperature" in out


def test_afew_cross_validation_on_the_embedded_data(tmp_path):
    out = _run(tmp_path, "afew_cross_validation.py", "--quick")
    assert "accuracy" in out.lower()


def test_emotion_timeline_recovers_its_script(tmp_path):
    from PIL import Image

    png, csv = tmp_path / "timeline.png", tmp_path / "windows.csv"
    out = _run(tmp_path, "emotion_timeline.py", "--out", str(png), "--csv", str(csv))
    assert f"figure -> {png}" in out
    windows = pd.read_csv(csv)
    assert windows.person.unique().tolist() == [0, 1]
    # Windows wholly inside a scripted segment (see the example) carry its emotion.
    script = {0: [(0, 3, "neutral"), (3, 8, "happy"), (8, 12, "neutral"), (12, 17, "sad"), (17, 20, "neutral")],
              1: [(0, 4, "neutral"), (6, 9, "neutral"), (9, 15, "happy"), (15, 20, "neutral")]}
    checked = 0
    for row in windows.itertuples():
        for start, end, emotion in script[row.person]:
            if start <= row.start_s and row.end_s <= end:
                assert row.label == emotion, row
                checked += 1
    assert checked == 29  # every window of the grid lying inside a segment (see docs/timeline.md)
    with Image.open(png) as image:
        assert image.size[0] >= 800
