"""Stages 3 and 4: the pooling modules, their registries, and the neutral-aware zero-shot default."""

import numpy as np
import pytest
import torch

from sk_emotion import EmotionClassifier
from sk_emotion.cli import build_parser
from sk_emotion.emotions import EMOTIONS
from sk_emotion.nets.spatial import SPATIAL_POOLINGS
from sk_emotion.nets.temporal import (
    TEMPORAL_POOLINGS,
    ExpressivePooling,
    SoftmaxPooling,
    TemporalPooling,
    register_temporal_pooling,
    resolve_temporal_pooling,
)
from sk_emotion.nets.video_emotion import VideoEmotionNet

NEUTRAL = EMOTIONS.index("neutral")


def _frames(*rows):
    """Frame logits (1, T, 7) whose softmax is the given probability rows ``{emotion: p}``.

    The rest of each row's mass is spread evenly over the other classes.
    """
    probs = []
    for row in rows:
        rest = (1.0 - sum(row.values())) / (len(EMOTIONS) - len(row))
        probs.append([row.get(e, rest) for e in EMOTIONS])
    return torch.tensor(np.log(probs), dtype=torch.float32)[None]


def _label(pooling, logits):
    video, _, _ = pooling(logits, None)
    return EMOTIONS[int(video.argmax())]


NEUTRAL_FRAME = {"neutral": 0.8}


@pytest.fixture
def expressive():
    return ExpressivePooling(EMOTIONS)


def test_crying_clip_with_a_few_happy_looking_frames_is_sad(expressive):
    """12 frames of a sad run with 4 frames (closed eyes, pulled mouth) that read happy 0.8."""
    clip = _frames(*[{"sad": 0.6, "neutral": 0.1}] * 6, *[{"happy": 0.8, "neutral": 0.05}] * 4,
                   *[{"sad": 0.6, "neutral": 0.1}] * 6)
    assert _label(expressive, clip) == "sad"
    # Class-wise softmax pooling takes the confident peak: the failure this pooling fixes.
    assert _label(SoftmaxPooling(), clip) == "happy"


def test_neutral_frames_do_not_outvote_a_run_of_expressive_ones(expressive):
    """A posed sequence: 13 confident neutral onset frames, then 3 frames of the expression."""
    clip = _frames(*[{"neutral": 0.9}] * 13, *[{"surprise": 0.7, "neutral": 0.1}] * 3)
    assert _label(expressive, clip) == "surprise"
    assert _label(SoftmaxPooling(), clip) == "neutral"


def test_all_neutral_clip_is_neutral_and_one_outlier_frame_does_not_decide(expressive):
    neutral_faces = [{"neutral": 0.8, "sad": 0.1}, {"neutral": 0.7, "angry": 0.15}, NEUTRAL_FRAME]
    assert _label(expressive, _frames(*neutral_faces * 5, NEUTRAL_FRAME)) == "neutral"
    one_outlier = _frames(*neutral_faces * 5, {"fear": 0.85, "neutral": 0.05})
    assert _label(expressive, one_outlier) == "neutral"
    three = _frames(*neutral_faces * 4, NEUTRAL_FRAME, *[{"fear": 0.85, "neutral": 0.05}] * 3)
    assert _label(expressive, three) == "fear"


def test_expressive_weights_are_a_softmax_of_expressiveness_shared_by_all_classes(expressive):
    clip = _frames(NEUTRAL_FRAME, {"happy": 0.9, "neutral": 0.02}, {"neutral": 0.5, "sad": 0.3})
    video, frame_logits, weights = expressive(clip, None)
    p = torch.softmax(clip, dim=-1)[0]
    expected = torch.softmax((1 - p[:, NEUTRAL]) / ExpressivePooling.default_temperature, dim=0)
    torch.testing.assert_close(weights[0, :, 0], expected)
    torch.testing.assert_close(weights[0], expected[:, None].expand(3, 7))
    # The video distribution is the weighted mean of the frames' distributions.
    torch.testing.assert_close(torch.softmax(video, -1)[0], (expected[:, None] * p).sum(0))


def test_expressive_pooling_needs_a_neutral_class():
    with pytest.raises(ValueError, match="no 'neutral'"):
        ExpressivePooling(["happy", "sad"])


def test_auto_is_expressive_with_neutral_and_softmax_without():
    assert resolve_temporal_pooling("auto", EMOTIONS) == "expressive"
    assert resolve_temporal_pooling("auto", ["happy", "sad"]) == "softmax"
    assert resolve_temporal_pooling("max", EMOTIONS) == "max"
    net = VideoEmotionNet(classes=["happy", "sad"], pretrained=False)
    assert isinstance(net.temporal, SoftmaxPooling) and net.temporal_pooling == "softmax"


