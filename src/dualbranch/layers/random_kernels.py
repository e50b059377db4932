"""Random dilated convolution kernels and their pooled features, after ROCKET.

ROCKET (Dempster, Petitjean, Webb, "ROCKET: Exceptionally fast and accurate time series classification
using random convolutional kernels", Data Mining and Knowledge Discovery 34, 2020, arXiv:1910.13051)
draws many kernels at random — length 7, 9 or 11; weights N(0, 1), centred; bias U(-1, 1); dilation
⌊2^U(0, A)⌋ with A = log2((T − 1) / (length − 1)), so a kernel spans at most the series; zero padding
on half of them; for multivariate series a random subset of 2^U(0, log2(min(C, length) + 1)) channels
(the multivariate variant in sktime/aeon) — and pools each kernel's output over time into two
numbers: the proportion of positive values (PPV) and the maximum. The kernels are never trained.

Here the kernels are fixed buffers drawn from their own generator (``seed``), grouped by (length,
dilation, padding) so that each group is one ``conv1d``. Series of unequal lengths arrive zero-padded
at the end; each example's real length is where its last non-zero sample is, and the pooling reads
only outputs whose receptive field starts inside it (a padded kernel's zeros past the end are then
the same zero padding ROCKET gives a series of that length).

Shape legend: B batch, C channels, T samples, K kernels, F = 2K features.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

__all__ = ["RandomDilatedKernels", "real_lengths"]

KERNEL_LENGTHS = (7, 9, 11)


def real_lengths(x: torch.Tensor) -> torch.Tensor:
    """(B, C, T) zero-padded series -> (B,) samples up to the last one that is non-zero in any channel
    (at least 1)."""
    nonzero = (x != 0).any(dim=1)  # (B, T)
    position = torch.arange(1, x.shape[-1] + 1, device=x.device)
    return (nonzero * position).amax(dim=1).clamp(min=1)


class RandomDilatedKernels(nn.Module):
    """``num_kernels`` ROCKET kernels over (B, C, T) series -> (B, 2K) features [PPV of every kernel,
    then the max of every kernel]; see the module docstring. No parameters: every kernel is a buffer.

    Args:
        n_chans: C; n_times: T, the longest series.
        num_kernels: K (ROCKET's default is 10,000).
        seed: the draw of the kernels (independent of the global torch seed).
        max_positions: each kernel is read at most about this many times along the series: a longer
            series is read every ``stride = ⌈T / max_positions⌉`` samples (PPV is a proportion, which a
            regular sample of the positions estimates; the cost of a long series stays that of a short
            one). None: every position, as ROCKET.
    """

    def __init__(
        self, n_chans: int, n_times: int, num_kernels: int = 10000, seed: int = 0, max_positions: int | None = None
    ) -> None:
        super().__init__()
        self.n_chans, self.n_times, self.num_kernels = n_chans, n_times, num_kernels
        self.stride = 1 if max_positions is None else max(1, math.ceil(n_times / max_positions))
        self.num_features = 2 * num_kernels
        rng = np.random.default_rng(seed)
        # every kernel's draws at once: length, channels, weights, bias, dilation, padding
        sizes = np.asarray(KERNEL_LENGTHS)[rng.integers(len(KERNEL_LENGTHS), size=num_kernels)]  # (K,)
        used = (2 ** rng.uniform(0, np.log2(np.minimum(n_chans, sizes) + 1))).astype(int).clip(1, n_chans)  # (K,)
        # a random subset of `used` channels: the first `used` of a random order of the channels
        order = np.argsort(rng.random((num_kernels, n_chans)), axis=1)  # (K, C)
        chosen = np.zeros((num_kernels, n_chans), dtype=bool)
        np.put_along_axis(chosen, order, np.arange(n_chans)[None, :] < used[:, None], axis=1)
        longest = max(KERNEL_LENGTHS)
        inside = chosen[:, :, None] & (np.arange(longest)[None, None, :] < sizes[:, None, None])  # (K, C, 11)
        weights = rng.normal(0, 1, (num_kernels, n_chans, longest)) * inside
        weights -= inside * (weights.sum(axis=(1, 2)) / inside.sum(axis=(1, 2)))[:, None, None]  # centred
        biases = rng.uniform(-1, 1, num_kernels)
        span = np.log2(np.maximum(n_times - 1, 1) / (sizes - 1)).clip(min=0)  # A = log2((T − 1) / (length − 1))
        dilations = (2 ** rng.uniform(0, span)).astype(int)
        paddings = np.where(rng.integers(2, size=num_kernels) == 1, (sizes - 1) * dilations // 2, 0)
        keys = np.stack([sizes, dilations, paddings], axis=1)  # (K, 3)
        self.layout = [tuple(int(v) for v in key) for key in np.unique(keys, axis=0)]  # sorted; feature order
        for g, key in enumerate(self.layout):
            members = np.flatnonzero((keys == key).all(axis=1))
            group = weights[members][:, :, : key[0]].astype(np.float32)  # (K_g, C, length)
            self.register_buffer(f"weight_{g}", torch.from_numpy(np.ascontiguousarray(group)))
            self.register_buffer(f"bias_{g}", torch.from_numpy(biases[members].astype(np.float32)))

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """(B, C, T) -> (B, 2K); ``lengths`` (B,) real samples per example (default: from trailing zeros)."""
        lengths = real_lengths(x) if lengths is None else lengths
        ppv, peak = [], []
        for g, (length, dilation, padding) in enumerate(self.layout):
            weight, bias = getattr(self, f"weight_{g}"), getattr(self, f"bias_{g}")
            if (length - 1) * dilation >= x.shape[-1] + 2 * padding:  # longer than any series here: no output
                ppv.append(x.new_zeros(x.shape[0], len(bias)))
                peak.append(x.new_zeros(x.shape[0], len(bias)))
                continue
            out = nn.functional.conv1d(x, weight, bias, self.stride, padding, dilation)  # (B, K_g, T_g)
            # output t is centred on sample t (padded kernels: real up to the series' last sample, as
            # ROCKET's zero padding of a series that long) or starts at it (unpadded: real while it ends inside)
            last = lengths - 1 if padding else lengths - 1 - (length - 1) * dilation  # (B,)
            position = torch.arange(out.shape[-1], device=x.device) * self.stride  # (T_g,)
            valid = position <= last[:, None]  # (B, T_g)
            count = valid.sum(dim=1, keepdim=True)  # (B, 1)
            real = valid[:, None, :]  # (B, 1, T_g)
            ppv.append(((out > 0) & real).sum(dim=2) / count.clamp(min=1))
            top = out.masked_fill(~real, float("-inf")).amax(dim=2)  # (B, K_g)
            peak.append(torch.where(count > 0, top, torch.zeros_like(top)))
        return torch.cat([*ppv, *peak], dim=1).to(x.dtype)
