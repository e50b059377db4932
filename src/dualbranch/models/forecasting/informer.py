"""Informer: ProbSparse self-attention, self-attention distilling and a generative-style decoder.

Haoyi Zhou, Shanghang Zhang, Jieqi Peng, Shuai Zhang, Jianxin Li, Hui Xiong, Wancai Zhang. "Informer:
Beyond Efficient Transformer for Long Sequence Time-Series Forecasting." AAAI 2021 (best paper),
arXiv:2012.07436. Implemented from the paper and facts read in the official code
(github.com/zhouhaoyi/Informer2020, Apache-2.0; Time-Series-Library ``models/Informer.py``, MIT — the
code behind the published long-horizon tables), not copied from it.

* Embedding (:class:`~.embedding.StepEmbedding`): each time step is a token: a width-3 circular
  convolution of the C variates, plus a linear embedding of its M time features (``timeF``), plus
  fixed sinusoidal positions, then dropout.
* Encoder: ``e_layers`` post-norm layers of multi-head ProbSparse self-attention
  (:mod:`.probsparse`) and a feed-forward network (width d_ff, GELU), LayerNorm after each residual;
  between two layers, *self-attention distilling*: a width-3 circular convolution (D -> D),
  BatchNorm, ELU and max-pooling (window 3, stride 2), which shortens the sequence (96 -> 49 steps
  with the official code's padding of 2, which it keeps for every torch version), then a LayerNorm.
* Decoder (generative inference): its input is the last ``label_len`` steps of the window (the start
  token, 48) followed by H zeros, embedded with their time features — those of the H forecast steps
  are known calendar values, read from the horizon rows of the input (``future_marks``,
  :mod:`.base`). ``d_layers`` post-norm layers of causal ProbSparse self-attention, ProbSparse
  cross-attention to the encoder output (as Time-Series-Library; Informer2020 uses full attention
  there, with the same weights) and a feed-forward network; a LayerNorm; a linear map D -> C. The
  forecast is the last H steps, in one forward pass.

Parameter count. At ETTh1's setting (7 variates, 4 hourly ``timeF`` features, look-back 96,
label_len 48, horizon 96) with the official sizes (d_model 512, 8 heads, e_layers 2, d_layers 1,
d_ff 2048) this model has 11,328,007 parameters, as the official Time-Series-Library ``Informer``
built with its ETTh1 script's arguments (counted by instantiating it; tests check it part by part):
two embeddings 12,800 each (convolution 3·7·512, time features 4·512), per encoder layer 3,152,384
(attention 4·(512² + 512), feed-forward 512·2048 + 2048 + 2048·512 + 512, two LayerNorms 2,048), the
distilling layer 787,968 (3·512² + 512 convolution, BatchNorm 1,024), the encoder's LayerNorm
1,024, the decoder layer 4,204,032 (two attentions, feed-forward, three LayerNorms), the decoder's
LayerNorm 1,024 and projection 3,591 (512·7 + 7). Without time features (M = 0): 4,096 fewer.

No instance normalisation by default (the official long-horizon model has none: its windows are
standardised by the data's scaler); ``instance_norm=True`` adds it.

Shape legend
    B batch   L look-back (seq_len)   H horizon (pred_len)   C variates (n_vars)   M time features
    S start token (label_len)   T = S + H decoder steps   D model width (d_model)   N encoder steps
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .base import ForecastingModel, activation_class
from .embedding import StepEmbedding, check_encoder_decoder, decoder_start, split_marks
from .probsparse import ProbSparseLayer

__all__ = ["Informer", "distilled_length"]


def distilled_length(steps: int) -> int:
    """Steps after a distilling layer: circular padding 2 (steps + 2), max-pool 3 / stride 2 / padding 1."""
    return (steps + 2 + 2 - 3) // 2 + 1


class FeedForward(nn.Module):
    """Position-wise network (the official width-1 convolutions): D -> d_ff -> D, dropout after each."""

    def __init__(self, d_model: int, d_ff: int, dropout: float, activation: type[nn.Module]) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(d_model, d_ff), activation(), nn.Dropout(dropout), nn.Linear(d_ff, d_model), nn.Dropout(dropout)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Distilling(nn.Module):
    """Self-attention distilling: (B, N, D) -> (B, N', D), N' = :func:`distilled_length` (N)."""

    def __init__(self, d_model: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(d_model, d_model, kernel_size=3, padding=2, padding_mode="circular")
        self.norm = nn.BatchNorm1d(d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.elu(self.norm(self.conv(x.transpose(1, 2))))  # (B, N, D) -> (B, D, N + 2)
        return F.max_pool1d(y, kernel_size=3, stride=2, padding=1).transpose(1, 2)  # (B, D, N') -> (B, N', D)


class EncoderLayer(nn.Module):
    """ProbSparse self-attention then the feed-forward network, post-norm: (B, N, D) -> (B, N, D)."""

    def __init__(self, attention: ProbSparseLayer, d_model: int, d_ff: int, dropout: float, act: type[nn.Module]):
        super().__init__()
        self.attention, self.ff = attention, FeedForward(d_model, d_ff, dropout, act)
        self.drop = nn.Dropout(dropout)
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm1(x + self.drop(self.attention(x, x)))
        return self.norm2(x + self.ff(x))


class DecoderLayer(nn.Module):
    """Causal self-attention, cross-attention to the encoder, feed-forward; post-norm:
    (decoder tokens (B, T, D), encoder output (B, N, D)) -> (B, T, D)."""

    def __init__(
        self,
        own: ProbSparseLayer,
        cross: ProbSparseLayer,
        d_model: int,
        d_ff: int,
        dropout: float,
        act: type[nn.Module],
    ) -> None:
        super().__init__()
        self.own, self.cross, self.ff = own, cross, FeedForward(d_model, d_ff, dropout, act)
        self.drop = nn.Dropout(dropout)
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(d_model), nn.LayerNorm(d_model), nn.LayerNorm(d_model)

    def forward(self, x: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        x = self.norm1(x + self.drop(self.own(x, x)))
        x = self.norm2(x + self.drop(self.cross(x, memory)))
        return self.norm3(x + self.ff(x))


class Informer(ForecastingModel):
    """Informer. Input window (B, L, C), or (B, L + H, C + M) with time features -> forecast (B, H, C_out).
    Defaults: ETTh1's official sizes at look-back 96, horizon 96.

    Args:
        n_vars, seq_len, pred_len, target_indices, instance_norm, n_marks: see
            :class:`~dualbranch.models.forecasting.base.ForecastingModel` (instance normalisation off,
            as the official model; the time features of the horizon are read, ``future_marks``).
        label_len: S, the known steps that start the decoder (48).
        d_model: token width D (512).
        n_heads: attention heads (8).
        e_layers, d_layers: encoder and decoder layers (2, 1).
        d_ff: feed-forward width (2048).
        factor: c of ProbSparse attention, u = c·⌈ln L⌉ (5, the paper's).
        dropout: in the embeddings, residual branches and feed-forward networks (0.05).
        activation: of the feed-forward networks, "gelu" (the official default) or "relu".
        distil: self-attention distilling between encoder layers (on).
        mix: the official output layout of ProbSparse attention (:mod:`.probsparse`; on).

    ``forward_features`` gives each variate's decoder output over the horizon, (B, C, H) on the
    normalised scale: the decoder mixes the variates in its tokens, so its last per-variate quantity
    is the projection's output; ``forward_head`` lays it out as (B, H, C).
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
        factor: int = 5,
        dropout: float = 0.05,
        activation: str = "gelu",
        distil: bool = True,
        mix: bool = True,
    ) -> None:
        super().__init__(n_vars, seq_len, pred_len, target_indices, instance_norm, n_marks)
        check_encoder_decoder(e_layers, d_layers, label_len, self.seq_len)
        act = activation_class(activation)
        self.label_len, self.d_model, self.num_features = label_len, d_model, self.pred_len
        steps = [self.seq_len]  # the encoder's length before each layer
        for _ in range(e_layers - 1):
            steps.append(distilled_length(steps[-1]) if distil else steps[-1])
        decoder_steps = label_len + self.pred_len
        longest = max(self.seq_len, decoder_steps)
        self.enc_embed = StepEmbedding(n_vars, d_model, self.n_marks, dropout, positions=True, max_len=longest)
        self.dec_embed = StepEmbedding(n_vars, d_model, self.n_marks, dropout, positions=True, max_len=longest)
        self.encoder = nn.ModuleList(
            EncoderLayer(ProbSparseLayer(d_model, n_heads, factor, n, n, False, mix), d_model, d_ff, dropout, act)
            for n in steps
        )
        self.distil = nn.ModuleList(Distilling(d_model) for _ in range(e_layers - 1)) if distil else nn.ModuleList()
        self.enc_norm = nn.LayerNorm(d_model)
        own = [
            ProbSparseLayer(d_model, n_heads, factor, decoder_steps, decoder_steps, True, mix) for _ in range(d_layers)
        ]
        cross = [
            ProbSparseLayer(d_model, n_heads, factor, decoder_steps, steps[-1], False, mix) for _ in range(d_layers)
        ]
        self.decoder = nn.ModuleList(DecoderLayer(a, b, d_model, d_ff, dropout, act) for a, b in zip(own, cross))
        self.dec_norm = nn.LayerNorm(d_model)
        self.projection = nn.Linear(d_model, n_vars)

    def encode(self, z: torch.Tensor, marks: torch.Tensor | None = None) -> torch.Tensor:
        """Normalised window (B, L, C), time features (B, L + H, M) or None -> decoder output (B, C, H)."""
        past, future = split_marks(marks, self.seq_len, self.label_len)  # (B, L, M), (B, S + H, M)
        memory = self.enc_embed(z, past)  # (B, L, D)
        for i, layer in enumerate(self.encoder):
            memory = layer(memory)
            if i < len(self.distil):
                memory = self.distil[i](memory)  # (B, N, D) -> (B, N', D)
        memory = self.enc_norm(memory)
        tokens = self.dec_embed(decoder_start(z, self.label_len, self.pred_len), future)  # (B, S + H, D)
        for layer in self.decoder:
            tokens = layer(tokens, memory)
        forecast = self.projection(self.dec_norm(tokens))[:, -self.pred_len :]  # (B, S + H, C) -> (B, H, C)
        return forecast.transpose(1, 2)  # (B, H, C) -> (B, C, H)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """Decoder output per variate (B, C, H) -> normalised forecast (B, H, C)."""
        return features.transpose(1, 2)
