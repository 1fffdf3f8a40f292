"""Face detection (MTCNN, in PyTorch) and face alignment."""

from .align import ARCFACE_TEMPLATE, align_face, canonical_template, crop_box, estimate_similarity
from .mtcnn import Detections, MTCNNDetector

__all__ = [
    "ARCFACE_TEMPLATE",
    "Detections",
    "MTCNNDetector",
    "align_face",
    "canonical_template",
    "crop_box",
    "estimate_similarity",
]
