"""Face detection (MTCNN in PyTorch, insightface models, callables), tracking and alignment."""

from .align import ARCFACE_TEMPLATE, align_face, canonical_template, crop_box, estimate_similarity
from .detectors import InsightFaceDetector, make_detector
from .mtcnn import Detections, MTCNNDetector
from .tracking import Track, search_and_track

__all__ = [
    "ARCFACE_TEMPLATE",
    "Detections",
    "InsightFaceDetector",
    "MTCNNDetector",
    "Track",
    "align_face",
    "canonical_template",
    "crop_box",
    "estimate_similarity",
    "make_detector",
    "search_and_track",
]
