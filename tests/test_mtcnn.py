"""Tests of the MTCNN networks and cascade detector (PyTorch port of mtcnn 1.0.0).

Reference values come from ``tests/data/mtcnn_reference.npz``, made with the
original TensorFlow ``mtcnn`` 1.0.0 by ``tests/data/make_mtcnn_reference.py``
(see ``tests/data/README.md``): an independent implementation of the same
weights.
"""

from __future__ import annotations

import pickle
from importlib import metadata
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from sk_emotion.faces import Detections, MTCNNDetector
from sk_emotion.faces import mtcnn_detector as cascade
from sk_emotion.nets.mtcnn import ONet, PNet, RNet, load_mtcnn
from sk_emotion.weights import MTCNNWeights

REFERENCE = Path(__file__).parent / "data" / "mtcnn_reference.npz"
DEVICE = torch.device("cpu")


# ------------------------------------------------------------------ fixtures

def _insightface_image(name: str) -> np.ndarray:
    # insightface is a dependency: its sample photos must be there.
    dist = metadata.distribution("insightface")
    path = Path(str(dist.locate_file(f"insightface/data/images/{name}")))
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert bgr is not None, f"cannot read {path}"
    return np.ascontiguousarray(bgr[..., ::-1])


@pytest.fixture(scope="module")
def photos() -> dict[str, np.ndarray]:
    import skimage.data

    return {
        "t1": _insightface_image("t1.jpg"),
        "tom_hanks": _insightface_image("Tom_Hanks_54745.png"),
        "astronaut": np.ascontiguousarray(skimage.data.astronaut()),
    }


@pytest.fixture(scope="module")
def nets() -> tuple[PNet, RNet, ONet]:
    return load_mtcnn()


@pytest.fixture(scope="module")
def detector() -> MTCNNDetector:
    """The pyramid TensorFlow's mtcnn builds, for the comparisons with its outputs."""
    return MTCNNDetector(pyramid="exact")


@pytest.fixture(scope="module")
def detections(detector, photos) -> dict[str, Detections]:
    return {name: detector.detect(image) for name, image in photos.items()}


@pytest.fixture(scope="module")
def reference():
    return np.load(REFERENCE)


def _to_input(u8_nhwc: np.ndarray) -> torch.Tensor:
    x = ((u8_nhwc.astype(np.float64) - 127.5) / 128.0).astype(np.float32)
    return torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) IoU of x1, y1, x2, y2 boxes."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(axis=2)
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None, :] - inter)


def _ref_landmarks(rows: np.ndarray) -> np.ndarray:
    """mtcnn's 5 x then 5 y columns -> (n, 5, 2)."""
    return np.stack([rows[:, 6:11], rows[:, 11:16]], axis=-1)


# ------------------------------------------------------------------ networks

def _keras_arrays(net):
    """A network's weights in mtcnn's Keras list layout (what the converter reads)."""
    arrays = []
    for name in net._keras_layers:
        layer = getattr(net, name)
        weight = layer.weight.detach().numpy()
        if isinstance(layer, torch.nn.PReLU):
            arrays.append(weight)  # the loader flattens Keras' (1, 1, C) slopes
        elif weight.ndim == 4:
            arrays += [np.transpose(weight, (2, 3, 1, 0)), layer.bias.detach().numpy()]
        else:
            arrays += [weight.T, layer.bias.detach().numpy()]
    return arrays


def test_shipped_weights_load_in_eval_mode_without_gradients(nets):
    paths = MTCNNWeights.DEFAULT.get_paths()
    assert all(p.suffix == ".npz" for p in paths.values())
    for net in nets:
        assert not net.training
        assert all(not p.requires_grad for p in net.parameters())


def test_keras_layout_round_trips_through_the_converter(nets):
    """Keras (kh, kw, in, out) kernels and transposed dense matrices map back onto the same weights."""
    for net in nets:
        rebuilt = type(net).from_keras(_keras_arrays(net))
        for (name, want), have in zip(net.state_dict().items(), rebuilt.state_dict().values()):
            np.testing.assert_array_equal(have.numpy(), want.numpy(), err_msg=name)


def test_loading_rejects_wrong_arrays(nets):
    arrays = _keras_arrays(nets[1])
    with pytest.raises(ValueError, match="expects 16 Keras arrays, got 15"):
        RNet.from_keras(arrays[:-1])
    with pytest.raises(ValueError, match="shape"):
        PNet.from_keras(arrays[:13])  # R-Net arrays do not fit P-Net


