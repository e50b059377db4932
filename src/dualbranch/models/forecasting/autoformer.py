"""Autoformer: decomposition Transformer with auto-correlation.

Haixu Wu, Jiehui Xu, Jianmin Wang, Mingsheng Long. "Autoformer: Decomposition Transformers with
Auto-Correlation for Long-Term Series Forecasting." NeurIPS 2021, arXiv:2106.13008. Implemented from
the paper and facts read in the official code (github.com/thuml/Autoformer and Time-Series-Library
``models/Autoformer.py``, MIT), not copied from it.

* Series decomposition blocks (:class:`~.layers.SeriesDecomposition`): a moving average (window 25,
  edges padded by repetition) is the trend, the rest the seasonal part. They sit inside every layer,
  so the network separates the two progressively.
* Embedding (:class:`~.embedding.StepEmbedding`, no positions): each step's C variates by a width-3
  circular convolution plus a linear embedding of its M time features, then dropout.
* Encoder: ``e_layers`` layers of auto-correlation (:mod:`.autocorrelation`) and a feed-forward
  network (width d_ff, GELU, no biases), each residual followed by a decomposition that keeps only
  the seasonal part; the seasonal LayerNorm (LayerNorm, then the time mean removed) at the end.
* Decoder: the window's decomposition starts it — seasonal: the last ``label_len`` steps of the
  seasonal part then H zeros; trend: the last ``label_len`` steps of the trend then the window's mean
  H times. The seasonal input is embedded with its time features (those of the H forecast steps are
  known calendar values: the horizon rows of the input, ``future_marks``, :mod:`.base`).
  ``d_layers`` layers of auto-correlation, cross auto-correlation with the encoder output and a
  feed-forward network, each followed by a decomposition; the three trends each layer removes are
  summed, projected D -> C (width-3 circular convolution, no bias) and added to the trend. The output
  is the seasonal part (seasonal LayerNorm, linear D -> C) plus the accumulated trend, last H steps.

Parameter count. At ETTh1's setting (7 variates, 4 hourly ``timeF`` features, look-back 96,
label_len 48, horizon 96) with the official sizes (d_model 512, 8 heads, e_layers 2, d_layers 1,
d_ff 2048, moving_avg 25) this model has 10,535,943 parameters, as the official Time-Series-Library
``Autoformer`` built with its ETTh1 script's arguments (counted by instantiating it; tests check it
part by part): two embeddings 12,800 each (convolution 3·7·512, time features 4·512), per encoder
layer 3,147,776 (auto-correlation 4·(512² + 512), feed-forward 2·512·2048 without bias), the
encoder's seasonal LayerNorm 1,024, the decoder layer 4,209,152 (two auto-correlations 2,101,248,
feed-forward 2,097,152, trend projection 3·512·7), the decoder's seasonal LayerNorm 1,024 and
projection 3,591 (512·7 + 7). Without time features (M = 0): 4,096 fewer.

No instance normalisation by default (the official long-horizon model has none); ``instance_norm=True``
adds it.

Shape legend
    B batch   L look-back (seq_len)   H horizon (pred_len)   C variates (n_vars)   M time features
    S start token (label_len)   T = S + H decoder steps   D model width (d_model)
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .autocorrelation import AutoCorrelationLayer, SeasonalLayerNorm
from .base import ForecastingModel, activation_class
from .embedding import StepEmbedding, check_encoder_decoder, decoder_start, split_marks
from .layers import SeriesDecomposition

__all__ = ["Autoformer"]


class FeedForward(nn.Module):
    """Position-wise network without biases (the official width-1 convolutions): D -> d_ff -> D."""

    def __init__(self, d_model: int, d_ff: int, dropout: float, activation: type[nn.Module]) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(d_model, d_ff, bias=False), activation(), nn.Dropout(dropout),
            nn.Linear(d_ff, d_model, bias=False), nn.Dropout(dropout),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class EncoderLayer(nn.Module):
    """Auto-correlation, then the feed-forward network, each followed by a decomposition that keeps the
    seasonal part: (B, L, D) -> (B, L, D)."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int, factor: int, moving_avg: int, dropout: float, act):
        super().__init__()
        self.correlation = AutoCorrelationLayer(d_model, n_heads, factor)
        self.ff = FeedForward(d_model, d_ff, dropout, act)
        self.decomp1, self.decomp2 = SeriesDecomposition(moving_avg), SeriesDecomposition(moving_avg)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, _ = self.decomp1(x + self.drop(self.correlation(x, x)))
        x, _ = self.decomp2(x + self.ff(x))
        return x


