"""DBConformer: a dual-branch convolutional Transformer for EEG (and other multichannel series).

Ziwei Wang, Hongbin Wang, Tianwang Jia, Xingyi He, Siyang Li, Dongrui Wu. "DBConformer: Dual-Branch
Convolutional Transformer for EEG Decoding." IEEE Journal of Biomedical and Health Informatics, 2026.
arXiv:2506.21140. Implemented from the paper and checked against the authors' release
(github.com/wzwvv/DBConformer, PolyForm Noncommercial 1.0.0, so none of its code is used here): in
float64 the outputs equal the release's (``scripts/signal_reference.py``,
``tests/test_signal_reference.py``).

Two branches read the same (B, C, T) signal in parallel:

* temporal (T-Conformer): 1×1 channel mixing + BN, depthwise temporal conv (kernel 63) + BN, GELU,
  average-pool patching into N_t = ⌊T / patch_size⌋ tokens of width 40, dropout, learned positions,
  Transformer blocks — long-range dependencies in time;
* spatial (S-Conformer): each channel embedded on its own (strided temporal conv, ELU, average over
  time, linear to 40), one token per channel, learned positions, Transformer blocks — relations
  between channels.

The temporal tokens are averaged, the channel tokens pooled by channel attention (one weight per
electrode, :meth:`DBConformer.channel_attention_weights`), the two 40-d vectors concatenated and
classified by EEG Conformer's fully-connected head (80 → 64 → 32, ELU, then ``final_layer``). The
Transformer blocks are EEG Conformer's: pre-norm, 10 heads, GELU feed-forward ×4, no final norm, and
attention scores divided by √D = √40 rather than √(head width), as the release computes them.

Parameter count. The paper reports 93,747 parameters for 22 channels, 1001 samples, 2 classes and
depth 2; the release at those settings (patch 125, 16 spatial filters) has exactly that, and so does
this model with the one parameter below (``benchmarks/dbconformer_params.py``,
``tests/test_signal_models.py``):

====================================================  ========  ==========================
part                                                  params    how
====================================================  ========  ==========================
temporal stem: Conv1d 22→40 (1×1, no bias), BN(40)        960    880 + 80
  depthwise Conv1d 40, kernel 63 (no bias), BN(40)       2,600    2,520 + 80
  positions, N_t = ⌊1001 / 125⌋ = 8 tokens × 40           320
spatial stem: Conv1d 1→16, kernel 25, stride 5           416    16·25 + 16
  Linear 16→40                                            680    640 + 40
  positions, 22 channel tokens × 40                       880
Transformer block (D=40, 10 heads, MLP ratio 4)        19,720    LN 80 + qkv 4,920 + proj
                                                                 1,640 + LN 80 + MLP 13,000
  × 2 blocks × 2 branches                              78,880
channel attention: Linear 40→40, Tanh, Linear 40→1     1,680    1,640 + 40 (no output bias)
fully connected: Linear 80→64, Linear 64→32            7,264    5,184 + 2,080
``final_layer`` 32→2                                       66
total                                                  93,746
release's scorer output bias (:data:`PUBLISHED_UNUSED_PARAMS`)   1
====================================================  ========  ==========================

The release's channel-attention scorer ends in Linear(40, 1) with a bias; softmax over channels
ignores a shift shared by every channel, so that bias gets no gradient and changes no output. A
parameter that cannot learn has no place here (and would fail the contract's every-parameter-gets-
a-gradient check), so it is left out and recorded, as EEG Conformer's unused head is. The release
drops a trial's last sample before patching (1001 -> 1000 samples); pooling ⌊T / patch_size⌋ whole
patches does the same whenever T is not a multiple of the patch. Dropout as in the release: 0.5 on
the temporal tokens, on attention weights and in the blocks; 0.5 and 0.3 in the head. Positions start
standard-normal, as the release's ``torch.randn``.

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

__all__ = ["PUBLISHED_UNUSED_PARAMS", "DBConformer"]

#: Parameters of the release that can never learn: the channel-attention scorer's output bias.
PUBLISHED_UNUSED_PARAMS = {"score_out_bias": 1}


class DBConformer(SignalModel):
    """DBConformer with braindecode's arguments. Input (B, n_chans, n_times) -> logits (B, n_outputs).

    ``forward_features`` gives both branches' tokens; the pooled features (``pre_logits``) are the
    32-d output of the fully-connected block, which reads the fused (B, 2D) vector.

    Args:
        n_chans, n_outputs, n_times, sfreq, chs_info: as in braindecode (see
            :class:`~dualbranch.models.signal_base.SignalModel`).
        embed_dim: token width D of both branches (40).
        depth: Transformer blocks per branch (2); each block is one stage.
        num_heads, mlp_ratio: of the Transformer blocks (10, 4).
        temporal_kernel: depthwise temporal kernel (63, odd).
        patch_size: samples per temporal token (125).
        spatial_filters, spatial_kernel, spatial_stride: the per-channel embedding (16, 25, 5).
        attention_hidden: channel-attention scorer width (None: D).
        fc_hidden: widths of the fully-connected block (64, 32); head_drop_prob: dropout after each
            ((0.5, 0.3); one number sets both).
        drop_prob: dropout on the temporal tokens and in the blocks (0.5); att_drop_prob on attention
            weights (0.5).
        activation: the temporal stem's non-linearity (GELU); activation_spatial: the per-channel
            embedding's and the head's (ELU).
        att_scale: factor on the attention scores (None: 1/√D, the release's).
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
        patch_size: int = 125,
        spatial_filters: int = 16,
        spatial_kernel: int = 25,
        spatial_stride: int = 5,
        attention_hidden: int | None = None,
        fc_hidden: tuple[int, int] = (64, 32),
        head_drop_prob: float | tuple[float, float] = (0.5, 0.3),
        drop_prob: float = 0.5,
        att_drop_prob: float = 0.5,
        activation: type[nn.Module] = nn.GELU,
        activation_spatial: type[nn.Module] = nn.ELU,
        att_scale: float | None = None,
    ) -> None:
        super().__init__(n_chans, n_outputs, n_times, sfreq, chs_info)
        if self.n_times < patch_size:
            raise ConfigError(f"n_times={self.n_times} is shorter than one patch (patch_size={patch_size}).")
        if self.n_times < spatial_kernel:
            raise ConfigError(f"n_times={self.n_times} is shorter than spatial_kernel={spatial_kernel}.")
        self.num_branches = 2
        self.num_stages = depth
        self.branch_widths = (embed_dim, embed_dim)
        self.num_features = fc_hidden[-1]
        self.num_temporal_tokens = self.n_times // patch_size

        self.temporal_embed = TemporalPatchTokens(self.n_chans, embed_dim, temporal_kernel, patch_size, activation)
        self.temporal_drop = nn.Dropout(drop_prob)
        self.spatial_embed = ChannelTokens(
            embed_dim, spatial_filters, spatial_kernel, spatial_stride, activation_spatial
        )
        self.temporal_pos = nn.Parameter(torch.randn(1, self.num_temporal_tokens, embed_dim))
        self.spatial_pos = nn.Parameter(torch.randn(1, self.n_chans, embed_dim))
        scale = embed_dim**-0.5 if att_scale is None else att_scale

        def blocks() -> nn.ModuleList:
            return nn.ModuleList(
                Block(embed_dim, num_heads, mlp_ratio, drop=drop_prob, attn_drop=att_drop_prob, attn_scale=scale)
                for _ in range(depth)
            )

        self.temporal_blocks, self.spatial_blocks = blocks(), blocks()
        self.channel_attention = ChannelAttentionPool(embed_dim, attention_hidden)
        fc_drop = (head_drop_prob, head_drop_prob) if isinstance(head_drop_prob, (int, float)) else head_drop_prob
        self.fc = nn.Sequential(
            nn.Linear(2 * embed_dim, fc_hidden[0]),
            activation_spatial(),
            nn.Dropout(fc_drop[0]),
            nn.Linear(fc_hidden[0], fc_hidden[1]),
            activation_spatial(),
            nn.Dropout(fc_drop[1]),
        )
        self.final_layer: nn.Module = nn.Linear(fc_hidden[1], n_outputs) if n_outputs > 0 else nn.Identity()
        for conv in (self.temporal_embed.mix, self.temporal_embed.depthwise):  # as the release; the rest
            nn.init.trunc_normal_(conv.weight, std=0.01)  # keeps PyTorch's defaults, as there

    # ----------------------------------------------------------------- construction
    @staticmethod
    def sizes_for_length(n_times: int) -> dict[str, int]:
        """Kernel and patch sizes that fit ``n_times`` samples: {} (the paper's sizes) from 1000 samples.

        The paper's sizes (patch 125, temporal kernel 63, spatial kernel 25 stride 5) are for 1001
        samples, i.e. 8 temporal tokens. A shorter input keeps 8 temporal tokens: the patch shrinks
        to T // 8, the depthwise kernel keeps the paper's ratio to the patch (63 / 125, rounded to
        odd, at least 3), and the per-channel convolution spans about a quarter of the input (at most
        25, at least 3) with a fifth of its length as stride. BasicMotions (T = 100) gets patch 12,
        kernel 7, spatial 25 / 5; JapaneseVowels (T = 29, padded) patch 3, kernel 3, spatial 7 / 1.
        """
        if n_times >= 1000:
            return {}
        patch = max(1, n_times // 8)
        temporal = max(3, 2 * round(0.252 * patch) + 1)
        spatial = max(3, min(25, n_times // 4))
        return {
            "patch_size": patch,
            "temporal_kernel": temporal,
            "spatial_kernel": spatial,
            "spatial_stride": max(1, spatial // 5),
        }

    def reset_classifier(self, num_classes: int) -> None:
        """A fresh ``final_layer`` for ``num_classes`` (0: none, forward returns the (B, 32) features)."""
        self.n_outputs = num_classes
        head = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()
        self.final_layer = init_head(head, self.temporal_pos.device)

    def no_weight_decay(self) -> set[str]:
        """Positions are not decayed."""
        return {"temporal_pos", "spatial_pos"}

    # ----------------------------------------------------------------- forward
    def embed(self, x: torch.Tensor) -> list[torch.Tensor]:
        """(B, C, T) -> [temporal tokens (B, N_t, D), channel tokens (B, C, D)], with positions."""
        self._check_input(x)
        temporal = self.temporal_drop(self.temporal_embed(x)) + self.temporal_pos
        return [temporal, self.spatial_embed(x) + self.spatial_pos]

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """(B, C, T) -> [(B, N_t, D), (B, C, D)]: the encoded tokens of both branches."""
        temporal, spatial = self.embed(x)
        for t_block, s_block in zip(self.temporal_blocks, self.spatial_blocks):
            temporal, spatial = t_block(temporal), s_block(spatial)
        return [temporal, spatial]

    def forward_head(self, features: list[torch.Tensor], pre_logits: bool = False) -> torch.Tensor:
        """Mean of the temporal tokens ‖ channel-attention pool of the channel tokens -> (B, 2D) -> fully
        connected -> (B, 32) -> ``final_layer``.

        Returns logits (B, n_outputs), or the (B, 32) features with ``pre_logits`` or no head.
        """
        temporal, spatial = features
        fused = torch.cat([temporal.mean(dim=1), self.channel_attention(spatial)], dim=1)  # (B, 2D)
        pooled = self.fc(fused)  # (B, 32)
        if pre_logits or self.n_outputs == 0:
            return pooled
        return self.final_layer(pooled)

    def forward_train(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The training path: logits (B, n_outputs) and each branch's pooled (B, D) — "embedding" the
        temporal tokens' mean, "projection" the channel-attention pool — which a contrastive objective
        (``objective.name=multi_view_contrastive``) can pull together."""
        temporal, spatial = self.forward_features(x)
        pooled_t, pooled_s = temporal.mean(dim=1), self.channel_attention(spatial)
        pooled = self.fc(torch.cat([pooled_t, pooled_s], dim=1))  # (B, 2D) -> (B, 32)
        logits = self.final_layer(pooled) if self.n_outputs > 0 else pooled
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
            norm: accepted for the contract; changes nothing (the branches have no final norm).
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
                outs = list(xs)
                if output_fmt == "NCHW":
                    outs = [t.transpose(1, 2) for t in outs]  # (B, N, D) -> (B, D, N)
                intermediates.append(outs)
                if intermediates_only and i == take[-1]:
                    return intermediates
        return xs, intermediates
