"""PatchTST: channel-independent patch Transformer for long-horizon forecasting.

Yuqi Nie, Nam H. Nguyen, Phanwadee Sinthong, Jayant Kalagnanam. "A Time Series is Worth 64 Words:
Long-term Forecasting with Transformers." ICLR 2023, arXiv:2211.14730. Implemented from the paper and
facts read in the official code (github.com/yuqinie98/PatchTST, Apache-2.0; supervised model), not
copied from it.

Every variate of the instance-normalised window is forecast on its own with shared weights:

* patching: the series is padded at its end with ``stride`` copies of its last value, then cut into
  patches of P = 16 steps every 8 steps (N_p = ⌊(L − P) / S⌋ + 2: 12 at look-back 96, 42 at 336);
* a linear patch embedding P -> D plus a learned position table (N_p, D), initialised uniform in
  ±0.02, then dropout;
* ``n_layers`` post-norm encoder layers with *residual attention* (each layer's pre-softmax scores
  are added to the next layer's, RealFormer-style), BatchNorm over the model width after each residual
  (not LayerNorm), a GELU feed-forward network of width d_ff; attention scale 1/√(D/heads), fixed;
* the "flatten" head: the patch tokens (D, N_p), flattened width-major, one linear layer to the H-step
  forecast (dropout ``head_dropout``, 0), which is de-normalised.

Parameter count. At the official ``etth1.sh`` sizes (d_model 16, 4 heads, d_ff 128, 3 layers, patch
16, stride 8) with look-back 96 and horizon 96 (the look-back of the iTransformer tables; the
official script uses 336) this model has 35,168 trainable parameters: patch embedding 272 (16·16 + 16),
positions 192 (12·16), per layer 5,392 (q, k, v 816; output 272; two BatchNorms 64; feed-forward
4,240), head 18,528 (16·12·96 + 96). At look-back 336 the positions and head grow to 672 and 64,608
(16·42·96 + 96): 81,728. The official code also keeps each layer's fixed attention scale as a
parameter that needs no gradient (3 more in ``parameters()``, none trainable); here it is a constant.
``benchmarks/forecasting_params.py`` prints the counts; tests check them part by part.

Options of the official code not built here: the decomposition variant (``decomposition=1``), the
learnable RevIN affine parameters (off in its scripts: ``affine=0``), per-variate heads
(``individual``) and learnable attention scales (``lsa``).

Shape legend
    B batch   L look-back (seq_len)   H horizon (pred_len)   C variates (n_vars)
    D model width (d_model)   N_p patches per variate   P patch length   S stride
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ConfigError
from .base import ForecastingModel, activation_class
from .layers import count_patches

__all__ = ["PatchTST"]


class BatchNormTokens(nn.Module):
    """BatchNorm over the width of tokens (S, N, D): each channel normalised over the batch and tokens."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm1d(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.transpose(1, 2)).transpose(1, 2)  # (S, N, D) -> (S, D, N) -> (S, N, D)