class DecoderLayer(nn.Module):
    """(seasonal tokens (B, T, D), encoder output (B, L, D)) -> (seasonal tokens (B, T, D), the trend this
    layer removed, projected to the variates (B, T, C))."""

    def __init__(
        self, d_model: int, n_vars: int, n_heads: int, d_ff: int, factor: int, moving_avg: int, dropout: float, act
    ) -> None:
        super().__init__()
        self.own = AutoCorrelationLayer(d_model, n_heads, factor)
        self.cross = AutoCorrelationLayer(d_model, n_heads, factor)
        self.ff = FeedForward(d_model, d_ff, dropout, act)
        self.decomp1, self.decomp2 = SeriesDecomposition(moving_avg), SeriesDecomposition(moving_avg)
        self.decomp3 = SeriesDecomposition(moving_avg)
        self.drop = nn.Dropout(dropout)
        self.trend_projection = nn.Conv1d(d_model, n_vars, 3, padding=1, padding_mode="circular", bias=False)

    def forward(self, x: torch.Tensor, memory: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x, trend1 = self.decomp1(x + self.drop(self.own(x, x)))
        x, trend2 = self.decomp2(x + self.drop(self.cross(x, memory)))
        x, trend3 = self.decomp3(x + self.ff(x))
        trend = (trend1 + trend2 + trend3).transpose(1, 2)  # (B, T, D) -> (B, D, T)
        return x, self.trend_projection(trend).transpose(1, 2)  # (B, C, T) -> (B, T, C)


class Autoformer(ForecastingModel):
    """Autoformer. Input window (B, L, C), or (B, L + H, C + M) with time features -> forecast (B, H, C_out).
    Defaults: ETTh1's official sizes at look-back 96, horizon 96.

    Args:
        n_vars, seq_len, pred_len, target_indices, instance_norm, n_marks: see
            :class:`~dualbranch.models.forecasting.base.ForecastingModel` (instance normalisation off,
            as the official model; the time features of the horizon are read, ``future_marks``).
        label_len: S, the known steps that start the decoder (48).
        d_model: token width D (512).
        n_heads: auto-correlation heads (8).
        e_layers, d_layers: encoder and decoder layers (2, 1).
        d_ff: feed-forward width (2048).
        moving_avg: window of the moving-average trend (25).
        factor: c of the k = ⌊c·ln L⌋ lags kept (3, the official ETT scripts').
        dropout: in the embeddings, residual branches and feed-forward networks (0.05).
        activation: of the feed-forward networks, "gelu" (the official default) or "relu".

    ``forward_features`` gives each variate's seasonal and trend parts over the horizon, (B, C, 2·H) on
    the normalised scale (seasonal first); ``forward_head`` adds them, (B, H, C).
    """

    future_marks = True

    def __init__(
        self,
        n_vars: int = 7,
        seq_len: int = 96,
        pred_len: int = 96,
        target_indices: Sequence[int] | None = None,
        instance_norm: bool = False,
        n_marks: int = 0,
        label_len: int = 48,
        d_model: int = 512,
        n_heads: int = 8,
        e_layers: int = 2,
        d_layers: int = 1,
        d_ff: int = 2048,
        moving_avg: int = 25,
        factor: int = 3,
        dropout: float = 0.05,
        activation: str = "gelu",
    ) -> None:
        super().__init__(n_vars, seq_len, pred_len, target_indices, instance_norm, n_marks)
        check_encoder_decoder(e_layers, d_layers, label_len, self.seq_len)
        act = activation_class(activation)
        self.label_len, self.d_model, self.num_features = label_len, d_model, 2 * self.pred_len
        self.decomp = SeriesDecomposition(moving_avg)
        self.enc_embed = StepEmbedding(n_vars, d_model, self.n_marks, dropout, positions=False)
        self.dec_embed = StepEmbedding(n_vars, d_model, self.n_marks, dropout, positions=False)
        self.encoder = nn.ModuleList(
            EncoderLayer(d_model, n_heads, d_ff, factor, moving_avg, dropout, act) for _ in range(e_layers)
        )
        self.enc_norm = SeasonalLayerNorm(d_model)
        self.decoder = nn.ModuleList(
            DecoderLayer(d_model, n_vars, n_heads, d_ff, factor, moving_avg, dropout, act) for _ in range(d_layers)
        )
        self.dec_norm = SeasonalLayerNorm(d_model)
        self.projection = nn.Linear(d_model, n_vars)

    def encode(self, z: torch.Tensor, marks: torch.Tensor | None = None) -> torch.Tensor:
        """Normalised window (B, L, C), time features (B, L + H, M) or None -> seasonal and trend parts of
        the horizon per variate (B, C, 2·H)."""
        past, future = split_marks(marks, self.seq_len, self.label_len)  # (B, L, M), (B, S + H, M)
        seasonal, trend = self.decomp(z)  # (B, L, C) each
        seasonal = decoder_start(seasonal, self.label_len, self.pred_len)  # (B, S + H, C): then zeros
        trend = decoder_start(trend, self.label_len, self.pred_len, fill=z.mean(dim=1, keepdim=True))  # then the mean
        memory = self.enc_embed(z, past)  # (B, L, D)
        for layer in self.encoder:
            memory = layer(memory)
        memory = self.enc_norm(memory)
        tokens = self.dec_embed(seasonal, future)  # (B, S + H, D)
        for layer in self.decoder:
            tokens, removed = layer(tokens, memory)
            trend = trend + removed
        seasonal = self.projection(self.dec_norm(tokens))  # (B, S + H, C)
        parts = torch.stack([seasonal[:, -self.pred_len :], trend[:, -self.pred_len :]], dim=1)  # (B, 2, H, C)
        return parts.permute(0, 3, 1, 2).flatten(2)  # (B, 2, H, C) -> (B, C, 2, H) -> (B, C, 2·H)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """Seasonal and trend parts per variate (B, C, 2·H) -> their sum, the normalised forecast (B, H, C)."""
        parts = features.unflatten(-1, (2, self.pred_len))  # (B, C, 2·H) -> (B, C, 2, H)
        return parts.sum(dim=2).transpose(1, 2)  # (B, C, H) -> (B, H, C)
