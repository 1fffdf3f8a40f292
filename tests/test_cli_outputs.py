"""The command line's outputs and arguments (issue 18, items 6, 7, 8 and the CLI parts of 10 and 12).

Outputs never destroy an input or each other and are written whole; a reader
that closes standard output early costs nothing; every argument the work
depends on is checked before a model is loaded or a video decoded.
"""

import functools
import json
import os
import shutil
import stat
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _helpers import sha256_file

from sk_emotion import EmotionClassifier
from sk_emotion.cli import MAX_N_FRAMES, _warnings_as_lines, main
from sk_emotion.datasets import load_afew, make_expression_videos
from sk_emotion.outputs import atomic_output, check_outputs
from sk_emotion.pipeline import make_emotion_pipeline
from sk_emotion.video.formats import VIDEO_EXTENSIONS

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.usefixtures("private_home")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """A small AFEW-layout folder of real generated face videos (two classes, two per class)."""
    root = tmp_path_factory.mktemp("cli_outputs_data")
    make_expression_videos(root, random_state=1, n_train_per_class=1, n_val_per_class=1, n_frames=8,
                           emotions=["happy", "sad"])
    return root, load_afew(root)["path"].tolist()


@pytest.fixture
def clips(dataset, tmp_path):
    """Two of the videos, copied into the test's folder (tests may try to destroy them)."""
    _, paths = dataset
    a, b = tmp_path / "a.avi", tmp_path / "b.avi"
    shutil.copy(paths[0], a)
    shutil.copy(paths[1], b)
    return a, b


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    from sk_emotion.persistence import save_model

    path = tmp_path_factory.mktemp("cli_outputs_model") / "model.skem"
    save_model(make_emotion_pipeline(classifier=EmotionClassifier.from_pretrained(), cache=False,
                                     extractor={"n_frames": 4}), path)
    return path


@pytest.fixture
def no_work(monkeypatch):
    """Tripwires: loading a model, building the pretrained one or decoding a video fails the test."""
    import sk_emotion.estimators._extraction as extraction
    import sk_emotion.persistence as persistence
    import sk_emotion.timeline as timeline

    def tripped(what, original=None):
        def trip(*a, **k):
            pytest.fail(f"{what} before the arguments were checked")
        # The timeline's signature stays readable: the command line takes its defaults from it.
        return functools.wraps(original)(trip) if original else trip

    monkeypatch.setattr(persistence, "load_model", tripped("loaded the model"))
    monkeypatch.setattr(EmotionClassifier, "from_pretrained", classmethod(tripped("loaded the pretrained model")))
    monkeypatch.setattr(extraction, "read_frames", tripped("decoded a video"))
    monkeypatch.setattr(timeline, "emotion_timeline", tripped("ran the timeline", timeline.emotion_timeline))


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("sk-emotion: error: ")
    return lines[0]


# ------------------------------------------------------------------ item 6: an output that is an input
@pytest.mark.parametrize("case", ["csv_is_video", "json_is_video", "csv_is_json", "frames_is_video",
                                  "csv_is_model", "csv_links_to_video", "csv_hardlinks_video"])
def test_predict_refuses_an_output_that_is_an_input_or_another_output(case, clips, model_file, tmp_path, no_work,
                                                                      capsys):
    """The defect: `sk-emotion predict v.mp4 --csv v.mp4` overwrote the video with the CSV."""
    a, b = clips
    model_copy = tmp_path / "model.skem"
    shutil.copy(model_file, model_copy)
    (tmp_path / "link.csv").symlink_to(a)
    os.link(a, tmp_path / "hard.csv")
    frames_video = tmp_path / "o_frames.csv"  # what `--csv o.csv --frames` writes
    shutil.copy(b, frames_video)
    o_csv = tmp_path / "o.csv"
    argv, option, named = {
        "csv_is_video": (["predict", str(a), "--csv", str(a)], "--csv", a),
        "json_is_video": (["predict", str(a), str(b), "--json", str(b)], "--json", b),
        "csv_is_json": (["predict", str(a), "--csv", str(o_csv), "--json", str(o_csv)], "--json", o_csv),
        "frames_is_video": (["predict", str(frames_video), "--csv", str(o_csv), "--frames"],
                            "--frames (per-frame CSV)", frames_video),
        "csv_is_model": (["predict", str(a), "--model", str(model_copy), "--csv", str(model_copy)],
                         "--csv", model_copy),
        "csv_links_to_video": (["predict", str(a), "--csv", str(tmp_path / "link.csv")], "--csv",
                               tmp_path / "link.csv"),
        "csv_hardlinks_video": (["predict", str(a), "--csv", str(tmp_path / "hard.csv")], "--csv",
                                tmp_path / "hard.csv"),
    }[case]
    before = {p: sha256_file(p) for p in tmp_path.iterdir() if p.is_file()}
    assert main(argv) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert f"{option} '{named}'" in line
    assert "choose another name" in line or "give each output its own name" in line
    # Nothing written, nothing destroyed.
    assert {p: sha256_file(p) for p in tmp_path.iterdir() if p.is_file()} == before


