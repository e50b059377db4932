"""Gateformer: temporal and variate-wise attention with gated representations, for forecasting.

Yu-Hsiang Lan, Eric K. Oermann. "Gateformer: Advancing Multivariate Time Series Forecasting through
Temporal and Variate-Wise Attention with Gated Representations." arXiv:2505.00307 (2025), ICML 2025
workshop (FMSD). Implemented from the paper and from facts read in the official code
(github.com/nyuolab/Gateformer), not copied from it.

Every variate of the instance-normalised window is embedded on its own, by two branches:

* global: one linear map of the whole look-back, L -> D (the paper's "global temporal embedding");
* temporal: patches of P = 8 steps every 8 steps, a linear patch embedding (no bias) plus fixed
  sinusoidal positions, a pre-norm Transformer encoder over the patches, then the patch tokens
  flattened and projected to D (the "temporal dependency embedding").

Gate 1 mixes them per channel, g₁ = σ(W₁·global + W₂·temporal), e = g₁·global + (1 − g₁)·temporal.
A pre-norm Transformer encoder then attends across the C variate tokens (cross-variate dependencies),
and gate 2 mixes its output with its input, g₂ = σ(W₃·e + W₄·enc(e)), h = g₂·e + (1 − g₂)·enc(e).
A linear head maps each variate token to the H-step forecast, which is de-normalised.

Parameter count. For ETTh1 as in the official script ``Gateformer_ETTh1.sh`` (7 variates, look-back
96, horizon 96, d_model = d_ff = 64, 4 heads, 1 layer in each encoder, patch 8, stride 8) this model
has 133,344 parameters, as does the official code (``benchmarks/forecasting_params.py``):

==========================================  =======  =========================================
part                                        params   how
==========================================  =======  =========================================
global embedding, Linear 96 -> 64             6,208  96·64 + 64
patch embedding, Linear 8 -> 64, no bias        512
temporal encoder, 1 layer                    25,216  qkv 12,480 + proj 4,160 + FFN 8,320 + 2 LN 256
flatten head, Linear 13·64 -> 64             53,312  832·64 + 64 (13 patches, see below)
gates, 4 × Linear 64 -> 64                   16,640
variate encoder, 1 layer                     25,216
forecast head, Linear 64 -> 96                6,240
total                                       133,344
==========================================  =======  =========================================

Facts taken from the official code where the paper is silent or differs:

* Patching pads the end of the series with ``stride`` copies of its last value first (PatchTST's
  padding), so a 96-step window gives 13 patches, not the paper's ⌊(96 − 8)/8⌋ + 1 = 12
  (``pad_end=True``, the default; ``pad_end=False`` gives the paper's formula and, at ETTh1's size,
  4,096 fewer parameters: 129,248).
* The flattened patch tokens are ordered channel-major, (D, N_p) -> D·N_p, as in the official head.
* Both encoders are PyTorch-style pre-norm layers with ReLU (``nn.TransformerEncoderLayer`` defaults;
  the official ``--activation gelu`` flag does not reach them), LayerNorm eps 1e-5, no final norm,
  and both have ``e_layers`` layers (``temporal_layers`` and ``variate_layers`` here).
* The global branch is a single linear layer (the README calls it an MLP); dropout 0.1 follows it,
  the patch embedding and the flatten head.
* Instance normalisation has no affine parameters (the paper says RevIN; the code normalises only).

Shape legend
    B batch   L look-back (seq_len)   H horizon (pred_len)   C variates (n_vars)
    D model width (d_model)   N_p patches per variate   P patch length
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ...errors import ConfigError
from .base import ForecastingModel, activation_class
from .layers import EncoderLayer, PatchEmbed

__all__ = ["Gateformer"]


class Gate(nn.Module):
    """g = σ(W_a·a + W_b·b); returns (g·a + (1 − g)·b, g). Inputs and outputs (B, C, D)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.w_a = nn.Linear(width, width)
        self.w_b = nn.Linear(width, width)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        gate = torch.sigmoid(self.w_a(a) + self.w_b(b))
        return gate * a + (1.0 - gate) * b, gate


