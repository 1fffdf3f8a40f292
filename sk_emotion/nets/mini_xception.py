"""The FER2013 mini-Xception emotion CNN (Arriaga et al., 2017) in PyTorch.

The network is rebuilt layer by layer.  Its weights ship with the package as
an ``.npz`` of this module's ``state_dict`` (see :mod:`sk_emotion.weights`),
converted once from the original Keras 2.0.5 HDF5 file by
:meth:`MiniXception.load_keras_hdf5` (which reads it with :mod:`h5py` only,
no TensorFlow).  Keras semantics are reproduced where they differ from
PyTorch's:

* ``MaxPooling2D(3, strides=2, padding="same")`` pads asymmetrically (the
  extra row/column goes at the end), so padding is computed per input size;
* ``BatchNormalization`` uses ``epsilon=1e-3``;
* ``SeparableConv2D`` is a depthwise 3x3 followed by a pointwise 1x1, both
  without bias;
* batch-normalisation layers are matched to the convolution that feeds them
  by reading the graph stored in the file, because the residual branches'
  layers are numbered out of order.

Architecture (input 1x64x64, outputs of each stage in brackets)::

    stem: conv3x3(8) BN ReLU conv3x3(8) BN ReLU               [8x60x60]
    block1: sepconv(16) BN ReLU sepconv(16) BN maxpool
            + conv1x1/2(16) BN                                 [16x30x30]
    block2: ... 32                                             [32x15x15]
    block3: ... 64                                             [64x8x8]
    block4: ... 128                                            [128x4x4]
    head: conv3x3(7, bias) -> global average -> softmax
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

if TYPE_CHECKING:  # pragma: no cover - annotations only; the weights are imported where used
    from ..weights import MiniXceptionWeights

__all__ = ["MiniXception", "STAGE_SHAPES", "fold_batchnorm", "load_mini_xception", "preprocess_faces"]

#: (channels, height, width) of each residual block's output for a 64x64 input.
STAGE_SHAPES: dict[int, tuple[int, int, int]] = {
    1: (16, 30, 30),
    2: (32, 15, 15),
    3: (64, 8, 8),
    4: (128, 4, 4),
}

_BN_EPS = 1e-3
_BN_MOMENTUM = 0.01  # Keras' default momentum of 0.99, in PyTorch's convention


def _same_pad(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's 'same' padding along one axis: (before, after), extra at the end."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class TFSameMaxPool2d(nn.Module):
    """Max pooling with TensorFlow's asymmetric 'same' padding."""

    def __init__(self, kernel_size: int = 3, stride: int = 2) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        top, bottom = _same_pad(x.shape[-2], self.kernel_size, self.stride)
        left, right = _same_pad(x.shape[-1], self.kernel_size, self.stride)
        x = F.pad(x, (left, right, top, bottom), value=float("-inf"))
        return F.max_pool2d(x, self.kernel_size, self.stride)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=_BN_EPS, momentum=_BN_MOMENTUM)


