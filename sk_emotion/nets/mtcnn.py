"""The three MTCNN networks (Zhang et al., 2016) in PyTorch.

The networks are rebuilt layer by layer.  Their weights ship with the package
as ``.npz`` files of each network's ``state_dict`` (see
:mod:`sk_emotion.weights`), converted once from the Keras weights of
``mtcnn`` 1.0.0 (each a joblib + lz4 pickled list of numpy arrays in Keras
order and layout, read by :func:`read_keras_arrays`).  Keras semantics are
reproduced where they differ from PyTorch's:

* convolution kernels are stored ``(kh, kw, in, out)`` and become
  ``(out, in, kh, kw)`` with ``permute(3, 2, 0, 1)``;
* PReLU slopes after convolutions are shared over space and stored
  ``(1, 1, C)``;
* TensorFlow ``'same'`` max-pooling of these layers (2x2 or 3x3, stride 2, on
  the sizes used here) only pads at the end, which is exactly
  ``ceil_mode=True``;
* R-Net and O-Net transpose the feature map to ``(N, W, H, C)`` before
  flattening (a Keras ``Permute((2, 1, 3))``, a left-over of the original
  Caffe models that worked on transposed images), so the dense layer needs
  ``x.permute(0, 3, 2, 1).reshape(n, -1)`` and the transposed Keras matrix.
  A plain ``flatten`` runs without error and gives subtly wrong scores.

Inputs are RGB images scaled as ``(x - 127.5) / 128`` (see
:func:`normalize_images`), in NCHW layout.  The networks run faster on CPU
in ``torch.channels_last`` memory format (pooling especially), which
:func:`load_mtcnn` sets.

Output layouts
--------------
=====  ==========================  ========================  ====================
net    box regression              face probability          landmarks
=====  ==========================  ========================  ====================
PNet   ``(N, 4, h, w)``            ``(N, h, w)``             --
RNet   ``(N, 4)``                  ``(N,)``                  --
ONet   ``(N, 4)``                  ``(N,)``                  ``(N, 5, 2)``
=====  ==========================  ========================  ====================

Box regressions are offsets ``(dx1, dy1, dx2, dy2)`` of the corners in units
of the input window's width/height.  Landmarks are ``(x, y)`` in ``[0, 1]``
relative to the 48x48 window, in the order left eye, right eye, nose, left
mouth corner, right mouth corner ("left" = smaller x in the image); the
Keras network emits them as five x values followed by five y values.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "PNet",
    "RNet",
    "ONet",
    "load_mtcnn",
    "read_keras_arrays",
    "normalize_images",
]


def normalize_images(images: torch.Tensor) -> torch.Tensor:
    """Scale RGB pixel values from ``[0, 255]`` to about ``[-1, 1]``: ``(x - 127.5) / 128``.

    The scaling is the one :class:`~sk_emotion.weights.MTCNNWeights` declares.

    Parameters
    ----------
    images : torch.Tensor
        RGB pixel values in [0, 255], e.g. ``(N, 3, H, W)``; any shape and
        dtype (the scaling is elementwise).

    Returns
    -------
    torch.Tensor
        The scaled values, float32, of the same shape, in [-0.996, 0.996].
    """
    from ..preprocessing import normalize
    from ..weights import MTCNNWeights

    return normalize(images.to(torch.float32), MTCNNWeights.DEFAULT.transforms)


def read_keras_arrays(path: str | os.PathLike) -> list[np.ndarray]:
    """Read one upstream ``mtcnn`` weights file (a joblib + lz4 pickle of numpy arrays).

    The file is a pickle: only read files whose checksum was verified, as
    :func:`sk_emotion.weights.convert.convert_file` does.  Needs ``lz4``.

    Parameters
    ----------
    path : str or path-like
        A P-Net, R-Net or O-Net file of ``mtcnn`` 1.0.0 (``pnet.lz4``...).

    Returns
    -------
    list of numpy.ndarray
        The network's Keras ``get_weights()`` list, in Keras order and
        layout (see :meth:`PNet.load_keras_weights`).

    Raises
    ------
    ValueError
        If the file does not hold a list of numpy arrays.
    """
    import joblib  # imported here: only needed when loading weights

    arrays = joblib.load(path)
    if not isinstance(arrays, list) or not all(isinstance(a, np.ndarray) for a in arrays):
        raise ValueError(f"'{path}' does not hold a list of numpy arrays")
    return arrays


class _KerasLoadable(nn.Module):
    """Loads a Keras ``get_weights()`` list into the layers named by ``_keras_layers``."""

    #: Names of the layers in the order of the Keras weight list.
    _keras_layers: tuple[str, ...] = ()

    def load_keras_weights(self, arrays: Sequence[np.ndarray]) -> _KerasLoadable:
        """Copy Keras arrays into this network's parameters.

        Parameters
        ----------
        arrays : sequence of numpy.ndarray
            The arrays in Keras order: per convolution ``kernel (kh, kw, in,
            out), bias``; per PReLU ``alpha`` (``(1, 1, C)`` after a
            convolution, ``(C,)`` after a dense layer); per dense layer
            ``kernel (in, out), bias``.

        Returns
        -------
        self
        """
        expected = sum(2 if not isinstance(getattr(self, n), nn.PReLU) else 1
                       for n in self._keras_layers)
        if len(arrays) != expected:
            raise ValueError(
                f"{type(self).__name__} expects {expected} Keras arrays, got {len(arrays)}"
            )
        it = iter(arrays)
        with torch.no_grad():
            for name in self._keras_layers:
                layer = getattr(self, name)
                if isinstance(layer, nn.PReLU):
                    _copy(layer.weight, next(it).reshape(-1), f"{name}.alpha")
                elif isinstance(layer, nn.Conv2d):
                    _copy(layer.weight, np.transpose(next(it), (3, 2, 0, 1)), f"{name}.kernel")
                    _copy(layer.bias, next(it), f"{name}.bias")
                elif isinstance(layer, nn.Linear):
                    _copy(layer.weight, next(it).T, f"{name}.kernel")
                    _copy(layer.bias, next(it), f"{name}.bias")
                else:  # pragma: no cover - guarded by the class definitions
                    raise TypeError(f"cannot load Keras weights into {type(layer).__name__}")
        return self

    @classmethod
    def from_keras(cls, arrays: Sequence[np.ndarray]) -> _KerasLoadable:
        """Build the network in eval mode from a Keras weight list."""
        return cls().load_keras_weights(arrays).eval()

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> _KerasLoadable:
        """Build the network in eval mode from an ``.npz`` of its ``state_dict`` (no pickle)."""
        from .mini_xception import _load_state_arrays

        return _load_state_arrays(cls(), path).eval()


def _copy(param: torch.Tensor, value: np.ndarray, what: str) -> None:
    if tuple(value.shape) != tuple(param.shape):
        raise ValueError(
            f"Keras array for {what} has shape {tuple(value.shape)} after conversion, "
            f"expected {tuple(param.shape)}"
        )
    param.copy_(torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32)))


def _face_probability(logits: torch.Tensor) -> torch.Tensor:
    """Softmax probability of class 1 (face) of two logits along dim 1.

    ``sigmoid(l1 - l0)`` equals ``softmax(l)[:, 1]`` and avoids a softmax
    over a 2-channel dimension, which is slow in channels_last layout.
    """
    return torch.sigmoid(logits[:, 1] - logits[:, 0])


def _max_pool_2x2_ceil(x: torch.Tensor) -> torch.Tensor:
    """``max_pool2d(x, 2, 2, ceil_mode=True)`` as maxima of four strided views.

    Gives identical values, about 1.5-5x faster than PyTorch's CPU kernel on
    P-Net's large 10-channel maps.
    """
    height, width = x.shape[-2:]
    if height % 2 or width % 2:
        x = F.pad(x, (0, width % 2, 0, height % 2), value=float("-inf"))
    return torch.maximum(torch.maximum(x[..., 0::2, 0::2], x[..., 0::2, 1::2]),
                         torch.maximum(x[..., 1::2, 0::2], x[..., 1::2, 1::2]))


def _keras_flatten(x: torch.Tensor) -> torch.Tensor:
    """Flatten NCHW features in the order Keras' ``Permute((2, 1, 3))`` + ``Flatten`` gives: (W, H, C)."""
    return x.permute(0, 3, 2, 1).reshape(x.shape[0], -1)


