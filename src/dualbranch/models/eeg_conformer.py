"""EEG Conformer: a shallow convolutional stem followed by a Transformer encoder (single branch).

Yonghao Song, Qingqing Zheng, Bingchuan Liu, Xiaorong Gao. "EEG Conformer: Convolutional Transformer
for EEG Decoding and Visualization." IEEE Transactions on Neural Systems and Rehabilitation
Engineering 31:710–719, 2023 (online 2022). The baseline DBConformer is compared with.

Structure: temporal Conv2d 40×(1, 25), spatial Conv2d (n_chans, 1), BatchNorm, ELU, AvgPool (1, 75)
stride (1, 15), dropout, 1×1 projection to 40 → N = ⌊(T − 24 − 75) / 15⌋ + 1 tokens of width 40 →
6 Transformer blocks (10 heads, feed-forward ×4) → flatten → fully-connected 256 → 32 → n_outputs.

Parameter count at 22 channels × 1001 samples, 2 classes (N = 61 tokens):

=====================================================  ========
stem: 1,040 + 35,240 + BN 80 + projection 1,640          38,000
6 Transformer blocks × 19,720                           118,320
fully connected: 2440→256 (624,896), 256→32 (8,224)     633,120
final_layer 32→2                                             66
total                                                   789,506
=====================================================  ========

The DBConformer paper quotes 789,668 for this model: 162 more, which is exactly a LayerNorm(40) plus
a Linear(40, 2) (80 + 82). The EEG Conformer release defines such a mean-pooling classifier next to
the fully-connected one but never calls it, so those parameters are counted but never trained; an
unused layer has no place here (and would fail the contract's every-parameter-gets-a-gradient check).
:data:`PUBLISHED_UNUSED_PARAMS` records the difference.

Attention divides the query-key products by √D = √40, the token width, as the release (and braindecode)
does, not by √(head width) = 2 as the standard Transformer would: with 10 heads the softmax is √10
times flatter. This is the model the paper's numbers come from, so it is the default; ``att_scale``
picks another factor. In float64 the outputs equal the release's (github.com/eeyhsong/EEG-Conformer,
``scripts/signal_reference.py``, ``tests/test_signal_reference.py``).

Shape legend
    B batch   C channels (n_chans)   T samples (n_times)   N tokens   D = 40 token width
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import torch
from torch import nn

from ..errors import ConfigError
from ..layers.conformer import ShallowConvTokens
from ..layers.transformer import Block
from .base import init_head
from .signal_base import SignalModel

__all__ = ["PUBLISHED_UNUSED_PARAMS", "EEGConformer"]

#: Parameters of the released model's unused mean-pooling head: LayerNorm(40) + Linear(40, n_outputs).
PUBLISHED_UNUSED_PARAMS = {"layernorm": 2 * 40, "linear_per_class": 40 + 1}


class EEGConformer(SignalModel):
    """EEG Conformer with braindecode's arguments. Input (B, n_chans, n_times) -> logits (B, n_outputs).

    One branch; each Transformer block is a stage. ``forward_features`` gives the encoder's tokens
    (B, N, D) (the model has no final norm, so ``norm=True`` changes nothing); the pooled features
    (``pre_logits``) are the 32-d output of the fully-connected block, which reads all N tokens
    (so its size, like the paper's, depends on ``n_times``).

    Args:
        n_chans, n_outputs, n_times, sfreq, chs_info: as in braindecode.
        n_filters_time: convolution filters and token width (40).
        filter_time_length: temporal kernel (25).
        pool_time_length, pool_time_stride: average pooling (75, 15).
        drop_prob: dropout in the stem and the Transformer (0.5).
        att_depth, att_heads, att_drop_prob: Transformer blocks (6), heads (10), attention dropout (0.5).
        fc_hidden: widths of the fully-connected block (256, 32); fc_drop_prob: dropout after each.
        activation: stem and fully-connected non-linearity (ELU); activation_transformer: GELU.
        att_scale: factor on the attention scores (None: 1/√n_filters_time, the release's; see the
            module docstring).
    """

    def __init__(
        self,
        n_chans: int | None = None,
        n_outputs: int = 2,
        n_times: int = 1001,
        sfreq: float | None = 250.0,
        chs_info: Sequence[dict[str, Any]] | None = None,
        n_filters_time: int = 40,
        filter_time_length: int = 25,
        pool_time_length: int = 75,
        pool_time_stride: int = 15,
        drop_prob: float = 0.5,
        att_depth: int = 6,
        att_heads: int = 10,
        att_drop_prob: float = 0.5,
        fc_hidden: tuple[int, int] = (256, 32),
        fc_drop_prob: tuple[float, float] = (0.5, 0.3),
        activation: type[nn.Module] = nn.ELU,
        activation_transformer: type[nn.Module] = nn.GELU,
        att_scale: float | None = None,
    ) -> None:
        super().__init__(n_chans, n_outputs, n_times, sfreq, chs_info)
        self.patch_embedding = ShallowConvTokens(
            self.n_chans,
            n_filters_time,
            filter_time_length,
            pool_time_length,
            pool_time_stride,
            n_filters_time,
            activation,
            drop_prob,
        )
        self.num_tokens = self.patch_embedding.num_tokens(self.n_times)
        if self.num_tokens < 1:
            raise ConfigError(
                f"n_times={self.n_times} is too short for EEG Conformer: it needs at least "
                f"{filter_time_length + pool_time_length - 1} samples (temporal kernel + pooling)."
            )
        self.num_branches = 1
        self.num_stages = att_depth
        self.branch_widths = (n_filters_time,)
        self.num_features = fc_hidden[-1]
        self.blocks = nn.ModuleList(
            Block(
                n_filters_time,
                att_heads,
                4.0,
                drop=drop_prob,
                attn_drop=att_drop_prob,
                act_layer=activation_transformer,
                attn_scale=n_filters_time**-0.5 if att_scale is None else att_scale,
            )
            for _ in range(att_depth)
        )
        self.fc = nn.Sequential(
            nn.Linear(self.num_tokens * n_filters_time, fc_hidden[0]),
            activation(),
            nn.Dropout(fc_drop_prob[0]),
            nn.Linear(fc_hidden[0], fc_hidden[1]),
            activation(),
            nn.Dropout(fc_drop_prob[1]),
        )
        self.final_layer: nn.Module = nn.Linear(fc_hidden[1], n_outputs) if n_outputs > 0 else nn.Identity()

    def reset_classifier(self, num_classes: int) -> None:
        """A fresh ``final_layer`` for ``num_classes`` (0: none, forward returns the (B, 32) features)."""
        self.n_outputs = num_classes
        head = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()
        self.final_layer = init_head(head, self.fc[0].weight.device)

    # ----------------------------------------------------------------- forward
    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """(B, C, T) -> [(B, N, D)], the encoder's tokens."""
        self._check_input(x)
        tokens = self.patch_embedding(x)
        for block in self.blocks:
            tokens = block(tokens)
        return [tokens]

    def forward_head(self, features: list[torch.Tensor], pre_logits: bool = False) -> torch.Tensor:
        """Flatten the tokens, fully-connected block -> (B, 32), then ``final_layer`` -> (B, n_outputs)."""
        pooled = self.fc(features[0].flatten(1))  # (B, N·D) -> (B, 32)
        if pre_logits or self.n_outputs == 0:
            return pooled
        return self.final_layer(pooled)

    def forward_intermediates(
        self,
        x: torch.Tensor,
        indices: int | list[int] | None = None,
        norm: bool = False,
        output_fmt: Literal["NCHW", "NLC"] = "NCHW",
        intermediates_only: bool = False,
    ) -> tuple[list[torch.Tensor], list[list[torch.Tensor]]] | list[list[torch.Tensor]]:
        """Outputs of chosen Transformer blocks, as ``[[map]]`` per stage (one branch).

        ``output_fmt="NCHW"`` gives channel-first 1-D maps over time (B, D, N); "NLC" the tokens
        (B, N, D). ``norm`` is accepted for the contract and changes nothing (no final norm).
        """
        if output_fmt not in ("NCHW", "NLC"):
            raise ConfigError(f"output_fmt must be 'NCHW' or 'NLC', got {output_fmt!r}.")
        take = self.stage_indices(indices)
        self._check_input(x)
        tokens = self.patch_embedding(x)
        intermediates: list[list[torch.Tensor]] = []
        for i, block in enumerate(self.blocks):
            tokens = block(tokens)
            if i in take:
                intermediates.append([tokens.transpose(1, 2) if output_fmt == "NCHW" else tokens])
                if intermediates_only and i == take[-1]:
                    return intermediates
        return [tokens], intermediates