class SeparableConv2d(nn.Sequential):
    """Depthwise 3x3 then pointwise 1x1, without bias (Keras ``SeparableConv2D``)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.Conv2d(in_channels, in_channels, 3, padding=1, groups=in_channels, bias=False),
            nn.Conv2d(in_channels, out_channels, 1, bias=False),
        )


class ResidualBlock(nn.Module):
    """Two separable convolutions and a strided max-pool, plus a strided 1x1 shortcut."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.sep1 = SeparableConv2d(in_channels, out_channels)
        self.bn1 = _bn(out_channels)
        self.sep2 = SeparableConv2d(out_channels, out_channels)
        self.bn2 = _bn(out_channels)
        self.pool = TFSameMaxPool2d(3, 2)
        # A 1x1 kernel with stride 2 needs no padding under TF's 'same' rule.
        self.shortcut = nn.Conv2d(in_channels, out_channels, 1, stride=2, bias=False)
        self.shortcut_bn = _bn(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = self.shortcut_bn(self.shortcut(x))
        y = F.relu(self.bn1(self.sep1(x)))
        y = self.pool(self.bn2(self.sep2(y)))
        return y + residual


class MiniXception(nn.Module):
    """Mini-Xception emotion classifier for 64x64 grayscale faces.

    ``forward`` takes preprocessed faces (see :func:`preprocess_faces`), shaped
    ``(N, 1, 64, 64)``, and returns the seven class logits; their softmax is
    the original model's output.  :meth:`features` exposes the output of every
    residual block and :meth:`class_map` the head's per-position class scores,
    on which the spatial attention of the method sits.

    Parameters
    ----------
    n_classes : int, default=7
        Number of outputs of the head.
    """

    def __init__(self, n_classes: int = 7) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, bias=False)
        self.bn1 = _bn(8)
        self.conv2 = nn.Conv2d(8, 8, 3, bias=False)
        self.bn2 = _bn(8)
        widths = [8, 16, 32, 64, 128]
        self.blocks = nn.ModuleList(
            ResidualBlock(c_in, c_out) for c_in, c_out in zip(widths[:-1], widths[1:])
        )
        self.head = nn.Conv2d(128, n_classes, 3, padding=1, bias=True)

    @property
    def stage_shapes(self) -> dict[int, tuple[int, int, int]]:
        """Output shape of each residual block for a 64x64 input (:data:`STAGE_SHAPES`)."""
        return dict(STAGE_SHAPES)

    def folded(self) -> MiniXception:
        """An inference copy with batch normalisations folded; see :func:`fold_batchnorm`.

        Returns
        -------
        MiniXception
            The folded copy, in evaluation mode, gradients disabled.
        """
        return fold_batchnorm(self)

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        """The two 3x3 convolutions before the residual blocks.

        Parameters
        ----------
        x : torch.Tensor of shape (N, 1, 64, 64)
            Preprocessed faces (see :func:`preprocess_faces`).

        Returns
        -------
        torch.Tensor of shape (N, 8, 60, 60)
            After both convolutions, batch normalisations and ReLUs (each
            unpadded convolution removes two rows and columns).
        """
        x = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(x)))

    def features(self, x: torch.Tensor, stage: int = 4) -> list[torch.Tensor]:
        """Outputs of residual blocks 1..``stage``, in order (last one is ``stage``'s).

        Parameters
        ----------
        x : torch.Tensor of shape (N, 1, 64, 64)
            Preprocessed faces (see :func:`preprocess_faces`).
        stage : {1, 2, 3, 4}, default=4
            Last residual block to run.

        Returns
        -------
        list of torch.Tensor
            ``stage`` tensors, block ``i``'s of shape ``(N, *STAGE_SHAPES[i])``
            for 64x64 inputs: ``(N, 16, 30, 30)``, ``(N, 32, 15, 15)``,
            ``(N, 64, 8, 8)``, ``(N, 128, 4, 4)``.

        Raises
        ------
        ValueError
            If ``stage`` is not a key of :data:`STAGE_SHAPES`.
        """
        if stage not in STAGE_SHAPES:
            raise ValueError(f"stage must be one of {sorted(STAGE_SHAPES)}, got {stage!r}")
        outputs = []
        x = self.stem(x)
        for block in self.blocks[:stage]:
            x = block(x)
            outputs.append(x)
        return outputs

    def forward_stage(self, x: torch.Tensor, stage: int = 4) -> torch.Tensor:
        """Output of residual block ``stage`` only.

        Parameters
        ----------
        x : torch.Tensor of shape (N, 1, 64, 64)
            Preprocessed faces (see :func:`preprocess_faces`).
        stage : {1, 2, 3, 4}, default=4
            The residual block whose output is returned.

        Returns
        -------
        torch.Tensor of shape (N, C, h, w)
            ``(C, h, w)`` is ``STAGE_SHAPES[stage]`` for 64x64 inputs.

        Raises
        ------
        ValueError
            If ``stage`` is not a key of :data:`STAGE_SHAPES`.
        """
        return self.features(x, stage)[-1]

    def class_map(self, x: torch.Tensor) -> torch.Tensor:
        """Per-position class scores ``(N, n_classes, 4, 4)`` (head before pooling).

        Parameters
        ----------
        x : torch.Tensor of shape (N, 1, 64, 64)
            Preprocessed faces (see :func:`preprocess_faces`).

        Returns
        -------
        torch.Tensor of shape (N, n_classes, 4, 4)
            The head's 3x3 convolution of block 4's output; their mean over
            positions is :meth:`forward`'s logits.
        """
        return self.head(self.forward_stage(x, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits of preprocessed faces.

        Parameters
        ----------
        x : torch.Tensor of shape (N, 1, 64, 64)
            Preprocessed faces (see :func:`preprocess_faces`).

        Returns
        -------
        torch.Tensor of shape (N, n_classes)
            Logits: the mean of :meth:`class_map` over positions.
        """
        return self.class_map(x).mean(dim=(-2, -1))

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_arrays(cls, path: str | os.PathLike) -> MiniXception:
        """Build the network in eval mode from an ``.npz`` of its ``state_dict`` (no pickle).

        Parameters
        ----------
        path : str or path-like
            The ``.npz`` file, e.g. from :meth:`MiniXceptionWeights.get_path
            <sk_emotion.weights.Weights.get_path>`; its checksum is not
            checked here.

        Returns
        -------
        MiniXception
            With 7 classes, in evaluation mode.

        Raises
        ------
        ValueError
            If the file is not an ``.npz`` of exactly this network's
            ``state_dict`` (every key, same shapes).
        """
        return _load_state_arrays(cls(), path).eval()

    @classmethod
    def from_keras_hdf5(cls, path: str | os.PathLike) -> MiniXception:
        """Build the network and load the Keras weights of ``path`` into it.

        Parameters
        ----------
        path : str or path-like
            The Keras mini-Xception HDF5 file (see :meth:`load_keras_hdf5`).

        Returns
        -------
        MiniXception
            With 7 classes, in evaluation mode.
        """
        model = cls()
        model.load_keras_hdf5(path)
        return model.eval()

    def load_keras_hdf5(self, path: str | os.PathLike) -> None:
        """Copy the weights of a Keras mini-Xception HDF5 file into this module (needs ``h5py``).

        Parameters
        ----------
        path : str or path-like
            The Keras HDF5 file (``model_config`` and ``model_weights``), as
            written by Keras 2 for the FER2013 model.

        Raises
        ------
        ImportError
            If ``h5py`` is not installed.
        ValueError
            If the file does not have the mini-Xception layout (7 ``Conv2D``
            and 8 ``SeparableConv2D`` layers) or a weight has the wrong shape.
        """
        try:
            import h5py
        except ImportError as exc:
            raise ImportError(
                "reading Keras HDF5 weights needs h5py: pip install \"sk-emotion[convert]\""
            ) from exc

        path = Path(path)
        with h5py.File(path, "r") as handle:
            config = json.loads(_as_str(handle.attrs["model_config"]))
            group = handle["model_weights"] if "model_weights" in handle else handle
            arrays = {
                layer: {
                    name.split("/")[-1].split(":")[0]: np.asarray(group[layer][name])
                    for name in _dataset_names(group[layer])
                }
                for layer in group.keys()
            }
        layers = config["config"]["layers"]
        kind = {layer["name"]: layer["class_name"] for layer in layers}
        feeds = {  # BN layer name -> the layer it normalises
            layer["name"]: layer["inbound_nodes"][0][0][0]
            for layer in layers
            if layer["class_name"] == "BatchNormalization"
        }
        bn_of = {source: bn for bn, source in feeds.items()}

        convs = [name for name in kind if kind[name] == "Conv2D"]
        seps = [name for name in kind if kind[name] == "SeparableConv2D"]
        if len(convs) != 7 or len(seps) != 8:
            raise ValueError(
                f"'{path}' is not the mini-Xception layout: expected 7 Conv2D and 8 "
                f"SeparableConv2D layers, found {len(convs)} and {len(seps)}"
            )
        # Graph order of the file: stem convs, then one shortcut per block, then the head.
        plan: list[tuple[str, nn.Module, nn.BatchNorm2d | None]] = [
            (convs[0], self.conv1, self.bn1),
            (convs[1], self.conv2, self.bn2),
        ]
        for i, block in enumerate(self.blocks):
            plan += [
                (seps[2 * i], block.sep1, block.bn1),
                (seps[2 * i + 1], block.sep2, block.bn2),
                (convs[2 + i], block.shortcut, block.shortcut_bn),
            ]
        plan.append((convs[6], self.head, None))

        with torch.no_grad():
            for layer, module, bn in plan:
                weights = arrays[layer]
                if isinstance(module, SeparableConv2d):
                    _copy(module[0].weight, weights["depthwise_kernel"].transpose(2, 3, 0, 1), layer)
                    _copy(module[1].weight, weights["pointwise_kernel"].transpose(3, 2, 0, 1), layer)
                else:
                    _copy(module.weight, weights["kernel"].transpose(3, 2, 0, 1), layer)
                    if module.bias is not None:
                        _copy(module.bias, weights["bias"], layer)
                if bn is not None:
                    bn_name = bn_of[layer]
                    stats = arrays[bn_name]
                    _copy(bn.weight, stats["gamma"], bn_name)
                    _copy(bn.bias, stats["beta"], bn_name)
                    _copy(bn.running_mean, stats["moving_mean"], bn_name)
                    _copy(bn.running_var, stats["moving_variance"], bn_name)


def _load_state_arrays(module: nn.Module, path: str | os.PathLike) -> nn.Module:
    """Load an ``.npz`` of named arrays into ``module`` (every key, exact shapes)."""
    from ..weights.arrays import read_arrays

    state = {name: torch.from_numpy(array) for name, array in read_arrays(path).items()}
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ValueError(f"'{path}' does not hold {type(module).__name__} weights: {exc}") from exc
    return module


def fold_batchnorm(net: MiniXception) -> MiniXception:
    """An inference copy of ``net`` with every batch normalisation folded into its convolution.

    In evaluation mode a batch normalisation is an affine map per channel, so
    it can be merged into the weights and bias of the convolution before it
    (the pointwise half of a separable convolution, the shortcut, the stem
    convolutions).  The copy computes the same maps (within 1e-5) about 1.15x
    faster on CPU (``benchmarks/classifier_speed.py``); it is for inference
    only: it has no statistics to update and must not be trained.

    Parameters
    ----------
    net : MiniXception
        The network to fold; it is not modified.

    Returns
    -------
    MiniXception
        A deep copy in evaluation mode, with gradients disabled, whose batch
        normalisations are :class:`torch.nn.Identity`.
    """
    import copy

    from torch.nn.utils.fusion import fuse_conv_bn_eval

    folded = copy.deepcopy(net).eval()
    folded.conv1, folded.bn1 = fuse_conv_bn_eval(folded.conv1, folded.bn1), nn.Identity()
    folded.conv2, folded.bn2 = fuse_conv_bn_eval(folded.conv2, folded.bn2), nn.Identity()
    for block in folded.blocks:
        block.sep1[1], block.bn1 = fuse_conv_bn_eval(block.sep1[1], block.bn1), nn.Identity()
        block.sep2[1], block.bn2 = fuse_conv_bn_eval(block.sep2[1], block.bn2), nn.Identity()
        block.shortcut, block.shortcut_bn = fuse_conv_bn_eval(block.shortcut, block.shortcut_bn), nn.Identity()
    return folded.requires_grad_(False)


def _as_str(value: object) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _dataset_names(group: Any) -> list[str]:
    names: list[str] = []
    group.visit(lambda name: names.append(name) if hasattr(group[name], "shape") else None)
    return names


def _copy(target: torch.Tensor, source: np.ndarray, layer: str) -> None:
    if tuple(target.shape) != source.shape:
        raise ValueError(
            f"layer '{layer}': weight shape {source.shape} does not fit {tuple(target.shape)}"
        )
    target.copy_(torch.from_numpy(np.ascontiguousarray(source)))


def preprocess_faces(faces: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Scale 0-255 grayscale faces the way the FER2013 model was trained.

    Parameters
    ----------
    faces : array-like of shape (N, 64, 64) or (N, 1, 64, 64)
        Grayscale pixel values in [0, 255], ``uint8`` or float.

    Returns
    -------
    torch.Tensor of shape (N, 1, 64, 64), float32
        ``(x / 255 - 0.5) * 2``, i.e. values in [-1, 1].
    """
    x = torch.as_tensor(np.asarray(faces) if not isinstance(faces, torch.Tensor) else faces)
    if x.ndim == 3:
        x = x.unsqueeze(1)
    if x.ndim != 4 or x.shape[1] != 1:
        raise ValueError(f"expected faces shaped (N, 64, 64) or (N, 1, 64, 64), got {tuple(x.shape)}")
    from ..preprocessing import normalize
    from ..weights import MiniXceptionWeights

    return normalize(x.float(), MiniXceptionWeights.DEFAULT.transforms)


def load_mini_xception(
    weights: MiniXceptionWeights | str | os.PathLike | None = None,
    path: str | os.PathLike | None = None,
) -> MiniXception:
    """Build the mini-Xception with pretrained weights, in evaluation mode.

    Parameters
    ----------
    weights : MiniXceptionWeights, str, path-like or None, default=None
        The weights set or its name; ``None`` means ``MiniXceptionWeights.DEFAULT``.
        A file path means the default set read from that file.
    path : path-like, optional
        Explicit location of the weights file (checked against its SHA-256).

    Returns
    -------
    MiniXception
        The network, in evaluation mode, with the weights of the verified
        file.

    Examples
    --------
    >>> import torch
    >>> net = load_mini_xception()
    >>> net(torch.zeros(2, 1, 64, 64)).shape
    torch.Size([2, 7])
    """
    from ..weights import MiniXceptionWeights

    if path is None:
        path = MiniXceptionWeights.explicit_path(weights)
    weights = MiniXceptionWeights.verify(weights)
    return MiniXception.from_arrays(weights.get_path(path))
