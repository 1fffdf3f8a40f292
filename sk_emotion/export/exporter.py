"""ONNX export of a trained :class:`~sk_emotion.EmotionClassifier` (needs torch and ``onnx``).

:func:`export_onnx` writes the classifier's network as an ONNX graph that
maps gray face clips to video probabilities, per-frame probabilities,
temporal weights and attention maps, with a dynamic number of clips *and* of
frames.  Everything a predictor needs besides the graph (class labels, input
size and colour convention, pooling settings, sk-emotion version) is stored in
the model's ``metadata_props``, so :class:`~sk_emotion.export.predictor.OnnxEmotionClassifier` needs
only the file: no torch, no skorch, no pretrained-weights package.

The graph
---------
input
    ``clips``: float32 ``(batch, frames, 1, height, width)``, gray pixel
    values in [0, 255] (64x64 for the FER2013 backbone).  RGB is converted
    to gray by the predictor, in NumPy, with the luma weights the network
    uses, because tracing freezes the network's own colour branch.
outputs
    ``probabilities`` ``(batch, n_classes)``,
    ``frame_probabilities`` ``(batch, frames, n_classes)``,
    ``temporal_weights`` ``(batch, frames, n_classes)`` (weight of every frame
    in every class's video score) and
    ``attention_maps`` ``(batch, frames, n_heads, h, w)``.
"""

from __future__ import annotations

import copy
import io
import json
import numbers
import os
import uuid
import warnings
from collections.abc import Mapping
from numbers import Integral
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from sklearn.base import is_classifier
from sklearn.exceptions import NotFittedError
from skorch import NeuralNet
from torch import nn

from .._sklearn_compat import StrictInterval, validate_params
from .._version import __version__
from ..nets.video_emotion import VideoEmotionNet
from ..preprocessing import LUMA
from ..weights import resolve_emotion_weights
from .format import FORMAT_VERSION, INPUT_NAME, METADATA_PREFIX, OUTPUT_NAMES, session_options

if TYPE_CHECKING:  # the annotation only: export does not import the estimators package
    from ..estimators.classifier import EmotionClassifier

__all__ = ["export_onnx"]

_MIN_OPSET = 12  # the spatial pooling's einsum has no ONNX form before opset 12
_VERIFY_ATOL = 1e-3  # export-time self-check; the tests hold the exported model to 1e-4
_DYNAMIC_AXES = {
    INPUT_NAME: {0: "batch", 1: "frames"},
    "probabilities": {0: "batch"},
    "frame_probabilities": {0: "batch", 1: "frames"},
    "temporal_weights": {0: "batch", 1: "frames"},
    "attention_maps": {0: "batch", 1: "frames"},
}