def test_output_layouts(nets):
    pnet, rnet, onet = nets
    with torch.inference_mode():
        reg, prob = pnet(torch.zeros(2, 3, 37, 45))
        assert reg.shape == (2, 4, 14, 18) and prob.shape == (2, 14, 18)
        reg, prob = rnet(torch.zeros(3, 3, 24, 24))
        assert reg.shape == (3, 4) and prob.shape == (3,)
        reg, prob, landmarks = onet(torch.zeros(3, 3, 48, 48))
        assert reg.shape == (3, 4) and prob.shape == (3,) and landmarks.shape == (3, 5, 2)
        assert torch.all((prob >= 0) & (prob <= 1))


@pytest.mark.parametrize("name", ["pnet", "rnet", "onet"])
def test_network_matches_tensorflow(nets, reference, name):
    """Raw outputs on fixed noise inputs equal mtcnn 1.0.0's TensorFlow networks."""
    net = dict(zip(["pnet", "rnet", "onet"], nets))[name]
    with torch.inference_mode():
        outputs = net(_to_input(reference[f"{name}_input_uint8"]))
    reg, prob = outputs[0].numpy(), outputs[1].numpy()
    if name == "pnet":
        reg = reg.transpose(0, 2, 3, 1)  # NCHW -> NHWC like the reference
    np.testing.assert_allclose(reg, reference[f"{name}_bbox_reg"], atol=1e-4, rtol=0)
    np.testing.assert_allclose(prob, reference[f"{name}_prob"][..., 1], atol=1e-4, rtol=0)
    if name == "onet":
        landmarks = outputs[2].numpy()  # (n, 5, 2) -> mtcnn's 5 x then 5 y
        flat = np.concatenate([landmarks[..., 0], landmarks[..., 1]], axis=1)
        np.testing.assert_allclose(flat, reference["onet_landmarks"], atol=1e-4, rtol=0)


def test_plain_flatten_would_be_wrong(nets, reference):
    """The Keras (W, H, C) flatten order matters: a plain NCHW flatten gives other scores."""
    rnet = nets[1]
    x = _to_input(reference["rnet_input_uint8"])
    with torch.inference_mode():
        features = rnet.prelu3(rnet.conv3(rnet.pool2(rnet.prelu2(rnet.conv2(
            rnet.pool1(rnet.prelu1(rnet.conv1(x))))))))
        wrong = rnet.fc5_1(rnet.prelu4(rnet.fc4(features.flatten(1))))
    assert np.abs(wrong.numpy() - reference["rnet_bbox_reg"]).max() > 1e-2


# ------------------------------------------------------------------- cascade

def _check_faces(faces: Detections, image: np.ndarray) -> None:
    n = len(faces)
    assert faces.boxes.shape == (n, 4) and faces.boxes.dtype == np.float32
    assert faces.scores.shape == (n,) and faces.scores.dtype == np.float32
    assert faces.landmarks.shape == (n, 5, 2) and faces.landmarks.dtype == np.float32
    assert np.all(np.diff(faces.scores) <= 0), "not sorted by decreasing score"
    height, width = image.shape[:2]
    assert np.all(faces.boxes >= 0)
    assert np.all(faces.boxes[:, [0, 2]] <= width - 1) and np.all(faces.boxes[:, [1, 3]] <= height - 1)


def _check_face_geometry(box: np.ndarray, landmarks: np.ndarray, slack: float = 2.0) -> None:
    x1, y1, x2, y2 = box
    assert np.all(landmarks[:, 0] >= x1 - slack) and np.all(landmarks[:, 0] <= x2 + slack)
    assert np.all(landmarks[:, 1] >= y1 - slack) and np.all(landmarks[:, 1] <= y2 + slack)
    left_eye, right_eye, nose, mouth_left, mouth_right = landmarks
    assert left_eye[0] < right_eye[0] and mouth_left[0] < mouth_right[0]
    assert max(left_eye[1], right_eye[1]) < min(mouth_left[1], mouth_right[1])
    assert min(left_eye[1], right_eye[1]) < nose[1] < max(mouth_left[1], mouth_right[1])


def test_t1_group_photo(photos, detections):
    faces = detections["t1"]
    _check_faces(faces, photos["t1"])
    # 6 smiling faces; with the default O-Net threshold 0.8 mtcnn (and this
    # port) also keeps one small false positive scored ~0.82.
    confident = faces.scores >= 0.9
    assert confident.sum() == 6
    assert len(faces) == 7
    for box, landmarks in zip(faces.boxes[confident], faces.landmarks[confident]):
        _check_face_geometry(box, landmarks)
        assert 80 < box[2] - box[0] < 130  # faces of t1 are ~100 px wide


