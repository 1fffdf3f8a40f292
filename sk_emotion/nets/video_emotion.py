"""The video emotion network: backbone, spatial pooling, frame classifier, temporal pooling."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from ..preprocessing import LUMA, normalize
from .backbones import build_backbone, load_backbone
from .spatial import SPATIAL_POOLINGS
from .temporal import TEMPORAL_POOLINGS, resolve_temporal_pooling

if TYPE_CHECKING:  # pragma: no cover - annotations only; the weights are imported where used
    from ..weights import EmotionWeights

__all__ = ["VideoEmotionNet"]

_BACKBONE_CHUNK = 64
FEATURE_STAGES = (3, 4)


def check_network_options(spatial_pooling: str, temporal_pooling: str, feature_stage: int) -> None:
    """Raise ``ValueError`` naming the allowed values when a structural option is unknown."""
    SPATIAL_POOLINGS.check(spatial_pooling)
    TEMPORAL_POOLINGS.check(temporal_pooling)
    if feature_stage not in FEATURE_STAGES:
        raise ValueError(f"feature_stage must be one of {FEATURE_STAGES}, got {feature_stage!r}")


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


#: Training examples a declared ``meta["training_prior"]`` stands for: so many that the declared
#: prior stands as declared (add-one smoothing and the labels of a later ``partial_fit`` are
#: negligible beside it; ``fit`` re-initialises the network and counts its own labels).
PRIOR_PSEUDO_COUNT = 1e9


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
    spatial_pooling : str, default="attention"
        A name of :data:`~sk_emotion.nets.spatial.SPATIAL_POOLINGS`:
        ``"attention"`` over feature-map positions, or ``"avg"``.
    temporal_pooling : str, default="auto"
        A name of :data:`~sk_emotion.nets.temporal.TEMPORAL_POOLINGS`:
        ``"softmax"``, ``"expressive"``, ``"mean"``, ``"max"``, ``"lstm"``,
        or ``"auto"`` (see :func:`~sk_emotion.nets.temporal.resolve_temporal_pooling`).
    temperature : float or None, default=None
        Temperature of the poolings that have one (initial value if learned);
        None is the pooling's own default.
    learn_temperature : bool, default=False
        Whether the temperature is trained.
    n_heads : int, default=1
        Attention heads.
    attention_hidden : int, default=64
        Width of the attention scoring layer.
    feature_stage : {3, 4}, default=4
        Residual block whose output is pooled: 4 gives 128x4x4 maps and
        lets the frame classifier start from the FER2013 head; 3 gives finer
        64x8x8 maps with a freshly initialised classifier.
    freeze_backbone : bool, default=True
        Whether the backbone's weights stay fixed (it then stays in eval mode).
    weights : MiniXceptionWeights, FaceResNetWeights, str or None
        Pretrained backbone weights (they also decide the backbone's
        architecture); ``None`` is the package's default set.
    pretrained : bool, default=True
        Whether to load the weights at all (False only for tests of shapes).
    lstm_hidden : int, default=128
        Hidden size of the LSTM baseline.
    mirror : bool, default=False
        Average each face's feature maps with those of its mirror image,
        flipped back into place (test-time augmentation; twice the cost).

    Attributes
    ----------
    spatial : sk_emotion.nets.spatial.SpatialPooling
        Stage 3.
    temporal : sk_emotion.nets.temporal.TemporalPooling
        Stage 4.
    training_counts : torch.Tensor of shape (K,)
        How many training examples of each class the frame scores were
        trained on (a buffer, saved with the network): the labels given to
        ``fit``, or for the pretrained head its declared
        ``meta["training_prior"]`` times :data:`PRIOR_PSEUDO_COUNT`; zeros
        (balanced classes) when neither is known.  See
        :attr:`training_log_prior`.
    target_log_prior : torch.Tensor of shape (K,) or None
        Log class frequencies expected where the network predicts (set by
        :class:`~sk_emotion.EmotionClassifier` from its ``class_prior``; not
        saved); None leaves the scores as trained.  Otherwise every frame's
        scores are shifted by ``target_log_prior - training_log_prior``
        before temporal pooling (see :meth:`prior_shift`).
    """

    def __init__(
        self,
        classes: Sequence[str],
        spatial_pooling: str = "attention",
        temporal_pooling: str = "auto",
        temperature: float | None = None,
        learn_temperature: bool = False,
        n_heads: int = 1,
        attention_hidden: int = 64,
        feature_stage: int = 4,
        freeze_backbone: bool = True,
        weights: EmotionWeights | str | None = None,
        pretrained: bool = True,
        lstm_hidden: int = 128,
        mirror: bool = False,
    ) -> None:
        super().__init__()
        check_network_options(spatial_pooling, temporal_pooling, feature_stage)
        self.classes = tuple(str(c) for c in classes)
        self.spatial_pooling = spatial_pooling
        self.temporal_pooling = temporal_pooling = resolve_temporal_pooling(temporal_pooling, self.classes)
        self.feature_stage = feature_stage
        self.freeze_backbone = freeze_backbone
        self.mirror = mirror

        from ..weights import resolve_emotion_weights

        declared = resolve_emotion_weights(weights)
        # The weights' declared preprocessing (plain data, not a module: not saved in state_dict).
        self.transforms = dict(declared.transforms)
        self.backbone = load_backbone(weights) if pretrained else build_backbone(declared)
        if freeze_backbone:
            self.backbone.requires_grad_(False)
        channels = self.backbone.stage_shapes[feature_stage][0]
        # The backbone's own head shape, so that at stage 4 it can start as that head.
        kernel = self.backbone.head.kernel_size[0]
        self.head = nn.Conv2d(channels, len(self.classes), kernel, padding=kernel // 2)
        self.register_buffer("training_counts", torch.zeros(len(self.classes)))
        self.register_buffer("target_log_prior", None, persistent=False)
        if feature_stage == 4 and pretrained:
            self._init_head_from_backbone(declared)
        self.spatial = SPATIAL_POOLINGS.build(spatial_pooling, in_channels=channels, n_heads=n_heads,
                                              hidden=attention_hidden)
        self.temporal = TEMPORAL_POOLINGS.build(temporal_pooling, classes=self.classes, n_features=channels,
                                                temperature=temperature, learn_temperature=learn_temperature,
                                                lstm_hidden=lstm_hidden)

    def _init_head_from_backbone(self, weights: EmotionWeights) -> None:
        categories = list(weights.meta["categories"])
        with torch.no_grad():
            for row, name in enumerate(self.classes):
                if name in categories:
                    source = categories.index(name)
                    self.head.weight[row] = self.backbone.head.weight[source]
                    self.head.bias[row] = self.backbone.head.bias[source]
            prior = weights.meta.get("training_prior")
            if prior is not None and all(name in categories for name in self.classes):
                # The head's scores carry the prior the backbone was trained under.
                self.training_counts.copy_(torch.tensor([prior[categories.index(n)] for n in self.classes])
                                           * PRIOR_PSEUDO_COUNT)

    @property
    def training_log_prior(self) -> torch.Tensor:
        """Log class frequencies the scores were trained under, add-one smoothed, mean-centred.

        ``log((training_counts + 1) / (sum + K))`` minus its mean (a constant
        per clip changes no probability): a class never seen in training
        keeps a finite score, and zero counts mean balanced classes.
        """
        counts = self.training_counts + 1.0
        log_prior = torch.log(counts / counts.sum())
        return log_prior - log_prior.mean()

    def prior_shift(self) -> torch.Tensor | None:
        """What every frame's class scores gain for the expected class frequencies, or None.

        Bayes' rule under a change of class prior (Saerens et al., 2002): a
        classifier trained where class ``k`` has frequency ``p_k`` and used
        where it has ``q_k`` should add ``log q_k - log p_k`` to its logits.

        Returns
        -------
        torch.Tensor of shape (K,) or None
            ``target_log_prior - training_log_prior``; None when no target is set.
        """
        target = getattr(self, "target_log_prior", None)  # absent from networks pickled before it existed
        if target is None or not hasattr(self, "training_counts"):
            return None
        return target - self.training_log_prior

    def train(self, mode: bool = True) -> VideoEmotionNet:
        """Set training mode, keeping a frozen backbone in evaluation mode.

        Parameters
        ----------
        mode : bool, default=True
            Training (True) or evaluation (False) mode.

        Returns
        -------
        VideoEmotionNet
            ``self``.
        """
        super().train(mode)
        if self.freeze_backbone:
            # Frozen batch-norm statistics must not drift with the training data.
            self.backbone.eval()
        return self

    # ------------------------------------------------------------------ stages
    def encode(self, clips: torch.Tensor) -> torch.Tensor:
        """Backbone feature maps ``(N, T, C', h, w)`` of clips ``(N, T, C, 64, 64)`` in 0-255.

        Parameters
        ----------
        clips : torch.Tensor of shape (N, T, C, 64, 64)
            Face clips, pixel values in [0, 255], gray (``C = 1``) or RGB
            (``C = 3``, converted to gray with the luma weights); any dtype.

        Returns
        -------
        torch.Tensor of shape (N, T, C', h, w)
            Output of the backbone's residual block ``feature_stage``,
            float32: ``C', h, w`` is the backbone's ``stage_shapes[feature_stage]``
            (for the mini-Xception 128, 4, 4 at stage 4 and 64, 8, 8 at
            stage 3).
        """
        n, t = clips.shape[:2]
        x = clips.float()
        if x.shape[2] == 3:
            luma = torch.tensor(LUMA, dtype=x.dtype, device=x.device).view(1, 1, 3, 1, 1)
            x = (x * luma).sum(dim=2, keepdim=True)
        x = normalize(x.reshape(n * t, 1, *x.shape[-2:]), self.transforms)
        layout = _backbone_layout(self.backbone, x)
        x = x.contiguous(memory_format=layout)
        backbone = self.backbone
        if layout is torch.channels_last and not self.backbone.training and not (
                torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()):
            backbone = self._folded_backbone()  # inference only: batch norms folded, 1.15x faster
        features = self._stage_output(backbone, x)
        if self.mirror:
            # The mirror image's maps, flipped back so that positions line up.
            mirrored = self._stage_output(backbone, torch.flip(x, dims=[-1]))
            features = (features + torch.flip(mirrored, dims=[-1])) / 2
        return features.contiguous().reshape(n, t, *features.shape[1:])

    def _stage_output(self, backbone: nn.Module, x: torch.Tensor) -> torch.Tensor:
        if torch.jit.is_tracing() or torch.onnx.is_in_onnx_export():
            # Chunk sizes would be frozen into an exported graph with a dynamic batch.
            return backbone.forward_stage(x, self.feature_stage)
        return torch.cat([backbone.forward_stage(chunk, self.feature_stage)
                          for chunk in torch.split(x, _BACKBONE_CHUNK)])

    def _folded_backbone(self) -> nn.Module:
        """The backbone with batch norms folded, rebuilt whenever its weights change.

        Kept outside the module's registered children: it is derived state,
        neither saved nor trained.  Tensor version counters tell when an
        optimiser step or ``load_state_dict`` changed the weights.
        """
        state = list(self.backbone.parameters()) + list(self.backbone.buffers())
        key = tuple((id(t), t._version) for t in state)
        cached = self.__dict__.get("_folded")
        if cached is None or cached[0] != key:
            folded = self.backbone.folded().to(memory_format=torch.channels_last)
            self.__dict__["_folded"] = cached = (key, folded)
        return cached[1]

    def __getstate__(self) -> dict[str, Any]:
        state = dict(super().__getstate__())
        state.pop("_folded", None)  # derived; rebuilt on first use
        return state

    def frames(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        """Spatial pooling and frame classification of features ``(N, T, C', h, w)``.

        Parameters
        ----------
        features : torch.Tensor of shape (N, T, C', h, w)
            Backbone feature maps, from :meth:`encode`.

        Returns
        -------
        dict of str to torch.Tensor
            ``"scores"`` ``(N, T, K)``, the frame logits: the head's
            per-position class scores pooled with the spatial maps (averaged
            over heads); ``"features"`` ``(N, T, C')``, the features pooled
            likewise; ``"maps"`` ``(N, T, n_heads, h, w)``, the spatial maps.
        """
        n, t, c, h, w = features.shape
        flat = features.reshape(n * t, c, h, w)
        class_map = self.head(flat)  # (NT, K, h, w): per-position class evidence
        maps = self.spatial(flat)  # (NT, heads, h, w)
        weights = maps.flatten(2)  # (NT, heads, P)
        scores = torch.einsum("nhp,nkp->nk", weights, class_map.flatten(2)) / weights.shape[1]
        shift = self.prior_shift()
        if shift is not None:  # before temporal pooling: frames are weighed by what they show under it
            scores = scores + shift
        pooled = torch.einsum("nhp,ncp->nc", weights, flat.flatten(2)) / weights.shape[1]
        return {
            "scores": scores.view(n, t, -1),
            "features": pooled.view(n, t, c),
            "maps": maps.view(n, t, *maps.shape[1:]),
        }

    def pool_time(self, frame_out: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Video logits (N, K), frame logits (N, T, K) and temporal weights (N, T, K).

        Parameters
        ----------
        frame_out : dict of str to torch.Tensor
            The output of :meth:`frames` (its ``"scores"`` and ``"features"``).

        Returns
        -------
        dict of str to torch.Tensor
            ``"logits"`` ``(N, K)``, the video logits; ``"frame_logits"``
            ``(N, T, K)``, the frame scores the temporal pooling used;
            ``"temporal_weights"`` ``(N, T, K)``, the weight of every frame
            in every class's video score, summing to one over frames.
        """
        video, scores, weights = self.temporal(frame_out["scores"], frame_out["features"])
        return {"logits": video, "frame_logits": scores, "temporal_weights": weights}

    def forward(
        self, clips: torch.Tensor | None = None, features: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Video logits ``(N, K)`` and spatial-pooling penalty ``(N,)``.

        Exactly one of ``clips`` (raw faces, 0-255) and ``features`` (from
        :meth:`encode`) is given.

        Parameters
        ----------
        clips : torch.Tensor of shape (N, T, C, 64, 64), optional
            Face clips, pixel values in [0, 255] (see :meth:`encode`).
        features : torch.Tensor of shape (N, T, C', h, w), optional
            Backbone feature maps from :meth:`encode`.

        Returns
        -------
        logits : torch.Tensor of shape (N, K)
            Video logits (see :meth:`pool_time`).
        penalty : torch.Tensor of shape (N,)
            The spatial pooling's penalty of each clip, averaged over frames.

        Raises
        ------
        ValueError
            Unless exactly one of ``clips`` and ``features`` is given.
        """
        if (clips is None) == (features is None):
            raise ValueError("pass exactly one of clips and features")
        if features is None:
            features = self.encode(clips)
        frame_out = self.frames(features)
        video = self.pool_time(frame_out)
        maps = frame_out["maps"]
        penalty = self.spatial.penalty(maps.flatten(0, 1)).view(maps.shape[:2]).mean(dim=1)
        return video["logits"], penalty

    def explain(self, clips: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every intermediate a user may want to see, for clips ``(N, T, C, 64, 64)``.

        Parameters
        ----------
        clips : torch.Tensor of shape (N, T, C, 64, 64)
            Face clips, pixel values in [0, 255] (see :meth:`encode`).

        Returns
        -------
        dict of str to torch.Tensor
            The entries of :meth:`pool_time` (``"logits"``, ``"frame_logits"``,
            ``"temporal_weights"``) and ``"attention_maps"`` ``(N, T,
            n_heads, h, w)``, the spatial maps.
        """
        frame_out = self.frames(self.encode(clips))
        video = self.pool_time(frame_out)
        return {**video, "attention_maps": frame_out["maps"]}

    def export_metadata(self) -> dict[str, Any]:
        """What an exported model records about the network's structure.

        Returns
        -------
        dict
            JSON-serialisable: the spatial and temporal poolings'
            :meth:`export_metadata
            <sk_emotion.nets.spatial.SpatialPooling.export_metadata>` entries
            and ``feature_stage``.
        """
        return {**self.spatial.export_metadata(), **self.temporal.export_metadata(),
                "feature_stage": int(self.feature_stage)}
