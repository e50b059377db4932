"""Autoformer's auto-correlation mechanism and its seasonal LayerNorm (Wu et al., NeurIPS 2021, section 3.2).

Haixu Wu, Jiehui Xu, Jianmin Wang, Mingsheng Long. "Autoformer: Decomposition Transformers with
Auto-Correlation for Long-Term Series Forecasting." NeurIPS 2021, arXiv:2106.13008. Learnt from the
paper and the official code (github.com/thuml/Autoformer and Time-Series-Library, MIT), written here.

Period-based dependencies: for every head and channel, the lagged correlation of queries and keys

    R(τ) = Σ_t q(t + τ) · k(t)        (indices modulo L; τ = 0 .. L − 1)

is computed for all lags at once with the FFT (Wiener–Khinchin: R = IFFT(FFT(q) · conj(FFT(k)))).
Time-delay aggregation: the k = ⌊c · ln L⌋ lags with the largest correlation averaged over heads and
channels are kept, their correlations are turned into weights by a softmax, and the output is the
weighted sum of the values rolled by each lag, v(t + τ). As the official code: in training the lags
are chosen once per batch (from the batch-mean correlation, each window keeping its own weights at
them); in evaluation each window chooses its own. Keys and values shorter than the queries are padded
with zeros, longer ones cut (the decoder's cross-correlation with the encoder).

The official code's ``irfft`` takes its length from the spectrum (L − 1 steps for an odd L); here it
is given L, the same for the even lengths of the published settings.

Shape legend
    B batch   L steps (queries)   S steps (keys)   H heads   E head width   D model width (H·E)   k lags
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ...errors import ConfigError

__all__ = ["AutoCorrelation", "AutoCorrelationLayer", "SeasonalLayerNorm", "lagged_correlation", "top_lags"]


def lagged_correlation(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """R(τ) = Σ_t q(t + τ) k(t), circular, over the last dimension: (…, L) and (…, L) -> (…, L), by FFT."""
    length = q.shape[-1]
    spectrum = torch.fft.rfft(q, dim=-1) * torch.conj(torch.fft.rfft(k, dim=-1))
    return torch.fft.irfft(spectrum, n=length, dim=-1)


def top_lags(correlation: torch.Tensor, n_lags: int, shared: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Lags and weights (B, k) from the mean correlation over heads and channels of (B, H, E, L):
    the k largest lags of each window, or (``shared``) of the batch mean; weights: softmax of those
    windows' mean correlations at the lags."""
    mean = correlation.mean(dim=(1, 2))  # (B, L)
    if shared:
        lags = mean.mean(dim=0).topk(n_lags).indices  # (k,)
        lags = lags[None].expand(mean.shape[0], -1)  # (B, k)
        values = mean.gather(1, lags)
    else:
        values, lags = mean.topk(n_lags, dim=-1)  # (B, k)
    return lags, torch.softmax(values, dim=-1)


def aggregate_delays(values: torch.Tensor, lags: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Σ_i weights[:, i] · values rolled by lags[:, i]: (B, H, E, L), (B, k), (B, k) -> (B, H, E, L);
    the rolled series is v(t + τ) (modulo L)."""
    length = values.shape[-1]
    doubled = torch.cat([values, values], dim=-1)  # (B, H, E, 2L): v(t + τ) without a modulo
    steps = torch.arange(length, device=values.device)
    out = torch.zeros_like(values)
    for i in range(lags.shape[1]):
        index = (steps[None] + lags[:, i : i + 1])[:, None, None].expand_as(values)  # (B, L) -> (B, H, E, L)
        out = out + doubled.gather(-1, index) * weights[:, i, None, None, None]
    return out


class AutoCorrelation(nn.Module):
    """Auto-correlation core: q (B, L, H, E), k (B, S, H, E), v (B, S, H, E) -> (B, L, H, E).

    ``factor``: c of k = ⌊c · ln L⌋ (Autoformer's ETT scripts: 3). The official module's mask flag and
    dropout are never applied there, so they are not built here.
    """

    def __init__(self, factor: int) -> None:
        super().__init__()
        if factor < 1:
            raise ConfigError(f"factor must be ≥ 1, got {factor}.")
        self.factor = factor

    def n_lags(self, length: int) -> int:
        """k = ⌊c · ln L⌋, at least 1 and at most L."""
        return min(length, max(1, int(self.factor * math.log(length))))

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        length, keys = q.shape[1], k.shape[1]
        if length > keys:
            pad = q.new_zeros(q.shape[0], length - keys, *q.shape[2:])  # (B, L − S, H, E)
            k, v = torch.cat([k, pad], dim=1), torch.cat([v, pad], dim=1)
        else:
            k, v = k[:, :length], v[:, :length]
        # (B, L, H, E) -> (B, H, E, L): time last for the FFT and the rolls
        q, k, v = (t.permute(0, 2, 3, 1) for t in (q, k, v))
        correlation = lagged_correlation(q, k)  # (B, H, E, L)
        lags, weights = top_lags(correlation, self.n_lags(length), shared=self.training)
        return aggregate_delays(v, lags, weights).permute(0, 3, 1, 2)  # (B, H, E, L) -> (B, L, H, E)


class AutoCorrelationLayer(nn.Module):
    """Multi-head auto-correlation with the official projections (four D×D linear layers with bias):
    queries (B, L, D), keys/values (B, S, D) -> (B, L, D)."""

    def __init__(self, d_model: int, n_heads: int, factor: int) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ConfigError(f"d_model={d_model} is not divisible by n_heads={n_heads}.")
        self.heads = n_heads
        self.q, self.k = nn.Linear(d_model, d_model), nn.Linear(d_model, d_model)
        self.v, self.out = nn.Linear(d_model, d_model), nn.Linear(d_model, d_model)
        self.correlation = AutoCorrelation(factor)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        return x.unflatten(-1, (self.heads, -1))  # (B, L, D) -> (B, L, H, E)

    def forward(self, queries: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        q, k, v = self._heads(self.q(queries)), self._heads(self.k(keys)), self._heads(self.v(keys))
        return self.out(self.correlation(q, k, v).flatten(2))  # (B, L, H, E) -> (B, L, D)


class SeasonalLayerNorm(nn.Module):
    """Autoformer's LayerNorm for the seasonal part: LayerNorm over D, then each channel's mean over
    time subtracted; (B, L, D) -> (B, L, D). The subtraction cancels the LayerNorm's bias (its gradient
    is zero up to rounding); it is kept, as in the official code, so the weights and their count match."""

    def __init__(self, d_model: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        normed = self.norm(x)
        return normed - normed.mean(dim=1, keepdim=True)
