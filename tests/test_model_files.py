"""Model files are data: hostile and damaged ``.skem`` files are refused before anything they describe is built.

The generator below crafts manifests as an attacker or a careless user would
(attribute chains, dunder names, builtins, callables as values, nested
``__class__``, huge numbers, NaN, wrong types, unknown parameters and step
types, deep nesting, huge lists).  Every one must be refused with a
:class:`ModelFileError` naming the file, without building an estimator,
without starting a process and without touching any file.
"""

from __future__ import annotations

import copy
import functools
import io
import json
import os
import re
import struct
import subprocess
import time
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from sk_emotion import EmotionClassifier, VideoFaceExtractor, load_model, make_emotion_pipeline, save_model
from sk_emotion.exceptions import ModelFileError, UntrustedModelError
from sk_emotion.persistence import MAX_ARRAYS_BYTES, _registry, inspect_model
from sk_emotion.weights import MiniXceptionWeights
from sk_emotion.weights.arrays import read_arrays, write_arrays

DOCS = Path(__file__).parent.parent / "docs" / "model_files.md"
TARGET, CANARY = "@TARGET@", "@CANARY@"  # replaced by paths inside the test's temporary folder


# --------------------------------------------------------------------------- a real model to start from
@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A saved pipeline (extractor + the pretrained classifier): its file, manifest and weights member."""
    pipe = make_emotion_pipeline(extractor={"n_frames": 4}, classifier=EmotionClassifier.from_pretrained(),
                                 cache=False)
    path = save_model(pipe, tmp_path_factory.mktemp("saved") / "model.skem")
    with zipfile.ZipFile(path) as archive:
        return path, json.loads(archive.read("manifest.json")), archive.read("emotionclassifier.npz")


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> str:
    """A real video to give the command line (the model is refused before it is read)."""
    from sk_emotion.video import write_video

    return write_video(tmp_path_factory.mktemp("video") / "v.mp4", np.zeros((4, 64, 64, 3), np.uint8))


def write_skem(path: Path, manifest: dict | bytes, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", manifest if isinstance(manifest, bytes) else json.dumps(manifest))
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _clf(m):
    return m["model"]["steps"][1][1]


def _ext(m):
    return m["model"]["steps"][0][1]


# --------------------------------------------------------------------------- the generator
def _set(step, **params):
    def mutate(m):
        (_clf if step == "clf" else _ext)(m)["params"].update(params)
        return m
    return mutate


def _edit(fn):
    def mutate(m):
        fn(m)
        return m
    return mutate


def _nest(depth):
    def mutate(m):
        node = m["model"]
        for _ in range(depth):
            node = {"type": "Pipeline", "steps": [["inner", node]]}
        m["model"] = node
        return m
    return mutate


CLASS_NAMES = [
    "sk_emotion.demo:np.f2py.subprocess.Popen",       # the issue's attribute chain
    "sk_emotion.persistence:io.FileIO",               # the issue's file truncation
    "sk_emotion.persistence:os.system",
    "os:system", "subprocess:Popen", "builtins:eval", "builtins:open", "builtins:__import__",
    "torch.nn:functional.__builtins__", "torch.nn:Module.__subclasses__", "torch.optim:Adam.__init__",
    "torch.nn.modules.loss:CrossEntropyLoss.__class__", "torch.nn:CrossEntropyLoss.__mro__",
    "sk_emotion.nets.video_emotion:torch.nn.Module", "torch.optim:Optimizer", "torch.nn:Linear",
    "torch.nn:MSELoss", "torch.nn:CrossEntropyLoss ", "TORCH.NN:CrossEntropyLoss", "torch.nn.CrossEntropyLoss",
    "", ":", "torch.nn:", "__main__:Payload", "sk_emotion:__dict__", "sk_emotion.estimators.training:HoldoutSplit",
]
WRONG_SLOT = {"criterion": "torch.optim:SGD", "optimizer": "torch.nn:CrossEntropyLoss",
              "module": "torch.nn:CrossEntropyLoss"}


def hostile_cases() -> list[tuple[str, object]]:
    """(id, mutation of a good manifest, or raw manifest bytes), all of which a loader must refuse."""
    cases: list[tuple[str, object]] = []
    for param in ("criterion", "optimizer", "module"):
        for name in CLASS_NAMES:
            cases.append((f"{param}={name!r}", _set("clf", **{param: {"__class__": name},
                                                              f"{param}__args": ["touch", TARGET]})))
        cases.append((f"{param}-wrong-slot", _set("clf", **{param: {"__class__": WRONG_SLOT[param]}})))
        for value in (123, None, "torch.nn:CrossEntropyLoss", ["os:system"], {"__class__": {"__class__": "os:system"}},
                      {"__class__": "torch.nn:CrossEntropyLoss", "extra": 1}, {}):
            cases.append((f"{param}-not-a-class-{json.dumps(value)}", _set("clf", **{param: value})))
    # The issue's two payloads, exactly: a subprocess and a truncated file.
    cases.append(("issue-popen", _set("clf", criterion={"__class__": "sk_emotion.demo:np.f2py.subprocess.Popen"},
                                      criterion__args=["touch", TARGET])))
    cases.append(("issue-fileio", _set("clf", criterion={"__class__": "sk_emotion.persistence:io.FileIO"},
                                       criterion__file=CANARY, criterion__mode="w")))
    # Parameter names: dunders, privates, attributes, routes to what a file may not set.
    for name in ("__class__", "__init__", "__reduce__", "__dict__", "_private", "get_params", "module_",
                 "initialized_", "unknown", "criterion__args", "criterion__file", "optimizer__params",
                 "optimizer__param_groups", "module__classes", "module__weights", "module__spatial_pooling",
                 "compile__backend", "iterator_train__collate_fn", "iterator_valid__worker_init_fn",
                 "iterator_train", "dataset", "dataset__X", "callbacks__nonexistent__x",
                 "callbacks__print_log__sink__x", "callbacks__early_stopping__patience__x", "optimizer__lr__x",
                 "__", "x__y", "lr__x"):
        cases.append((f"param-{name}", _set("clf", **{name: 1})))
    cases.append(("callback-set-to-a-value", _set("clf", callbacks__print_log="os:system")))
    cases.append(("extractor-route", _set("ext", detector__path="x")))
    cases.append(("extractor-class-param", _set("ext", criterion={"__class__": "torch.nn:CrossEntropyLoss"})))
    # Objects where plain values belong: callables, other encodings, nested __class__ at every depth.
    evil = {"__class__": "builtins:print"}
    cases += [
        ("lr-callable", _set("clf", lr=evil)),
        ("lr-holdout", _set("clf", lr={"__holdout__": {}})),
        ("lr-default-marker", _set("clf", lr={"__default__": True})),
        ("weights-bad-enum", _set("clf", weights={"__weights__": "os.system"})),
        ("weights-enum-dunder", _set("clf", weights={"__weights__": "MiniXceptionWeights.__class__"})),
        ("weights-enum-private", _set("clf", weights={"__weights__": "_WeightsEnum.DEFAULT"})),
        ("weights-class", _set("clf", weights=evil)),
        ("classes-nested-class", _set("clf", classes=["happy", evil])),
        ("classes-nested-list", _set("clf", classes=[["happy"], ["sad"]])),
        ("holdout-nested-class", _set("clf", train_split={"__holdout__": {"fraction": evil}})),
        ("holdout-unknown-arg", _set("clf", train_split={"__holdout__": {"cv": 5}})),
        ("holdout-wrong-type", _set("clf", train_split={"__holdout__": {"fraction": "x"}})),
        ("holdout-on-other-param", _set("clf", optimizer__lr={"__holdout__": {}})),
        ("route-nested-class", _set("clf", optimizer__betas=[evil, 0.9])),
        ("route-object", _set("clf", criterion__weight={"__class__": "torch:ones"})),
        ("module-route-object", _set("clf", module__attention_hidden=evil)),
        ("extractor-detector-class", _set("ext", detector=evil)),
        ("extractor-template-nested", _set("ext", template=[[0.1, evil]])),
        ("step-type-object", _edit(lambda m: _clf(m).update(type=evil))),
        ("fitted-classes-object", _edit(lambda m: _clf(m)["fitted"].update(classes=[evil, "a"]))),
        ("versions-object", _edit(lambda m: m["versions"].update(torch=evil))),
        ("params-list", _edit(lambda m: _clf(m).update(params=[["lr", 0.1]]))),
        ("params-string", _edit(lambda m: _clf(m).update(params="lr=0.1"))),
    ]
    # Numbers: huge, NaN, infinite, out of range; and huge strings and lists.
    cases += [
        ("lr-1e300", _set("clf", lr=1e300)),
        ("temperature-negative", _set("clf", temperature=-1.0)),
        ("n_heads-huge", _set("clf", n_heads=10**6)),
        ("attention-hidden-huge", _set("clf", module__attention_hidden=10**9)),
        ("lstm-hidden-negative", _set("clf", module__lstm_hidden=-1)),
        ("batch-size-zero", _set("clf", batch_size=0)),
        ("n_frames-negative", _set("ext", n_frames=-5)),
        ("min-face-coverage-2", _set("ext", min_face_coverage=2.0)),
        ("int-2**60", _set("clf", max_epochs=2**60)),
        ("huge-string", _set("ext", path_column="x" * 100_000)),
        ("huge-list", _set("clf", classes=[f"c{i}" for i in range(100_000)])),
        ("classes-one", _set("clf", classes=["happy"])),
        ("classes-repeated", _set("clf", classes=["happy", "happy"])),
        ("n-frames-in-zero", _edit(lambda m: _clf(m)["fitted"].update(n_frames_in=0))),
        ("n-frames-in-huge", _edit(lambda m: _clf(m)["fitted"].update(n_frames_in=10**9))),
        ("n-frames-in-float", _edit(lambda m: _clf(m)["fitted"].update(n_frames_in=1.5))),
        # Resources a shared file must not take: worker processes, waits, devices, a whole-frame upsampling.
        ("loader-workers-huge", _set("clf", iterator_valid__num_workers=10**6)),
        ("loader-workers-negative", _set("clf", iterator_train__num_workers=-1)),
        ("loader-prefetch-huge", _set("clf", iterator_valid__prefetch_factor=10**9)),
        ("loader-timeout-negative", _set("clf", iterator_valid__timeout=-5, iterator_valid__num_workers=1)),
        ("loader-timeout-days", _set("clf", iterator_valid__timeout=10**6)),
        ("extractor-n-jobs-huge", _set("ext", n_jobs=10**6)),
        ("extractor-n-jobs-all-but-4", _set("ext", n_jobs=-5)),
        ("extractor-min-face-tiny", _set("ext", min_face_size=1e-300)),
        ("device-meta", _set("clf", device="meta")),
        ("device-shell", _set("clf", device="; rm -rf /")),
        ("device-cpu-suffix", _set("clf", device="cpu\nx")),
    ]
    # Labels reach terminals and spreadsheets: control codes, invalid Unicode, formulas.
    for name, label in (("escape", "\x1b[2J\x1b[31mred"), ("newline", "new\nline"), ("surrogate", "\ud800"),
                        ("formula", "=cmd|' /C calc'!A0"), ("plus", "+1"), ("at", "@SUM(A1)"), ("nul", "a\x00b")):
        labels = ["angry", "disgust", "fear", "happy", "sad", "surprise", label]
        cases.append((f"label-{name}", _set("clf", classes=labels)))
        cases.append((f"fitted-label-{name}", _edit(
            lambda m, labels=labels: _clf(m)["fitted"].update(classes=labels, classes_dtype="<U40"))))
    base = '{"format": "sk-emotion-model/3", "versions": {}, "model": {"type": "EmotionClassifier", "params": {%s}}}'
    for name, text in (("nan", '"lr": NaN'), ("infinity", '"lr": Infinity'), ("minus-infinity", '"lr": -Infinity'),
                       ("1e999", '"lr": 1e999'), ("5000-digits", '"max_epochs": ' + "9" * 5000),
                       ("duplicate-key", '"lr": 0.1, "lr": 0.2')):
        cases.append((f"json-{name}", (base % text).encode()))
    cases += [
        ("json-deep-nesting", b'{"format": "sk-emotion-model/2", "model": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
        ("json-not-utf8", b'{"format": "\xff\xfe"}'),
        ("json-not-an-object", b'["sk-emotion-model/2"]'),
        ("json-empty", b""),
    ]
    # Wrong types.
    cases += [
        ("lr-string", _set("clf", lr="fast")),
        ("n_frames-string", _set("ext", n_frames="16")),
        ("pooling-int", _set("clf", spatial_pooling=3)),
        ("pooling-unknown", _set("clf", spatial_pooling="os.system")),
        ("freeze-string", _set("clf", freeze_backbone="yes")),
        ("classes-string", _set("clf", classes="abc")),
        ("device-int", _set("clf", device=0)),
        ("callbacks-list", _set("clf", callbacks=["print_log"])),
        ("predict-nonlinearity-name", _set("clf", predict_nonlinearity="os.system")),
        ("torch-load-kwargs", _set("clf", torch_load_kwargs=["weights_only"])),
        ("fitted-list", _edit(lambda m: _clf(m).update(fitted=["a", "b"]))),
        ("fitted-dtype-object", _edit(lambda m: _clf(m)["fitted"].update(classes_dtype="|O"))),
        ("fitted-dtype-huge", _edit(lambda m: _clf(m)["fitted"].update(classes_dtype="<U1000000000"))),
        ("fitted-dtype-void", _edit(lambda m: _clf(m)["fitted"].update(classes_dtype="|V100000000"))),
        ("fitted-dtype-short", _edit(lambda m: _clf(m)["fitted"].update(classes_dtype="<U1"))),
        ("fitted-weights-traversal", _edit(lambda m: _clf(m)["fitted"].update(weights="../../etc/passwd.npz"))),
        ("fitted-weights-manifest", _edit(lambda m: _clf(m)["fitted"].update(weights="manifest.json"))),
        ("fitted-weights-missing", _edit(lambda m: _clf(m)["fitted"].update(weights="other.npz"))),
        ("fitted-extra-field", _edit(lambda m: _clf(m)["fitted"].update(code="os.system"))),
        ("fitted-on-extractor", _edit(lambda m: _ext(m).update(fitted=_clf(m)["fitted"]))),
        ("step-extra-field", _edit(lambda m: _clf(m).update(init="os.system"))),
        ("manifest-extra-field", _edit(lambda m: m.update(hook="os.system"))),
        ("manifest-no-model", _edit(lambda m: m.pop("model"))),
        ("manifest-other-format", _edit(lambda m: m.update(format="sk-emotion-model/4"))),
        ("manifest-pickle-format", _edit(lambda m: m.update(format="sk-emotion-model/1"))),
        ("versions-huge", _edit(lambda m: m["versions"].update(torch="x" * 10_000))),
    ]
    # Unknown step types and malformed pipelines.
    for kind in ("subprocess.Popen", "sklearn.pipeline.Pipeline", "GridSearchCV", "pipeline", "__import__",
                 "OnnxEmotionClassifier", None, 7):
        cases.append((f"step-type-{kind}", _edit(lambda m, kind=kind: _clf(m).update(type=kind))))
    cases += [
        ("pipeline-5-deep", _nest(5)),
        ("pipeline-50-deep", _nest(50)),
        ("pipeline-no-steps", _edit(lambda m: m["model"].update(steps=[]))),
        ("pipeline-17-steps", _edit(lambda m: m["model"].update(
            steps=[[f"s{i}", copy.deepcopy(_ext(m))] for i in range(17)]))),
        ("pipeline-steps-dict", _edit(lambda m: m["model"].update(steps={"a": _ext(m)}))),
        ("pipeline-step-triple", _edit(lambda m: m["model"]["steps"][0].append("x"))),
        ("pipeline-step-dunder-name", _edit(lambda m: m["model"]["steps"][0].__setitem__(0, "a__b"))),
        ("pipeline-step-duplicate-name", _edit(lambda m: m["model"]["steps"][1].__setitem__(0, "videofaceextractor"))),
        ("pipeline-params", _edit(lambda m: m["model"].update(params={"memory": "/tmp"}))),
    ]
    return cases


CASES = hostile_cases()


def test_the_generator_makes_enough_distinct_cases():
    ids = [name for name, _ in CASES]
    assert len(ids) == len(set(ids)) and len(ids) >= 150


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """A temporary folder with a canary file, and records of every process start and estimator build."""
    calls: list[str] = []

    def forbidden(name):
        def record(*args, **kwargs):
            calls.append(name)
            raise AssertionError(f"{name} was called while loading a model file")
        return record

    for module, name in ((subprocess, "Popen"), (os, "system"), (os, "posix_spawn"), (os, "posix_spawnp"),
                         (os, "execv"), (os, "execve"), (os, "fork"), (os, "popen")):
        if hasattr(module, name):
            monkeypatch.setattr(module, name, forbidden(f"{module.__name__}.{name}"))
    for cls in (EmotionClassifier, VideoFaceExtractor):
        original = cls.__init__

        @functools.wraps(original)
        def init(self, *args, _cls=cls, **kwargs):
            calls.append(f"{_cls.__name__}()")
            raise AssertionError(f"{_cls.__name__} built from a refused file")

        monkeypatch.setattr(cls, "__init__", init)
    monkeypatch.setattr(EmotionClassifier, "initialize", forbidden("EmotionClassifier.initialize"))
    canary = tmp_path / "canary.txt"
    canary.write_text("precious")
    return tmp_path, calls


@pytest.mark.parametrize("case", CASES, ids=[name for name, _ in CASES])
def test_hostile_manifest_is_refused_without_effects(case, saved, sandbox):
    folder, calls = sandbox
    _, mutation = case
    _, good, weights = saved
    canary, target = folder / "canary.txt", folder / "target"
    manifest = mutation if isinstance(mutation, bytes) else mutation(copy.deepcopy(good))
    if not isinstance(manifest, bytes):
        manifest = json.dumps(manifest).replace(TARGET, str(target)).replace(CANARY, str(canary)).encode()
    path = write_skem(folder / "evil.skem", manifest, {"emotionclassifier.npz": weights})
    with pytest.raises(ModelFileError) as caught:
        load_model(path)
    message = str(caught.value)
    assert message.startswith(f"cannot load model '{path}': ") and len(caught.value.reason) > 15
    assert "\n" not in message and "trusted" not in message  # a data file is never answered with --trusted
    assert caught.value.path == str(path)
    assert calls == []  # no process, no estimator, no network
    assert canary.read_text() == "precious" and not target.exists()
    assert sorted(p.name for p in folder.iterdir()) == ["canary.txt", "evil.skem"]


# --------------------------------------------------------------------------- items 1 and 2 as written
def test_issue_payloads_run_nothing_from_python_and_from_the_command_line(saved, video, tmp_path, capsys):
    from sk_emotion.cli import main

    _, good, weights = saved
    marker, victim = tmp_path / "x", tmp_path / "victim.txt"
    victim.write_text("precious")
    popen = copy.deepcopy(good)
    _clf(popen)["params"].update(criterion={"__class__": "sk_emotion.demo:np.f2py.subprocess.Popen"},
                                 criterion__args=["touch", str(marker)])
    fileio = copy.deepcopy(good)
    _clf(fileio)["params"].update(criterion={"__class__": "sk_emotion.persistence:io.FileIO"},
                                  criterion__file=str(victim), criterion__mode="w")
    for name, manifest in (("popen.skem", popen), ("fileio.skem", fileio)):
        path = write_skem(tmp_path / name, manifest, {"emotionclassifier.npz": weights})
        with pytest.raises(UntrustedModelError, match=r"criterion names class 'sk_emotion\.(demo|persistence):"):
            load_model(path)
        assert main(["predict", video, "--model", str(path)]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "which a model file may not name" in err and str(path) in err
    time.sleep(0.2)  # a started process would have touched the marker by now
    assert not marker.exists() and victim.read_text() == "precious"


def test_a_class_is_looked_up_never_imported(saved, tmp_path):
    """Naming a registered class through another module, or a module that is not imported, finds nothing."""
    import sys

    _, good, weights = saved
    manifest = copy.deepcopy(good)
    _clf(manifest)["params"]["criterion"] = {"__class__": "antigravity:CrossEntropyLoss"}
    path = write_skem(tmp_path / "m.skem", manifest, {"emotionclassifier.npz": weights})
    with pytest.raises(UntrustedModelError, match="antigravity"):
        load_model(path)
    assert "antigravity" not in sys.modules


# --------------------------------------------------------------------------- item 3: arrays that lie
def _with_arrays(saved, tmp_path, edit):
    _, good, weights = saved
    arrays = read_arrays(io.BytesIO(weights))
    edit(arrays)
    buffer = io.BytesIO()
    write_arrays(buffer, arrays)
    return write_skem(tmp_path / "lying.skem", good, {"emotionclassifier.npz": buffer.getvalue()})


HEAD = "head.weight"


@pytest.mark.parametrize("edit, pattern", [
    (lambda a: a[HEAD].__setitem__((0, 0, 0, 0), np.nan), r"array 'head\.weight' holds 1 NaN or infinite"),
    (lambda a: a.__setitem__(HEAD, np.full_like(a[HEAD], np.inf)), r"array 'head\.weight' holds \d+ NaN or inf"),
    (lambda a: a.__setitem__(HEAD, a[HEAD].astype(np.int32)), r"array 'head\.weight' is int32 .*the network's is "
                                                               r"float32"),
    (lambda a: a.__setitem__(HEAD, a[HEAD].astype(np.float64)),
     r"array 'head\.weight' declares \d+ bytes; the network's float32 array of shape \(7, "),
    (lambda a: a.__setitem__(HEAD, a[HEAD][:3]), r"array 'head\.weight' is float32 of shape \(3, "),
    (lambda a: a.pop(HEAD), r"lacks 1 array\(s\) the network has \(head\.weight\)"),
    (lambda a: a.__setitem__("extra", np.zeros(3, np.float32)), r"holds 1 array\(s\) the network does not have"),
])
def test_arrays_that_do_not_fit_the_network_are_refused(saved, tmp_path, edit, pattern):
    path = _with_arrays(saved, tmp_path, edit)
    with pytest.raises(ModelFileError, match=pattern) as caught:
        load_model(path)
    message = str(caught.value)
    assert f"'{path}'" in message and "member emotionclassifier.npz" in message and "BytesIO" not in message


def test_nan_probabilities_are_an_error_never_a_label(real_faces, video, tmp_path, capsys):
    clf = EmotionClassifier.from_pretrained()
    clips = real_faces[:3, None]
    assert clf.predict(clips).shape == (3,)
    with torch.no_grad():
        clf.module_.head.bias.fill_(float("nan"))
    with pytest.raises(ValueError, match=r"EmotionClassifier answered NaN or infinite probabilities for 3 of 3 "
                                         r"clip\(s\) \(clip 0, 1, 2\).*no label is given"):
        clf.predict(clips)
    # A model file holding those weights is refused when loaded, from Python and from the command line.
    path = save_model(make_emotion_pipeline(classifier=clf, cache=False), tmp_path / "nan.skem")
    with pytest.raises(ModelFileError, match=r"array 'head\.bias' holds 7 NaN"):
        load_model(path)
    from sk_emotion.cli import main

    assert main(["predict", video, "--model", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "head.bias" in err


def test_nan_probabilities_of_an_onnx_model_are_an_error(real_faces, tmp_path):
    import onnx
    from onnx import numpy_helper

    from sk_emotion import OnnxEmotionClassifier

    path = EmotionClassifier.from_pretrained().to_onnx(tmp_path / "m.onnx", verify=False)
    assert OnnxEmotionClassifier(path).predict(real_faces[:2, None]).shape == (2,)
    graph = onnx.load(path)
    biases = [t for t in graph.graph.initializer if numpy_helper.to_array(t).shape == (7,)]
    assert biases
    for tensor in biases:
        tensor.CopyFrom(numpy_helper.from_array(np.full(7, np.nan, np.float32), tensor.name))
    onnx.save(graph, tmp_path / "nan.onnx")
    with pytest.raises(ValueError, match=r"ONNX model '.*nan\.onnx' answered NaN or infinite probabilities"):
        OnnxEmotionClassifier(tmp_path / "nan.onnx").predict(real_faces[:2, None])


# --------------------------------------------------------------------------- item 4: sizes, before decompressing
def _declare_size(path: Path, member: str, size: int) -> None:
    """Rewrite the uncompressed size a zip declares for ``member`` (local header and directory entry)."""
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(member)
    data = bytearray(path.read_bytes())
    struct.pack_into("<I", data, info.header_offset + 22, size)
    entry = data.find(b"PK\x01\x02")
    while entry >= 0:
        name_length = struct.unpack_from("<H", data, entry + 28)[0]
        if data[entry + 46:entry + 46 + name_length] == member.encode():
            struct.pack_into("<I", data, entry + 24, size)
            path.write_bytes(bytes(data))
            return
        entry = data.find(b"PK\x01\x02", entry + 4)
    raise AssertionError(f"no directory entry for {member}")


def _refused_fast(path, pattern):
    # Memory, not time, shows the member was never decompressed (timings belong in benchmarks/).
    tracemalloc.start()
    try:
        with pytest.raises(ModelFileError, match=pattern):
            load_model(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20, peak


def test_a_deflated_bomb_is_refused_before_it_is_decompressed(saved, tmp_path):
    _, good, _ = saved
    path = tmp_path / "bomb.skem"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", json.dumps(good))
        with archive.open("emotionclassifier.npz", "w") as member:  # 200 MiB of zeros, streamed
            zeros = bytes(1 << 20)
            for _ in range(200):
                member.write(zeros)
    assert path.stat().st_size < 1 << 20
    _refused_fast(path, r"zip member 'emotionclassifier\.npz' declares 209715200 bytes compressed into \d+: "
                        r"more than 100x")


def test_a_member_declaring_3_gib_is_refused_unread(saved, tmp_path):
    _, good, weights = saved
    path = write_skem(tmp_path / "3gib.skem", good, {"emotionclassifier.npz": weights})
    _declare_size(path, "emotionclassifier.npz", 3 << 30)
    _refused_fast(path, rf"declares {3 << 30} bytes uncompressed, over the limit of {MAX_ARRAYS_BYTES}")
    manifest = write_skem(tmp_path / "manifest.skem", good, {"emotionclassifier.npz": weights})
    _declare_size(manifest, "manifest.json", 2 << 20)
    _refused_fast(manifest, r"zip member 'manifest\.json' declares 2097152 bytes uncompressed, over the limit of "
                            r"1048576")


def test_a_member_larger_than_the_network_needs_is_refused_unread(saved, tmp_path):
    _, good, weights = saved
    padded = io.BytesIO()
    with zipfile.ZipFile(padded, "w") as archive:  # the real arrays plus 4 MiB of incompressible bytes
        with zipfile.ZipFile(io.BytesIO(weights)) as real:
            for info in real.infolist():
                archive.writestr(info, real.read(info))
        archive.writestr("padding.npy", np.random.default_rng(0).bytes(4 << 20))
    path = write_skem(tmp_path / "padded.skem", good, {"emotionclassifier.npz": padded.getvalue()})
    _refused_fast(path, r"zip member 'emotionclassifier\.npz' declares \d+ bytes; the network's arrays need at most")


def test_a_lying_array_header_is_refused_before_its_data_is_read(saved, tmp_path):
    """An .npy header inside the weights claiming a huge shape is checked against the network first."""
    _, good, weights = saved
    arrays = read_arrays(io.BytesIO(weights))
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False,
                                                  "shape": (1 << 30, 1 << 10)})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, array in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, array, allow_pickle=False)
            data = header.getvalue() + b"\0" * 64 if name == HEAD else member.getvalue()
            archive.writestr(f"{name}.npy", data)
    path = write_skem(tmp_path / "header.skem", good, {"emotionclassifier.npz": buffer.getvalue()})
    _refused_fast(path, r"array 'head\.weight' is float32 of shape \(1073741824, 1024\)")


# --------------------------------------------------------------------------- item 5: what the file is
@pytest.fixture
def others(saved, tmp_path):
    """Files that are not model files, each with what the error must say about it."""
    import joblib

    from sk_emotion.video import write_video

    path, good, weights = saved
    files = {}
    data = path.read_bytes()
    (tmp_path / "truncated.skem").write_bytes(data[:len(data) // 2])
    files["truncated.skem"] = r"damaged zip archive, truncated or incomplete"
    frames = np.zeros((4, 64, 64, 3), np.uint8)
    write_video(tmp_path / "clip.mp4", frames)
    files["clip.mp4"] = r"neither a zip archive \(the \.skem format save_model writes\) nor a pickle; it looks like " \
                        r"an MP4/MOV video"
    write_video(tmp_path / "clip.avi", frames)
    files["clip.avi"] = r"it looks like an AVI video"
    (tmp_path / "random.skem").write_bytes(np.random.default_rng(1).bytes(5000))
    files["random.skem"] = r"it looks like unrecognised binary data \(it starts with [0-9a-f ]{23}\)"
    (tmp_path / "notes.txt").write_text("x = 1\n" * 3)  # starts with a zlib-like byte, and is text
    files["notes.txt"] = r"it looks like a text file"
    (tmp_path / "empty.skem").write_bytes(b"")
    files["empty.skem"] = r"the file is empty"
    (tmp_path / "folder.skem").mkdir()
    files["folder.skem"] = r"it is a folder"
    files[str(MiniXceptionWeights.DEFAULT.get_path())] = r"NumPy \.npz archive of arrays \(a weights file\?\)"
    with zipfile.ZipFile(tmp_path / "other.zip", "w") as archive:
        archive.writestr("readme.txt", "hello")
    files["other.zip"] = r"a zip archive but not an sk-emotion model \(it has no manifest\.json\)"
    write_skem(tmp_path / "corrupt.skem", b'{"format": "sk-emotion-model/2", "model": {', {})
    files["corrupt.skem"] = r"its manifest\.json is corrupt \(Expecting"
    damaged = bytearray(data)
    start = data.index(b"emotionclassifier.npz", 30) + len("emotionclassifier.npz") + 1000
    damaged[start:start + 64] = bytes(64)  # inside the deflated weights: a CRC or deflate error
    (tmp_path / "damaged.skem").write_bytes(bytes(damaged))
    files["damaged.skem"] = r"zip member 'emotionclassifier\.npz' is damaged"
    # A video with a model appended: video players and zip readers both accept it.
    (tmp_path / "polyglot.skem").write_bytes((tmp_path / "clip.mp4").read_bytes() + data)
    files["polyglot.skem"] = r"it starts as an MP4/MOV video with a zip archive after it; a model file is a zip " \
                             r"archive from its first byte"
    joblib.dump({"format": "sk-emotion-model/1", "model": None}, tmp_path / "model.joblib", compress=3)
    joblib.dump({"format": "sk-emotion-model/1", "model": None}, tmp_path / "plain.joblib")
    return tmp_path, {name: pattern for name, pattern in files.items()}


def test_each_kind_of_file_is_named_and_only_pickles_suggest_trusted(others, capsys):
    from sk_emotion.cli import main

    folder, files = others
    for name, pattern in files.items():
        path = folder / name
        for trusted in (False, True):
            with pytest.raises(ModelFileError) as caught:
                load_model(path, trusted=trusted)
            message = str(caught.value)
            assert re.search(pattern, message), (name, message)
            assert message.startswith(f"cannot load model '{path}': ") and "trusted" not in message
            assert type(caught.value) is ModelFileError
        assert main(["predict", str(folder / "clip.mp4"), "--model", str(path)]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "trusted" not in err and str(path) in err, err
    for name in ("model.joblib", "plain.joblib"):  # zlib-compressed and plain pickles: these are real pickles
        with pytest.raises(UntrustedModelError, match=r"it is a pickle \(joblib\) file, and loading a pickle runs "
                                                      r"any code it contains; .* trusted=True \(command line: "
                                                      r"--trusted\)"):
            load_model(folder / name)
        with pytest.warns(UserWarning, match="saved with other versions"):
            assert load_model(folder / name, trusted=True) is None
        assert main(["predict", str(folder / "clip.mp4"), "--model", str(folder / name)]) == 1
        assert "--trusted" in capsys.readouterr().err


def test_messages_never_show_a_bare_key_or_a_buffer(saved, tmp_path):
    _, good, weights = saved
    for edit, pattern in ((lambda m: m.pop("model"), r"manifest\.json has no 'model'"),
                          (lambda m: _clf(m)["params"].update(criterion={}), r"must name a class as "),
                          (lambda m: _clf(m).pop("type"), r"names an unknown step type 'None'"),
                          (lambda m: _clf(m)["fitted"].pop("classes"), r"malformed 'fitted' description")):
        manifest = copy.deepcopy(good)
        edit(manifest)
        path = write_skem(tmp_path / "m.skem", manifest, {"emotionclassifier.npz": weights})
        with pytest.raises(ModelFileError, match=pattern) as caught:
            load_model(path)
        assert str(path) in str(caught.value) and "BytesIO" not in str(caught.value)


def test_read_arrays_names_what_it_reads(tmp_path):
    with pytest.raises(ValueError, match=r"'the array file' is not a readable \.npz file"):
        read_arrays(io.BytesIO(b"not a zip"))
    with pytest.raises(ValueError, match=r"'weights of x' is not a readable \.npz file"):
        read_arrays(io.BytesIO(b"not a zip"), name="weights of x")


# --------------------------------------------------------------------------- everything the package saves still loads
@pytest.fixture(scope="module")
def trained(real_faces):
    rng = np.random.default_rng(0)
    X = real_faces[rng.integers(0, len(real_faces), (12, 3))]
    y = np.array(["happy", "sad", "neutral"] * 4)
    clf = EmotionClassifier(max_epochs=2, lr=0.01, temperature=0.3, random_state=0, train_split=None,
                            optimizer=torch.optim.SGD, optimizer__momentum=0.9,
                            criterion=torch.nn.NLLLoss, criterion__ignore_index=-1, module__attention_hidden=16,
                            callbacks__early_stopping__patience=3, callbacks__print_log=None,
                            iterator_valid__batch_size=4, classes=["happy", "neutral", "sad"],
                            weights=MiniXceptionWeights.DEFAULT)
    return clf.fit(X, y), X


def _same_params(loaded, original):
    mine, theirs = loaded.get_params(deep=False), original.get_params(deep=False)
    assert set(mine) == set(theirs)
    for name, value in theirs.items():
        if name == "train_split":
            assert repr(mine[name]) == repr(value)
        else:
            assert mine[name] == value or (isinstance(value, tuple) and mine[name] == list(value)), name


def test_every_kind_of_model_round_trips(trained, real_faces, tmp_path):
    clf, X = trained
    loaded = load_model(save_model(clf, tmp_path / "clf.skem"))
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    np.testing.assert_array_equal(loaded.classes_, clf.classes_)
    assert loaded.n_frames_in_ == 3 and loaded.criterion is torch.nn.NLLLoss and loaded.optimizer is torch.optim.SGD
    _same_params(loaded, clf)
    # Unfitted, with list values and a HoldoutSplit of its own.
    from sk_emotion.estimators.training import HoldoutSplit

    fresh = EmotionClassifier(optimizer=torch.optim.AdamW, optimizer__betas=(0.8, 0.9), spatial_pooling="avg",
                              train_split=HoldoutSplit(fraction=0.3, min_per_class=2, random_state=4))
    again = load_model(save_model(fresh, tmp_path / "fresh.skem"))
    assert not hasattr(again, "module_") and again.optimizer__betas == [0.8, 0.9]
    _same_params(again, fresh)
    # A pipeline: the extractor's settings and the pretrained classifier's predictions.
    pipe = make_emotion_pipeline(extractor={"n_frames": 6, "detector": "mtcnn", "min_face_size": 30.0,
                                            "template": "arcface", "on_error": "fallback"},
                                 classifier=EmotionClassifier.from_pretrained(temperature=0.5), cache=False)
    loaded_pipe = load_model(save_model(pipe, tmp_path / "pipe.skem"))
    assert loaded_pipe.steps[0][1].get_params() == pipe.steps[0][1].get_params()
    faces = real_faces[:4, None]
    np.testing.assert_array_equal(loaded_pipe.steps[1][1].predict_proba(faces), pipe.steps[1][1].predict_proba(faces))
    # A lone extractor.
    extractor = VideoFaceExtractor(n_frames=5, color="rgb", cache_key="content")
    assert load_model(save_model(extractor, tmp_path / "ext.skem")).get_params() == extractor.get_params()


def test_class_names_written_before_the_registry_still_load(trained, tmp_path):
    clf, X = trained
    path = save_model(clf, tmp_path / "clf.skem")
    info = inspect_model(path)
    assert info["model"]["params"]["criterion"] == {"__class__": "torch.nn:NLLLoss"}
    manifest = {key: info[key] for key in ("format", "versions", "model")}
    manifest["model"]["params"].update(criterion={"__class__": "torch.nn.modules.loss:NLLLoss"},
                                       optimizer={"__class__": "torch.optim.sgd:SGD"})
    with zipfile.ZipFile(path) as archive:
        weights = archive.read("model.npz")
    old = load_model(write_skem(tmp_path / "old.skem", manifest, {"model.npz": weights}))
    assert old.criterion is torch.nn.NLLLoss and old.optimizer is torch.optim.SGD
    np.testing.assert_array_equal(old.predict_proba(X), clf.predict_proba(X))


def test_a_class_outside_the_registry_is_not_saved_as_data(tmp_path):
    clf = EmotionClassifier(criterion=torch.nn.MSELoss)
    with pytest.raises(ValueError, match=r"criterion=torch\.nn\.modules\.loss\.MSELoss is a class a model file may "
                                         r"not name .*format='joblib'"):
        save_model(clf, tmp_path / "mse.skem")
    assert not (tmp_path / "mse.skem").exists()
    with pytest.raises(ValueError, match=r"lr=nan is not finite"):
        save_model(EmotionClassifier(lr=float("nan")), tmp_path / "nan.skem")


def test_inspect_model_shows_a_refused_file_without_building_it(saved, sandbox):
    folder, calls = sandbox
    _, good, weights = saved
    manifest = copy.deepcopy(good)
    _clf(manifest)["params"]["criterion"] = {"__class__": "os:system"}
    path = write_skem(folder / "evil.skem", manifest, {"emotionclassifier.npz": weights})
    info = inspect_model(path)
    assert info["model"]["steps"][1][1]["params"]["criterion"] == {"__class__": "os:system"}
    assert info["members"]["emotionclassifier.npz"]["size"] == len(weights)
    assert calls == []


def test_the_documented_registry_is_the_registry():
    text = DOCS.read_text()
    documented = set(re.findall(r"^\| `(\w+)` \| `([\w.:]+)` \|", text, flags=re.MULTILINE))
    registry = {(param, name) for param, table in _registry().items() for name in table}
    assert documented == registry


def test_a_model_file_does_not_choose_where_this_machine_writes(saved, tmp_path):
    path, manifest, weights = saved
    assert "cache_dir" not in _ext(manifest)["params"]  # machine-local: never saved
    crafted = copy.deepcopy(manifest)
    _ext(crafted)["params"]["cache_dir"] = str(tmp_path / "somewhere")
    with pytest.warns(UserWarning, match="does not choose where this machine writes"):
        loaded = load_model(write_skem(tmp_path / "m.skem", crafted, {"emotionclassifier.npz": weights}))
    assert loaded.steps[0][1].cache_dir is None
    assert not (tmp_path / "somewhere").exists()


def test_a_detector_the_file_names_that_is_not_one_stops_the_command_naming_both(saved, video, tmp_path, capsys):
    from sk_emotion.cli import main

    _, manifest, weights = saved
    text = tmp_path / "passwd"
    text.write_text("root:x:0:0:root:/root:/bin/bash\n")
    crafted = copy.deepcopy(manifest)
    _ext(crafted)["params"]["detector"] = str(text)
    path = write_skem(tmp_path / "m.skem", crafted, {"emotionclassifier.npz": weights})
    assert main(["predict", str(video), str(video), "--model", str(path)]) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("sk-emotion:")]
    assert errors == [f"sk-emotion: error: detector '{text}' is not an insightface detection model (the face "
                      f"detector the model file '{path}' names)"]


def test_saved_n_frames_reads_the_manifest_without_building(saved, tmp_path, sandbox):
    from sk_emotion.persistence import saved_n_frames

    path, manifest, weights = saved
    assert saved_n_frames(path) == 4
    default = copy.deepcopy(manifest)
    _ext(default)["params"].pop("n_frames")  # defaults are not written: the extractor's 16
    assert saved_n_frames(write_skem(tmp_path / "d.skem", default, {"emotionclassifier.npz": weights})) == 16
    (tmp_path / "video.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(100))
    assert saved_n_frames(tmp_path / "video.mp4") is None and saved_n_frames(tmp_path / "missing.skem") is None
    _, calls = sandbox
    assert calls == []  # nothing was built