def test_explain_timeline_and_train_refuse_outputs_that_are_inputs(dataset, clips, tmp_path, no_work, capsys):
    a, _ = clips
    digest = sha256_file(a)
    figure_link = tmp_path / "figure.png"
    figure_link.symlink_to(a)  # a figure name that is, in fact, the video
    for argv, needle in (
        (["explain", str(a), "--out", str(figure_link)], f"--out '{figure_link}' is the input VIDEO '{a}'"),
        (["timeline", str(a), "--csv", str(a)], f"--csv '{a}' is the input VIDEO '{a}'"),
        (["timeline", str(a), "--plot", str(figure_link)], f"--plot '{figure_link}' is the input VIDEO"),
        (["timeline", str(a), "--csv", str(tmp_path / "t.png"), "--plot", str(tmp_path / "t.png")],
         f"--plot '{tmp_path / 't.png'}' is the same file as --csv"),
    ):
        assert main(argv) == 2, argv
        assert needle in _one_error_line(capsys.readouterr().err)
    # explain --out equal to the video (as typed in the issue): its extension already refuses it.
    assert main(["explain", str(a), "--out", str(a)]) == 2
    assert f"--out '{a}'" in _one_error_line(capsys.readouterr().err)
    assert sha256_file(a) == digest and figure_link.is_symlink()

    root, videos = dataset
    video_digest = sha256_file(videos[0])
    assert main(["train", str(root), "--out", videos[0], "--epochs", "1"]) == 2
    assert f"--out '{videos[0]}' is the input training video" in _one_error_line(capsys.readouterr().err)
    assert sha256_file(videos[0]) == video_digest


def test_outputs_are_written_whole_under_a_temporary_name_then_renamed(clips, tmp_path, capsys):
    a, b = clips
    csv, js = tmp_path / "out.csv", tmp_path / "out.json"
    csv.write_text("old table\n")
    os.chmod(csv, 0o640)
    os.link(csv, tmp_path / "keep.csv")  # another name for the old file: rewriting in place would change it
    assert main(["predict", str(a), str(b), "--n-frames", "4", "--csv", str(csv), "--json", str(js),
                 "--frames"]) == 0
    capsys.readouterr()
    table = pd.read_csv(csv)
    assert table["video"].tolist() == [str(a), str(b)] and (table["status"] == "ok").all()
    assert len(pd.read_csv(tmp_path / "out_frames.csv")) == 8
    # Replaced by a rename: the old inode (and its other name) keep the old bytes; the mode is kept.
    assert (tmp_path / "keep.csv").read_text() == "old table\n"
    assert stat.S_IMODE(csv.stat().st_mode) == 0o640
    assert not [p.name for p in tmp_path.iterdir() if ".partial" in p.name or ".probe" in p.name]


@pytest.mark.parametrize("failure", [RuntimeError, KeyboardInterrupt])
def test_a_failed_write_leaves_the_previous_file_and_no_debris(tmp_path, failure):
    target = tmp_path / "table.csv"
    target.write_text("complete previous table\n")
    with pytest.raises(failure), atomic_output(target) as partial:
        assert partial.parent == tmp_path and partial != target
        partial.write_text("half a ta")
        raise failure("disk full")
    assert target.read_text() == "complete previous table\n"
    assert [p.name for p in tmp_path.iterdir()] == ["table.csv"]