def test_stricter_onet_threshold_removes_false_positive(photos):
    faces = MTCNNDetector(thresholds=(0.6, 0.7, 0.9)).detect(photos["t1"])
    assert len(faces) == 6


def test_tom_hanks(photos, detections):
    faces = detections["tom_hanks"]
    _check_faces(faces, photos["tom_hanks"])
    assert len(faces) == 1
    _check_face_geometry(faces.boxes[0], faces.landmarks[0])


def test_astronaut_eyes(photos, detections):
    faces = detections["astronaut"]
    _check_faces(faces, photos["astronaut"])
    assert len(faces) == 1
    _check_face_geometry(faces.boxes[0], faces.landmarks[0])
    # pupil centres read off the image
    np.testing.assert_allclose(faces.landmarks[0, :2], [[203, 100], [246, 102]], atol=5)


@pytest.mark.parametrize("name", ["t1", "tom_hanks", "astronaut"])
def test_detections_match_tensorflow(photos, detections, reference, name):
    """Final boxes and landmarks agree with mtcnn 1.0.0's ``detect_faces``."""
    assert tuple(reference[f"{name}_shape"]) == photos[name].shape
    ref = reference[f"{name}_raw"]
    faces = detections[name]
    assert len(faces) == len(ref)
    iou = _iou(faces.boxes.astype(np.float64), ref[:, 1:5])
    match = iou.argmax(axis=0)
    assert iou.max(axis=0).min() > 0.9
    assert len(set(match.tolist())) == len(ref)
    # Within a few pixels: the only difference left is the NMS flavour (see
    # test_stages_match_tensorflow for the stage-wise, sub-pixel comparison).
    np.testing.assert_allclose(faces.landmarks[match], _ref_landmarks(ref), atol=4)
    np.testing.assert_allclose(faces.scores[match], ref[:, 5], atol=0.02)


@pytest.mark.parametrize("name", ["t1", "tom_hanks", "astronaut"])
def test_stages_match_tensorflow(nets, photos, reference, name):
    """Each stage, fed the reference's previous stage, reproduces the reference."""
    pnet, rnet, onet = nets
    detector = MTCNNDetector(pyramid="exact")
    images = [photos[name].astype(np.float32)]
    stage1, stage2, stage3 = (reference[f"{name}_stage{i}"] for i in (1, 2, 3))
    with torch.inference_mode():
        boxes, _, _ = detector._propose(pnet, [photos[name]], 0.6, DEVICE)
        # Greedy NMS keeps a superset of mtcnn's over-eager NMS: every reference
        # proposal is found (up to a rare box displaced by the NMS flavour).
        found = _iou(boxes, stage1[:, 1:5]).max(axis=0) > 0.99
        assert found.mean() >= 0.99

        owner = np.zeros(len(stage1), dtype=np.int64)
        boxes, scores, _ = detector._refine(rnet, images, stage1[:, 1:5].copy(), owner, 0.7, DEVICE)
        assert len(boxes) >= len(stage2)
        assert _iou(boxes, stage2[:, 1:5]).max(axis=0).min() > 0.99

        owner = np.zeros(len(stage2), dtype=np.int64)
        boxes, scores, landmarks, _ = detector._output(onet, images, stage2[:, 1:5].copy(),
                                                       owner, 0.8, DEVICE)
    assert len(boxes) == len(stage3)
    match = _iou(boxes, stage3[:, 1:5]).argmax(axis=0)
    np.testing.assert_allclose(boxes[match], stage3[:, 1:5], atol=0.01)
    np.testing.assert_allclose(landmarks[match], _ref_landmarks(stage3), atol=0.01)
    np.testing.assert_allclose(scores[match], stage3[:, 5], atol=1e-3)


def test_pyramid_scales(reference):
    detector = MTCNNDetector()
    for name in ("t1", "astronaut"):  # mtcnn's count formula is right for these sizes
        height, width = reference[f"{name}_shape"][:2]
        np.testing.assert_allclose(detector._scales(height, width), reference[f"{name}_scales"])
    # min_face_size sets the first scale; max_image_size shrinks large images
    assert MTCNNDetector(min_face_size=40)._scales(576, 720)[0] == pytest.approx(0.3)
    capped = MTCNNDetector(max_image_size=640)._scales(886, 1280)
    assert capped[0] == pytest.approx(0.6 * 0.5)


