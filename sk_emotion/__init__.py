"""sk-emotion: emotion recognition in face videos as scikit-learn estimators.

Implements Aminbeidokhti, Pedersoli, Cardinal and Granger, "Emotion
Recognition with Spatial Attention and Temporal Softmax Pooling" (ICIAR 2019):
faces are found and aligned in sampled frames, a CNN pretrained on FER2013
maps each face to a feature map, an attention module pools the map spatially,
and a softmax over time with a temperature pools per-frame scores into a
prediction for the video.

Public names are imported on first use, so that ``import sk_emotion`` does not
import torch.
"""

from typing import TYPE_CHECKING

from ._lazy import lazy_exports
from ._version import __version__

_EXPORTS = {
    "EmotionClassifier": ".estimators.classifier",
    "Explanation": ".estimators.explanation",
    "DetectorError": ".exceptions",
    "ExtractionError": ".exceptions",
    "ExtractionWarning": ".exceptions",
    "UntrustedModelError": ".exceptions",
    "ModelFileError": ".exceptions",
    "TruncatedVideoWarning": ".exceptions",
    "VideoDecodeError": ".exceptions",
    "VideoNotFoundError": ".exceptions",
    "WeightsNotFoundError": ".exceptions",
    "ChecksumError": ".exceptions",
    "WeightsWarning": ".exceptions",
    "VideoFaceExtractor": ".estimators.extractor",
    "OnnxEmotionClassifier": ".export.predictor",
    "export_onnx": ".export.exporter",
    "load_model": ".persistence",
    "save_model": ".persistence",
    "inspect_model": ".persistence",
    "make_emotion_pipeline": ".pipeline",
    "predict_table": ".pipeline",
    "emotion_timeline": ".timeline",
    "EMOTIONS": ".emotions",
    "MiniXceptionWeights": ".weights",
    "FaceResNetWeights": ".weights",
    "MTCNNWeights": ".weights",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = ["__version__", *sorted(_EXPORTS)]

if TYPE_CHECKING:  # pragma: no cover - for static analysers only
    from .emotions import EMOTIONS
    from .estimators.classifier import EmotionClassifier
    from .estimators.explanation import Explanation
    from .estimators.extractor import VideoFaceExtractor
    from .exceptions import (
        ChecksumError,
        DetectorError,
        ExtractionError,
        ExtractionWarning,
        ModelFileError,
        TruncatedVideoWarning,
        UntrustedModelError,
        VideoDecodeError,
        VideoNotFoundError,
        WeightsNotFoundError,
        WeightsWarning,
    )
    from .export.exporter import export_onnx
    from .export.predictor import OnnxEmotionClassifier
    from .persistence import inspect_model, load_model, save_model
    from .pipeline import make_emotion_pipeline, predict_table
    from .timeline import emotion_timeline
    from .weights import FaceResNetWeights, MiniXceptionWeights, MTCNNWeights
