"""scikit-learn estimators: the emotion classifier and the video face extractor."""

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

_EXPORTS = {
    "EmotionClassifier": ".classifier",
    "Explanation": ".explanation",
    "ExtractionError": ".extractor",
    "ExtractionWarning": ".extractor",
    "VideoFaceExtractor": ".extractor",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:  # pragma: no cover
    from .classifier import EmotionClassifier
    from .explanation import Explanation
    from .extractor import ExtractionError, ExtractionWarning, VideoFaceExtractor
