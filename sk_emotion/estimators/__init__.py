"""scikit-learn estimators: the emotion classifier and the video face extractor."""

from .classifier import EmotionClassifier
from .explanation import Explanation
from .extractor import ExtractionError, ExtractionWarning, VideoFaceExtractor

__all__ = ["EmotionClassifier", "Explanation", "ExtractionError", "ExtractionWarning", "VideoFaceExtractor"]
