"""FaceResNet: a ResNet-18 layout for 64x64 gray faces that keeps a spatial class map.

The mini-Xception (the paper's backbone) reaches 66% on FER2013; this network
is the package's stronger face classifier, trained on FER+ votes by
:mod:`sk_emotion.weights.train`.  It exposes the same interface as
:class:`~sk_emotion.nets.MiniXception` -- :meth:`FaceResNet.features`,
:meth:`FaceResNet.forward_stage`, :meth:`FaceResNet.class_map` and logits that
are the mean of the class map -- so the spatial attention stage sits on its
4x4 (stage 4) or 8x8 (stage 3) map unchanged.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["FaceResNet", "face_resnet_stage_shapes"]


def face_resnet_stage_shapes(width: int = 32) -> dict[int, tuple[int, int, int]]:
    """``(channels, height, width)`` of each stage's output for a 64x64 input.

    Parameters
    ----------
    width : int, default=32
        Channels of the first stage; each next stage doubles them.

    Returns
    -------
    dict of int to tuple of int
        Stage 1 to 4: ``(width, 32, 32)`` to ``(8 * width, 4, 4)``.
    """
    return {i + 1: (width * 2 ** i, 32 // 2 ** i, 32 // 2 ** i) for i in range(4)}


class _BasicBlock(nn.Module):
    """Two 3x3 convolutions with a shortcut (a strided 1x1 where the shape changes)."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class FaceResNet(nn.Module):
    """ResNet-18 layout (four stages of two basic blocks) for 64x64 gray faces.

    A full-resolution 3x3 stem, then stages at 32, 16, 8 and 4 pixels; a 1x1
    convolution maps the last stage to per-position class scores, whose mean
    over positions is the logits.  Dropout before the head is active in
    training only.

    Parameters
    ----------
    n_classes : int, default=7
        Number of outputs.
    width : int, default=32
        Channels of the first stage (doubled at each next stage).
    dropout : float, default=0.2
        Dropout probability on the last feature map during training.
    """

    def __init__(self, n_classes: int = 7, width: int = 32, dropout: float = 0.2) -> None:
        super().__init__()
        self.width = width
        self.stem_conv = nn.Conv2d(1, width, 3, padding=1, bias=False)
        self.stem_bn = nn.BatchNorm2d(width)
        stages = []
        c_in = width
        for i in range(4):
            c_out = width * 2 ** i
            stages.append(nn.Sequential(_BasicBlock(c_in, c_out, 2), _BasicBlock(c_out, c_out, 1)))
            c_in = c_out
        self.blocks = nn.ModuleList(stages)
        self.dropout = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()
        self.head = nn.Conv2d(c_in, n_classes, 1)

    @property
    def stage_shapes(self) -> dict[int, tuple[int, int, int]]:
        """Output shape of each stage for a 64x64 input (see :func:`face_resnet_stage_shapes`)."""
        return face_resnet_stage_shapes(self.width)

    def features(self, x: torch.Tensor, stage: int = 4) -> list[torch.Tensor]:
        """Outputs of stages 1..``stage``, in order.

        Parameters
        ----------
        x : torch.Tensor of shape (N, 1, 64, 64)
            Faces scaled to [-1, 1].
        stage : {1, 2, 3, 4}, default=4
            Last stage to run.

        Returns
        -------
        list of torch.Tensor
            ``stage`` tensors of shapes :attr:`stage_shapes`.

        Raises
        ------
        ValueError
            If ``stage`` is not 1-4.
        """
        if stage not in (1, 2, 3, 4):
            raise ValueError(f"stage must be one of [1, 2, 3, 4], got {stage!r}")
        x = F.relu(self.stem_bn(self.stem_conv(x)))
        outputs = []
        for block in self.blocks[:stage]:
            x = block(x)
            outputs.append(x)
        return outputs

    def forward_stage(self, x: torch.Tensor, stage: int = 4) -> torch.Tensor:
        """Output of stage ``stage`` only; see :meth:`features`.

        Parameters
        ----------
        x : torch.Tensor of shape (N, 1, 64, 64)
            Faces scaled to [-1, 1].
        stage : {1, 2, 3, 4}, default=4
            The stage whose output is returned.

        Returns
        -------
        torch.Tensor of shape (N, C, h, w)
            ``(C, h, w)`` is ``stage_shapes[stage]``.
        """
        return self.features(x, stage)[-1]

    def class_map(self, x: torch.Tensor) -> torch.Tensor:
        """Per-position class scores ``(N, n_classes, 4, 4)``.

        Parameters
        ----------
        x : torch.Tensor of shape (N, 1, 64, 64)
            Faces scaled to [-1, 1].

        Returns
        -------
        torch.Tensor of shape (N, n_classes, 4, 4)
            The head applied to stage 4; its mean over positions is the logits.
        """
        return self.head(self.dropout(self.forward_stage(x, 4)))

    def folded(self) -> FaceResNet:
        """An inference copy with every batch normalisation folded into its convolution.

        Returns
        -------
        FaceResNet
            A deep copy in evaluation mode, gradients disabled, computing the
            same maps (within float rounding) with fewer operations.
        """
        from torch.nn.utils.fusion import fuse_conv_bn_eval

        net = copy.deepcopy(self).eval()
        net.stem_conv, net.stem_bn = fuse_conv_bn_eval(net.stem_conv, net.stem_bn), nn.Identity()
        for stage in net.blocks:
            for block in stage:
                block.conv1, block.bn1 = fuse_conv_bn_eval(block.conv1, block.bn1), nn.Identity()
                block.conv2, block.bn2 = fuse_conv_bn_eval(block.conv2, block.bn2), nn.Identity()
                if isinstance(block.shortcut, nn.Sequential):
                    block.shortcut = fuse_conv_bn_eval(block.shortcut[0], block.shortcut[1])
        return net.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits.

        Parameters
        ----------
        x : torch.Tensor of shape (N, 1, 64, 64)
            Faces scaled to [-1, 1].

        Returns
        -------
        torch.Tensor of shape (N, n_classes)
            The mean of :meth:`class_map` over positions.
        """
        return self.class_map(x).mean(dim=(-2, -1))