def test_atomic_output_follows_links_and_writes_special_files_in_place(tmp_path):
    real = tmp_path / "real.csv"
    real.write_text("old")
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    with atomic_output(link) as partial:
        partial.write_text("new")
    assert link.is_symlink() and real.read_text() == "new"
    # A FIFO (like /dev/stdout or /dev/null) is written in place, never replaced by a regular file.
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text()))
    reader.start()
    with atomic_output(fifo) as partial:
        assert partial == fifo
        partial.write_text("streamed")
    reader.join(10)
    assert received == ["streamed"] and stat.S_ISFIFO(os.stat(fifo).st_mode)
    check_outputs({"--csv": fifo, "--json": fifo})  # two outputs may share a sink such as /dev/null


# ------------------------------------------------------------------ item 7: a reader that leaves early
def _cli(*args, **kwargs):
    env = {**os.environ, "PYTHONWARNINGS": ""}
    return subprocess.Popen([sys.executable, "-m", "sk_emotion.cli", *map(str, args)], cwd=REPO, env=env,
                            **kwargs)


@pytest.mark.parametrize("with_failure", [False, True])
def test_a_closed_stdout_is_not_an_error_of_the_batch(clips, tmp_path, with_failure):
    """The defect: `predict a.mp4 b.mp4 --csv out.csv | head -1` ended with "Broken pipe", no out.csv."""
    a, b = clips
    csv = tmp_path / "out.csv"
    videos = [a, b, tmp_path / "missing.avi"] if with_failure else [a, b]
    process = _cli("predict", *videos, "--n-frames", "4", "--csv", csv, "--frames",
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    process.stdout.close()  # the reader is gone before anything is printed: every write meets EPIPE
    err = process.stderr.read()
    status = process.wait(300)
    assert status == (1 if with_failure else 0), err
    for noise in ("Broken pipe", "BrokenPipeError", "Exception ignored", "Traceback"):
        assert noise not in err
    table = pd.read_csv(csv)
    assert table["video"].tolist() == [str(v) for v in videos]
    assert table["status"].tolist() == ["ok", "ok"] + (["failed"] if with_failure else [])
    assert len(pd.read_csv(tmp_path / "out_frames.csv")) == 8
    errors = [line for line in err.splitlines() if line.startswith("sk-emotion:")]
    assert errors == ([f"sk-emotion: error: {videos[2]}: no such file or directory"] if with_failure else [])


def test_head_as_in_the_issue(clips, tmp_path):
    a, b = clips
    csv = tmp_path / "out.csv"
    command = (f"{sys.executable} -m sk_emotion.cli predict {a} {b} --n-frames 4 --csv {csv} | head -1; "
               "echo status=${PIPESTATUS[0]}")
    result = subprocess.run(["bash", "-c", command], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.stdout.splitlines()[0].split()[:2] == ["video", "label"]
    assert result.stdout.splitlines()[-1] == "status=0"
    assert "Broken pipe" not in result.stderr and "Traceback" not in result.stderr
    assert pd.read_csv(csv)["status"].tolist() == ["ok", "ok"]


# ------------------------------------------------------------------ item 8: outputs that cannot be written
def _unwritable(kind: str, tmp_path: Path) -> Path:
    if kind == "folder":
        (tmp_path / "existing_folder").mkdir()
        return tmp_path / "existing_folder"
    if kind == "under_a_file":
        (tmp_path / "notes.txt").write_text("a file, not a folder")
        return tmp_path / "notes.txt" / "out.csv"
    if kind == "missing_parent":
        return tmp_path / "no" / "such" / "out.csv"
    if kind == "read_only_folder":
        if os.geteuid() == 0:
            pytest.skip("root writes into a read-only folder; the read-only mount case covers root")
        folder = tmp_path / "read_only"
        folder.mkdir()
        folder.chmod(0o555)
        return folder / "out.csv"
    assert kind == "read_only_mount"
    if not Path("/sys/kernel").is_dir():
        pytest.skip("needs Linux's /sys")
    probe = Path("/sys/sk_emotion_probe")
    try:  # /sys refuses new files, to root too
        probe.touch()
    except OSError:
        return Path("/sys/out.csv")
    probe.unlink()
    pytest.skip("/sys accepts new files here")


@pytest.mark.parametrize("kind", ["folder", "under_a_file", "missing_parent", "read_only_folder",
                                  "read_only_mount"])
@pytest.mark.parametrize("option", ["--csv", "--json"])
def test_an_output_that_cannot_be_written_is_refused_up_front(kind, option, clips, tmp_path, no_work, capsys):
    """The defect: `--csv` naming a folder failed after the whole batch, without naming the option."""
    a, b = clips
    target = _unwritable(kind, tmp_path)
    assert main(["predict", str(a), str(b), option, str(target)]) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert line.startswith(f"sk-emotion: error: {option} '{target}'")
    assert {"folder": "is a folder", "under_a_file": "is a file, not a folder",
            "missing_parent": "does not exist", "read_only_folder": "cannot write in folder",
            "read_only_mount": "cannot write in folder"}[kind] in line


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (a device whose writes fail)")
def test_an_output_that_fails_while_written_costs_neither_the_others_nor_the_table(clips, tmp_path, capsys):
    """A full disk at the end of a batch: the other files and the answers on screen are kept."""
    a, b = clips
    json_path = tmp_path / "out.json"
    assert main(["predict", str(a), str(b), "--n-frames", "4", "--csv", "/dev/full", "--json", str(json_path)]) == 1
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if line.startswith("sk-emotion:")]  # not the progress bar
    assert errors == ["sk-emotion: error: --csv '/dev/full': cannot write (No space left on device)"]
    assert [row["video"] for row in json.loads(json_path.read_text())["videos"]] == [str(a), str(b)]
    shown = captured.out.splitlines()
    assert shown[0].split()[:2] == ["video", "label"] and len(shown) == 3


def test_figure_and_model_outputs_are_checked_up_front_too(dataset, clips, tmp_path, no_work, capsys):
    a, _ = clips
    root, _ = dataset
    missing = tmp_path / "nowhere" / "figure.png"
    for argv, option in ((["explain", str(a), "--out", str(missing)], "--out"),
                         (["timeline", str(a), "--plot", str(missing)], "--plot"),
                         (["train", str(root), "--out", str(tmp_path / "nowhere" / "m.skem")], "--out")):
        assert main(argv) == 1
        assert f"error: {option} '" in _one_error_line(capsys.readouterr().err)


# ------------------------------------------------------------------ item 10: --n-frames
def test_n_frames_above_the_maximum_is_refused_when_parsed(clips, no_work, capsys):
    a, _ = clips
    with pytest.raises(SystemExit) as stop:
        main(["predict", str(a), "--n-frames", "100000"])
    assert stop.value.code == 2
    assert f"--n-frames: expected a positive integer, at most {MAX_N_FRAMES}, got 100000" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["explain", str(a), "--out", "x.png", "--n-frames", "65"])  # one column per frame
    assert "at most 64" in capsys.readouterr().err


