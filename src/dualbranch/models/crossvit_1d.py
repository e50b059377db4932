"""CrossViT in one dimension: small and large temporal patches of a series, fused by cross-attention.

CrossViT (Chen, Fan, Panda, "CrossViT: Cross-Attention Multi-Scale Vision Transformer for Image
Classification", ICCV 2021, arXiv:2103.14899) looks at an image through small and large patches in
two Transformer branches whose CLS tokens exchange information by cross-attention after every stage.
Here the same idea reads a (multivariate) series: a shared convolutional stem (two Conv1d + BatchNorm
+ GELU layers, the 1-D counterpart of CrossViT†'s three-convolution stem, which gives the patch tokens
the local inductive bias a few hundred training series cannot teach), then

* branch 0: small patches (``patch_size[0]`` samples) — fine timing, many tokens;
* branch 1: large patches (``patch_size[1]`` samples) — shape over longer spans, few tokens;

each a Transformer with a CLS token and learned positions, K stages of (``depth[k][0]``,
``depth[k][1]``) blocks, each stage ending with CLS-token cross-attention fusion
(:class:`~dualbranch.layers.fusion.CrossAttentionFusion`). Each branch's CLS token is classified by
its own linear head and the logits are averaged, as in CrossViT. Because the stem is convolutional
and the patches are non-overlapping, it makes sense for one channel (univariate UCR series) as much
as for many.

Shape legend: B batch, C channels, T samples, W stem width, N_b tokens of branch b, D_b its width,
K classes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ..layers.fusion import CrossAttentionFusion
from ..layers.transformer import Block
from .base import init_head
from .signal_base import SignalModel

__all__ = ["CrossViT1D"]


class CrossViT1D(SignalModel):
    """Two-scale patch Transformer for series (B, C, T) with cross-attention fusion; see the module docstring.

    Args (beyond :class:`~.signal_base.SignalModel`'s):
        patch_size: (small, large) patch lengths in samples; default from ``sizes_for_length``.
        embed_dim: (D_0, D_1) branch widths.
        depth: per stage, (blocks of branch 0, blocks of branch 1).
        num_heads: heads per branch.
        stem_width: W, channels of the convolutional stem; stem_kernel: its kernel (odd).
        mlp_ratio, drop_rate, attn_drop_rate, drop_path_rate: the Transformer's usual options.
        global_pool: what each branch's head reads, its CLS token ("token", CrossViT's choice) or the mean
            of its patch tokens ("avg").
    """

    default_n_chans = 1  # a univariate series unless told otherwise

    def __init__(
        self,
        n_chans: int | None = None,
        n_outputs: int = 2,
        n_times: int = 128,
        sfreq: float | None = None,
        chs_info: Sequence[dict[str, Any]] | None = None,
        patch_size: tuple[int, int] | None = None,
        embed_dim: tuple[int, int] = (64, 128),
        depth: tuple[tuple[int, int], ...] = ((1, 1), (1, 1)),
        num_heads: tuple[int, int] = (4, 4),
        stem_width: int = 64,
        stem_kernel: int = 7,
        mlp_ratio: float = 2.0,
        drop_rate: float = 0.1,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.1,
        global_pool: Literal["token", "avg"] = "token",
    ) -> None:
        super().__init__(n_chans, n_outputs, n_times, sfreq, chs_info)
        patch_size = (
            tuple(patch_size) if patch_size is not None else tuple(self.sizes_for_length(n_times)["patch_size"])
        )
        if len(patch_size) != 2 or min(patch_size) < 1 or max(patch_size) > n_times:
            raise ConfigError(f"patch_size must be two lengths in 1..n_times={n_times}, got {patch_size}.")
        if global_pool not in ("token", "avg"):
            raise ConfigError(
                f"global_pool must be 'token' (the CLS tokens) or 'avg' (mean patch tokens), got {global_pool!r}."
            )
        if stem_kernel % 2 == 0:
            raise ConfigError(f"stem_kernel must be odd (a centred convolution), got {stem_kernel}.")
        self.patch_size = patch_size
        self.global_pool = global_pool
        self.embed_dim = tuple(embed_dim)
        self.num_branches, self.num_stages = 2, len(depth)
        self.branch_widths = self.embed_dim
        self.num_features = sum(self.embed_dim)
        self.stem = nn.Sequential(
            nn.Conv1d(self.n_chans, stem_width, stem_kernel, padding=stem_kernel // 2, bias=False),
            nn.BatchNorm1d(stem_width),
            nn.GELU(),
            nn.Conv1d(stem_width, stem_width, stem_kernel, padding=stem_kernel // 2, bias=False),
            nn.BatchNorm1d(stem_width),
            nn.GELU(),
        )
        self.num_tokens = tuple(-(-n_times // p) for p in patch_size)  # the end is zero-padded to whole patches
        self.patch_embed = nn.ModuleList(nn.Conv1d(stem_width, d, p, stride=p) for p, d in zip(patch_size, embed_dim))
        self.cls_token = nn.ParameterList(nn.Parameter(torch.zeros(1, 1, d)) for d in embed_dim)
        self.pos_embed = nn.ParameterList(
            nn.Parameter(torch.zeros(1, 1 + n, d)) for n, d in zip(self.num_tokens, embed_dim)
        )
        self.pos_drop = nn.Dropout(drop_rate)
        total = sum(sum(stage) for stage in depth)
        # stochastic depth grows linearly over the blocks (plain floats: the model also builds on "meta")
        rates = iter(drop_path_rate * i / max(total - 1, 1) for i in range(total))
        self.stages = nn.ModuleList()
        self.fusions = nn.ModuleList()
        for stage in depth:
            self.stages.append(
                nn.ModuleList(
                    nn.Sequential(
                        *(
                            Block(d, h, mlp_ratio, drop=drop_rate, attn_drop=attn_drop_rate, drop_path=next(rates))
                            for _ in range(blocks)
                        )
                    )
                    for d, h, blocks in zip(embed_dim, num_heads, stage)
                )
            )
            self.fusions.append(CrossAttentionFusion(self.embed_dim, tuple(num_heads), drop=drop_rate))
        self.norm = nn.ModuleList(nn.LayerNorm(d) for d in embed_dim)
        self.final_layer = self._make_head(n_outputs)
        self._init_weights()

    @staticmethod
    def sizes_for_length(n_times: int) -> dict[str, Any]:
        """Patch lengths for ``n_times`` samples: small patches leave about 32 tokens (at least one
        sample each), large ones are 4× longer (about 8 tokens). ItalyPowerDemand (T = 24) gets 1 / 4,
        GunPoint (T = 150) 5 / 20, BasicMotions (T = 100) 3 / 12."""
        small = max(1, round(n_times / 32))
        return {"patch_size": [small, min(4 * small, n_times)]}

    def _make_head(self, n_outputs: int) -> nn.Module:
        if n_outputs == 0:
            return nn.Identity()
        return nn.ModuleList(nn.Linear(d, n_outputs) for d in self.embed_dim)

    def _init_weights(self) -> None:
        for parameter in [*self.cls_token, *self.pos_embed]:
            nn.init.trunc_normal_(parameter, std=0.02)
        init_head(self)  # every Linear by the ViT rule the heads use: trunc-normal weights, zero biases

    def reset_classifier(self, num_classes: int) -> None:
        """New per-branch heads for ``num_classes`` (0: none, forward returns both CLS tokens (B, D_0 + D_1))."""
        self.n_outputs = num_classes
        self.final_layer = init_head(self._make_head(num_classes), self.pos_embed[0].device)

    def no_weight_decay(self) -> set[str]:
        return {f"{name}.{b}" for name in ("cls_token", "pos_embed") for b in range(2)}

    # ----------------------------------------------------------------- forward
    def embed(self, x: torch.Tensor) -> list[torch.Tensor]:
        """(B, C, T) -> per branch (B, 1 + N_b, D_b): CLS token and patch tokens, with positions."""
        self._check_input(x)
        stem = self.stem(x)  # (B, W, T)
        tokens = []
        for b, (embed, p) in enumerate(zip(self.patch_embed, self.patch_size)):
            padded = F.pad(stem, (0, self.num_tokens[b] * p - self.n_times))  # whole patches
            patches = embed(padded).transpose(1, 2)  # (B, D_b, N_b) -> (B, N_b, D_b)
            cls = self.cls_token[b].expand(x.shape[0], -1, -1)  # (B, 1, D_b)
            tokens.append(self.pos_drop(torch.cat([cls, patches], dim=1) + self.pos_embed[b]))
        return tokens

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """(B, C, T) -> per branch the normalised tokens (B, 1 + N_b, D_b)."""
        xs = self.embed(x)
        for blocks, fusion in zip(self.stages, self.fusions):
            xs = fusion([block(t) for block, t in zip(blocks, xs)])
        return [norm(t) for norm, t in zip(self.norm, xs)]

    def forward_head(self, features: list[torch.Tensor], pre_logits: bool = False) -> torch.Tensor:
        """Pooled branches -> mean of the branch heads' logits (B, K); ``pre_logits``: both (B, D_0 + D_1).

        Each branch is pooled by its CLS token (``global_pool="token"``) or the mean of its patch tokens
        (``"avg"``)."""
        pooled = [t[:, 1:].mean(dim=1) if self.global_pool == "avg" else t[:, 0] for t in features]
        if pre_logits or self.n_outputs == 0:
            return torch.cat(pooled, dim=1)
        return torch.stack([head(c) for head, c in zip(self.final_layer, pooled)]).mean(dim=0)

    def forward_intermediates(
        self,
        x: torch.Tensor,
        indices: int | list[int] | None = None,
        norm: bool = False,
        output_fmt: Literal["NCHW", "NLC"] = "NCHW",
        intermediates_only: bool = False,
    ) -> tuple[list[torch.Tensor], list[list[torch.Tensor]]] | list[list[torch.Tensor]]:
        """Tokens after chosen stages, per branch: the patch tokens as (B, D_b, N_b) maps over time
        ("NCHW"), or every token (B, 1 + N_b, D_b) ("NLC"); preceded by the final features unless
        ``intermediates_only``."""
        if output_fmt not in ("NCHW", "NLC"):
            raise ConfigError(f"output_fmt must be 'NCHW' or 'NLC', got {output_fmt!r}.")
        take = self.stage_indices(indices)
        xs = self.embed(x)
        intermediates: list[list[torch.Tensor]] = []
        for i, (blocks, fusion) in enumerate(zip(self.stages, self.fusions)):
            xs = fusion([block(t) for block, t in zip(blocks, xs)])
            if i in take:
                outs = [n(t) if norm else t for n, t in zip(self.norm, xs)]
                # NCHW: the patch tokens as a map over time (B, D_b, N_b); NLC: every token (B, 1 + N_b, D_b)
                intermediates.append([t[:, 1:].transpose(1, 2) for t in outs] if output_fmt == "NCHW" else outs)
                if intermediates_only and i == take[-1]:
                    return intermediates
        return [n(t) for n, t in zip(self.norm, xs)], intermediates
