"""Convolutional stems that turn a multichannel signal into tokens, for the EEG Conformers.

Three tokenisers, one per place a convolutional front end meets a Transformer:

* :class:`ShallowConvTokens` — EEG Conformer's stem (Song et al., IEEE TNSRE 2022): a temporal
  convolution, a spatial convolution over all electrodes, average pooling, and a 1×1 projection.
  One token per pooled time step.
* :class:`TemporalPatchTokens` — DBConformer's temporal branch (Wang et al., IEEE JBHI 2026,
  arXiv:2506.21140): 1×1 channel mixing, a long depthwise temporal convolution, and average-pool
  patching. One token per patch of ``patch_size`` samples.
* :class:`ChannelTokens` — DBConformer's spatial branch: every electrode is embedded on its own by a
  strided temporal convolution shared across electrodes, so the token of channel c depends on that
  channel only and self-attention is what relates channels. One token per channel.

The Transformer blocks on top are :class:`dualbranch.layers.transformer.Block` (pre-norm multi-head
self-attention and a GELU feed-forward), as in both papers.

Shape legend
    B batch   C electrodes (channels)   T samples   F convolution filters
    N tokens  D token width
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["ChannelTokens", "ShallowConvTokens", "TemporalPatchTokens"]


class ShallowConvTokens(nn.Module):
    """EEG Conformer's convolution module: (B, C, T) -> (B, N, D), N = ⌊(T - k + 1 - P) / S⌋ + 1.

    Conv2d 1 -> F over time (1, k), Conv2d F -> F over all electrodes (C, 1), BatchNorm, activation,
    AvgPool (1, P) stride (1, S), dropout, and a 1×1 Conv2d F -> D. The two convolutions keep their
    biases, as published, so the parameter count matches the paper's model (BatchNorm makes them
    redundant while training).

    Args:
        n_chans: electrodes C.
        n_filters: F (40 in the paper).
        kernel: temporal kernel k (25).
        pool, stride: average-pool length P (75) and stride S (15).
        embed_dim: token width D (40).
        activation: class of the non-linearity (ELU in the paper).
        drop: dropout after pooling.
    """

    def __init__(
        self,
        n_chans: int,
        n_filters: int = 40,
        kernel: int = 25,
        pool: int = 75,
        stride: int = 15,
        embed_dim: int = 40,
        activation: type[nn.Module] = nn.ELU,
        drop: float = 0.5,
    ) -> None:
        super().__init__()
        self.kernel, self.pool, self.stride = kernel, pool, stride
        self.temporal = nn.Conv2d(1, n_filters, (1, kernel))
        self.spatial = nn.Conv2d(n_filters, n_filters, (n_chans, 1))
        self.bn = nn.BatchNorm2d(n_filters)
        self.act = activation()
        self.avg_pool = nn.AvgPool2d((1, pool), (1, stride))
        self.drop = nn.Dropout(drop)
        self.projection = nn.Conv2d(n_filters, embed_dim, 1)

    def num_tokens(self, n_times: int) -> int:
        """N for an input of ``n_times`` samples (0 when the input is too short)."""
        after_conv = n_times - self.kernel + 1
        return (after_conv - self.pool) // self.stride + 1 if after_conv >= self.pool else 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.temporal(x.unsqueeze(1))  # (B, 1, C, T) -> (B, F, C, T - k + 1)
        x = self.act(self.bn(self.spatial(x)))  # (B, F, 1, T - k + 1)
        x = self.drop(self.avg_pool(x))  # (B, F, 1, N)
        x = self.projection(x)  # (B, D, 1, N)
        return x.flatten(2).transpose(1, 2)  # (B, N, D)


class TemporalPatchTokens(nn.Module):
    """DBConformer's temporal tokeniser: (B, C, T) -> (B, N, D) with N = ⌊T / patch_size⌋.

    1×1 Conv1d C -> D (mixes electrodes into D virtual channels), BatchNorm, a depthwise Conv1d of
    odd length ``kernel`` with "same" padding (a per-channel band-pass learned from data), BatchNorm,
    activation, then non-overlapping average pooling of ``patch_size`` samples. The convolutions have
    no bias because the BatchNorm right after each would cancel it. The last ``T mod patch_size``
    samples do not reach a token; pick ``patch_size`` accordingly (1001 samples, patch 125: one).

    Args:
        n_chans: electrodes C.
        embed_dim: D (40).
        kernel: depthwise temporal kernel (63, odd, so the padding is symmetric).
        patch_size: samples averaged into one token (50).
        activation: class of the non-linearity (GELU).
    """

    def __init__(
        self,
        n_chans: int,
        embed_dim: int = 40,
        kernel: int = 63,
        patch_size: int = 50,
        activation: type[nn.Module] = nn.GELU,
    ) -> None:
        super().__init__()
        if kernel % 2 == 0:
            raise ValueError(f"temporal_kernel must be odd for symmetric 'same' padding, got {kernel}.")
        self.patch_size = patch_size
        self.mix = nn.Conv1d(n_chans, embed_dim, 1, bias=False)
        self.bn1 = nn.BatchNorm1d(embed_dim)
        self.depthwise = nn.Conv1d(embed_dim, embed_dim, kernel, padding=kernel // 2, groups=embed_dim, bias=False)
        self.bn2 = nn.BatchNorm1d(embed_dim)
        self.act = activation()
        self.patch_pool = nn.AvgPool1d(patch_size, patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn1(self.mix(x))  # (B, D, T)
        x = self.act(self.bn2(self.depthwise(x)))  # (B, D, T)
        return self.patch_pool(x).transpose(1, 2)  # (B, D, N) -> (B, N, D)


class ChannelTokens(nn.Module):
    """DBConformer's spatial tokeniser: (B, C, T) -> (B, C, D), one token per electrode.

    Each channel's series (B·C, 1, T) goes through the same strided Conv1d 1 -> F (zero-padded by
    ⌊kernel / 2⌋ on both sides, as the release), an activation and an average over time, then a
    Linear F -> D. Sharing the convolution across channels keeps it tiny and makes the token of a
    channel a function of that channel alone.

    Args:
        embed_dim: D (40).
        n_filters: F (16).
        kernel, stride: of the temporal convolution (25 and 5).
        activation: class of the non-linearity (ELU).
    """

    def __init__(
        self,
        embed_dim: int = 40,
        n_filters: int = 16,
        kernel: int = 25,
        stride: int = 5,
        activation: type[nn.Module] = nn.ELU,
    ) -> None:
        super().__init__()
        self.kernel = kernel
        self.conv = nn.Conv1d(1, n_filters, kernel, stride=stride, padding=kernel // 2)
        self.act = activation()
        self.proj = nn.Linear(n_filters, embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, chans, times = x.shape
        h = self.act(self.conv(x.reshape(batch * chans, 1, times)))  # (B·C, F, T')
        h = h.mean(dim=2)  # (B·C, F): global average over time
        return self.proj(h).reshape(batch, chans, -1)  # (B, C, D)
