"""Face detection (MTCNN in PyTorch, insightface models, callables), tracking and alignment."""

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

_EXPORTS = {
    "ARCFACE_TEMPLATE": ".align",
    "align_face": ".align",
    "canonical_template": ".align",
    "crop_box": ".align",
    "template_points": ".align",
    "TEMPLATES": ".align",
    "estimate_similarity": ".align",
    "InsightFaceDetector": ".detectors",
    "make_detector": ".detectors",
    "Detections": ".mtcnn",
    "MTCNNDetector": ".mtcnn",
    "Track": ".tracking",
    "search_and_track": ".tracking",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:  # pragma: no cover
    from .align import (ARCFACE_TEMPLATE, TEMPLATES, align_face, canonical_template, crop_box,
                        estimate_similarity, template_points)
    from .detectors import InsightFaceDetector, make_detector
    from .mtcnn import Detections, MTCNNDetector
    from .tracking import Track, search_and_track
