"""DBConformer: a dual-branch convolutional Transformer for EEG (and other multichannel series).

Ziwei Wang, Hongbin Wang, Tianwang Jia, Xingyi He, Siyang Li, Dongrui Wu. "DBConformer: Dual-Branch
Convolutional Transformer for EEG Decoding." IEEE Journal of Biomedical and Health Informatics, 2026.
arXiv:2506.21140. Implemented from the paper's description (not from its code).

Two branches read the same (B, C, T) signal in parallel:

* temporal (T-Conformer): 1×1 channel mixing + BN, depthwise temporal conv (kernel 63) + BN, GELU,
  average-pool patching into N_t = ⌊T / patch_size⌋ tokens of width 40, learned positions,
  Transformer blocks — long-range dependencies in time;
* spatial (S-Conformer): each channel embedded on its own (strided temporal conv, average over
  time, linear to 40), one token per channel, learned positions, Transformer blocks — relations
  between channels.

The temporal tokens are averaged, the channel tokens pooled by channel attention (one weight per
electrode, :meth:`DBConformer.channel_attention_weights`), the two 40-d vectors concatenated and
classified by an MLP.

Parameter count. The paper reports 93,747 parameters for 22 channels, 1001 samples, 2 classes and
depth 2. With the published structure fixed and the unstated sizes chosen as below, this model has
exactly 93,747 (``benchmarks/dbconformer_params.py``, ``tests/test_signal_models.py``):

====================================================  ========  ==========================
part                                                  params    how
====================================================  ========  ==========================
temporal stem: Conv1d 22→40 (1×1, no bias), BN(40)        960    880 + 80
  depthwise Conv1d 40, kernel 63 (no bias), BN(40)       2,600    2,520 + 80
  positions, N_t = ⌊1001 / 50⌋ = 20 tokens × 40            800
spatial stem: Conv1d 1→32, kernel 25, stride 5           832    32·25 + 32
  Linear 32→40                                          1,320    1,280 + 40
  positions, 22 channel tokens × 40                       880
Transformer block (D=40, 10 heads, MLP ratio 4)        19,720    LN 80 + qkv 4,920 + proj
                                                                 1,640 + LN 80 + MLP 13,000
  × 2 blocks × 2 branches                              78,880
final LayerNorm per branch                                160    2 × 80
channel attention: Linear 40→16, Linear 16→1 (no         673    656 + 16 + 1
  bias), learned temperature
MLP head on the 80-d fusion: Linear 80→80, GELU,       6,642    6,480 + 162
  Linear 80→2 (``final_layer``)
total                                                  93,747
====================================================  ========  ==========================

Choices that the paper leaves open and that the count pins down: patch 50 samples (0.2 s at
250 Hz), a 32-filter spatial convolution with EEG Conformer's 25-sample kernel, a 16-wide scorer in
the channel attention, and a head whose hidden width equals the fused width (80). Biases right before
a BatchNorm, and the scorer's output bias (softmax ignores it), are left out because they could not
learn anything; the one-parameter attention temperature is what makes the total odd. Heads, dropout
and the conv stride do not change the count. Other choices reach the same number (many integer
combinations do); these are the ones that read most naturally.

Shape legend
    B batch   C channels (n_chans)   T samples (n_times)   D = 40 token width
    N_t = ⌊T / patch_size⌋ temporal tokens   branch 0 temporal (B, N_t, D), branch 1 spatial (B, C, D)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import torch
from torch import nn

from ..errors import ConfigError
from ..layers.channel_attention import ChannelAttentionPool
from ..layers.conformer import ChannelTokens, TemporalPatchTokens
from ..layers.transformer import Block
from .base import init_head
from .signal_base import SignalModel

__all__ = ["DBConformer"]


class DBConformer(SignalModel):
    """DBConformer with braindecode's arguments. Input (B, n_chans, n_times) -> logits (B, n_outputs).

    Args:
        n_chans, n_outputs, n_times, sfreq, chs_info: as in braindecode (see
            :class:`~dualbranch.models.signal_base.SignalModel`).
        embed_dim: token width D of both branches (40).
        depth: Transformer blocks per branch (2); each block is one stage.
        num_heads, mlp_ratio: of the Transformer blocks (10, 4).
        temporal_kernel: depthwise temporal kernel (63, odd).
        patch_size: samples per temporal token (50).
        spatial_filters, spatial_kernel, spatial_stride: the per-channel embedding (32, 25, 5).
        attention_hidden: channel-attention scorer width (16).
        head_hidden: hidden width of the MLP head (80, the fused width).
        drop_prob: dropout on tokens and in the blocks; att_drop_prob on attention weights;
            head_drop_prob in the head.
        activation: class of the convolutional and head non-linearities (GELU).
    """

    def __init__(
        self,
        n_chans: int | None = None,
        n_outputs: int = 2,
        n_times: int = 1001,
        sfreq: float | None = 250.0,
        chs_info: Sequence[dict[str, Any]] | None = None,
        embed_dim: int = 40,
        depth: int = 2,
        num_heads: int = 10,
        mlp_ratio: float = 4.0,
        temporal_kernel: int = 63,
        patch_size: int = 50,
        spatial_filters: int = 32,
        spatial_kernel: int = 25,
        spatial_stride: int = 5,
        attention_hidden: int = 16,
        head_hidden: int = 80,
        drop_prob: float = 0.25,
        att_drop_prob: float = 0.1,
        head_drop_prob: float = 0.5,
        activation: type[nn.Module] = nn.GELU,
    ) -> None:
        super().__init__(n_chans, n_outputs, n_times, sfreq, chs_info)
        if self.n_times < patch_size:
            raise ConfigError(f"n_times={self.n_times} is shorter than one patch (patch_size={patch_size}).")
        if self.n_times < spatial_kernel:
            raise ConfigError(f"n_times={self.n_times} is shorter than spatial_kernel={spatial_kernel}.")
        self.num_branches = 2
        self.num_stages = depth
        self.branch_widths = (embed_dim, embed_dim)
        self.num_features = 2 * embed_dim
        self.num_temporal_tokens = self.n_times // patch_size
        self._head_args = (head_hidden, head_drop_prob, activation)

        self.temporal_embed = TemporalPatchTokens(self.n_chans, embed_dim, temporal_kernel, patch_size, activation)
        self.spatial_embed = ChannelTokens(embed_dim, spatial_filters, spatial_kernel, spatial_stride, activation)
        self.temporal_pos = nn.Parameter(torch.zeros(1, self.num_temporal_tokens, embed_dim))
        self.spatial_pos = nn.Parameter(torch.zeros(1, self.n_chans, embed_dim))
        self.pos_drop = nn.Dropout(drop_prob)

        def blocks() -> nn.ModuleList:
            return nn.ModuleList(
                Block(embed_dim, num_heads, mlp_ratio, drop=drop_prob, attn_drop=att_drop_prob) for _ in range(depth)
            )

        self.temporal_blocks, self.spatial_blocks = blocks(), blocks()
        self.temporal_norm = nn.LayerNorm(embed_dim)
        self.spatial_norm = nn.LayerNorm(embed_dim)
        self.channel_attention = ChannelAttentionPool(embed_dim, attention_hidden)
        self.final_layer = self._make_head(n_outputs)
        self._init_weights()

    # ----------------------------------------------------------------- construction
    @staticmethod
    def sizes_for_length(n_times: int) -> dict[str, int]:
        """Kernel and patch sizes that fit ``n_times`` samples: {} (the paper's sizes) from 500 samples.

        The paper's sizes (patch 50, temporal kernel 63, spatial kernel 25 stride 5) are for 1001
        samples, i.e. 20 temporal tokens. A shorter input keeps at least ten temporal tokens: the
        patch shrinks to T // 10, the depthwise kernel keeps the paper's ratio to the patch (63 / 50,
        rounded to odd, at least 3), and the per-channel convolution spans about a quarter of the
        input (at most 25, at least 3) with a fifth of its length as stride. BasicMotions (T = 100)
        gets patch 10, kernel 13, spatial 25 / 5; JapaneseVowels (T = 29, padded) patch 2, kernel 3,
        spatial 7 / 1.
        """
        if n_times >= 500:
            return {}
        patch = max(1, n_times // 10)
        temporal = max(3, 2 * round(0.63 * patch) + 1)
        spatial = max(3, min(25, n_times // 4))
        return {
            "patch_size": patch,
            "temporal_kernel": temporal,
            "spatial_kernel": spatial,
            "spatial_stride": max(1, spatial // 5),
        }

    def _make_head(self, n_outputs: int) -> nn.Module:
        """The MLP head on the fused (B, 2D) vector; Identity when ``n_outputs == 0``."""
        if n_outputs == 0:
            return nn.Identity()
        hidden, drop, activation = self._head_args
        return nn.Sequential(
            nn.Linear(self.num_features, hidden), activation(), nn.Dropout(drop), nn.Linear(hidden, n_outputs)
        )

    def _init_weights(self) -> None:
        # ViT-style: small truncated-normal positions and linear weights, zero biases.
        nn.init.trunc_normal_(self.temporal_pos, std=0.02)
        nn.init.trunc_normal_(self.spatial_pos, std=0.02)
        init_head(self)  # every Linear by the ViT rule the heads use: trunc-normal weights, zero biases

    def reset_classifier(self, num_classes: int) -> None:
        """A fresh MLP head for ``num_classes`` (0: none, forward returns the fused (B, 2D) features)."""
        self.n_outputs = num_classes
        self.final_layer = init_head(self._make_head(num_classes), self.temporal_pos.device)

    def no_weight_decay(self) -> set[str]:
        """Positions and the attention temperature are not decayed."""
        return {"temporal_pos", "spatial_pos", "channel_attention.log_temperature"}

    # ----------------------------------------------------------------- forward
    def embed(self, x: torch.Tensor) -> list[torch.Tensor]:
        """(B, C, T) -> [temporal tokens (B, N_t, D), channel tokens (B, C, D)], with positions."""
        self._check_input(x)
        temporal = self.temporal_embed(x) + self.temporal_pos
        spatial = self.spatial_embed(x) + self.spatial_pos
        return [self.pos_drop(temporal), self.pos_drop(spatial)]

    def _norms(self) -> tuple[nn.Module, nn.Module]:
        return self.temporal_norm, self.spatial_norm

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """(B, C, T) -> [(B, N_t, D), (B, C, D)]: the normalised tokens of both branches."""
        temporal, spatial = self.embed(x)
        for t_block, s_block in zip(self.temporal_blocks, self.spatial_blocks):
            temporal, spatial = t_block(temporal), s_block(spatial)
        return [self.temporal_norm(temporal), self.spatial_norm(spatial)]

    def forward_head(self, features: list[torch.Tensor], pre_logits: bool = False) -> torch.Tensor:
        """Mean of the temporal tokens ‖ channel-attention pool of the channel tokens -> (B, 2D) -> head.

        Returns logits (B, n_outputs), or the fused (B, 2D) with ``pre_logits`` or no head.
        """
        temporal, spatial = features
        fused = torch.cat([temporal.mean(dim=1), self.channel_attention(spatial)], dim=1)  # (B, 2D)
        if pre_logits or self.n_outputs == 0:
            return fused
        return self.final_layer(fused)

    def forward_train(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The training path: logits (B, n_outputs) and each branch's pooled (B, D) — "embedding" the
        temporal tokens' mean, "projection" the channel-attention pool — which a contrastive objective
        (``objective.name=multi_view_contrastive``) can pull together."""
        temporal, spatial = self.forward_features(x)
        pooled_t, pooled_s = temporal.mean(dim=1), self.channel_attention(spatial)
        fused = torch.cat([pooled_t, pooled_s], dim=1)  # (B, 2D)
        logits = self.final_layer(fused) if self.n_outputs > 0 else fused
        return {"logits": logits, "embedding": pooled_t, "projection": pooled_s}

    @torch.no_grad()
    def channel_attention_weights(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, T) -> (B, C): the weight each channel gets in the spatial pooling (rows sum to 1)."""
        return self.channel_attention.weights(self.forward_features(x)[1])

    # ----------------------------------------------------------------- intermediates
    def forward_intermediates(
        self,
        x: torch.Tensor,
        indices: int | list[int] | None = None,
        norm: bool = False,
        output_fmt: Literal["NCHW", "NLC"] = "NCHW",
        intermediates_only: bool = False,
    ) -> tuple[list[torch.Tensor], list[list[torch.Tensor]]] | list[list[torch.Tensor]]:
        """Outputs of chosen stages (stage k = block k of both branches), per branch.

        Args:
            indices: None (every stage), n (the last n) or a list of stage indices.
            norm: apply the branch's final LayerNorm.
            output_fmt: "NCHW" gives channel-first maps — temporal (B, D, N_t), a 1-D map over time,
                and spatial (B, D, C), a map over electrodes; "NLC" gives the tokens (B, N, D).
            intermediates_only: return only the intermediates (stopping after the last one needed).

        Returns:
            ``intermediates[k][b]``, preceded by the final features (as ``forward_features``) unless
            ``intermediates_only``.
        """
        if output_fmt not in ("NCHW", "NLC"):
            raise ConfigError(f"output_fmt must be 'NCHW' or 'NLC', got {output_fmt!r}.")
        take = self.stage_indices(indices)
        xs = self.embed(x)
        intermediates: list[list[torch.Tensor]] = []
        for i, (t_block, s_block) in enumerate(zip(self.temporal_blocks, self.spatial_blocks)):
            xs = [t_block(xs[0]), s_block(xs[1])]
            if i in take:
                outs = [n(t) if norm else t for n, t in zip(self._norms(), xs)]
                if output_fmt == "NCHW":
                    outs = [t.transpose(1, 2) for t in outs]  # (B, N, D) -> (B, D, N)
                intermediates.append(outs)
                if intermediates_only and i == take[-1]:
                    return intermediates
        return [n(t) for n, t in zip(self._norms(), xs)], intermediates
