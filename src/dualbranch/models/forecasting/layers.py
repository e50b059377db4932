"""Parts the forecasting models share: Transformer encoder layers, patching, positions, decomposition.

* :class:`EncoderLayer`: multi-head self-attention and a feed-forward network, pre-norm (as
  ``nn.TransformerEncoderLayer(norm_first=True)``, Gateformer's layers) or post-norm (iTransformer's
  layers), built from the library's :class:`~dualbranch.layers.attention.Attention` and
  :class:`~dualbranch.layers.mlp.Mlp`. The parameters are the same in number as PyTorch's layer and
  the reference code's (fused q/k/v instead of three projections; a width-1 convolution is a linear).
* :func:`sinusoid_positions`: the fixed sine/cosine positions of Vaswani et al. (2017), sines in the
  even and cosines in the odd channels.
* :class:`PatchEmbed`: a series cut into patches, each embedded linearly (no bias), plus positions.
* :class:`MovingAverage`: the moving-average trend of DLinear/Autoformer, edges padded by repetition.
* :class:`SeriesDecomposition`: Autoformer's series decomposition block, (seasonal, trend) with
  seasonal + trend = input.

Shape legend
    B batch   N tokens   D model width (d_model)   F feed-forward width (d_ff)
    S series (batch × variates)   L series length   P patch length   N_p patches
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ConfigError
from ...layers.attention import Attention
from ...layers.mlp import Mlp

__all__ = ["EncoderLayer", "MovingAverage", "PatchEmbed", "SeriesDecomposition", "count_patches", "sinusoid_positions"]


class EncoderLayer(nn.Module):
    """Self-attention then a feed-forward network, each with a residual; (B, N, D) -> (B, N, D).

    Pre-norm (``norm_first=True``): ``x + attn(norm1(x))``, then ``x + ffn(norm2(x))``.
    Post-norm: ``norm1(x + attn(x))``, then ``norm2(x + ffn(x))``.
    ``dropout`` applies to the attention weights, after the attention's output projection, after the
    activation and after the second linear layer (PyTorch's and the reference code's four places).
    """

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        d_ff: int,
        dropout: float = 0.0,
        activation: type[nn.Module] = nn.GELU,
        norm_first: bool = True,
        norm_eps: float = 1e-5,
    ) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ConfigError(f"d_model={d_model} is not divisible by n_heads={n_heads}.")
        self.norm_first = norm_first
        self.attn = Attention(d_model, n_heads, attn_drop=dropout, proj_drop=dropout)
        self.mlp = Mlp(d_model, d_ff, act_layer=activation, drop=dropout)
        self.norm1 = nn.LayerNorm(d_model, eps=norm_eps)
        self.norm2 = nn.LayerNorm(d_model, eps=norm_eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.norm_first:
            x = x + self.attn(self.norm1(x))
            return x + self.mlp(self.norm2(x))
        x = self.norm1(x + self.attn(x))
        return self.norm2(x + self.mlp(x))


def sinusoid_positions(n_positions: int, width: int) -> torch.Tensor:
    """Fixed positions (n_positions, width): sin(p·ω_k) in channel 2k, cos(p·ω_k) in channel 2k+1,
    ω_k = 10000^(−2k / width)."""
    position = torch.arange(n_positions, dtype=torch.float32)[:, None]  # (N, 1)
    frequency = torch.exp(torch.arange(0, width, 2, dtype=torch.float32) * (-math.log(10000.0) / width))
    angles = position * frequency  # (N, ⌈width/2⌉)
    table = torch.zeros(n_positions, width)
    table[:, 0::2] = torch.sin(angles)
    table[:, 1::2] = torch.cos(angles[:, : width // 2])
    return table


def count_patches(length: int, patch_len: int, stride: int, pad_end: bool) -> int:
    """Patches of a series of ``length``: ⌊(length − patch_len) / stride⌋ + 1, plus one with ``pad_end``."""
    if patch_len < 1 or stride < 1:
        raise ConfigError(f"patch_len and stride must be ≥ 1; got {patch_len}, {stride}.")
    padded = length + (stride if pad_end else 0)
    if padded < patch_len:
        raise ConfigError(f"A series of {length} steps is shorter than one patch (patch_len={patch_len}).")
    return (padded - patch_len) // stride + 1


class PatchEmbed(nn.Module):
    """Series (S, L) -> patch tokens (S, N_p, D): patches of ``patch_len`` every ``stride`` steps, a
    linear embedding without bias, plus fixed sinusoidal positions, then dropout.

    With ``pad_end`` (the official Gateformer/PatchTST code) the series is first extended by
    ``stride`` copies of its last value, which adds one patch: N_p = ⌊(L − P) / stride⌋ + 2.
    """

    def __init__(self, seq_len: int, d_model: int, patch_len: int, stride: int, pad_end: bool, dropout: float) -> None:
        super().__init__()
        self.patch_len, self.stride, self.pad_end = patch_len, stride, pad_end
        self.num_patches = count_patches(seq_len, patch_len, stride, pad_end)
        self.proj = nn.Linear(patch_len, d_model, bias=False)
        self.register_buffer("positions", sinusoid_positions(self.num_patches, d_model), persistent=False)
        # the steps of every patch, (N_p · P,) in patch order: patch p is steps p·stride ... p·stride + P − 1.
        # Gathering them gives the values Tensor.unfold views, as one gather that every exporter converts
        # (OpenVINO's PyTorch frontend has no conversion for aten::unfold)
        starts = torch.arange(self.num_patches) * stride
        steps = (starts[:, None] + torch.arange(patch_len)).flatten()
        self.register_buffer("patch_steps", steps, persistent=False)
        self.drop = nn.Dropout(dropout)

    def forward(self, series: torch.Tensor) -> torch.Tensor:
        if self.pad_end:
            # (S, L) -> (S, 1, L + stride): replicate padding wants a channel dimension
            series = F.pad(series[:, None, :], (0, self.stride), mode="replicate")[:, 0, :]
        patches = series.index_select(-1, self.patch_steps).unflatten(-1, (self.num_patches, self.patch_len))
        # patches: (S, N_p, P)
        return self.drop(self.proj(patches) + self.positions)


class MovingAverage(nn.Module):
    """Moving-average trend along time: (B, L, C) -> (B, L, C), window ``kernel_size``, stride 1.

    The series is extended by repeating its first value ⌊(k − 1) / 2⌋ times and its last value
    ⌊k / 2⌋ times, so the trend keeps length L (the reference code's padding for odd k).
    """

    def __init__(self, kernel_size: int) -> None:
        super().__init__()
        if kernel_size < 1:
            raise ConfigError(f"kernel_size must be ≥ 1, got {kernel_size}.")
        self.kernel_size = kernel_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        front, back = (self.kernel_size - 1) // 2, self.kernel_size // 2
        # (B, L, C) -> (B, C, L) for padding and pooling along time, and back
        series = F.pad(x.transpose(1, 2), (front, back), mode="replicate")
        return F.avg_pool1d(series, self.kernel_size, stride=1).transpose(1, 2)


class SeriesDecomposition(nn.Module):
    """Autoformer's series decomposition block (Wu et al., NeurIPS 2021): (B, L, C) -> (seasonal, trend),
    both (B, L, C), where trend is the :class:`MovingAverage` of the input and seasonal = input − trend."""

    def __init__(self, kernel_size: int) -> None:
        super().__init__()
        self.trend = MovingAverage(kernel_size)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        trend = self.trend(x)
        return x - trend, trend