def test_the_command_line_and_the_extractor_share_one_maximum():
    # One home (sk_emotion.limits), which the CLI reads when parsing without importing torch.
    import subprocess
    import sys

    from sk_emotion.estimators.extractor import VideoFaceExtractor

    with pytest.raises(ValueError, match="n_frames"):
        VideoFaceExtractor(n_frames=MAX_N_FRAMES + 1).fit()
    VideoFaceExtractor(n_frames=MAX_N_FRAMES).fit()
    code = "import sys, sk_emotion.cli; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"


def test_n_frames_with_a_saved_model_is_refused_not_ignored(clips, model_file, no_work, capsys):
    """The defect: `--n-frames 3 --model m.skem` was silently ignored."""
    a, _ = clips
    for command in (["predict", str(a)], ["explain", str(a), "--out", "x.png"], ["timeline", str(a)]):
        assert main([*command, "--model", str(model_file), "--n-frames", "3"]) == 2
        line = _one_error_line(capsys.readouterr().err)
        assert "--n-frames cannot be combined with --model" in line and "trained with" in line


def test_a_saved_model_samples_its_own_frames(clips, model_file, tmp_path, capsys):
    a, _ = clips
    assert main(["predict", str(a), "--model", str(model_file), "--frames", "--csv", str(tmp_path / "p.csv")]) == 0
    assert len(pd.read_csv(tmp_path / "p_frames.csv")) == 4  # the model's n_frames, not the default 16