class _ExportGraph(nn.Module):
    """What the ONNX graph computes: the network's explanation, with softmax applied."""

    def __init__(self, net: VideoEmotionNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, clips: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.net.explain(clips)
        return (
            torch.softmax(out["logits"], dim=-1),
            torch.softmax(out["frame_logits"], dim=-1),
            out["temporal_weights"],
            out["attention_maps"],
        )


# ---------------------------------------------------------------------------- export
@validate_params(
    {
        "estimator": "no_validation",  # checked below: a fitted classifier with a VideoEmotionNet
        "path": [str, os.PathLike],
        "opset": "no_validation",  # checked below: its range is what the installed torch exports
        "n_frames": [StrictInterval(Integral, 1, None, closed="left")],
        "verify": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def export_onnx(
    estimator: EmotionClassifier,
    path: str | os.PathLike,
    *,
    opset: int = 17,
    n_frames: int = 16,
    verify: bool = True,
) -> Path:
    """Write a fitted classifier's network to an ONNX file.

    The graph takes gray clips ``(batch, frames, 1, 64, 64)`` of float32
    values in [0, 255]; both the batch size and the number of frames are
    dynamic.  Every temporal pooling (softmax, mean, max, LSTM) and both
    spatial poolings export.  Class labels and the input convention are
    stored in the model's metadata (see :func:`read_onnx_metadata`).

    Parameters
    ----------
    estimator : EmotionClassifier
        A fitted classifier, or one from :meth:`EmotionClassifier.from_pretrained`.
        It is not modified (a CPU copy of its network is traced).
    path : str or path-like
        Where to write the model (parent folders are created; an existing
        file is replaced only once the new model is complete).
    opset : int, default=17
        ONNX opset, from 12 (the spatial pooling's ``einsum``) to the highest
        the installed torch's TorchScript exporter supports (20 for torch 2.13).
    n_frames : int, default=16
        Frames per clip of the example input used for tracing.  The exported
        graph accepts any number of frames; this only sets the size the
        exporter sees.
    verify : bool, default=True
        Run the written graph with onnxruntime on a batch and a frame count
        different from the tracing ones and compare it with the torch network
        (tolerance 1e-3); raise if they differ.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    TypeError
        If ``estimator`` is not an :class:`EmotionClassifier` or its network
        is not a :class:`~sk_emotion.nets.video_emotion.VideoEmotionNet`.
    sklearn.exceptions.NotFittedError
        If the estimator is neither fitted nor from ``from_pretrained``.
    ValueError
        For an invalid ``opset`` or ``n_frames``.
    RuntimeError
        If the exporter fails, or the exported graph disagrees with the
        network.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from sk_emotion import EmotionClassifier
    >>> from sk_emotion.export import export_onnx
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> export_onnx(EmotionClassifier.from_pretrained(), folder / "fer.onnx").name
    'fer.onnx'
    """
    # Checked by what export needs (a skorch classifier whose network is a
    # VideoEmotionNet), so that export does not import the estimators package.
    if not (isinstance(estimator, NeuralNet) and is_classifier(estimator)):
        raise TypeError(
            f"export_onnx takes a fitted EmotionClassifier, got {type(estimator).__name__}; "
            "for a Pipeline, export its last step and run the earlier steps before the ONNX predictor"
        )
    if not getattr(estimator, "initialized_", False) or not hasattr(estimator, "label_encoder_"):
        raise NotFittedError(
            f"This {type(estimator).__name__} instance is not fitted yet, so there is nothing to "
            "export: call fit first, or use EmotionClassifier.from_pretrained()"
        )
    module = getattr(estimator.module_, "_orig_mod", estimator.module_)  # unwrap torch.compile
    if not isinstance(module, VideoEmotionNet):
        raise TypeError(f"only VideoEmotionNet networks can be exported, got {type(module).__name__}")
    max_opset = _max_opset()
    if (not isinstance(opset, numbers.Integral) or isinstance(opset, bool)
            or not _MIN_OPSET <= opset <= max_opset):
        raise ValueError(
            f"opset must be an integer from {_MIN_OPSET} to {max_opset} (what this torch's "
            f"TorchScript exporter supports), got {opset!r}"
        )
    try:
        import onnx
    except ImportError as exc:
        raise ImportError('ONNX export needs the onnx package: pip install "sk-emotion[onnx]"') from exc

    path = Path(path)
    transforms = resolve_emotion_weights(estimator.weights).transforms
    input_size = tuple(int(v) for v in transforms["input_size"])
    # A CPU copy in eval mode: tracing must not move or switch the estimator's own network.
    net = copy.deepcopy(module).cpu().eval()
    graph = _ExportGraph(net).eval()
    # Batch 2, not 1: the exporter may specialise size-1 dimensions.
    generator = torch.Generator().manual_seed(0)
    example = torch.rand((2, int(n_frames), 1, *input_size), generator=generator) * 255.0

    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # The legacy TorchScript exporter is deprecated but needs no extra package
        # (the dynamo one needs onnxscript).  Tracer warnings concern Python values
        # that are constant for this network (the 64x64 'same' padding, the colour
        # branch); the LSTM one about batch sizes is checked by ``verify`` and the tests.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message=r"Exporting a model to ONNX with a batch_size other than 1")
        try:
            with torch.no_grad():
                torch.onnx.export(
                    graph,
                    (example,),
                    buffer,
                    dynamo=False,
                    opset_version=int(opset),
                    input_names=[INPUT_NAME],
                    output_names=list(OUTPUT_NAMES),
                    dynamic_axes=_DYNAMIC_AXES,
                    do_constant_folding=True,
                )
        except Exception as exc:  # the exporter raises many types; add what was being exported
            raise RuntimeError(
                f"could not export the {net.spatial_pooling}/{net.temporal_pooling} network to "
                f"ONNX opset {opset}: {exc}"
            ) from exc

    model = onnx.load_from_string(buffer.getvalue())
    metadata = _metadata(estimator, net, input_size, transforms, opset=int(opset), n_frames=int(n_frames))
    del model.metadata_props[:]
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key = METADATA_PREFIX + key
        entry.value = json.dumps(value)
    model.doc_string = (
        f"sk-emotion {__version__} video emotion classifier "
        f"({net.spatial_pooling} spatial / {net.temporal_pooling} temporal pooling), classes "
        f"{metadata['classes']}. Input 'clips': float32 (batch, frames, 1, {input_size[0]}, "
        f"{input_size[1]}) gray 0-255."
    )
    onnx.checker.check_model(model)
    data = model.SerializeToString()
    if verify:
        _verify(data, graph, input_size, int(n_frames))

    path.parent.mkdir(parents=True, exist_ok=True)
    # Write next to the target and rename, so a failure never leaves half a model
    # (open() rather than tempfile, whose 0600 mode would ignore the umask).
    partial = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.partial")
    try:
        with open(partial, "xb") as handle:
            handle.write(data)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return path


def _max_opset() -> int:
    """Highest opset of the TorchScript exporter (20 in torch 2.5-2.13)."""
    constants = getattr(torch.onnx, "_constants", None)
    return int(getattr(constants, "ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET", 20))


def _metadata(
    estimator: EmotionClassifier,
    net: VideoEmotionNet,
    input_size: tuple[int, int],
    transforms: Mapping[str, Any],
    *,
    opset: int,
    n_frames: int,
) -> dict[str, Any]:
    """What a predictor needs besides the graph, as JSON-serialisable values."""
    classes = np.asarray(estimator.classes_)
    structure = net.export_metadata()  # the pooling modules say what they are
    n_frames_in = getattr(estimator, "n_frames_in_", None)
    return {
        "format_version": FORMAT_VERSION,
        "version": __version__,
        "classes": classes.tolist(),
        "classes_dtype": classes.dtype.str,
        "input_name": INPUT_NAME,
        "input_layout": "(batch, frames, 1, height, width)",
        "input_dtype": "float32",
        "input_size": list(input_size),
        "input_color": "gray",
        "input_range": [0, 255],
        "backbone_color": str(transforms.get("color", "gray")),
        "rgb_to_gray": list(LUMA),
        "outputs": list(OUTPUT_NAMES),
        "dynamic_axes": ["batch", "frames"],
        **structure,
        "n_frames_in": None if n_frames_in is None else int(n_frames_in),
        "export_n_frames": n_frames,
        "opset": opset,
        # Already in the graph (the frame scores include it); recorded so a reader can tell.
        "class_prior_shift": None if (shift := net.prior_shift()) is None else [round(float(v), 6) for v in shift],
    }


def _verify(data: bytes, graph: _ExportGraph, input_size: tuple[int, int], n_frames: int) -> None:
    """Compare onnxruntime and torch on a batch and frame count the tracer did not see."""
    import onnxruntime as ort

    generator = torch.Generator().manual_seed(1)
    clips = torch.rand((3, n_frames + 1, 1, *input_size), generator=generator) * 255.0
    with torch.inference_mode():
        expected = [t.numpy() for t in graph(clips)]
    session = ort.InferenceSession(data, session_options(), providers=["CPUExecutionProvider"])
    got = session.run(list(OUTPUT_NAMES), {INPUT_NAME: clips.numpy()})
    for name, want, have in zip(OUTPUT_NAMES, expected, got):
        if want.shape != have.shape:
            raise RuntimeError(
                f"exported graph gives {name} of shape {have.shape} for clips of shape "
                f"{tuple(clips.shape)}, the network {want.shape}: a dimension was frozen at export"
            )
        error = float(np.abs(want - have).max())
        if not error <= _VERIFY_ATOL:
            raise RuntimeError(
                f"exported graph differs from the network on {name} by {error:.3g} "
                f"(tolerance {_VERIFY_ATOL:g})"
            )