class ResidualAttentionLayer(nn.Module):
    """Post-norm encoder layer with residual attention: (tokens (S, N, D), scores (S, h, N, N) or None)
    -> (tokens (S, N, D), this layer's pre-softmax scores (S, h, N, N), previous ones added)."""

    def __init__(self, width: int, heads: int, d_ff: int, dropout: float, activation: type[nn.Module]) -> None:
        super().__init__()
        if width % heads:
            raise ConfigError(f"d_model={width} must be a multiple of n_heads={heads}.")
        self.heads, self.head_dim = heads, width // heads
        self.scale = self.head_dim**-0.5
        self.q, self.k, self.v = nn.Linear(width, width), nn.Linear(width, width), nn.Linear(width, width)
        self.out = nn.Linear(width, width)
        self.out_drop = nn.Dropout(dropout)  # the official projection dropout
        self.attn_drop = nn.Dropout(dropout)  # on the attention branch before the residual
        self.norm_attn = BatchNormTokens(width)
        self.ff = nn.Sequential(nn.Linear(width, d_ff), activation(), nn.Dropout(dropout), nn.Linear(d_ff, width))
        self.ff_drop = nn.Dropout(dropout)
        self.norm_ff = BatchNormTokens(width)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        s, n, _ = x.shape
        return x.reshape(s, n, self.heads, self.head_dim).transpose(1, 2)  # (S, N, D) -> (S, h, N, D/h)

    def forward(self, x: torch.Tensor, prev: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        q, k, v = self._split(self.q(x)), self._split(self.k(x)), self._split(self.v(x))
        scores = q @ k.transpose(-2, -1) * self.scale  # (S, h, N, N)
        if prev is not None:
            scores = scores + prev
        mixed = torch.softmax(scores, dim=-1) @ v  # (S, h, N, D/h)
        mixed = mixed.transpose(1, 2).flatten(2)  # (S, h, N, D/h) -> (S, N, D)
        x = self.norm_attn(x + self.attn_drop(self.out_drop(self.out(mixed))))
        x = self.norm_ff(x + self.ff_drop(self.ff(x)))
        return x, scores


class PatchTST(ForecastingModel):
    """PatchTST (supervised). Input window (B, L, C) -> forecast (B, H, C_out). Defaults: ETTh1's
    official sizes at look-back 96, horizon 96.

    Args:
        n_vars, seq_len, pred_len, target_indices, instance_norm, n_marks: see
            :class:`~dualbranch.models.forecasting.base.ForecastingModel` (time features are not read,
            as in the official code; instance normalisation is its RevIN without affine parameters).
        d_model: width D of the patch tokens (16).
        n_heads: attention heads (4).
        d_ff: feed-forward width (128).
        n_layers: encoder layers (3).
        patch_len, stride: patching (16, 8); the end is padded by one stride, as the official code.
        dropout: in the embedding, attention output and feed-forward networks (0.3).
        head_dropout: after the flatten head (0).
        activation: of the feed-forward networks, "gelu" (the official default) or "relu".

    ``forward_features`` gives the flattened patch tokens of each variate, (B, C, D·N_p).
    """

    def __init__(
        self,
        n_vars: int = 7,
        seq_len: int = 96,
        pred_len: int = 96,
        target_indices: Sequence[int] | None = None,
        instance_norm: bool = True,
        n_marks: int = 0,
        d_model: int = 16,
        n_heads: int = 4,
        d_ff: int = 128,
        n_layers: int = 3,
        patch_len: int = 16,
        stride: int = 8,
        dropout: float = 0.3,
        head_dropout: float = 0.0,
        activation: str = "gelu",
    ) -> None:
        super().__init__(n_vars, seq_len, pred_len, target_indices, instance_norm, n_marks)
        if n_layers < 1 or patch_len < 1 or stride < 1:
            raise ConfigError(f"Need n_layers, patch_len, stride ≥ 1; got {n_layers}, {patch_len}, {stride}.")
        act = activation_class(activation)
        self.d_model, self.patch_len, self.stride = d_model, patch_len, stride
        self.num_patches = count_patches(self.seq_len, patch_len, stride, pad_end=True)
        self.num_features = d_model * self.num_patches
        self.patch_embed = nn.Linear(patch_len, d_model)
        self.positions = nn.Parameter(torch.empty(self.num_patches, d_model).uniform_(-0.02, 0.02))
        self.embed_drop = nn.Dropout(dropout)
        self.layers = nn.ModuleList(
            ResidualAttentionLayer(d_model, n_heads, d_ff, dropout, act) for _ in range(n_layers)
        )
        self.head = nn.Linear(self.num_features, self.pred_len)
        self.head_drop = nn.Dropout(head_dropout)

    def no_weight_decay(self) -> set[str]:
        return {"positions"}

    def encode(self, z: torch.Tensor, marks: torch.Tensor | None = None) -> torch.Tensor:
        """Normalised window (B, L, C) -> flattened patch tokens (B, C, D·N_p), width-major."""
        batch = z.shape[0]
        series = z.transpose(1, 2).reshape(batch * self.n_vars, 1, self.seq_len)  # (B, L, C) -> (B·C, 1, L)
        series = F.pad(series, (0, self.stride), mode="replicate")[:, 0]  # (B·C, L + S)
        patches = series.unfold(-1, self.patch_len, self.stride)  # (B·C, N_p, P)
        tokens = self.embed_drop(self.patch_embed(patches) + self.positions)  # (B·C, N_p, D)
        scores = None
        for layer in self.layers:
            tokens, scores = layer(tokens, scores)
        # (B·C, N_p, D) -> (B, C, D, N_p) -> (B, C, D·N_p): width-major, as the official flatten head
        return tokens.reshape(batch, self.n_vars, self.num_patches, self.d_model).transpose(2, 3).flatten(2)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """Flattened patch tokens (B, C, D·N_p) -> normalised forecast (B, H, C)."""
        return self.head_drop(self.head(features)).transpose(1, 2)  # (B, C, H) -> (B, H, C)