class PNet(_KerasLoadable):
    """Proposal network: fully convolutional, any input size >= 12x12.

    One output position per 12x12 window, with a stride of 2 input pixels.

    Forward returns ``(box_regression (N, 4, h, w), face_probability (N, h, w))``
    with ``h = ceil((H - 2) / 2) - 4`` (and likewise ``w``).
    """

    _keras_layers = ("conv1", "prelu1", "conv2", "prelu2", "conv3", "prelu3", "conv4_1", "conv4_2")

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 10, 3)
        self.prelu1 = nn.PReLU(10)
        # pool1: 2x2 stride 2, TF 'same' = ceil mode (see _max_pool_2x2_ceil)
        self.conv2 = nn.Conv2d(10, 16, 3)
        self.prelu2 = nn.PReLU(16)
        self.conv3 = nn.Conv2d(16, 32, 3)
        self.prelu3 = nn.PReLU(32)
        self.conv4_1 = nn.Conv2d(32, 4, 1)  # box regression
        self.conv4_2 = nn.Conv2d(32, 2, 1)  # (not face, face) logits

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Score every 12x12 window of normalised images.

        Parameters
        ----------
        x : torch.Tensor of shape (N, 3, H, W)
            Images scaled by :func:`normalize_images`, ``H, W >= 12``.

        Returns
        -------
        box_regression : torch.Tensor of shape (N, 4, h, w)
            Corner offsets of each window, in units of the window's size.
        face_probability : torch.Tensor of shape (N, h, w)
            Probability that each window is a face.
        """
        x = _max_pool_2x2_ceil(self.prelu1(self.conv1(x)))
        x = self.prelu3(self.conv3(self.prelu2(self.conv2(x))))
        # Both 1x1 heads in one pass over the 32-channel map.
        weight = torch.cat([self.conv4_1.weight, self.conv4_2.weight])
        bias = torch.cat([self.conv4_1.bias, self.conv4_2.bias])
        out = F.conv2d(x, weight, bias)
        return out[:, :4], _face_probability(out[:, 4:])


class RNet(_KerasLoadable):
    """Refinement network on 24x24 crops.

    Forward returns ``(box_regression (N, 4), face_probability (N,))``.
    """

    _keras_layers = ("conv1", "prelu1", "conv2", "prelu2", "conv3", "prelu3",
                     "fc4", "prelu4", "fc5_1", "fc5_2")

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 28, 3)
        self.prelu1 = nn.PReLU(28)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(28, 48, 3)
        self.prelu2 = nn.PReLU(48)
        self.pool2 = nn.MaxPool2d(3, 2)
        self.conv3 = nn.Conv2d(48, 64, 2)
        self.prelu3 = nn.PReLU(64)
        self.fc4 = nn.Linear(3 * 3 * 64, 128)
        self.prelu4 = nn.PReLU(128)
        self.fc5_1 = nn.Linear(128, 4)  # box regression
        self.fc5_2 = nn.Linear(128, 2)  # (not face, face) logits

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Refine candidate face crops.

        Parameters
        ----------
        x : torch.Tensor of shape (N, 3, 24, 24)
            Crops scaled by :func:`normalize_images`.

        Returns
        -------
        box_regression : torch.Tensor of shape (N, 4)
            Corner offsets, in units of the crop's size.
        face_probability : torch.Tensor of shape (N,)
            Probability that each crop is a face.
        """
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.prelu3(self.conv3(x))
        x = self.prelu4(self.fc4(_keras_flatten(x)))
        return self.fc5_1(x), _face_probability(self.fc5_2(x))