@pytest.mark.parametrize("name", ["t1", "tom_hanks", "astronaut"])
def test_fast_pyramid_finds_the_same_faces(photos, detections, name):
    """The uint8 pyramid built level from level differs from TensorFlow's by rounding only."""
    fast = MTCNNDetector(pyramid="fast").detect(photos[name])
    exact = detections[name]
    assert len(fast) == len(exact)
    assert _iou(fast.boxes, exact.boxes).max(axis=0).min() > 0.85  # MTCNN boxes vary this much
    side = (exact.boxes[:, 2] - exact.boxes[:, 0])[:, None]
    match = _iou(fast.boxes, exact.boxes).argmax(axis=0)
    assert (np.abs(fast.landmarks[match] - exact.landmarks).max(axis=2) < 0.08 * side).all()


def test_max_image_size_still_finds_large_faces(photos):
    faces = MTCNNDetector(max_image_size=640, thresholds=(0.6, 0.7, 0.9)).detect(photos["t1"])
    assert len(faces) == 6


def test_detect_batch_equals_detect(detector, photos, detections):
    images = [photos["astronaut"], photos["tom_hanks"], np.full((50, 60, 3), 128, np.uint8),
              photos["astronaut"][::-1].copy()]
    batch = detector.detect_batch(images)
    assert len(batch) == 4
    for faces, expected in zip(batch[:2], (detections["astronaut"], detections["tom_hanks"])):
        np.testing.assert_allclose(faces.boxes, expected.boxes, atol=1e-3)
        np.testing.assert_allclose(faces.landmarks, expected.landmarks, atol=1e-3)
        np.testing.assert_allclose(faces.scores, expected.scores, atol=1e-5)
    assert len(batch[2]) == 0
    assert detector.detect_batch([]) == []
    stacked = detector.detect_batch(np.stack([photos["astronaut"]] * 2))
    assert [len(f) for f in stacked] == [1, 1]


def test_no_face_and_tiny_images(detector):
    for image in (np.full((120, 160, 3), 128, np.uint8), np.zeros((5, 7, 3), np.uint8)):
        faces = detector.detect(image)
        assert len(faces) == 0
        assert faces.boxes.shape == (0, 4) and faces.landmarks.shape == (0, 5, 2)


def test_pickle_drops_networks(detector, photos):
    detector.detect(photos["tom_hanks"])  # make sure the networks are loaded
    payload = pickle.dumps(detector)
    assert len(payload) < 2000  # parameters only, no weights
    clone = pickle.loads(payload)
    assert clone.get_params() == detector.get_params()
    assert len(clone.detect(photos["tom_hanks"])) == 1


# ------------------------------------------------------------------ validation

@pytest.mark.parametrize("image, error, words", [
    (np.zeros((20, 20, 3), np.float64), TypeError, ["uint8", "float64"]),
    (np.zeros((20, 20), np.uint8), ValueError, ["(H, W, 3)", "(20, 20)"]),
    (np.zeros((20, 20, 4), np.uint8), ValueError, ["(H, W, 3)", "(20, 20, 4)"]),
    (np.zeros((0, 20, 3), np.uint8), ValueError, ["empty"]),
    ([[0, 0, 0]], TypeError, ["numpy.ndarray", "list"]),
])
def test_image_validation(detector, image, error, words):
    with pytest.raises(error) as info:
        detector.detect(image)
    for word in words:
        assert word in str(info.value)


def test_batch_validation(detector):
    with pytest.raises(TypeError, match="list"):
        detector.detect_batch(np.zeros((20, 20, 3), np.uint8))
    with pytest.raises(ValueError, match=r"images\[1\]"):
        detector.detect_batch([np.zeros((20, 20, 3), np.uint8), np.zeros((20, 20), np.uint8)])


@pytest.mark.parametrize("params, word", [
    ({"min_face_size": 0}, "min_face_size"),
    ({"min_face_size": 11.9}, "min_face_size"),  # would upsample whole frames
    ({"scale_factor": 1.2}, "scale_factor"),
    ({"thresholds": (0.6, 0.7)}, "thresholds"),
    ({"thresholds": (0.6, 0.7, 1.5)}, "thresholds"),
    ({"max_image_size": 5}, "max_image_size"),
])
def test_parameter_validation(params, word):
    with pytest.raises(ValueError, match=word):
        MTCNNDetector(**params).detect(np.zeros((20, 20, 3), np.uint8))


