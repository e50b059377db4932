"""The generic builder: an n-branch model assembled from parts by a :class:`MultiBranchConfig`.

Each branch resizes the input (optionally), tokenizes it, adds a CLS token (and position
embeddings), and runs K stages of its encoder; after every stage a fusion strategy joins the
branches. Each branch ends with a norm and a linear head; the logits are the mean of the heads, as in
CrossViT (Chen, Fan, Panda, ICCV 2021, arXiv:2103.14899). Branches can mix Transformer and CNN parts
(see :mod:`dualbranch.models.parts`); with patch tokenizers and Transformer encoders the model is a
CrossViT-style network.

Shape legend
    B batch   C input channels   H×W input   n branches, b a branch   K stages
    h_b×w_b token grid of branch b, N_b = h_b·w_b, T_b = 1 + N_b tokens with CLS   D_b width
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..layers.fusion_factory import build_fusion
from .base import apply_overrides
from .builder_config import BranchConfig, MultiBranchConfig, part_spec
from .parts import build_encoder, build_tokenizer, token_norm
from .token_model import TokenBranchModel

__all__ = ["BranchEmbed", "MultiBranchNet", "MultiBranchStage"]


class BranchEmbed(nn.Module):
    """Input -> tokens of one branch: (B, C, H, W) -> (B, T_b, D_b), CLS first.

    Resizes to the branch's (H_b, W_b) (bicubic) if that differs, tokenizes, prepends the CLS token
    and adds the position embedding.
    """

    def __init__(self, branch: BranchConfig, cfg: MultiBranchConfig, img_size: tuple[int, int]) -> None:
        super().__init__()
        self.img_size = tuple(img_size)
        self.tokenizer = build_tokenizer(part_spec(branch, cfg), self.img_size)
        self.grid_size: tuple[int, int] = tuple(self.tokenizer.grid_size)  # type: ignore[assignment]
        num_tokens = 1 + self.grid_size[0] * self.grid_size[1]
        self.cls_token = nn.Parameter(torch.zeros(1, 1, branch.embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, num_tokens, branch.embed_dim)) if branch.pos_embed else None
        self.drop = nn.Dropout(cfg.drop_rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[-2:]) != self.img_size:
            x = F.interpolate(x, size=self.img_size, mode="bicubic", align_corners=False)  # (B, C, H_b, W_b)
        patches = self.tokenizer(x)  # (B, N_b, D_b)
        tokens = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), patches], dim=1)  # (B, T_b, D_b)
        if self.pos_embed is not None:
            tokens = tokens + self.pos_embed
        return self.drop(tokens)


class MultiBranchStage(nn.Module):
    """One stage: each branch's encoder (``encoders[b]``), then the fusion. List of (B, T_b, D_b) in and out."""

    def __init__(self, encoders: list[nn.Module], fusion: nn.Module) -> None:
        super().__init__()
        self.encoders = nn.ModuleList(encoders)
        self.fusion = fusion

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        return self.fusion([encoder(x) for encoder, x in zip(self.encoders, xs)])


class MultiBranchNet(TokenBranchModel):
    """An n-branch model built from a :class:`MultiBranchConfig` and/or field overrides.

    Input (B, C, H, W) with (H, W) = ``config.img_size``; output logits (B, num_classes), the mean of
    the per-branch heads applied to the pooled final tokens.
    """

    def __init__(self, config: MultiBranchConfig | None = None, **overrides: object) -> None:
        super().__init__()
        cfg = apply_overrides(config or MultiBranchConfig(), overrides)
        self.config = cfg
        self.num_branches = cfg.num_branches
        self.num_stages = cfg.num_stages
        self.num_classes = cfg.num_classes
        self.branch_widths = tuple(b.embed_dim for b in cfg.branches)
        self.num_features = sum(self.branch_widths)
        self.input_shape = (cfg.in_chans, *cfg.img_size)  # type: ignore[arg-type]
        self.global_pool = cfg.global_pool

        self.embed = nn.ModuleList(
            BranchEmbed(branch, cfg, size) for branch, size in zip(cfg.branches, cfg.branch_img_sizes)
        )
        grids = tuple(embed.grid_size for embed in self.embed)
        norm = token_norm(cfg.norm_layer, cfg.norm_eps)
        # Stochastic depth rises linearly over the stages; a stage spans its deepest branch.
        lengths = [max(b.depth[k] for b in cfg.branches) for k in range(cfg.num_stages)]
        rates = torch.linspace(0, cfg.drop_path_rate, max(sum(lengths), 1), device="cpu").tolist()
        self.stages = nn.ModuleList()
        start = 0
        for k, length in enumerate(lengths):
            stage_rates = rates[start : start + length]
            encoders = [
                build_encoder(part_spec(branch, cfg), grid, branch.depth[k], stage_rates[: branch.depth[k]])
                for branch, grid in zip(cfg.branches, grids)
            ]
            fusion = build_fusion(
                cfg.fusion,
                dims=self.branch_widths,
                num_heads=tuple(b.num_heads for b in cfg.branches),
                grids=grids,
                depth=cfg.fusion_depth,
                qkv_bias=cfg.qkv_bias,
                drop=cfg.drop_rate,
                attn_drop=cfg.attn_drop_rate,
                drop_path=stage_rates[-1] if stage_rates else 0.0,
                act_layer=cfg.act_layer,
                norm_layer=norm,
            )
            self.stages.append(MultiBranchStage(encoders, fusion))
            start += length

        self.norm = nn.ModuleList(norm(dim) for dim in self.branch_widths)
        self.head_drop = nn.Dropout(cfg.drop_rate)
        self.head = self._make_heads(cfg.num_classes)
        self._init_weights()

    # ----------------------------------------------------------------- construction
    def _init_weights(self) -> None:
        # ViT/CrossViT recipe for the token parts: truncated normal (std 0.02) for linear layers and
        # learned tokens, zero biases; convolutions and norms keep PyTorch's defaults.
        for embed in self.embed:
            nn.init.trunc_normal_(embed.cls_token, std=0.02)
            if embed.pos_embed is not None:
                nn.init.trunc_normal_(embed.pos_embed, std=0.02)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def no_weight_decay(self) -> set[str]:
        """Learned tokens and position embeddings, which the DeiT/CrossViT recipe does not decay."""
        return {name for name, _ in self.named_parameters() if name.endswith(("cls_token", "pos_embed"))}

    def embed_tokens(self, x: torch.Tensor) -> list[torch.Tensor]:
        """(B, C, H, W) -> list of (B, T_b, D_b), CLS first."""
        self._check_input(x)
        return [embed(x) for embed in self.embed]

    def stage_modules(self) -> nn.ModuleList:
        return self.stages

    def token_grid(self, branch: int) -> tuple[int, int]:
        """(h_b, w_b), the patch-token grid of a branch."""
        return self.embed[branch].grid_size  # type: ignore[return-value]
