"""Batched image augmentation in plain PyTorch (no torchvision), applied to whole batches.

Working on the batch, with one random draw per sample, keeps augmentation cheap next to the model on
a CPU, where a per-image Python pipeline would dominate the step time.

    * random translation (the pad-and-crop of the DeiT/CIFAR recipes) and horizontal flips
    * RandAugment-style policy (Cubuk et al., 2020): per sample, ``num_ops`` operations drawn from a
      fixed list, at magnitude ``magnitude`` out of 10 (geometric ops are merged into one affine warp)
    * random erasing (Zhong et al., 2020)

Shape legend: B batch, C channels, H×W image. Inputs are float images in [0, 1].
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = ["AugmentConfig", "augment_batch", "random_erasing"]

# The operations of the policy. Geometric ones (rotate, shear, translate) are one affine warp.
COLOR_OPS = ("identity", "brightness", "contrast", "solarize", "posterize", "autocontrast", "sharpness")
GEOMETRIC_OPS = ("rotate", "shear_x", "shear_y", "translate_x", "translate_y")
ALL_OPS = COLOR_OPS + GEOMETRIC_OPS


@dataclass(frozen=True)
class AugmentConfig:
    """Switches for :func:`augment_batch`; every part can be turned off (0 / False)."""

    translate: int = 0  # pixels, like pad-by-t then random crop
    hflip: float = 0.0  # probability
    randaug_ops: int = 0  # operations per sample (0: off)
    randaug_magnitude: float = 9.0  # 0..10
    erase_prob: float = 0.0


def _per_sample(batch: int, generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    return torch.rand(batch, generator=generator, device=device)


def _affine(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _blend(a: torch.Tensor, b: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    # factor (B,) -> (B, 1, 1, 1); factor 1 keeps a, 0 gives b
    return (b + (a - b) * factor.view(-1, 1, 1, 1)).clamp(0, 1)


def _color_op(name: str, x: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
    """Apply one colour operation to every sample of x (B, C, H, W); level (B,) in [-1, 1]."""
    if name == "brightness":
        return _blend(x, torch.zeros_like(x), 1 + 0.9 * level)
    if name == "contrast":
        mean = x.mean(dim=(1, 2, 3), keepdim=True).expand_as(x)
        return _blend(x, mean, 1 + 0.9 * level)
    if name == "solarize":
        threshold = (1 - level.abs()).view(-1, 1, 1, 1)
        return torch.where(x >= threshold, 1 - x, x)
    if name == "posterize":
        bits = (8 - (level.abs() * 4).round()).view(-1, 1, 1, 1)
        levels = 2**bits
        return torch.floor(x * (levels - 1) + 0.5) / (levels - 1)
    if name == "autocontrast":
        low = x.amin(dim=(2, 3), keepdim=True)
        high = x.amax(dim=(2, 3), keepdim=True)
        return ((x - low) / (high - low).clamp_min(1e-3)).clamp(0, 1)
    if name == "sharpness":
        kernel = torch.tensor([[1, 1, 1], [1, 5, 1], [1, 1, 1]], dtype=x.dtype, device=x.device) / 13
        channels = x.shape[1]
        blurred = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), kernel.expand(channels, 1, 3, 3), groups=channels)
        return _blend(x, blurred, 1 + 0.9 * level)
    return x  # identity


def _geometry(ops: list[str], level: dict[str, torch.Tensor], batch: int, x: torch.Tensor) -> torch.Tensor:
    """One (B, 2, 3) affine matrix combining the chosen rotate / shear / translate per sample."""
    zeros = torch.zeros(batch, dtype=x.dtype, device=x.device)
    angle = level["rotate"] * math.radians(30) if "rotate" in ops else zeros
    shear_x = level["shear_x"] * 0.3 if "shear_x" in ops else zeros
    shear_y = level["shear_y"] * 0.3 if "shear_y" in ops else zeros
    shift_x = level["translate_x"] * 0.45 * 2 if "translate_x" in ops else zeros  # grid units: 2 = image width
    shift_y = level["translate_y"] * 0.45 * 2 if "translate_y" in ops else zeros
    cos, sin = torch.cos(angle), torch.sin(angle)
    return torch.stack(
        [
            torch.stack([cos + shear_x * sin, -sin + shear_x * cos, shift_x], dim=1),
            torch.stack([sin + shear_y * cos, cos - shear_y * sin, shift_y], dim=1),
        ],
        dim=1,
    )


def rand_augment(
    x: torch.Tensor, num_ops: int, magnitude: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """RandAugment-style policy on a batch (B, C, H, W): per sample, ``num_ops`` random operations.

    Each operation is applied with a random sign at strength ``magnitude / 10``; samples that did not
    draw an operation pass through it unchanged.
    """
    batch, device = x.shape[0], x.device
    chosen = torch.randint(len(ALL_OPS), (batch, num_ops), generator=generator, device=device)
    strength = magnitude / 10
    sign = torch.where(_per_sample(batch, generator, device) < 0.5, -1.0, 1.0).to(x.dtype)
    levels = {}
    for op_index, name in enumerate(ALL_OPS):
        picked = (chosen == op_index).any(dim=1)  # (B,)
        levels[name] = picked.to(x.dtype) * sign * strength
    geometric = [name for name in GEOMETRIC_OPS if levels[name].abs().sum() > 0]
    if geometric:
        x = _affine(x, _geometry(geometric, levels, batch, x))
    for name in COLOR_OPS[1:]:
        picked = levels[name] != 0
        if picked.any():
            x = torch.where(picked.view(-1, 1, 1, 1), _color_op(name, x, levels[name]), x)
    return x


def random_erasing(
    x: torch.Tensor, prob: float, generator: torch.Generator | None = None, value: float = 0.0
) -> torch.Tensor:
    """Erase one random rectangle (2–33% of the area, aspect 0.3–3.3) per sample with probability ``prob``."""
    batch, _, height, width = x.shape
    device = x.device
    area = (0.02 + 0.31 * _per_sample(batch, generator, device)) * height * width
    log_aspect = math.log(0.3) + (math.log(3.3) - math.log(0.3)) * _per_sample(batch, generator, device)
    aspect = torch.exp(log_aspect)
    h = (area * aspect).sqrt().round().clamp(1, height)
    w = (area / aspect).sqrt().round().clamp(1, width)
    top = ((height - h + 1) * _per_sample(batch, generator, device)).floor()
    left = ((width - w + 1) * _per_sample(batch, generator, device)).floor()
    rows = torch.arange(height, device=device).view(1, height, 1)
    cols = torch.arange(width, device=device).view(1, 1, width)
    box = (rows >= top.view(-1, 1, 1)) & (rows < (top + h).view(-1, 1, 1))
    box = box & (cols >= left.view(-1, 1, 1)) & (cols < (left + w).view(-1, 1, 1))  # (B, H, W)
    box = box & (_per_sample(batch, generator, device) < prob).view(-1, 1, 1)
    return x.masked_fill(box.unsqueeze(1), value)


def augment_batch(x: torch.Tensor, config: AugmentConfig, generator: torch.Generator | None = None) -> torch.Tensor:
    """Apply the configured augmentations to a batch of [0, 1] images (B, C, H, W)."""
    batch, _, height, width = x.shape
    device = x.device
    if config.translate > 0:
        # pad by t and crop back at a random offset = shift by up to ±t pixels, filled with zeros
        shift = torch.randint(
            -config.translate, config.translate + 1, (batch, 2), generator=generator, device=device
        ).to(x.dtype)
        theta = torch.zeros(batch, 2, 3, dtype=x.dtype, device=device)
        theta[:, 0, 0] = theta[:, 1, 1] = 1
        theta[:, 0, 2] = 2 * shift[:, 0] / width
        theta[:, 1, 2] = 2 * shift[:, 1] / height
        x = _affine(x, theta)
    if config.hflip > 0:
        flip = (_per_sample(batch, generator, device) < config.hflip).view(-1, 1, 1, 1)
        x = torch.where(flip, x.flip(-1), x)
    if config.randaug_ops > 0:
        x = rand_augment(x, config.randaug_ops, config.randaug_magnitude, generator)
    if config.erase_prob > 0:
        x = random_erasing(x, config.erase_prob, generator)
    return x
