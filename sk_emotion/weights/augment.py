"""Training-time augmentation of 48x48 FER faces into 64x64 network inputs.

The augmentations imitate what the extractor hands the network on real video:
the aligner's similarity jitter around the FER2013 template (rotation, scale,
shift), mirror images, exposure (brightness, contrast, gamma), focus and
compression (blur, JPEG), sensor noise, and occlusions such as a hand over the
mouth.  Everything but JPEG runs batched in torch, so augmenting costs a small
part of a training step on two cores.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["Augmentation", "augment_batch", "resize_faces"]


@dataclass(frozen=True)
class Augmentation:
    """Strength of each augmentation; ``Augmentation(enabled=False)`` is the identity.

    Parameters
    ----------
    rotation_deg : float
        Standard deviation of the rotation (clipped at twice it).
    scale : float
        Largest relative change of scale.
    shift : float
        Largest shift, as a fraction of the side.
    flip : float
        Probability of a mirror image.
    brightness, contrast, gamma : float
        Largest brightness offset (fraction of the range), contrast factor
        change, and standard deviation of the log-gamma.
    blur : float
        Probability of a Gaussian blur (sigma 0.3-1.3 pixels of the 64 side).
    jpeg : float
        Probability of a JPEG round trip at quality 20-80.
    noise : float
        Largest standard deviation of added Gaussian noise, in grey levels.
    occlusion : float
        Probability of an occluding rectangle (half of them on the lower face).
    enabled : bool
        False turns every augmentation off.
    """

    rotation_deg: float = 10.0
    scale: float = 0.12
    shift: float = 0.08
    flip: float = 0.5
    brightness: float = 0.2
    contrast: float = 0.35
    gamma: float = 0.25
    blur: float = 0.25
    jpeg: float = 0.2
    noise: float = 6.0
    occlusion: float = 0.25
    enabled: bool = True


def _affine(n: int, aug: Augmentation, gen: torch.Generator) -> torch.Tensor:
    """Batch of 2x3 sampling matrices (output -> input coordinates, in [-1, 1])."""
    def uniform(low: float, high: float) -> torch.Tensor:
        return low + (high - low) * torch.rand(n, generator=gen)

    angle = (torch.randn(n, generator=gen) * aug.rotation_deg).clamp(-2 * aug.rotation_deg,
                                                                      2 * aug.rotation_deg)
    angle = torch.deg2rad(angle)
    scale = uniform(1 - aug.scale, 1 + aug.scale)
    flip = torch.where(torch.rand(n, generator=gen) < aug.flip, -1.0, 1.0)
    tx, ty = uniform(-aug.shift, aug.shift) * 2, uniform(-aug.shift, aug.shift) * 2
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos * flip, -sin, tx], 1), torch.stack([sin * flip, cos, ty], 1)], 1)
    return theta


def resize_faces(faces: np.ndarray | torch.Tensor, size: int = 64) -> torch.Tensor:
    """Bilinear resize of ``(N, H, W)`` uint8 faces to ``(N, 1, size, size)`` float 0-255.

    Parameters
    ----------
    faces : array-like of shape (N, H, W)
        Gray faces, 0-255.
    size : int, default=64
        Output side.

    Returns
    -------
    torch.Tensor of shape (N, 1, size, size)
        Float32 pixels in 0-255 (the identity of :func:`augment_batch`).
    """
    x = torch.as_tensor(np.asarray(faces), dtype=torch.float32).unsqueeze(1)
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)


def _blur(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    taps = torch.arange(-3, 4, dtype=torch.float32)
    kernel = torch.exp(-(taps[None] ** 2) / (2 * sigma[:, None] ** 2))
    kernel = kernel / kernel.sum(1, keepdim=True)                      # (n, 7)
    n = x.shape[0]
    y = x.reshape(1, n, *x.shape[-2:])
    y = F.conv2d(F.pad(y, (3, 3, 0, 0), mode="replicate"), kernel[:, None, None, :], groups=n)
    y = F.conv2d(F.pad(y, (0, 0, 3, 3), mode="replicate"), kernel[:, None, :, None], groups=n)
    return y.reshape_as(x)


def _jpeg(x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    import cv2

    out = []
    for face in x[:, 0].round().clamp(0, 255).to(torch.uint8).numpy():
        quality = int(rng.integers(20, 81))
        ok, buffer = cv2.imencode(".jpg", face, [cv2.IMWRITE_JPEG_QUALITY, quality])
        out.append(cv2.imdecode(buffer, cv2.IMREAD_GRAYSCALE) if ok else face)
    return torch.from_numpy(np.stack(out)).float().unsqueeze(1)


def augment_batch(faces: np.ndarray, aug: Augmentation, gen: torch.Generator,
                  rng: np.random.Generator, size: int = 64) -> torch.Tensor:
    """Augmented ``(N, 1, size, size)`` float faces in 0-255 from ``(N, 48, 48)`` uint8 ones.

    Parameters
    ----------
    faces : numpy.ndarray of shape (N, H, W), uint8
        Gray faces.
    aug : Augmentation
        What to apply.
    gen : torch.Generator
        Source of the batched random draws.
    rng : numpy.random.Generator
        Source of the per-image JPEG qualities.
    size : int, default=64
        Output side.

    Returns
    -------
    torch.Tensor of shape (N, 1, size, size)
        Float32 pixels in 0-255.
    """
    if not aug.enabled:
        return resize_faces(faces, size)
    x = torch.as_tensor(faces, dtype=torch.float32).unsqueeze(1)
    n = x.shape[0]
    grid = F.affine_grid(_affine(n, aug, gen), [n, 1, size, size], align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)

    u = x / 255.0
    gamma = torch.exp(torch.randn(n, 1, 1, 1, generator=gen) * aug.gamma)
    u = u.clamp(1e-4, 1) ** gamma
    mean = u.mean(dim=(2, 3), keepdim=True)
    contrast = 1 + aug.contrast * (2 * torch.rand(n, 1, 1, 1, generator=gen) - 1)
    brightness = aug.brightness * (2 * torch.rand(n, 1, 1, 1, generator=gen) - 1)
    u = (u - mean) * contrast + mean + brightness
    x = (u.clamp(0, 1) * 255.0)

    blur = torch.rand(n, generator=gen) < aug.blur
    if blur.any():
        sigma = 0.3 + torch.rand(int(blur.sum()), generator=gen)
        x[blur] = _blur(x[blur], sigma)
    occlude = torch.nonzero(torch.rand(n, generator=gen) < aug.occlusion).flatten()
    for i in occlude.tolist():
        h = int(size * (0.15 + 0.3 * float(torch.rand(1, generator=gen))))
        w = int(size * (0.2 + 0.35 * float(torch.rand(1, generator=gen))))
        lower = float(torch.rand(1, generator=gen)) < 0.5     # a hand over the mouth or chin
        top_low = size // 2 if lower else 0
        top = top_low + int(float(torch.rand(1, generator=gen)) * max(1, size - h - top_low))
        left = int(float(torch.rand(1, generator=gen)) * max(1, size - w))
        x[i, :, top:top + h, left:left + w] = 255.0 * float(torch.rand(1, generator=gen))
    noise = torch.rand(n, 1, 1, 1, generator=gen) * aug.noise
    x = (x + noise * torch.randn(x.shape, generator=gen)).clamp(0, 255)
    jpeg = np.flatnonzero(rng.random(n) < aug.jpeg)
    if len(jpeg):
        x[jpeg] = _jpeg(x[jpeg], rng)
    return x
