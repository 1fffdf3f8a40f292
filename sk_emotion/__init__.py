"""sk-emotion: emotion recognition in face videos as scikit-learn estimators.

Implements Aminbeidokhti, Pedersoli, Cardinal and Granger, "Emotion
Recognition with Spatial Attention and Temporal Softmax Pooling" (ICIAR 2019):
faces are found and aligned in sampled frames, a CNN pretrained on FER2013
maps each face to a feature map, an attention module pools the map spatially,
and a softmax over time with a temperature pools per-frame scores into a
prediction for the video.
"""

from ._version import __version__
from .estimators import (
    EmotionClassifier,
    Explanation,
    ExtractionError,
    ExtractionWarning,
    VideoFaceExtractor,
)
from .export import OnnxEmotionClassifier, export_onnx
from .persistence import load_model, save_model
from .pipeline import make_emotion_pipeline, predict_table
from .weights import EMOTIONS, MiniXceptionWeights, MTCNNWeights

__all__ = [
    "__version__",
    "EMOTIONS",
    "EmotionClassifier",
    "Explanation",
    "ExtractionError",
    "ExtractionWarning",
    "MiniXceptionWeights",
    "MTCNNWeights",
    "OnnxEmotionClassifier",
    "VideoFaceExtractor",
    "export_onnx",
    "load_model",
    "make_emotion_pipeline",
    "predict_table",
    "save_model",
]
