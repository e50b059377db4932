"""DLinear: a moving-average decomposition and one linear layer per component.

Ailing Zeng, Muxi Chen, Lei Zhang, Qiang Xu. "Are Transformers Effective for Time Series
Forecasting?" AAAI 2023, arXiv:2205.13504. Implemented from the paper and facts read in the official
code (github.com/cure-lab/LTSF-Linear).

The window is split into a trend, its moving average over ``kernel_size`` = 25 steps (edges padded
by repeating the first and last values), and a seasonal remainder (window − trend). One linear layer
over time (L -> H) forecasts each component, shared by all variates, or one per variate with
``individual=True``; the forecast is their sum. The official code starts both weight matrices at
1/L (a mean of the window); the biases keep PyTorch's default initialisation.

The original has no instance normalisation; ``instance_norm=True`` adds it (off by default).

Parameter count: 2·(L·H + H); 18,624 at look-back 96 and horizon 96 (ETTh1 with the other models'
look-back), 64,704 at the paper's look-back 336; C times that with ``individual``. Some versions of
the official file also build a third, unused ``Linear_Decoder`` (L·H + H more parameters that never
reach the output); it is not built here.

Shape legend
    B batch   L look-back (seq_len)   H horizon (pred_len)   C variates (n_vars)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from .base import ForecastingModel
from .layers import MovingAverage

__all__ = ["DLinear"]


class DLinear(ForecastingModel):
    """DLinear. Input window (B, L, C) -> forecast (B, H, C_out).

    Args:
        n_vars, seq_len, pred_len, target_indices, instance_norm, n_marks: see
            :class:`~dualbranch.models.forecasting.base.ForecastingModel` (instance normalisation is
            off by default, as in the paper).
        kernel_size: moving-average window of the trend (25).
        individual: one pair of linear layers per variate instead of one shared pair.

    ``forward_features`` gives the decomposition, (B, C, 2L): the seasonal part then the trend.
    """

    def __init__(
        self,
        n_vars: int = 7,
        seq_len: int = 96,
        pred_len: int = 96,
        target_indices: Sequence[int] | None = None,
        instance_norm: bool = False,
        n_marks: int = 0,
        kernel_size: int = 25,
        individual: bool = False,
    ) -> None:
        super().__init__(n_vars, seq_len, pred_len, target_indices, instance_norm, n_marks)
        self.kernel_size, self.individual = kernel_size, individual
        self.num_features = 2 * self.seq_len
        self.trend = MovingAverage(kernel_size)
        # weights (C or 1, H, L), biases (C or 1, H): a stack of C linear layers, or one shared
        groups = self.n_vars if individual else 1
        bound = 1.0 / math.sqrt(self.seq_len)  # nn.Linear's default bias initialisation
        self.seasonal_weight = nn.Parameter(torch.full((groups, self.pred_len, self.seq_len), 1.0 / self.seq_len))
        self.seasonal_bias = nn.Parameter(torch.empty(groups, self.pred_len).uniform_(-bound, bound))
        self.trend_weight = nn.Parameter(torch.full((groups, self.pred_len, self.seq_len), 1.0 / self.seq_len))
        self.trend_bias = nn.Parameter(torch.empty(groups, self.pred_len).uniform_(-bound, bound))

    def encode(self, z: torch.Tensor, marks: torch.Tensor | None = None) -> torch.Tensor:
        """Window (B, L, C) -> decomposition (B, C, 2L): seasonal (B, C, :L), trend (B, C, L:). Time features
        are not read (the official DLinear ignores them)."""
        trend = self.trend(z)  # (B, L, C)
        # (B, L, C) -> (B, C, 2L)
        return torch.cat([z - trend, trend], dim=1).transpose(1, 2)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """Decomposition (B, C, 2L) -> forecast (B, H, C): one linear map per component, summed."""
        seasonal, trend = features[..., : self.seq_len], features[..., self.seq_len :]  # (B, C, L) each
        # weights broadcast over the variates when shared (groups = 1)
        out = torch.einsum("bcl,chl->bch", seasonal, self.seasonal_weight.expand(self.n_vars, -1, -1))
        out = out + torch.einsum("bcl,chl->bch", trend, self.trend_weight.expand(self.n_vars, -1, -1))
        out = out + self.seasonal_bias + self.trend_bias  # (B, C, H) + (C or 1, H)
        return out.transpose(1, 2)  # (B, C, H) -> (B, H, C)
