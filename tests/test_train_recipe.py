"""The FER+ training recipe on a few faces: data loading, targets, augmentation, a resumable run.

Real photos' faces (insightface's and scikit-image's, see ``_helpers``) stand in
for FER+'s 48x48 PNGs; the real FER+ data is never needed by the tests.
"""

import csv
import json

import cv2
import numpy as np
import pytest
import torch

from sk_emotion.datasets.ferplus import FERPLUS_COLUMNS, load_ferplus, stratified_holdout
from sk_emotion.emotions import EMOTIONS
from sk_emotion.nets.backbones import build_backbone, load_backbone
from sk_emotion.nets.face_resnet import FaceResNet
from sk_emotion.nets.mini_xception import load_mini_xception
from sk_emotion.weights.augment import Augmentation, augment_batch, resize_faces
from sk_emotion.weights.train import adjust_bias, evaluate, main, soft_targets

N_FACES = 48


def _votes_row(rng: np.random.Generator, emotion: int) -> list[int]:
    """Ten votes in FER+'s column order with a clear majority for ``emotion`` (an EMOTIONS index)."""
    votes = dict.fromkeys(FERPLUS_COLUMNS, 0)
    votes[EMOTIONS[emotion]] = 7
    other = EMOTIONS[(emotion + 1 + int(rng.integers(6))) % 7]
    votes[other] += 3
    return [votes[c] for c in FERPLUS_COLUMNS]


