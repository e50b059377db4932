"""Training-time augmentation of signal batches (B, C, T): time shift, amplitude scaling, Gaussian jitter.

The usual label-preserving transforms for time-series classification (Um et al., "Data augmentation
of wearable sensor data for Parkinson's disease monitoring using convolutional neural networks",
ICMI 2017; Iwana & Uchida, "An empirical survey of data augmentation for time series classification
with neural networks", PLOS ONE 2021). All draws come from the ``generator`` passed in, so a step's
augmentation is reproducible (and resumes identically). Inputs are already standardised, so the
jitter std is in units of the channel's standard deviation.

Zero padding (the end of a shorter series under ``signal.length_policy: pad``) stays zero: the shift
fills what it vacates with zeros, scaling keeps zeros, and jitter is only added where a value is
non-zero (a real standardised sample is exactly 0.0 with probability zero).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["SignalAugment", "augment_signals"]


@dataclass(frozen=True)
class SignalAugment:
    """``shift``: largest time shift in samples (each trial moves by an integer in [-shift, shift]);
    ``scale``: std of the log of a per-trial, per-channel amplitude factor; ``jitter``: std of the
    added Gaussian noise. 0 turns each off."""

    shift: int = 0
    scale: float = 0.0
    jitter: float = 0.0

    @property
    def active(self) -> bool:
        return self.shift > 0 or self.scale > 0 or self.jitter > 0


def augment_signals(x: torch.Tensor, augment: SignalAugment, generator: torch.Generator) -> torch.Tensor:
    """(B, C, T) float -> (B, C, T) augmented copy; ``x`` itself is returned when nothing is on."""
    if not augment.active:
        return x
    batch, channels, length = x.shape
    device = x.device
    if augment.shift > 0:
        offsets = torch.randint(-augment.shift, augment.shift + 1, (batch, 1, 1), generator=generator, device=device)
        source = torch.arange(length, device=device).view(1, 1, length) - offsets  # out[t] = x[t - offset]
        inside = (source >= 0) & (source < length)
        x = x.gather(2, source.clamp(0, length - 1).expand(batch, channels, length)) * inside
    if augment.scale > 0:
        log_factor = torch.randn((batch, channels, 1), generator=generator, device=device) * augment.scale
        x = x * log_factor.exp()
    if augment.jitter > 0:
        noise = torch.randn(x.shape, generator=generator, device=device) * augment.jitter
        x = x + noise * (x != 0)
    return x
