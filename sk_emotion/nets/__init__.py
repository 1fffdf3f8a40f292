"""PyTorch networks: the pretrained emotion CNN, the face detector, the video model."""

from .mini_xception import STAGE_SHAPES, MiniXception, load_mini_xception, preprocess_faces

__all__ = ["STAGE_SHAPES", "MiniXception", "load_mini_xception", "preprocess_faces"]