def test_softmax_temperature_is_on_the_probability_scale():
    """Weights depend on frame probabilities only: adding a constant to a frame's logits
    (which leaves its probabilities unchanged, and which training is free to do) changes nothing."""
    clip = _frames({"happy": 0.9}, {"happy": 0.75}, {"happy": 0.3})
    pooling = SoftmaxPooling(temperature=0.05)
    _, _, weights = pooling(clip, None)
    shifted = clip + torch.tensor([0.0, 5.0, -3.0])[None, :, None]
    _, _, shifted_weights = pooling(shifted, None)
    torch.testing.assert_close(weights, shifted_weights)
    happy = EMOTIONS.index("happy")
    # 0.15 of probability at T=0.05 is a factor exp(3) between the first two frames.
    assert float(weights[0, 0, happy] / weights[0, 1, happy]) == pytest.approx(np.exp(3.0), rel=1e-4)
    # Large temperatures approach the mean of the logits, small ones the logit of the peak frame.
    video_hot, _, _ = SoftmaxPooling(temperature=100.0)(clip, None)
    torch.testing.assert_close(video_hot, clip.mean(dim=1), atol=1e-2, rtol=0)
    video_cold, _, _ = SoftmaxPooling(temperature=1e-3)(clip, None)
    assert float(video_cold[0, happy]) == pytest.approx(float(clip[0, 0, happy]), abs=1e-4)


def test_from_pretrained_zero_shot_uses_expressive_pooling_and_explains_its_weights(real_faces):
    clf = EmotionClassifier.from_pretrained()
    assert isinstance(clf.module_.temporal, ExpressivePooling)
    assert clf.temperature == 0.35  # declared by the default weights
    clips = np.stack([real_faces[:8], real_faces[8:16]])
    explanation = clf.explain(clips)
    p = explanation.frame_probabilities
    expressiveness = 1 - p[..., list(clf.classes_).index("neutral")]
    z = expressiveness / clf.temperature  # the temperature the default weights declare
    expected = np.exp(z - z.max(1, keepdims=True))
    np.testing.assert_allclose(explanation.temporal_weights, expected / expected.sum(1, keepdims=True),
                               atol=1e-5)
    frames = explanation.to_frame()
    np.testing.assert_allclose(frames["temporal_weight"].to_numpy(), explanation.temporal_weights.ravel(),
                               atol=1e-6)


def test_adding_a_temporal_pooling_is_one_class_and_one_registry_entry(real_faces):
    @register_temporal_pooling
    class MedianPooling(TemporalPooling):
        """Median of the frame logits."""

        name = "median_test"

        def forward(self, frame_logits, frame_features):
            weights = torch.full_like(frame_logits, 1.0 / frame_logits.shape[1])
            return frame_logits.median(dim=1).values, frame_logits, weights

    try:
        rng = np.random.default_rng(0)
        X = real_faces[rng.integers(0, len(real_faces), (12, 3))]
        y = np.array(["happy", "sad"] * 6)
        clf = EmotionClassifier(temporal_pooling="median_test", max_epochs=2, train_split=None,
                                random_state=0).fit(X, y)
        assert isinstance(clf.module_.temporal, MedianPooling)
        # The registered class decides the answer: softmax of the median of the frame logits.
        with torch.inference_mode():
            frame_logits = clf.module_.explain(torch.as_tensor(X[:, :, None], dtype=torch.float32))["frame_logits"]
        expected = torch.softmax(frame_logits.median(dim=1).values, dim=-1).numpy()
        np.testing.assert_allclose(clf.predict_proba(X), expected, atol=1e-5)
        # The command line offers it too.
        train_help = build_parser()._subparsers._group_actions[0].choices["train"].format_help()
        assert "median_test" in train_help
    finally:
        del TEMPORAL_POOLINGS["median_test"]
    with pytest.raises(ValueError, match="median_test"):
        EmotionClassifier(temporal_pooling="median_test").fit(X, y)


def test_registries_list_the_paper_s_poolings():
    assert {"attention", "avg"} <= set(SPATIAL_POOLINGS)
    assert {"softmax", "mean", "max", "lstm", "expressive"} <= set(TEMPORAL_POOLINGS)
    with pytest.raises(ValueError, match=r"one of \['auto', 'expressive'"):
        VideoEmotionNet(classes=["a", "b"], temporal_pooling="median", pretrained=False)
