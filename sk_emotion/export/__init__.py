"""Export to other runtimes: ONNX export (torch) and an onnxruntime predictor (no torch)."""

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

_EXPORTS = {
    "export_onnx": ".exporter",
    "OnnxEmotionClassifier": ".predictor",
    "read_onnx_metadata": ".predictor",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:  # pragma: no cover
    from .exporter import export_onnx
    from .predictor import OnnxEmotionClassifier, read_onnx_metadata
