"""scikit-learn estimators: the emotion classifier and the video face extractor."""

from .classifier import EmotionClassifier
from .explanation import Explanation

__all__ = ["EmotionClassifier", "Explanation"]
