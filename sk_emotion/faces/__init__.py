"""Stage 1 of the method, faces: detection (MTCNN in PyTorch, insightface models, callables),
tracking of the subject, and alignment.

``types`` (what detectors return and must provide), ``boxes`` (box geometry),
``detectors`` (the registry and the wrapper the extractor runs), one module
per detector (``mtcnn_detector``, ``insightface``, ``callable``),
``association`` (the rules that match faces between frames), ``tracking``
(one subject per clip) and ``persons`` (every person of a long video),
``cutting`` (faces cut into clips) and ``align``.
"""

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

_EXPORTS = {
    "ARCFACE_TEMPLATE": ".align",
    "TEMPLATES": ".align",
    "align_face": ".align",
    "canonical_template": ".align",
    "crop_box": ".align",
    "cut_face": ".align",
    "estimate_similarity": ".align",
    "template_points": ".align",
    "box_iou": ".boxes",
    "CallableDetector": ".callable",
    "DETECTORS": ".detectors",
    "make_detector": ".detectors",
    "register_detector": ".detectors",
    "InsightFaceDetector": ".insightface",
    "MTCNNDetector": ".mtcnn_detector",
    "Track": ".tracking",
    "Observation": ".persons",
    "PersonTracker": ".persons",
    "search_and_track": ".tracking",
    "Detections": ".types",
    "Detector": ".types",
    "RefiningDetector": ".types",
    "RegionDetector": ".types",
    "TrackingDetector": ".types",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:  # pragma: no cover
    from .align import (
        ARCFACE_TEMPLATE,
        TEMPLATES,
        align_face,
        canonical_template,
        crop_box,
        cut_face,
        estimate_similarity,
        template_points,
    )
    from .boxes import box_iou
    from .callable import CallableDetector
    from .detectors import DETECTORS, make_detector, register_detector
    from .insightface import InsightFaceDetector
    from .mtcnn_detector import MTCNNDetector
    from .persons import Observation, PersonTracker
    from .tracking import Track, search_and_track
    from .types import Detections, Detector, RefiningDetector, RegionDetector, TrackingDetector