class Gateformer(ForecastingModel):
    """Gateformer. Input window (B, L, C) -> forecast (B, H, C_out). Defaults: ETTh1, horizon 96.

    Args:
        n_vars, seq_len, pred_len, target_indices, instance_norm, n_marks: see
            :class:`~dualbranch.models.forecasting.base.ForecastingModel`.
        d_model: width D of the variate and patch tokens (64).
        d_ff: feed-forward width of both encoders (64).
        n_heads: attention heads of both encoders (4).
        temporal_layers: layers of the encoder over each variate's patches (1).
        variate_layers: layers of the encoder over the variate tokens (1).
        patch_len, stride: patching of the temporal branch (8, 8).
        pad_end: pad the series end with ``stride`` copies of its last value before patching, as
            the official code does (True).
        dropout: in the embeddings, the encoders and the flatten head (0.1).
        activation: of the encoders' feed-forward networks, "relu" (the official code's) or "gelu".
    """

    def __init__(
        self,
        n_vars: int = 7,
        seq_len: int = 96,
        pred_len: int = 96,
        target_indices: Sequence[int] | None = None,
        instance_norm: bool = True,
        n_marks: int = 0,
        d_model: int = 64,
        d_ff: int = 64,
        n_heads: int = 4,
        temporal_layers: int = 1,
        variate_layers: int = 1,
        patch_len: int = 8,
        stride: int = 8,
        pad_end: bool = True,
        dropout: float = 0.1,
        activation: str = "relu",
    ) -> None:
        super().__init__(n_vars, seq_len, pred_len, target_indices, instance_norm, n_marks)
        if temporal_layers < 1 or variate_layers < 1:
            raise ConfigError(f"Need ≥ 1 layer per encoder; got {temporal_layers}, {variate_layers}.")
        act = activation_class(activation)
        self.d_model = self.num_features = d_model
        # global branch: the whole look-back of a variate -> one token
        self.global_embed = nn.Linear(self.seq_len, d_model)
        self.global_drop = nn.Dropout(dropout)
        # temporal branch: patches -> encoder -> flattened -> one token
        self.patch_len = patch_len  # samples of one variate a temporal token reads
        self.patch_embed = PatchEmbed(self.seq_len, d_model, patch_len, stride, pad_end, dropout)
        self.num_patches = self.patch_embed.num_patches
        self.temporal_encoder = nn.Sequential(
            *(EncoderLayer(d_model, n_heads, d_ff, dropout, act, norm_first=True) for _ in range(temporal_layers))
        )
        self.temporal_head = nn.Linear(d_model * self.num_patches, d_model)
        self.temporal_drop = nn.Dropout(dropout)
        self.gate1 = Gate(d_model)
        # across variates
        self.variate_encoder = nn.Sequential(
            *(EncoderLayer(d_model, n_heads, d_ff, dropout, act, norm_first=True) for _ in range(variate_layers))
        )
        self.gate2 = Gate(d_model)
        self.head = nn.Linear(d_model, self.pred_len)

    def _encode_with_gates(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Normalised window (B, L, C) -> (features (B, C, D), gate 1 (B, C, D), gate 2 (B, C, D))."""
        batch = z.shape[0]
        series = z.transpose(1, 2)  # (B, L, C) -> (B, C, L)
        global_token = self.global_drop(self.global_embed(series))  # (B, C, D)
        # (B, C, L) -> (B·C, L): every variate is patched and encoded on its own
        patches = self.temporal_encoder(self.patch_embed(series.reshape(batch * self.n_vars, self.seq_len)))
        # (B·C, N_p, D) -> (B, C, D, N_p) -> (B, C, D·N_p): channel-major, as the official head
        flat = patches.reshape(batch, self.n_vars, self.num_patches, self.d_model).transpose(2, 3).flatten(2)
        temporal_token = self.temporal_drop(self.temporal_head(flat))  # (B, C, D)
        embedded, gate1 = self.gate1(global_token, temporal_token)
        features, gate2 = self.gate2(embedded, self.variate_encoder(embedded))
        return features, gate1, gate2

    def encode(self, z: torch.Tensor, marks: torch.Tensor | None = None) -> torch.Tensor:
        """Normalised window (B, L, C) -> gated variate tokens (B, C, D); time features are not read."""
        return self._encode_with_gates(z)[0]

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """Variate tokens (B, C, D) -> normalised forecast (B, H, C)."""
        return self.head(features).transpose(1, 2)  # (B, C, H) -> (B, H, C)

    def forward_gates(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The two gates for window ``x`` (B, L, C), each (B, C, D).

        ``"gate1"`` is the weight of the global branch against the temporal branch (1: global only);
        ``"gate2"`` the weight of the variate tokens before the variate encoder against its output
        (1: no cross-variate information).
        """
        self.check_input(x)
        z, _, _ = self.normalise(self.split_marks(x)[0])
        _, gate1, gate2 = self._encode_with_gates(z)
        return {"gate1": gate1, "gate2": gate2}

    @torch.no_grad()
    def gate_values(self, x: torch.Tensor) -> dict[str, float]:
        """Mean of each gate over the batch, variates and channels of ``x`` (B, L, C) (see
        :meth:`forward_gates`); the model's mode (train/eval) is used as it is."""
        return {name: float(gate.mean()) for name, gate in self.forward_gates(x).items()}
