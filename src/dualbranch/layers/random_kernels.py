"""Random dilated convolution kernels and their pooled features, after ROCKET.

ROCKET (Dempster, Petitjean, Webb, "ROCKET: Exceptionally fast and accurate time series classification
using random convolutional kernels", Data Mining and Knowledge Discovery 34, 2020, arXiv:1910.13051)
draws many kernels at random — length 7, 9 or 11; weights N(0, 1), centred; bias U(-1, 1); dilation
⌊2^U(0, A)⌋ with A = log2((T − 1) / (length − 1)), so a kernel spans at most the series; zero padding
on half of them; for multivariate series a random subset of 2^U(0, log2(min(C, length) + 1)) channels
(the multivariate variant in sktime/aeon) — and pools each kernel's output over time into two
numbers: the proportion of positive values (PPV) and the maximum. The kernels are never trained.
MultiRocket (Tan, Dempster, Bergmeir, Webb, DMKD 2022, arXiv:2102.00457) pools each output into more
numbers; one of them, the longest stretch of positive values (LSPV), is offered here (``pools``), as a
share of the outputs read (series of unequal lengths then compare): it reads how long a pattern lasts,
which PPV and the maximum do not (``benchmarks/series_kernel_pooling.py`` measures what it adds).

Here the kernels are fixed buffers drawn from their own generator (``seed``), grouped by (length,
dilation, padding) so that each group is one ``conv1d``. Series of unequal lengths arrive zero-padded
at the end; each example's real length is where its last non-zero sample is, and the pooling reads
only outputs whose receptive field starts inside it (a padded kernel's zeros past the end are then
the same zero padding ROCKET gives a series of that length).

Shape legend: B batch, C channels, T samples, K kernels, P pools, F = P·K features.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError

__all__ = ["POOLS", "RandomDilatedKernels", "longest_stretch", "real_lengths", "traced"]

KERNEL_LENGTHS = (7, 9, 11)
POOLS = ("ppv", "max", "lspv")  # the pools a kernel's output can be read by; ROCKET's are the first two


def real_lengths(x: torch.Tensor) -> torch.Tensor:
    """(B, C, T) zero-padded series -> (B,) samples up to the last one that is non-zero in any channel
    (at least 1)."""
    nonzero = (x != 0).any(dim=1)  # (B, T)
    position = torch.arange(1, x.shape[-1] + 1, device=x.device)
    return (nonzero * position).amax(dim=1).clamp(min=1)


def traced() -> bool:
    """Whether the forward pass is being traced (TorchScript, torch.compile, torch.export and the ONNX
    exporter on it), where only operations every backend converts may run."""
    exporting = getattr(torch.compiler, "is_exporting", None)  # torch 2.7+; before it, export compiles
    return torch.jit.is_tracing() or torch.compiler.is_compiling() or (exporting is not None and exporting())


def longest_stretch(positive: torch.Tensor) -> torch.Tensor:
    """(B, K, T) bool -> (B, K) int: the longest run of True along T.

    Eagerly: a stretch at t began after the last False at or before t, the running maximum of the False
    positions (over the narrowest integers that hold them: a scan over int16 is about 4 times faster than
    over int64). Traced: ONNX and OpenVINO have no running maximum, so the run ending at each t is built
    by doubling instead (a Hillis–Steele scan: after the step of width s, each t holds its run up to
    2s long), about 3 times slower."""
    length = positive.shape[-1]
    if not traced():
        index = torch.arange(length, device=positive.device, dtype=torch.int16 if length < 2**15 else torch.int32)
        last_false = torch.where(positive, torch.tensor(-1, dtype=index.dtype), index).cummax(dim=2).values
        return (index - last_false).amax(dim=2)
    run, unbroken = positive.to(torch.int32), positive  # run ending at t; whether it spans the whole window
    step = 1
    while step < length:
        run = run + unbroken * nn.functional.pad(run[..., :-step], (step, 0))  # (B, K, T)
        unbroken = unbroken & nn.functional.pad(unbroken[..., :-step], (step, 0))
        step *= 2
    return run.amax(dim=2)


class RandomDilatedKernels(nn.Module):
    """``num_kernels`` ROCKET kernels over (B, C, T) series -> (B, P·K) features, one block of K per pool
    in the order of ``pools`` (ROCKET's: [PPV of every kernel, then the max of every kernel]); see the
    module docstring. No parameters: every kernel is a buffer.

    Args:
        n_chans: C; n_times: T, the longest series.
        num_kernels: K (ROCKET's default is 10,000).
        seed: the draw of the kernels (independent of the global torch seed).
        pools: which of :data:`POOLS` read each kernel's output, in this order (ROCKET's: ppv, max).
        max_positions: each kernel is read at most about this many times along the series: a longer
            series is read every ``stride = ⌈T / max_positions⌉`` samples (PPV is a proportion, which a
            regular sample of the positions estimates; the cost of a long series stays that of a short
            one). None: every position, as ROCKET.
    """

    def __init__(
        self,
        n_chans: int,
        n_times: int,
        num_kernels: int = 10000,
        seed: int = 0,
        max_positions: int | None = None,
        pools: tuple[str, ...] = ("ppv", "max"),
    ) -> None:
        super().__init__()
        if not pools or any(pool not in POOLS for pool in pools) or len(set(pools)) < len(pools):
            raise ConfigError(f"pools must be distinct names among {POOLS}, got {pools}.")
        self.n_chans, self.n_times, self.num_kernels, self.pools = n_chans, n_times, num_kernels, tuple(pools)
        self.stride = 1 if max_positions is None else max(1, math.ceil(n_times / max_positions))
        self.num_features = len(self.pools) * num_kernels
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
        """(B, C, T) -> (B, P·K); ``lengths`` (B,) real samples per example (default: from trailing zeros)."""
        lengths = real_lengths(x) if lengths is None else lengths
        blocks: dict[str, list[torch.Tensor]] = {pool: [] for pool in self.pools}
        for g, (length, dilation, padding) in enumerate(self.layout):
            weight, bias = getattr(self, f"weight_{g}"), getattr(self, f"bias_{g}")
            if (length - 1) * dilation >= x.shape[-1] + 2 * padding:  # longer than any series here: no output
                for pooled in blocks.values():
                    pooled.append(x.new_zeros(x.shape[0], len(bias)))
                continue
            out = nn.functional.conv1d(x, weight, bias, self.stride, padding, dilation)  # (B, K_g, T_g)
            # output t is centred on sample t (padded kernels: real up to the series' last sample, as
            # ROCKET's zero padding of a series that long) or starts at it (unpadded: real while it ends inside)
            last = lengths - 1 if padding else lengths - 1 - (length - 1) * dilation  # (B,)
            for pool, value in self._pooled(out, last).items():
                blocks[pool].append(value)
        return torch.cat([torch.cat(blocks[pool], dim=1) for pool in self.pools], dim=1).to(x.dtype)

    def _pooled(self, out: torch.Tensor, last: torch.Tensor) -> dict[str, torch.Tensor]:
        """Kernel outputs (B, K_g, T_g) read up to position ``last`` (B,) -> each pool's (B, K_g)."""
        position = torch.arange(out.shape[-1], device=out.device) * self.stride  # (T_g,)
        valid = position <= last[:, None]  # (B, T_g)
        count = valid.sum(dim=1, keepdim=True)  # (B, 1)
        real = valid[:, None, :]  # (B, 1, T_g)
        positive = (out > 0) & real  # (B, K_g, T_g)
        pooled = {}
        if "ppv" in self.pools:
            pooled["ppv"] = positive.sum(dim=2) / count.clamp(min=1)
        if "max" in self.pools:
            top = torch.where(real, out, float("-inf")).amax(dim=2)  # (B, K_g)
            pooled["max"] = torch.where(count > 0, top, torch.zeros_like(top))
        if "lspv" in self.pools:
            pooled["lspv"] = longest_stretch(positive) / count.clamp(min=1)
        return pooled