class ONet(_KerasLoadable):
    """Output network on 48x48 crops.

    Forward returns ``(box_regression (N, 4), face_probability (N,),
    landmarks (N, 5, 2))``, landmarks as ``(x, y)`` relative to the crop.
    """

    _keras_layers = ("conv1", "prelu1", "conv2", "prelu2", "conv3", "prelu3", "conv4", "prelu4",
                     "fc5", "prelu5", "fc6_1", "fc6_2", "fc6_3")

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 3)
        self.prelu1 = nn.PReLU(32)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(32, 64, 3)
        self.prelu2 = nn.PReLU(64)
        self.pool2 = nn.MaxPool2d(3, 2)
        self.conv3 = nn.Conv2d(64, 64, 3)
        self.prelu3 = nn.PReLU(64)
        self.pool3 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv4 = nn.Conv2d(64, 128, 2)
        self.prelu4 = nn.PReLU(128)
        self.fc5 = nn.Linear(3 * 3 * 128, 256)
        self.prelu5 = nn.PReLU(256)
        self.fc6_1 = nn.Linear(256, 4)   # box regression
        self.fc6_2 = nn.Linear(256, 10)  # landmarks: x1..x5, y1..y5
        self.fc6_3 = nn.Linear(256, 2)   # (not face, face) logits

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Score face crops and locate their landmarks.

        Parameters
        ----------
        x : torch.Tensor of shape (N, 3, 48, 48)
            Crops scaled by :func:`normalize_images`.

        Returns
        -------
        box_regression : torch.Tensor of shape (N, 4)
            Corner offsets, in units of the crop's size.
        face_probability : torch.Tensor of shape (N,)
            Probability that each crop is a face.
        landmarks : torch.Tensor of shape (N, 5, 2)
            ``(x, y)`` of the left eye, right eye, nose, left and right
            mouth corners, relative to the crop (0 to 1 across it).
        """
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.pool3(self.prelu3(self.conv3(x)))
        x = self.prelu4(self.conv4(x))
        x = self.prelu5(self.fc5(_keras_flatten(x)))
        landmarks = self.fc6_2(x).view(-1, 2, 5).transpose(1, 2)  # (x1..x5, y1..y5) -> (5, 2)
        return self.fc6_1(x), _face_probability(self.fc6_3(x)), landmarks


def load_mtcnn(
    paths: Mapping[str, str | os.PathLike] | None = None,
    device: str | torch.device = "cpu",
) -> tuple[PNet, RNet, ONet]:
    """Load the three pretrained networks, checksum-verified, in eval mode.

    Parameters
    ----------
    paths : mapping, optional
        Explicit file paths by role (``"pnet"``, ``"rnet"``, ``"onet"``);
        missing roles are resolved by :class:`sk_emotion.weights.MTCNNWeights`
        (the shipped files, the cache, then download).
    device : str or torch.device, default="cpu"
        Where to put the networks.

    Returns
    -------
    (PNet, RNet, ONet)
        In ``channels_last`` memory format, with gradients disabled; shared
        with every other caller asking for the same files and device (they
        are never modified).
    """
    from ..weights import MTCNNWeights

    resolved = MTCNNWeights.DEFAULT.get_paths(paths)
    key = (tuple(str(resolved[role]) for role in ("pnet", "rnet", "onet")), str(device))
    nets = _LOADED.get(key)
    if nets is None:
        nets = (PNet.from_file(resolved["pnet"]), RNet.from_file(resolved["rnet"]),
                ONet.from_file(resolved["onet"]))
        for net in nets:
            net.requires_grad_(False)
            net.to(device=device, memory_format=torch.channels_last)
        _LOADED[key] = nets
    return nets  # type: ignore[return-value]


#: Networks already loaded in this process, by weights files and device.  They
#: are read-only (eval mode, no gradients), so every detector shares them: a
#: worker process loads them once, however many detector objects it receives.
_LOADED: dict[tuple, tuple[PNet, RNet, ONet]] = {}
