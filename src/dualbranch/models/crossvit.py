"""CrossViT: Cross-Attention Multi-Scale Vision Transformer, generalised to n ≥ 2 branches.

Chen, Fan, Panda. "CrossViT: Cross-Attention Multi-Scale Vision Transformer for Image
Classification." ICCV 2021. arXiv:2103.14899.

Every branch sees the same image at its own scale and patch size (the paper: 240 px / 12 px and
224 px / 16 px), runs its own Transformer blocks, and exchanges information with the next branch only
through CLS-token cross-attention (:class:`~dualbranch.layers.fusion.CrossAttentionFusion`).
The two-branch variants reproduce the official code and timm exactly (see tests/test_crossvit_oracle.py).

Shape legend
    B batch   C input channels   H×W input image   n branches, b a branch   K stages
    h_b×w_b token grid of branch b, N_b = h_b·w_b patch tokens, T_b = 1 + N_b tokens with CLS
    D_b width of branch b
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ..layers.fusion_factory import build_fusion, check_fusion_name
from ..layers.patch_embed import PatchEmbed, patch_grid_size
from ..layers.transformer import Block
from .base import apply_overrides
from .crossvit_keys import crossvit_keys_from_published, crossvit_keys_to_published
from .token_model import TokenBranchModel

__all__ = ["CrossViT", "CrossViTConfig", "MultiScaleBlock"]


@dataclass(frozen=True)
class CrossViTConfig:
    """Everything that defines a CrossViT. Per-branch fields are tuples with one entry per branch.

    Attributes:
        img_size: input (H, W) (an int means square).
        img_scale: each branch resizes the input to ``int(H·s), int(W·s)`` (bicubic) first; the
            paper's 240 -> 224 for the 16-px branch is ``224 / 240``.
        patch_size: patch side per branch.
        in_chans: input channels (1 for grayscale works directly).
        num_classes: classifier outputs; 0 for no head (forward returns pooled features).
        embed_dim: token width per branch.
        depth: per stage, the number of Transformer blocks of each branch, e.g. ``((1, 3),) * 3``
            is the paper's K=3 stages with N=1 and M=3.
        num_heads, mlp_ratio: per branch.
        fusion: how the branches exchange information after each stage (the schemes of the
            paper's Table 6): "cross_attention" (CrossViT), "none", "all_attention", "class_token"
            or "pairwise"; see :mod:`dualbranch.layers.fusion_factory`.
        fusion_depth: L, stacked fusion layers in each stage (cross-attention layers per branch).
        qkv_bias: bias on the attention projections.
        norm_eps: LayerNorm epsilon (the official code uses 1e-6, not PyTorch's 1e-5).
        stem: "patch" (linear patch embedding) or "conv3" (the † models' three-convolution stem).
        drop_rate, attn_drop_rate: dropout on tokens and on attention weights.
        drop_path_rate: stochastic depth, rising linearly to this value over the stages.
        global_pool: "token" (CLS tokens, the paper) or "avg" (mean of the patch tokens).
    """

    img_size: int | tuple[int, int] = 240
    img_scale: tuple[float, ...] = (1.0, 224 / 240)
    patch_size: tuple[int, ...] = (12, 16)
    in_chans: int = 3
    num_classes: int = 1000
    embed_dim: tuple[int, ...] = (192, 384)
    depth: tuple[tuple[int, ...], ...] = ((1, 4), (1, 4), (1, 4))
    num_heads: tuple[int, ...] = (6, 6)
    mlp_ratio: tuple[float, ...] = (4.0, 4.0)
    fusion: str = "cross_attention"
    fusion_depth: int = 1
    qkv_bias: bool = True
    norm_eps: float = 1e-6
    stem: Literal["patch", "conv3"] = "patch"
    drop_rate: float = 0.0
    attn_drop_rate: float = 0.0
    drop_path_rate: float = 0.0
    global_pool: Literal["token", "avg"] = "token"

    def __post_init__(self) -> None:
        size = self.img_size
        if isinstance(size, int):
            size = (size, size)
        object.__setattr__(self, "img_size", tuple(int(s) for s in size))
        n = len(self.patch_size)
        if n < 2:
            raise ConfigError(f"CrossViT needs at least 2 branches; patch_size={self.patch_size} gives {n}.")
        per_branch = {
            "img_scale": self.img_scale,
            "embed_dim": self.embed_dim,
            "num_heads": self.num_heads,
            "mlp_ratio": self.mlp_ratio,
        }
        per_branch.update({f"depth[{k}]": stage for k, stage in enumerate(self.depth)})
        for name, values in per_branch.items():
            if len(values) != n:
                raise ConfigError(
                    f"{name}={values} has {len(values)} entries but there are {n} branches "
                    f"(patch_size={self.patch_size}); give one entry per branch."
                )
        if not self.depth:
            raise ConfigError("depth must list at least one stage, e.g. ((1, 3),) * 3.")
        for dim, heads in zip(self.embed_dim, self.num_heads):
            if dim % heads:
                raise ConfigError(f"embed_dim {dim} is not divisible by num_heads {heads}.")
        if self.stem == "conv3" and any(dim % 4 for dim in self.embed_dim):
            raise ConfigError(f"stem='conv3' needs every embed_dim divisible by 4, got {self.embed_dim}.")
        if self.global_pool not in ("token", "avg"):
            raise ConfigError(f"global_pool must be 'token' or 'avg', got {self.global_pool!r}.")
        check_fusion_name(self.fusion)

    @property
    def num_branches(self) -> int:
        return len(self.patch_size)

    @property
    def branch_img_sizes(self) -> tuple[tuple[int, int], ...]:
        """(H_b, W_b) each branch resizes the input to."""
        height, width = self.img_size  # type: ignore[misc]
        return tuple((int(height * s), int(width * s)) for s in self.img_scale)


class MultiScaleBlock(nn.Module):
    """One stage: each branch's Transformer blocks, then the fusion (``cfg.fusion``).

    ``blocks[b]`` holds branch b's blocks; ``fusion`` exchanges information between the branches
    (CLS-token cross-attention in CrossViT; the other schemes of the paper's Table 6 on request).
    Input/output: list of n tensors (B, T_b, D_b).
    """

    def __init__(self, cfg: CrossViTConfig, depths: tuple[int, ...], drop_path: list[float]) -> None:
        super().__init__()
        norm_layer = partial(nn.LayerNorm, eps=cfg.norm_eps)
        self.blocks = nn.ModuleList(
            nn.Sequential(
                *(
                    Block(
                        dim,
                        heads,
                        ratio,
                        cfg.qkv_bias,
                        cfg.drop_rate,
                        cfg.attn_drop_rate,
                        drop_path[i],
                        norm_layer=norm_layer,
                    )
                    for i in range(depth)
                )
            )
            for dim, heads, ratio, depth in zip(cfg.embed_dim, cfg.num_heads, cfg.mlp_ratio, depths)
        )
        self.fusion = build_fusion(
            cfg.fusion,
            dims=tuple(cfg.embed_dim),
            num_heads=tuple(cfg.num_heads),
            grids=tuple(
                patch_grid_size(size, patch, cfg.stem) for size, patch in zip(cfg.branch_img_sizes, cfg.patch_size)
            ),
            depth=cfg.fusion_depth,
            qkv_bias=cfg.qkv_bias,
            drop=cfg.drop_rate,
            attn_drop=cfg.attn_drop_rate,
            # the official schedule gives the fusion layers the stage's last rate
            drop_path=drop_path[-1] if drop_path else 0.0,
            norm_layer=norm_layer,
        )

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        return self.fusion([blocks(x) for x, blocks in zip(xs, self.blocks)])


class CrossViT(TokenBranchModel):
    """CrossViT with n ≥ 2 branches. Build from a :class:`CrossViTConfig` and/or field overrides.

    Input (B, C, H, W) with (H, W) = ``config.img_size``; output logits (B, num_classes), the mean of
    the per-branch heads applied to the final CLS tokens.
    """

    def __init__(self, config: CrossViTConfig | None = None, **overrides: object) -> None:
        super().__init__()
        cfg = apply_overrides(config or CrossViTConfig(), overrides)
        self.config = cfg
        self.num_branches = cfg.num_branches
        self.num_stages = len(cfg.depth)
        self.num_classes = cfg.num_classes
        self.num_features = sum(cfg.embed_dim)
        self.branch_widths = tuple(cfg.embed_dim)
        self.input_shape = (cfg.in_chans, *cfg.img_size)  # type: ignore[arg-type]
        self.global_pool = cfg.global_pool

        self.patch_embed = nn.ModuleList(
            PatchEmbed(size, patch, cfg.in_chans, dim, cfg.stem)
            for size, patch, dim in zip(cfg.branch_img_sizes, cfg.patch_size, cfg.embed_dim)
        )
        self.pos_embed = nn.ParameterList(
            nn.Parameter(torch.zeros(1, 1 + embed.num_patches, dim))
            for embed, dim in zip(self.patch_embed, cfg.embed_dim)
        )
        self.cls_token = nn.ParameterList(nn.Parameter(torch.zeros(1, 1, dim)) for dim in cfg.embed_dim)
        self.pos_drop = nn.Dropout(cfg.drop_rate)

        # Stochastic depth rises linearly over the stages; a stage spans its deepest branch.
        stage_lengths = [max(depths) for depths in cfg.depth]
        rates = torch.linspace(0, cfg.drop_path_rate, sum(stage_lengths), device="cpu").tolist()
        self.blocks = nn.ModuleList()
        start = 0
        for depths, length in zip(cfg.depth, stage_lengths):
            self.blocks.append(MultiScaleBlock(cfg, depths, rates[start : start + length]))
            start += length

        self.norm = nn.ModuleList(nn.LayerNorm(dim, eps=cfg.norm_eps) for dim in cfg.embed_dim)
        self.head_drop = nn.Dropout(cfg.drop_rate)
        self.head = self._make_heads(cfg.num_classes)
        self._init_weights()

    # ----------------------------------------------------------------- construction
    def _init_weights(self) -> None:
        # As the official code: truncated normal (std 0.02) for linear layers and the learned tokens,
        # zero biases, unit LayerNorms; convolutions keep PyTorch's default init.
        for param in [*self.pos_embed, *self.cls_token]:
            nn.init.trunc_normal_(param, std=0.02)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def state_dict_from_published(self, state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Rename a timm or official (IBM) CrossViT state dict to this model's key names."""
        return crossvit_keys_from_published(state_dict)

    def published_state_dict(self, naming: str = "timm") -> dict[str, torch.Tensor]:
        """This model's weights under timm's or the official code's key names."""
        return crossvit_keys_to_published(self.state_dict(), naming, self.config.fusion_depth)

    def no_weight_decay(self) -> set[str]:
        """Parameter names that the DeiT/CrossViT recipe excludes from weight decay."""
        # the branch tokens, and position embeddings a fusion strategy may add (blocks.s.fusion.pos_embed)
        return {
            name
            for name, _ in self.named_parameters()
            if name.split(".")[-1] in ("pos_embed", "cls_token") or name.startswith(("pos_embed.", "cls_token."))
        }

    def embed_tokens(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Patch tokens with CLS and position embeddings: (B, C, H, W) -> list of (B, T_b, D_b)."""
        self._check_input(x)
        batch = x.shape[0]
        tokens = []
        for b, (embed, size) in enumerate(zip(self.patch_embed, self.config.branch_img_sizes)):
            scaled = x
            if size != tuple(x.shape[-2:]):
                scaled = F.interpolate(x, size=size, mode="bicubic", align_corners=False)  # (B, C, H_b, W_b)
            patches = embed(scaled)  # (B, N_b, D_b)
            cls = self.cls_token[b].expand(batch, -1, -1)  # (B, 1, D_b)
            tokens.append(self.pos_drop(torch.cat([cls, patches], dim=1) + self.pos_embed[b]))
        return tokens

    def stage_modules(self) -> nn.ModuleList:
        return self.blocks

    def token_grid(self, branch: int) -> tuple[int, int]:
        """(h_b, w_b), the patch-token grid of a branch."""
        return self.patch_embed[branch].grid_size  # type: ignore[return-value]

    @torch.no_grad()
    def cross_attention_maps(self, x: torch.Tensor, stage: int = -1) -> list[torch.Tensor]:
        """Where each branch's CLS query looks in the next branch, at a stage's first fusion layer.

        Returns ``maps[b]``: (B, heads, h_o, w_o), the attention of branch b's CLS token over the patch
        grid of branch o = (b + 1) mod n (its weight on itself is left out).
        """
        if self.config.fusion != "cross_attention":
            raise ConfigError(
                f"Cross-attention maps exist only for fusion='cross_attention', not {self.config.fusion!r}."
            )
        stage = self.stage_indices([stage])[0]
        xs = self.embed_tokens(x)
        for block in self.blocks[:stage]:
            xs = block(xs)
        target = self.blocks[stage]
        xs = [blocks(t) for t, blocks in zip(xs, target.blocks)]
        maps = []
        for b, weights in enumerate(target.fusion.attention_maps(xs)):
            other = (b + 1) % self.num_branches
            height, width = self.token_grid(other)
            # (B, heads, 1 + N_o) -> (B, heads, h_o, w_o)
            maps.append(weights[:, :, 1:].reshape(weights.shape[0], weights.shape[1], height, width))
        return maps
