"""The PyTorch port of the FER2013 mini-Xception: equality with Keras and behaviour on real faces."""

from pathlib import Path

import numpy as np
import pytest
import torch
from skimage import color, io, transform

from sk_emotion.emotions import EMOTIONS
from sk_emotion.nets import STAGE_SHAPES, MiniXception, load_mini_xception, preprocess_faces
from sk_emotion.nets.mini_xception import TFSameMaxPool2d
from sk_emotion.weights import MiniXceptionWeights

REFERENCE = Path(__file__).parent / "data" / "keras_mini_xception_reference.npz"


@pytest.fixture(scope="module")
def net():
    return load_mini_xception()


@pytest.fixture(scope="module")
def reference():
    return np.load(REFERENCE)


def _probabilities(net, images):
    with torch.inference_mode():
        return torch.softmax(net(preprocess_faces(images)), dim=1).numpy()


def test_probabilities_match_keras(net, reference):
    images = reference["images"]
    assert len(images) >= 24
    ours = _probabilities(net, images)
    np.testing.assert_allclose(ours, reference["probabilities"], atol=1e-5, rtol=0)
    np.testing.assert_array_equal(ours.argmax(1), reference["probabilities"].argmax(1))


def test_intermediate_feature_maps_match_keras(net, reference):
    """Each residual block's output equals Keras' ``add_k`` layer (NHWC in the file)."""
    images = reference["images"][:3]
    with torch.inference_mode():
        stages = net.features(preprocess_faces(images), stage=4)
        class_map = net.class_map(preprocess_faces(images))
    for k, ours in enumerate(stages, start=1):
        theirs = np.transpose(reference[f"add_{k}"], (0, 3, 1, 2))
        assert ours.shape[1:] == STAGE_SHAPES[k]
        np.testing.assert_allclose(ours.numpy(), theirs, atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(
        class_map.numpy(), np.transpose(reference["conv2d_7"], (0, 3, 1, 2)), atol=1e-4, rtol=1e-4
    )


def test_parameter_count_matches_metadata(net):
    trainable = sum(p.numel() for p in net.parameters())
    running_stats = sum(b.numel() for name, b in net.named_buffers() if "running" in name)
    assert trainable + running_stats == MiniXceptionWeights.DEFAULT.meta["num_params"]


@pytest.mark.parametrize("size, expected_pad", [(60, (0, 1)), (15, (1, 1)), (8, (0, 1))])
def test_same_max_pool_pads_like_tensorflow(size, expected_pad):
    """The extra padding goes at the end, which symmetric padding gets wrong."""
    x = torch.arange(size * size, dtype=torch.float32).reshape(1, 1, size, size)
    ours = TFSameMaxPool2d(3, 2)(x)
    before, after = expected_pad
    padded = torch.nn.functional.pad(x, (before, after, before, after), value=float("-inf"))
    expected = torch.nn.functional.max_pool2d(padded, 3, 2)
    assert ours.shape[-1] == -(-size // 2)
    torch.testing.assert_close(ours, expected)
    symmetric = torch.nn.functional.max_pool2d(x, 3, 2, padding=1, ceil_mode=False)
    if size % 2 == 0:
        assert not torch.equal(symmetric, ours)


def test_untrained_module_differs_from_pretrained(net):
    """Guards against a loader that silently leaves random weights in place."""
    x = preprocess_faces(np.full((1, 64, 64), 128, np.uint8))
    with torch.inference_mode():
        assert not torch.allclose(MiniXception().eval()(x), net(x), atol=1e-3)


def _gray_crop(image, top, bottom, left, right):
    face = color.rgb2gray(image[top:bottom, left:right, :3]) * 255.0
    face = transform.resize(face, (64, 64), anti_aliasing=True, preserve_range=True)
    return np.clip(face, 0, 255).astype(np.uint8)


def test_laughing_face_in_insightface_photo_is_happy(net):
    import insightface

    photo = Path(insightface.__file__).parent / "data" / "images" / "t1.jpg"
    image = io.imread(photo)
    # The man in the red shirt, laughing with his mouth open (box found by eye once).
    face = _gray_crop(image, 325, 475, 735, 885)
    probabilities = _probabilities(net, face[None])[0]
    assert EMOTIONS[int(probabilities.argmax())] == "happy"
    assert probabilities[EMOTIONS.index("happy")] > 0.9


def test_preprocess_scales_to_unit_range_and_rejects_bad_shapes():
    x = preprocess_faces(np.array([[[0, 255]]], dtype=np.uint8).repeat(64, 1).repeat(32, 2))
    assert x.shape == (1, 1, 64, 64)
    assert float(x.min()) == -1.0 and float(x.max()) == 1.0
    with pytest.raises(ValueError, match=r"got \(2, 3, 64, 64\)"):
        preprocess_faces(np.zeros((2, 3, 64, 64)))


def test_bad_hdf5_layout_is_rejected(tmp_path):
    import h5py

    path = tmp_path / "other.hdf5"
    with h5py.File(path, "w") as handle:
        handle.attrs["model_config"] = '{"config": {"layers": []}}'
        handle.create_group("model_weights")
    with pytest.raises(ValueError, match="not the mini-Xception layout"):
        MiniXception.from_keras_hdf5(path)


def test_folded_batchnorm_computes_the_same_maps(real_faces):
    from sk_emotion.nets.mini_xception import fold_batchnorm

    net = load_mini_xception()
    folded = fold_batchnorm(net)
    x = preprocess_faces(real_faces)
    with torch.inference_mode():
        for stage in (3, 4):
            torch.testing.assert_close(folded.forward_stage(x, stage), net.forward_stage(x, stage),
                                       atol=1e-4, rtol=1e-4)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())  # the original is untouched


def test_the_video_network_refolds_when_the_backbone_changes(real_faces):
    import pickle

    from sk_emotion.nets.video_emotion import VideoEmotionNet

    net = VideoEmotionNet(classes=["happy", "sad"], spatial_pooling="avg", weights="FER2013").eval()
    clips = torch.as_tensor(real_faces[:4])[:, None, None]
    with torch.inference_mode():
        first = net.encode(clips)
    with torch.no_grad():
        net.backbone.conv1.weight.mul_(1.5)  # as an optimiser step would
    with torch.inference_mode():
        second = net.encode(clips)
    assert not torch.allclose(first, second)  # the folded copy followed the change
    unfolded = net.backbone.forward_stage(preprocess_faces(real_faces[:4]), 4)
    torch.testing.assert_close(second[:, 0], unfolded, atol=1e-4, rtol=1e-4)
    assert "_folded" not in pickle.loads(pickle.dumps(net)).__dict__
    assert all("_folded" not in key for key in net.state_dict())