@pytest.mark.parametrize("params, word", [
    ({"min_face_size": 0}, "min_face_size"),
    ({"thresholds": (0.6, 0.7, 1.5)}, "thresholds"),
    ({"pyramid": "slow"}, "pyramid"),
])
def test_a_parameter_changed_after_a_call_is_validated_again(params, word):
    # Validation is skipped while the parameters stay as checked (re-detection calls it per frame).
    detector = MTCNNDetector()
    detector.detect(np.zeros((20, 20, 3), np.uint8))
    for name, value in params.items():
        setattr(detector, name, value)
    with pytest.raises(ValueError, match=word):
        detector.refine_batch([np.zeros((20, 20, 3), np.uint8)], [[0, 0, 10, 10]])


def test_the_watched_parameters_are_the_signature():
    assert sorted(cascade._PARAM_NAMES) == sorted(MTCNNDetector._get_param_names())


# ------------------------------------------------------------------------ NMS

def test_nms_is_greedy():
    # A overlaps B, B overlaps C, A does not overlap C: greedy keeps A and C.
    boxes = np.array([[0, 0, 10, 10], [4, 0, 14, 10], [8, 0, 18, 10]], dtype=np.float64)
    scores = np.array([0.9, 0.8, 0.7])
    np.testing.assert_array_equal(cascade.nms(boxes, scores, 0.3), [0, 2])
    # a small box inside a large one: IoU 0.25, intersection over the smaller 1.0
    nested = np.array([[0, 0, 10, 10], [0, 0, 5, 5]], dtype=np.float64)
    assert len(cascade.nms(nested, np.array([0.9, 0.8]), 0.7)) == 2
    assert len(cascade.nms(nested, np.array([0.9, 0.8]), 0.7, mode="min")) == 1
    with pytest.raises(ValueError, match="mode"):
        cascade.nms(nested, np.array([0.9, 0.8]), 0.7, mode="max")


def test_nms_paths_agree_and_groups_are_independent():
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 200, (600, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(10, 60, (600, 1))], axis=1)
    scores = rng.uniform(size=600)
    order = np.argsort(-scores, kind="stable")
    matrix = cascade.nms(boxes, scores, 0.4)
    sequential = order[cascade._nms_sequential(boxes[order], 0.4, "union")]
    np.testing.assert_array_equal(matrix, sequential)
    groups = np.repeat([0, 1], 300)
    kept = cascade.batched_nms(boxes, scores, groups, 0.4)
    for g in (0, 1):
        idx = np.flatnonzero(groups == g)
        expected = idx[cascade.nms(boxes[idx], scores[idx], 0.4)]
        np.testing.assert_array_equal(np.sort(kept[groups[kept] == g]), np.sort(expected))


@pytest.mark.parametrize("pyramid", ["fast", "exact"])
def test_a_search_in_regions_finds_each_face_as_the_whole_search_does(photos, pyramid):
    # The group photo: six faces, each searched for in a region 3 face sides wide around it.
    detector = MTCNNDetector(pyramid=pyramid)
    image = photos["t1"]
    whole = detector.detect(image)
    confident = np.flatnonzero(whole.scores >= 0.9)
    assert confident.size == 6
    for k in confident:
        box = whole.boxes[k]
        centre, half = (box[:2] + box[2:]) / 2, 1.5 * (box[2] - box[0])
        found = detector.detect_regions(image, [[*(centre - half), *(centre + half)]])
        # The same candidates through R-Net and O-Net in other batches: equal up to float32 rounding.
        same = [j for j in range(len(found)) if np.abs(found.boxes[j] - box).max() < 1e-3]
        assert len(same) == 1, (k, found.boxes, box)
        np.testing.assert_allclose(found.landmarks[same[0]], whole.landmarks[k], atol=1e-3)
        assert found.scores[same[0]] == pytest.approx(whole.scores[k], abs=1e-5)
        # Only the faces near the region: at most its neighbours, never all six.
        assert len(found) < len(whole)
    # Two regions at once: both faces, each once, in score order.
    a, b = whole.boxes[confident[0]], whole.boxes[confident[1]]
    both = detector.detect_regions(image, [[*(a[:2] - 50), *(a[2:] + 50)], [*(b[:2] - 50), *(b[2:] + 50)]])
    for box in (a, b):
        assert sum(np.abs(f - box).max() < 1e-3 for f in both.boxes) == 1
    assert (np.diff(both.scores) <= 0).all()


def test_a_search_in_regions_without_faces_is_empty(photos):
    detector = MTCNNDetector()
    image = photos["astronaut"]
    assert len(detector.detect_regions(image, [[400, 400, 500, 500]])) == 0  # her suit, no face
    assert len(detector.detect_regions(image, [[-300, -300, -100, -100]])) == 0  # off the image
    assert len(detector.detect_regions(image, np.zeros((0, 4)))) == 0
