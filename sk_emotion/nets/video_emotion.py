"""The video emotion network: backbone, spatial pooling, frame classifier, temporal pooling."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from .mini_xception import STAGE_SHAPES, MiniXception, load_mini_xception
from .pooling import (
    SoftmaxTemporalPooling,
    SpatialAttention,
    attention_penalty,
    check_pooling_options,
    max_pool,
    mean_pool,
)

__all__ = ["VideoEmotionNet"]

# ITU-R BT.601 luma, the usual RGB-to-gray conversion of FER-style datasets.
_LUMA = (0.299, 0.587, 0.114)
_BACKBONE_CHUNK = 64


def _backbone_layout(backbone: nn.Module, x: torch.Tensor) -> torch.memory_format:
    """Memory layout of the backbone for this call; converts its weights in place if needed.

    Channels-last runs the backbone's inference 3-5x faster on CPU (measured in
    ``benchmarks/classifier_speed.py``), but oneDNN's AVX-512 backward kernels
    for it crash the process on some CPUs (AMD Zen 4/5: SIGSEGV or "double
    free").  So channels-last is used only where no backward pass can follow:
    gradients disabled, or neither the weights nor the input require them.
    """
    backward_possible = torch.is_grad_enabled() and (
        x.requires_grad or any(p.requires_grad for p in backbone.parameters())
    )
    layout = torch.contiguous_format if backward_possible else torch.channels_last
    if any(p.dim() == 4 and not p.is_contiguous(memory_format=layout)
           for p in backbone.parameters()):
        backbone.to(memory_format=layout)
    return layout


class VideoEmotionNet(nn.Module):
    """Classify face clips: per-frame CNN features, spatial pooling, temporal pooling.

    ``forward`` takes either raw clips or backbone features precomputed by
    :meth:`encode` (the frozen-backbone fast path) and returns the video
    logits and the attention penalty of every clip.

    Parameters
    ----------
    classes : sequence of str
        Class names, in output order.  Those that are FER2013 emotions get the
        pretrained head's weights when ``feature_stage=4``, so the untrained
        model with average pooling predicts as the pretrained CNN does.
    spatial_pooling : {"attention", "avg"}
        Attention over feature-map positions, or plain average pooling.
    temporal_pooling : {"softmax", "mean", "max", "lstm"}
        How frame scores become video scores.
    temperature : float
        Temperature of softmax temporal pooling (initial value if learned).
    learn_temperature : bool
        Whether the temperature is trained.
    n_heads : int
        Attention heads.
    attention_hidden : int
        Width of the attention scoring layer.
    feature_stage : {3, 4}
        Residual block whose output is pooled: 4 gives 128x4x4 maps and
        lets the frame classifier start from the FER2013 head; 3 gives finer
        64x8x8 maps with a freshly initialised classifier.
    freeze_backbone : bool
        Whether the backbone's weights stay fixed (it then stays in eval mode).
    weights : MiniXceptionWeights, str or None
        Pretrained backbone weights; ``None`` is the default set.
    pretrained : bool
        Whether to load the weights at all (False only for tests of shapes).
    lstm_hidden : int
        Hidden size of the LSTM baseline.
    """

    def __init__(
        self,
        classes: Sequence[str],
        spatial_pooling: str = "attention",
        temporal_pooling: str = "softmax",
        temperature: float = 1.0,
        learn_temperature: bool = False,
        n_heads: int = 1,
        attention_hidden: int = 64,
        feature_stage: int = 4,
        freeze_backbone: bool = True,
        weights=None,
        pretrained: bool = True,
        lstm_hidden: int = 128,
    ) -> None:
        super().__init__()
        check_pooling_options(spatial_pooling, temporal_pooling, feature_stage)
        self.classes = tuple(str(c) for c in classes)
        self.spatial_pooling = spatial_pooling
        self.temporal_pooling = temporal_pooling
        self.feature_stage = feature_stage
        self.freeze_backbone = freeze_backbone

        self.backbone = load_mini_xception(weights) if pretrained else MiniXception()
        if freeze_backbone:
            self.backbone.requires_grad_(False)
        channels = STAGE_SHAPES[feature_stage][0]
        n_classes = len(self.classes)
        self.head = nn.Conv2d(channels, n_classes, 3, padding=1)
        if feature_stage == 4 and pretrained:
            self._init_head_from_backbone(weights)
        self.attention = (
            SpatialAttention(channels, n_heads, attention_hidden)
            if spatial_pooling == "attention" else None
        )
        self.softmax_pool = (
            SoftmaxTemporalPooling(temperature, learn_temperature)
            if temporal_pooling == "softmax" else None
        )
        if temporal_pooling == "lstm":
            self.lstm = nn.LSTM(channels, lstm_hidden, batch_first=True)
            self.lstm_classifier = nn.Linear(lstm_hidden, n_classes)

    def _init_head_from_backbone(self, weights) -> None:
        from ..weights import MiniXceptionWeights

        categories = list(MiniXceptionWeights.verify(weights).meta["categories"])
        with torch.no_grad():
            for row, name in enumerate(self.classes):
                if name in categories:
                    source = categories.index(name)
                    self.head.weight[row] = self.backbone.head.weight[source]
                    self.head.bias[row] = self.backbone.head.bias[source]

    def train(self, mode: bool = True) -> "VideoEmotionNet":
        super().train(mode)
        if self.freeze_backbone:
            # Frozen batch-norm statistics must not drift with the training data.
            self.backbone.eval()
        return self

    # ------------------------------------------------------------------ stages
    def encode(self, clips: torch.Tensor) -> torch.Tensor:
        """Backbone feature maps ``(N, T, C', h, w)`` of clips ``(N, T, C, 64, 64)`` in 0-255."""
        n, t = clips.shape[:2]
        x = clips.float()
        if x.shape[2] == 3:
            luma = torch.tensor(_LUMA, dtype=x.dtype, device=x.device).view(1, 1, 3, 1, 1)
            x = (x * luma).sum(dim=2, keepdim=True)
        x = (x.reshape(n * t, 1, *x.shape[-2:]) / 255.0 - 0.5) * 2.0
        layout = _backbone_layout(self.backbone, x)
        x = x.contiguous(memory_format=layout)
        if torch.jit.is_tracing() or torch.onnx.is_in_onnx_export():
            # Chunk sizes would be frozen into an exported graph with a dynamic batch.
            features = self.backbone.forward_stage(x, self.feature_stage)
        else:
            features = torch.cat([
                self.backbone.forward_stage(chunk, self.feature_stage)
                for chunk in torch.split(x, _BACKBONE_CHUNK)
            ])
        return features.contiguous().reshape(n, t, *features.shape[1:])

    def frames(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        """Spatial pooling and frame classification of features ``(N, T, C', h, w)``.

        Returns ``scores`` (N, T, K), pooled ``features`` (N, T, C') and
        attention ``maps`` (N, T, heads, h, w).
        """
        n, t, c, h, w = features.shape
        flat = features.reshape(n * t, c, h, w)
        class_map = self.head(flat)  # (NT, K, h, w): per-position class evidence
        if self.attention is not None:
            maps = self.attention(flat)  # (NT, heads, h, w)
        else:
            maps = torch.full((n * t, 1, h, w), 1.0 / (h * w), dtype=flat.dtype, device=flat.device)
        weights = maps.flatten(2)  # (NT, heads, P)
        scores = torch.einsum("nhp,nkp->nk", weights, class_map.flatten(2)) / weights.shape[1]
        pooled = torch.einsum("nhp,ncp->nc", weights, flat.flatten(2)) / weights.shape[1]
        return {
            "scores": scores.view(n, t, -1),
            "features": pooled.view(n, t, c),
            "maps": maps.view(n, t, *maps.shape[1:]),
        }

    def pool_time(self, frame_out: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Video logits (N, K), frame logits (N, T, K) and temporal weights (N, T, K)."""
        scores = frame_out["scores"]
        if self.temporal_pooling == "softmax":
            video, weights = self.softmax_pool(scores)
        elif self.temporal_pooling == "mean":
            video, weights = mean_pool(scores)
        elif self.temporal_pooling == "max":
            video, weights = max_pool(scores)
        else:
            hidden, _ = self.lstm(frame_out["features"])
            scores = self.lstm_classifier(hidden)  # prediction after each frame
            video = scores[:, -1]
            weights = torch.full_like(scores, 1.0 / scores.shape[1])
        return {"logits": video, "frame_logits": scores, "temporal_weights": weights}

    def forward(
        self, clips: torch.Tensor | None = None, features: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Video logits ``(N, K)`` and attention penalty ``(N,)``.

        Exactly one of ``clips`` (raw faces, 0-255) and ``features`` (from
        :meth:`encode`) is given.
        """
        if (clips is None) == (features is None):
            raise ValueError("pass exactly one of clips and features")
        if features is None:
            features = self.encode(clips)
        frame_out = self.frames(features)
        video = self.pool_time(frame_out)
        if self.attention is not None:
            maps = frame_out["maps"]
            penalty = attention_penalty(maps.flatten(0, 1)).view(maps.shape[:2]).mean(dim=1)
        else:
            penalty = video["logits"].new_zeros(video["logits"].shape[0])
        return video["logits"], penalty

    def explain(self, clips: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every intermediate a user may want to see, for clips ``(N, T, C, 64, 64)``."""
        frame_out = self.frames(self.encode(clips))
        video = self.pool_time(frame_out)
        return {**video, "attention_maps": frame_out["maps"]}