# ------------------------------------------------------------------ item 12: checks up front, clear answers
@pytest.mark.parametrize("argv, message", [
    (["explain", "{a}", "--out", "x.png", "--dpi", "100000"], "--dpi: expected an integer from 10 to 600, got 100000"),
    (["timeline", "{a}", "--plot", "x.png", "--dpi", "5"], "--dpi: expected an integer from 10 to 600, got 5"),
    (["timeline", "{a}", "--hop", "inf"], "--hop: expected a finite number of seconds > 0, got 'inf'"),
    (["timeline", "{a}", "--hop", "nan"], "--hop: expected a finite number of seconds > 0, got 'nan'"),
    (["timeline", "{a}", "--window", "0"], "--window: expected a finite number of seconds > 0, got '0'"),
    (["timeline", "{a}", "--min-track", "-1"], "--min-track: expected a finite number of seconds >= 0, got '-1'"),
    (["timeline", "{a}", "--window", "two"], "--window: expected a finite number of seconds > 0, got 'two'"),
    (["train", "{root}", "--out", "m.skem", "--n-jobs", "0"], "--n-jobs: expected a positive number of processes"),
    (["train", "{root}", "--out", "m.skem", "--n-jobs", "-5"], "--n-jobs: expected a positive number of processes"),
    (["train", "{root}", "--out", "m.skem", "--seed", "-1"], "--seed: expected an integer from 0 to 4294967295"),
])
def test_bad_numbers_are_usage_errors_before_any_work(argv, message, dataset, clips, no_work, capsys):
    root, _ = dataset
    a, _ = clips
    with pytest.raises(SystemExit) as stop:
        main([part.format(a=a, root=root) for part in argv])
    assert stop.value.code == 2 and message in _one_error_line(capsys.readouterr().err)


@pytest.mark.parametrize("argv, message", [
    (["explain", "{a}", "--out", "{tmp}/figure.jpg"], "--out '{tmp}/figure.jpg': the figure's format comes from"),
    (["explain", "{a}", "--out", "{tmp}/figure"], "--out '{tmp}/figure': the figure's format"),
    (["timeline", "{a}", "--plot", "{tmp}/t.gif"], "--plot '{tmp}/t.gif': the figure's format"),
    (["predict", "{a}", "--csv", ""], "--csv is an empty file name"),
    (["predict", "{a}", "--trusted"], "--trusted applies to a --model file only"),
    (["train", "{root}", "--out", "{tmp}/m.skem", "--temperatures", "0.1,inf"],
     "--temperatures must be positive finite numbers, got '0.1,inf'"),
    (["predict", "{a}", "-"], "VIDEO '-': reading videos from standard input is not supported"),
    (["predict", "{a}", "{tmp}/fifo.avi"], "'{tmp}/fifo.avi': a pipe, not a file: reading a video from standard "
                                           "input or a pipe is not supported"),
    (["explain", "{tmp}/fifo.avi", "--out", "{tmp}/x.png"], "'{tmp}/fifo.avi': a pipe, not a file"),
    (["predict", "{a}", ""], "VIDEO '' is an empty file name"),
    (["timeline", "{a}", "--hop", "1e-9"], "hop=1e-09 s must be a multiple of window / n_frames = 2 / 16 = 0.125 s"),
    (["timeline", "{a}", "--window", "1e300"], "window must be at most 3600 seconds, got 1e+300"),
    (["timeline", "{a}", "--window", "4", "--hop", "0.3", "--n-frames", "8"],
     "hop=0.3 s must be a multiple of window / n_frames = 4 / 8 = 0.5 s"),
])
def test_arguments_checked_after_parsing_are_usage_errors_before_any_work(argv, message, dataset, clips, tmp_path,
                                                                          no_work, capsys):
    root, _ = dataset
    a, _ = clips
    os.mkfifo(tmp_path / "fifo.avi")
    fill = {"a": a, "root": root, "tmp": tmp_path}
    assert main([part.format(**fill) for part in argv]) == 2
    assert message.format(**fill) in _one_error_line(capsys.readouterr().err)