@pytest.fixture(scope="module")
def fer_folders(tmp_path_factory, real_faces):
    """A FER+-like folder (PNGs + label.csv) and a FER2013-like class folder of JPEG copies."""
    root = tmp_path_factory.mktemp("fer")
    ferplus, fer2013 = root / "FER2013Train", root / "fer2013_train"
    ferplus.mkdir()
    rng = np.random.default_rng(0)
    faces, rows, truth = [], [], []
    for i in range(N_FACES):
        base = cv2.resize(real_faces[i % len(real_faces)], (48, 48), interpolation=cv2.INTER_AREA)
        # Distinct faces: a different mirror / brightness / shift per copy of a photo.
        face = np.roll(base if i % 2 else base[:, ::-1], i // len(real_faces), axis=1)
        face = np.clip(face.astype(int) + 7 * (i // (2 * len(real_faces))), 0, 255).astype(np.uint8)
        emotion = i % 7
        faces.append(face)
        truth.append(emotion)
        name = f"fer{i:07d}.png"
        cv2.imwrite(str(ferplus / name), face)
        rows.append([name, "(0,0,48,48)", *_votes_row(rng, emotion)])
    # Two faces that FER+ drops: mostly "unknown", and no emotion vote at all.
    for j, extra in enumerate(([1, 0, 0, 0, 0, 0, 0, 0, 9, 0], [0] * 9 + [10])):
        name = f"fer{N_FACES + j:07d}.png"
        cv2.imwrite(str(ferplus / name), faces[0])
        rows.append([name, "(0,0,48,48)", *extra])
    with open(ferplus / "label.csv", "w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    # FER2013's original label: the FER+ majority for even faces, "fear" for odd ones.
    original = [t if i % 2 == 0 else EMOTIONS.index("fear") for i, t in enumerate(truth)]
    for i, face in enumerate(faces):
        folder = fer2013 / EMOTIONS[original[i]]
        folder.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / f"img{i}.jpg"), face, [cv2.IMWRITE_JPEG_QUALITY, 90])
    return ferplus, fer2013, np.asarray(faces), np.asarray(truth), np.asarray(original)


def test_load_ferplus_reads_votes_in_emotion_order_and_recovers_fer2013_labels(fer_folders):
    ferplus, fer2013, faces, truth, original = fer_folders
    data = load_ferplus(ferplus, fer2013)
    assert len(data) == N_FACES  # the "unknown" and "not a face" rows are left out
    np.testing.assert_array_equal(data.images, faces)
    np.testing.assert_array_equal(data.majority, truth)
    assert data.votes.sum(axis=1).tolist() == [10.0] * N_FACES
    np.testing.assert_array_equal(data.fer2013, original)  # matched through JPEG noise
    assert data.names[0] == "fer0000000.png"


def test_load_ferplus_refuses_fer2013_test_faces(tmp_path):
    folder = tmp_path / "FER2013Test"
    folder.mkdir()
    (folder / "label.csv").write_text("")
    with pytest.raises(ValueError, match="test split"):
        load_ferplus(folder)


def test_soft_targets_mix_the_votes_with_the_original_label():
    votes = np.array([[0, 0, 0, 8, 0, 0, 2], [0, 0, 0, 0, 0, 0, 10]], dtype=np.float32)
    targets = soft_targets(votes, np.array([2, -1]), fer2013_weight=0.3)
    np.testing.assert_allclose(targets[0], [0, 0, 0.3, 0.56, 0, 0, 0.14], atol=1e-6)
    np.testing.assert_allclose(targets[1], [0, 0, 0, 0, 0, 0, 1.0])  # no original label: votes alone


def test_stratified_holdout_keeps_a_tenth_of_every_class():
    labels = np.repeat(np.arange(7), [100, 10, 30, 200, 50, 40, 2])
    held = stratified_holdout(labels, 0.1, seed=3)
    assert [int(held[labels == c].sum()) for c in range(7)] == [10, 1, 3, 20, 5, 4, 1]
    np.testing.assert_array_equal(held, stratified_holdout(labels, 0.1, seed=3))


def test_evaluate_counts_majority_accuracy_and_recall_without_ties():
    logits = np.eye(7)[[0, 0, 1, 3, 3]]
    report = evaluate(logits, np.array([0, 1, 1, 3, -1]))
    assert report["n"] == 4 and report["accuracy"] == 0.75
    assert report["recall"]["angry"] == 1.0 and report["recall"]["disgust"] == 0.5
    assert report["mean_recall"] == pytest.approx((1 + 0.5 + 1) / 3)


def test_augmentation_is_seeded_and_off_means_a_plain_resize(real_faces):
    faces = np.stack([cv2.resize(f, (48, 48)) for f in real_faces[:6]])
    runs = [augment_batch(faces, Augmentation(), torch.Generator().manual_seed(1), np.random.default_rng(1))
            for _ in range(2)]
    torch.testing.assert_close(runs[0], runs[1])
    assert runs[0].shape == (6, 1, 64, 64)
    assert float(runs[0].min()) >= 0 and float(runs[0].max()) <= 255
    assert float((runs[0] - resize_faces(faces)).abs().mean()) > 5  # something changed
    plain = augment_batch(faces, Augmentation(enabled=False), torch.Generator(), np.random.default_rng())
    torch.testing.assert_close(plain, resize_faces(faces))


def test_face_resnet_folded_copy_computes_the_same_logits():
    net = FaceResNet(7, width=8).eval()
    with torch.no_grad():  # non-trivial batch-norm statistics
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
    x = torch.randn(3, 1, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(net.folded()(x), net(x), atol=1e-4, rtol=1e-4)
    assert net.stage_shapes == {1: (8, 32, 32), 2: (16, 16, 16), 3: (32, 8, 8), 4: (64, 4, 4)}


def test_load_backbone_builds_the_network_the_weights_declare():
    net = load_backbone("FER2013")
    reference = load_mini_xception()
    x = torch.randn(2, 1, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(net(x), reference(x))
    assert type(build_backbone("FERPLUS")).__name__ == "FaceResNet"


def test_training_run_checkpoints_resumes_and_exports(fer_folders, tmp_path):
    ferplus, fer2013, *_ = fer_folders
    out = tmp_path / "run"
    common = ["--ferplus", str(ferplus), "--fer2013", str(fer2013), "--out", str(out), "--width", "4",
              "--batch-size", "8", "--threads", "1", "--holdout", "0.25", "--seed", "0"]
    assert main([*common, "--epochs", "2"]) == 0
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [1, 2]
    assert log[0]["n"] == 14  # 2 held-out faces of each of the 7 classes (a quarter of 6-7, rounded)
    assert all(np.isfinite(r["train_loss"]) and np.isfinite(r["held_loss"]) for r in log)
    split = np.load(out / "split.npz")
    assert int(split["held_out"].sum()) == 14

    # Resuming continues after the last finished epoch, with the same held-out faces.
    assert main([*common, "--epochs", "3", "--resume", "--export", str(tmp_path / "w.npz")]) == 0
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [1, 2, 3]
    np.testing.assert_array_equal(np.load(out / "split.npz")["held_out"], split["held_out"])
    state = np.load(tmp_path / "w.npz")
    net = FaceResNet(7, width=4)
    net.load_state_dict({k: torch.from_numpy(state[k]) for k in state.files})  # every key, exact shapes
    best = torch.load(out / "best.pt", weights_only=False)
    assert best["epoch"] + 1 in (1, 2, 3)


def test_adjust_bias_adds_tau_log_prior_and_moves_decisions_towards_frequent_classes():
    bias = np.zeros(7, dtype=np.float32)
    prior = np.array([0.09, 0.01, 0.02, 0.27, 0.13, 0.13, 0.35])
    adjusted = adjust_bias(bias, prior, 0.5)
    assert adjusted.dtype == np.float32
    np.testing.assert_allclose(adjusted, 0.5 * np.log(prior), rtol=1e-6)
    np.testing.assert_array_equal(adjust_bias(bias, prior, 0.0), bias)
    # A face scored evenly between disgust and neutral goes to neutral, the more frequent class.
    logits = np.zeros(7)
    logits[[1, 6]] = 2.0
    assert EMOTIONS[int(np.argmax(logits + adjusted))] == "neutral"
    with pytest.raises(ValueError, match="every class"):
        adjust_bias(bias, np.array([0.5, 0, 0.1, 0.1, 0.1, 0.1, 0.1]), 0.3)


def test_fine_tuning_starts_from_the_given_arrays_and_exports_an_adjusted_head(fer_folders, tmp_path):
    ferplus, fer2013, *_ = fer_folders
    common = ["--ferplus", str(ferplus), "--fer2013", str(fer2013), "--width", "4",
              "--batch-size", "8", "--threads", "1", "--holdout", "0.25", "--seed", "0"]
    start = tmp_path / "start.npz"
    assert main([*common, "--out", str(tmp_path / "a"), "--epochs", "1", "--export", str(start)]) == 0
    # Zero learning rate: every parameter stays the starting one (batch-norm statistics still move).
    assert main([*common, "--out", str(tmp_path / "b"), "--epochs", "1", "--init", str(start),
                 "--warmup-epochs", "0", "--lr", "0", "--weight-decay", "0", "--no-augment",
                 "--logit-adjust", "0.5", "--export", str(tmp_path / "b.npz")]) == 0
    before, after = np.load(start), np.load(tmp_path / "b.npz")
    fresh = FaceResNet(7, width=4).state_dict()
    parameters = [k for k in before.files if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))]
    for key in parameters:
        if key != "head.bias":
            np.testing.assert_array_equal(after[key], before[key])
    assert not np.array_equal(before["stem_conv.weight"], fresh["stem_conv.weight"].numpy())
    shift = after["head.bias"] - before["head.bias"]
    # The held-out quarter leaves 4-5 training faces per class: log-priors close to log(1/7).
    np.testing.assert_allclose(shift, 0.5 * np.log(np.full(7, 1 / 7)), atol=0.15)
    assert np.ptp(shift) > 0  # the classes differ by a face, and so do their shifts
    with pytest.raises(ValueError, match="start.npz"):  # arrays of another width are refused by name
        main([*common, "--width", "8", "--out", str(tmp_path / "c"), "--epochs", "1", "--init", str(start)])
