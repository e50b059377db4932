"""iTransformer: the Transformer inverted, variates as tokens.

Yong Liu, Tengge Hu, Haoran Zhang, Haixu Wu, Shiyu Wang, Lintao Ma, Mingsheng Long. "iTransformer:
Inverted Transformers Are Effective for Time Series Forecasting." ICLR 2024, arXiv:2310.06625.
Implemented from the paper and facts read in the official code (github.com/thuml/iTransformer).

Each variate's whole instance-normalised look-back is embedded by one linear layer (L -> D) into a
variate token; post-norm Transformer encoder layers (attention, then a feed-forward network of
width d_ff, LayerNorm after each residual, GELU) attend across the C tokens, a final LayerNorm
follows, and a linear layer maps each token to its H-step forecast, which is de-normalised.

Parameter count. At the configuration of the official ``iTransformer_ETTh1.sh`` for horizon 96
(7 variates, look-back 96, d_model = d_ff = 256, 2 layers, 8 heads) this model has 841,568
parameters: embedding 24,832 (96·256 + 256), per layer 395,776 (attention 263,168, feed-forward
131,584, two LayerNorms 1,024), final LayerNorm 512, projection 24,672 (256·96 + 96). The official
script uses d_model = d_ff = 256 for horizons 96 and 192 and 512 for 336 and 720
(``benchmarks/forecasting_params.py`` prints all four).

Time features (``n_marks`` = M > 0, :mod:`dualbranch.data.time_features`): as in the official code,
each calendar feature's look-back (4 for hourly ETT) is embedded by the same linear layer into one more
token, takes part in the attention and is dropped before the projection; it is never normalised nor
forecast. That changes no parameter count.

Shape legend
    B batch   L look-back (seq_len)   H horizon (pred_len)   C variates (n_vars)   D model width
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ...errors import ConfigError
from .base import ForecastingModel, activation_class
from .layers import EncoderLayer

__all__ = ["ITransformer"]


class ITransformer(ForecastingModel):
    """iTransformer. Input window (B, L, C) -> forecast (B, H, C_out). Defaults: ETTh1, horizon 96.

    Args:
        n_vars, seq_len, pred_len, target_indices, instance_norm, n_marks: see
            :class:`~dualbranch.models.forecasting.base.ForecastingModel` (instance normalisation is
            the official ``use_norm``, on by default).
        d_model: width D of the variate tokens (256).
        d_ff: feed-forward width (256).
        n_heads: attention heads (8).
        n_layers: encoder layers (2).
        dropout: in the embedding and the encoder layers (0.1).
        activation: of the feed-forward networks, "gelu" (the official default) or "relu".
    """

    def __init__(
        self,
        n_vars: int = 7,
        seq_len: int = 96,
        pred_len: int = 96,
        target_indices: Sequence[int] | None = None,
        instance_norm: bool = True,
        n_marks: int = 0,
        d_model: int = 256,
        d_ff: int = 256,
        n_heads: int = 8,
        n_layers: int = 2,
        dropout: float = 0.1,
        activation: str = "gelu",
    ) -> None:
        super().__init__(n_vars, seq_len, pred_len, target_indices, instance_norm, n_marks)
        if n_layers < 1:
            raise ConfigError(f"n_layers must be ≥ 1, got {n_layers}.")
        act = activation_class(activation)
        self.d_model = self.num_features = d_model
        self.embed = nn.Linear(self.seq_len, d_model)
        self.embed_drop = nn.Dropout(dropout)
        self.encoder = nn.Sequential(
            *(EncoderLayer(d_model, n_heads, d_ff, dropout, act, norm_first=False) for _ in range(n_layers))
        )
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, self.pred_len)

    def encode(self, z: torch.Tensor, marks: torch.Tensor | None = None) -> torch.Tensor:
        """Normalised window (B, L, C) and time features (B, L, M) -> variate tokens (B, C, D).

        Each time feature's look-back is one more token (the same embedding), attended to by the
        variates; only the C variate tokens come out (the official code drops the others before the
        projection)."""
        series = z if marks is None else torch.cat([z, marks.to(z.dtype)], dim=2)  # (B, L, C + M)
        tokens = self.embed_drop(self.embed(series.transpose(1, 2)))  # (B, L, C+M) -> (B, C+M, L) -> (B, C+M, D)
        return self.norm(self.encoder(tokens))[:, : self.n_vars]  # (B, C + M, D) -> (B, C, D)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """Variate tokens (B, C, D) -> normalised forecast (B, H, C)."""
        return self.head(features).transpose(1, 2)  # (B, C, H) -> (B, H, C)