def test_timeline_window_and_hop_are_checked_against_a_saved_model_before_it_loads(clips, model_file, no_work,
                                                                                  capsys):
    a, _ = clips  # the saved pipeline samples 4 frames: windows of 2 s step by 0.5 s
    assert main(["timeline", str(a), "--model", str(model_file), "--hop", "0.3"]) == 2
    assert "hop=0.3 s must be a multiple of window / n_frames = 2 / 4 = 0.5 s" in _one_error_line(
        capsys.readouterr().err)


def test_standard_input_is_refused_with_a_reason(clips):
    """The defect: `/dev/stdin` was reported as an "empty file"."""
    a, _ = clips
    process = _cli("predict", "/dev/stdin", stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, err = process.communicate(a.read_bytes(), timeout=120)
    assert process.returncode == 2
    line = _one_error_line(err.decode())
    assert "'/dev/stdin': a pipe, not a file: reading a video from standard input" in line
    assert "save it to a file first" in line and "empty file" not in line


def test_figures_in_the_formats_offered(clips, tmp_path, capsys):
    a, _ = clips
    for name, magic in (("figure.svg", b"<?xml"), ("figure.PDF", b"%PDF-")):
        assert main(["explain", str(a), "--out", str(tmp_path / name), "--n-frames", "4", "--dpi", "30"]) == 0
        assert (tmp_path / name).read_bytes().startswith(magic)
    assert f"-> {tmp_path / 'figure.PDF'}" in capsys.readouterr().out


def test_train_root_that_is_a_file_is_called_a_file(clips, tmp_path, no_work, capsys):
    a, _ = clips
    for layout, holds in (("afew", "Train_AFEW and Val_AFEW"), ("folders", "one folder per class")):
        assert main(["train", str(a), "--layout", layout, "--out", str(tmp_path / "m.skem")]) == 1
        line = _one_error_line(capsys.readouterr().err)
        assert f"ROOT '{a}' is a file, not a folder" in line and holds in line and "does not exist" not in line


def test_one_class_training_folder_is_refused_before_extraction_with_one_line_warnings(clips, tmp_path, no_work,
                                                                                       capsys):
    a, b = clips
    root = tmp_path / "data"
    (root / "happy").mkdir(parents=True)
    (root / "sad").mkdir()  # empty: load_video_folders warns that the class is left out
    shutil.copy(a, root / "happy" / "one.avi")
    shutil.copy(b, root / "happy" / "two.avi")
    assert main(["train", str(root), "--layout", "folders", "--out", str(tmp_path / "m.skem")]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [
        f"sk-emotion: warning: class folder '{root / 'sad'}' holds no clip with extensions "
        f"{tuple(VIDEO_EXTENSIONS)}; class 'sad' is left out",
        f"sk-emotion: error: ROOT '{root}' holds videos of one class only ('happy', 2 videos): "
        "a classifier needs at least two classes",
    ]
    assert not (tmp_path / "m.skem").exists()


def test_repeated_warnings_are_one_line_each_and_shown_once(capsys):
    """The demo printed 15 two-line copies of one training warning (file, line and source included)."""
    with _warnings_as_lines(), warnings.catch_warnings():
        warnings.simplefilter("always")  # as after a library resets the registry: every repeat reaches the hook
        for smallest in (3, 2, 2, 3, 2):
            warnings.warn(f"no validation clips held out: the smallest class has {smallest} clips\n  (detail)",
                          UserWarning, stacklevel=1)
    assert capsys.readouterr().err.splitlines() == [
        "sk-emotion: warning: no validation clips held out: the smallest class has 3 clips; (detail)",
        "sk-emotion: warning: no validation clips held out: the smallest class has 2 clips; (detail)",
    ]


def test_timeline_with_nobody_on_screen_says_so_in_a_sentence(tmp_path, capsys):
    """The defect: a raw `Empty DataFrame` was printed when nobody was on screen."""
    from skimage import data

    from sk_emotion.video import write_video

    scene = data.coffee()[:240, :320]
    path = write_video(tmp_path / "coffee.avi", np.stack([np.roll(scene, 3 * t, axis=1) for t in range(50)]), fps=25)
    assert main(["timeline", str(path)]) == 0
    out = capsys.readouterr().out
    assert "Empty DataFrame" not in out and "Columns:" not in out
    assert out.strip() == f"{path}: nobody was found on screen for 1 s or more"
