"""Mixup (Zhang et al., 2018) and CutMix (Yun et al., 2019) on a batch, with label-smoothed soft targets.

Shape legend: B batch, C channels, H×W image, K classes.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["mix_batch", "smooth_targets"]


def smooth_targets(labels: torch.Tensor, num_classes: int, smoothing: float) -> torch.Tensor:
    """One-hot (B,) -> (B, K) with ``smoothing`` spread evenly over all classes."""
    off = smoothing / num_classes
    targets = torch.full((len(labels), num_classes), off, device=labels.device)
    return targets.scatter_(1, labels.unsqueeze(1), 1.0 - smoothing + off)


def _beta(alpha: float, generator: torch.Generator | None) -> float:
    """One draw of Beta(α, α), reproducible from ``generator`` (the global torch RNG when None).

    torch's public Beta and Gamma samplers (``torch.distributions``) take no generator, so the draw is
    numpy's ``Generator.beta`` seeded by an integer taken from the torch generator: the same generator
    state gives the same λ, and the generator advances as for any other draw.
    """
    seed = int(torch.randint(0, 2**63 - 1, (), generator=generator).item())
    return float(np.random.default_rng(seed).beta(alpha, alpha))


def mix_batch(
    x: torch.Tensor,
    labels: torch.Tensor,
    num_classes: int,
    smoothing: float = 0.0,
    mixup_alpha: float = 0.0,
    cutmix_alpha: float = 0.0,
    mix_prob: float = 1.0,
    switch_prob: float = 0.5,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mix each sample with the batch reversed (one λ per batch, as in DeiT); return (x, soft targets (B, K)).

    With both alphas on, CutMix is chosen with probability ``switch_prob``. CutMix's λ is corrected to
    the exact pasted area.
    """
    targets = smooth_targets(labels, num_classes, smoothing)

    def draw() -> float:
        return torch.rand((), generator=generator).item()

    if (mixup_alpha <= 0 and cutmix_alpha <= 0) or draw() >= mix_prob:
        return x, targets
    use_cutmix = cutmix_alpha > 0 and (mixup_alpha <= 0 or draw() < switch_prob)
    alpha = cutmix_alpha if use_cutmix else mixup_alpha
    lam = _beta(alpha, generator)
    flipped = x.flip(0)
    if use_cutmix:
        height, width = x.shape[-2:]
        cut_h, cut_w = int(height * (1 - lam) ** 0.5), int(width * (1 - lam) ** 0.5)
        cy, cx = int(draw() * height), int(draw() * width)
        top, bottom = max(cy - cut_h // 2, 0), min(cy + cut_h // 2, height)
        left, right = max(cx - cut_w // 2, 0), min(cx + cut_w // 2, width)
        x = x.clone()
        x[..., top:bottom, left:right] = flipped[..., top:bottom, left:right]
        lam = 1 - (bottom - top) * (right - left) / (height * width)
    else:
        x = x * lam + flipped * (1 - lam)
    return x, targets * lam + targets.flip(0) * (1 - lam)
