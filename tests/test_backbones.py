"""Stage 2's backbones: the weights declare the network and the faces it reads; everything follows."""

import numpy as np
import pytest

from sk_emotion import EmotionClassifier, VideoFaceExtractor
from sk_emotion.faces.align import FER2013_TEMPLATE, template_points
from sk_emotion.weights import FaceResNetWeights, MiniXceptionWeights, resolve_emotion_weights


def test_the_extractor_reads_face_size_colour_and_template_from_the_weights():
    declared = resolve_emotion_weights(None).transforms
    settings = VideoFaceExtractor(detector=None).validated_settings()
    assert settings.cutter.face_size == declared["input_size"][0] == 64
    assert settings.cutter.color == declared["color"] == "gray"
    np.testing.assert_array_equal(settings.cutter.template, template_points(FER2013_TEMPLATE))
    explicit = VideoFaceExtractor(detector=None, face_size=48, color="rgb", template="arcface").validated_settings()
    assert (explicit.cutter.face_size, explicit.cutter.color) == (48, "rgb")
    np.testing.assert_array_equal(explicit.cutter.template, template_points("arcface"))


def test_weights_names_members_and_files_resolve_to_their_set(tmp_path):
    assert resolve_emotion_weights("FER2013") is MiniXceptionWeights.FER2013
    assert resolve_emotion_weights("ferplus") is FaceResNetWeights.FERPLUS
    assert resolve_emotion_weights(FaceResNetWeights.FERPLUS) is FaceResNetWeights.FERPLUS
    # A copy of a shipped file is recognised by its checksum, wherever it lies.
    copy = tmp_path / "renamed.npz"
    copy.write_bytes(MiniXceptionWeights.FER2013.get_path().read_bytes())
    assert resolve_emotion_weights(copy) is MiniXceptionWeights.FER2013
    with pytest.raises(ValueError, match="unknown emotion weights 'VGG'"):
        resolve_emotion_weights("VGG")
    with pytest.raises(TypeError, match="got int"):
        resolve_emotion_weights(3)


@pytest.mark.parametrize("weights, network", [("FER2013", "MiniXception"), ("FERPLUS", "FaceResNet")])
def test_a_zero_shot_classifier_answers_as_its_backbone_does_on_one_frame(weights, network, real_faces):
    import torch

    from sk_emotion.nets.backbones import load_backbone

    clf = EmotionClassifier.from_pretrained(weights, mirror=False, class_prior=None)  # the scores as trained
    assert type(clf.module_.backbone).__name__ == network
    faces = real_faces[:6]
    with torch.no_grad():
        logits = load_backbone(weights)(torch.from_numpy(faces).float().unsqueeze(1) / 127.5 - 1)
    expected = torch.softmax(logits, 1).numpy()
    np.testing.assert_allclose(clf.predict_proba(faces[:, None]), expected, atol=1e-5)


def test_from_pretrained_applies_the_zero_shot_settings_the_weights_declare():
    # The FER+ backbone declares its rule's temperature and class prior; the mini-Xception keeps the defaults.
    assert FaceResNetWeights.FERPLUS.meta["zero_shot"] == {"temperature": 0.35, "class_prior": "uniform"}
    clf = EmotionClassifier.from_pretrained()
    assert (clf.mirror, clf.temperature, clf.class_prior) == (False, 0.35, "uniform")
    assert clf.module_.temporal.temperature == pytest.approx(0.35)
    # The caller wins.
    clf = EmotionClassifier.from_pretrained("FERPLUS", temperature=0.5, mirror=True, class_prior=None)
    assert (clf.mirror, clf.temperature, clf.class_prior) == (True, 0.5, None)
    assert clf.module_.temporal.temperature == pytest.approx(0.5)
    assert clf.module_.prior_shift() is None
    clf = EmotionClassifier.from_pretrained("FER2013")
    assert (clf.mirror, clf.temperature, clf.class_prior) == (False, None, None)


def test_mirror_averages_a_face_with_its_mirror_image(real_faces):
    import torch

    from sk_emotion.nets.backbones import load_backbone

    faces = real_faces[:5]
    clf = EmotionClassifier.from_pretrained("FERPLUS", mirror=True, class_prior=None)
    x = torch.from_numpy(faces).float().unsqueeze(1) / 127.5 - 1
    with torch.no_grad():
        net = load_backbone("FERPLUS")
        # Average pooling and a 1x1 head are linear and blind to position: averaging
        # the maps averages the logits of the face and of its mirror image.
        logits = (net(x) + net(torch.flip(x, dims=[-1]))) / 2
    proba = clf.predict_proba(faces[:, None])
    np.testing.assert_allclose(proba, torch.softmax(logits, 1).numpy(), atol=1e-5)
    np.testing.assert_allclose(clf.predict_proba(faces[:, None, :, ::-1].copy()), proba, atol=1e-5)
    plain = EmotionClassifier.from_pretrained("FERPLUS", mirror=False, class_prior=None).predict_proba(faces[:, None])
    assert np.abs(plain - proba).max() > 1e-3
