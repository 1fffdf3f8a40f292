"""Export of trained estimators to other runtimes: ONNX and an onnxruntime predictor."""

from .onnx import OnnxEmotionClassifier, export_onnx, read_onnx_metadata

__all__ = ["OnnxEmotionClassifier", "export_onnx", "read_onnx_metadata"]
