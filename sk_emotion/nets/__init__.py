"""PyTorch networks: the pretrained emotion CNNs, the face detector, the video model."""

from .backbones import BACKBONES, build_backbone, load_backbone
from .face_resnet import FaceResNet
from .mini_xception import STAGE_SHAPES, MiniXception, load_mini_xception, preprocess_faces

__all__ = ["BACKBONES", "STAGE_SHAPES", "FaceResNet", "MiniXception", "build_backbone", "load_backbone",
           "load_mini_xception", "preprocess_faces"]
