"""The contract between the ONNX exporter and the predictor: names, metadata keys, runtime options.

The exporter writes files the predictor reads, possibly with another
sk-emotion version on another machine; both sides take these facts from
here.  No torch import: the predictor runs without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover - the annotation only: onnxruntime is imported where used
    import onnxruntime as ort

__all__ = ["FORMAT_VERSION", "INPUT_NAME", "METADATA_PREFIX", "OUTPUT_NAMES", "session_options"]

#: Name of the graph's input.
INPUT_NAME = "clips"
#: Names of the graph's outputs, in order.
OUTPUT_NAMES = ("probabilities", "frame_probabilities", "temporal_weights", "attention_maps")
#: Namespace of sk-emotion's keys in the model's ``metadata_props``.
METADATA_PREFIX = "sk_emotion."
#: Version of the metadata layout; the predictor refuses files from a newer one.
FORMAT_VERSION = 1


def session_options(n_threads: int | None = None) -> ort.SessionOptions:
    """Session options for onnxruntime: full graph optimisation, errors-only logging.

    Parameters
    ----------
    n_threads : int, optional
        Intra-op threads (onnxruntime's default: one per core).

    Returns
    -------
    onnxruntime.SessionOptions
        A new options object for ``onnxruntime.InferenceSession``.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only: the optimiser's notes are not the user's concern
    if n_threads is not None:
        options.intra_op_num_threads = int(n_threads)
    return options
