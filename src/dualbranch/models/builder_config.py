"""Configuration of the generic multi-branch builder: one :class:`BranchConfig` per branch.

A branch is a tokenizer (``"patch"``, ``"conv3"`` or ``"cnn"``, see :mod:`dualbranch.models.parts`)
and an encoder per stage (``"transformer"``, ``"cnn"`` or ``"resnet"``); after every stage a fusion strategy
(:mod:`dualbranch.layers.fusion_factory`) joins the branches, as in CrossViT's multi-scale blocks
(Chen, Fan, Panda, ICCV 2021, arXiv:2103.14899).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from torch import nn

from ..errors import ConfigError, ModelOptionError
from ..layers.fusion_factory import check_fusion_name
from .parts import ENCODERS, TOKENIZERS, PartSpec, check_part_name

__all__ = ["LAYER_CLASSES", "BranchConfig", "MultiBranchConfig", "part_spec", "resolve_layer"]

# The layer classes a config may name as a string (YAML, JSON, safetensors metadata). Only these:
# a config never imports a module or builds a class from an arbitrary dotted path.
_ACTIVATIONS = (nn.GELU, nn.ReLU, nn.SiLU, nn.Mish, nn.Hardswish, nn.Tanh, nn.Identity)
_NORMS = (nn.LayerNorm, nn.BatchNorm2d, nn.GroupNorm, nn.RMSNorm)
LAYER_CLASSES: dict[str, type[nn.Module]] = {cls.__name__: cls for cls in (*_ACTIVATIONS, *_NORMS)}
_LAYER_FIELDS = ("norm_layer", "act_layer", "conv_norm_layer", "conv_act_layer")


def resolve_layer(field_name: str, value: Any) -> type[nn.Module]:
    """A layer class from a class or one of the names in :data:`LAYER_CLASSES`; anything else is an error."""
    if isinstance(value, type) and issubclass(value, nn.Module):
        return value
    if isinstance(value, str) and value in LAYER_CLASSES:
        return LAYER_CLASSES[value]
    raise ModelOptionError(
        f"{field_name}={value!r} is not a known layer. Give one of {', '.join(LAYER_CLASSES)} (by name, "
        f"e.g. {field_name}: {'LayerNorm' if field_name.endswith('norm_layer') else 'GELU'}), or pass an "
        f"nn.Module class from Python; configs cannot import classes from dotted paths."
    )


@dataclass(frozen=True)
class BranchConfig:
    """One branch.

    Attributes:
        tokenizer: how the branch makes tokens: "patch" (linear patch embedding), "conv3"
            (CrossViT†'s three-convolution stem) or "cnn" (a small strided CNN stage).
        patch_size: the tokenizer's total stride (the side of a patch).
        embed_dim: token width D_b.
        encoder: "transformer" (pre-norm ViT blocks), "cnn" (ConvNeXt-style blocks on the grid) or "resnet"
            (ResNet basic blocks on the grid: dense 3×3 convolutions, fast on CPUs).
        depth: blocks of this branch in each stage (its length is the number of stages).
        num_heads: attention heads (the Transformer encoder and the attention fusions use them).
        mlp_ratio: MLP ratio of the Transformer blocks / expansion of the CNN blocks.
        kernel_size: depthwise kernel of the CNN blocks.
        img_scale: the branch resizes the input by this factor (bicubic) first, as CrossViT does.
        pos_embed: learned position embeddings on the tokens (a CNN branch can do without).
    """

    tokenizer: str = "patch"
    patch_size: int = 4
    embed_dim: int = 64
    encoder: str = "transformer"
    depth: tuple[int, ...] = (1, 1, 1)
    num_heads: int = 2
    mlp_ratio: float = 4.0
    kernel_size: int = 3
    img_scale: float = 1.0
    pos_embed: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "depth", tuple(int(d) for d in self.depth))
        check_part_name(TOKENIZERS, "tokenizer", self.tokenizer)
        check_part_name(ENCODERS, "encoder", self.encoder)
        if not self.depth or min(self.depth) < 0:
            raise ConfigError(f"depth must list a non-negative block count per stage, got {self.depth}.")
        if self.embed_dim < 1 or self.patch_size < 1:
            raise ConfigError(f"embed_dim and patch_size must be positive, got {self.embed_dim}, {self.patch_size}.")
        if self.embed_dim % self.num_heads:
            raise ConfigError(f"embed_dim {self.embed_dim} is not divisible by num_heads {self.num_heads}.")


def _default_branches() -> tuple[BranchConfig, ...]:
    # a local (small patches, narrow) and a global (large patches, wide) Transformer branch
    return (
        BranchConfig(patch_size=4, embed_dim=64, num_heads=2, depth=(1, 1, 1)),
        BranchConfig(patch_size=7, embed_dim=128, num_heads=4, depth=(2, 2, 2)),
    )


@dataclass(frozen=True)
class MultiBranchConfig:
    """A whole model: the branches, the fusion after each stage, the heads.

    Attributes:
        branches: one :class:`BranchConfig` (or a dict of its fields) per branch.
        img_size: input (H, W) (an int means square); in_chans: input channels.
        num_classes: classifier outputs; 0 for no head (forward returns pooled features).
        fusion: strategy joining the branches after each stage ("none" for a single branch).
        fusion_depth: L, stacked fusion layers per stage.
        qkv_bias: bias on the attention projections.
        norm_layer, norm_eps: token norm class and its epsilon.
        act_layer: activation class of the blocks and projections.
        conv_norm_layer, conv_act_layer: norm and activation classes of the CNN parts (feature maps).
        drop_rate, attn_drop_rate: dropout on tokens and attention weights.
        drop_path_rate: stochastic depth, rising linearly to this value over the stages.
        global_pool: "token" (CLS tokens) or "avg" (mean of the patch tokens), per branch.
    """

    branches: tuple[BranchConfig, ...] = field(default_factory=_default_branches)
    img_size: int | tuple[int, int] = 28
    in_chans: int = 1
    num_classes: int = 10
    fusion: str = "cross_attention"
    fusion_depth: int = 1
    qkv_bias: bool = True
    norm_layer: type[nn.Module] = nn.LayerNorm
    norm_eps: float = 1e-6
    act_layer: type[nn.Module] = nn.GELU
    conv_norm_layer: type[nn.Module] = nn.BatchNorm2d
    conv_act_layer: type[nn.Module] = nn.ReLU
    drop_rate: float = 0.0
    attn_drop_rate: float = 0.0
    drop_path_rate: float = 0.0
    global_pool: Literal["token", "avg"] = "token"

    def __post_init__(self) -> None:
        size = (self.img_size, self.img_size) if isinstance(self.img_size, int) else self.img_size
        object.__setattr__(self, "img_size", tuple(int(s) for s in size))
        for name in _LAYER_FIELDS:
            object.__setattr__(self, name, resolve_layer(name, getattr(self, name)))
        branches = tuple(_as_branch(b) for b in self.branches)
        object.__setattr__(self, "branches", branches)
        if not branches:
            raise ConfigError("A model needs at least one branch.")
        check_fusion_name(self.fusion)
        if len(branches) == 1 and self.fusion != "none":
            raise ConfigError(f"fusion={self.fusion!r} needs at least 2 branches; use fusion='none' for one.")
        stages = {len(b.depth) for b in branches}
        if len(stages) != 1:
            raise ConfigError(
                f"Every branch needs the same number of stages; the depths {[b.depth for b in branches]} differ."
            )
        if self.fusion_depth < 1:
            raise ConfigError(f"fusion_depth must be at least 1, got {self.fusion_depth}.")
        if self.global_pool not in ("token", "avg"):
            raise ConfigError(f"global_pool must be 'token' or 'avg', got {self.global_pool!r}.")

    @property
    def num_branches(self) -> int:
        return len(self.branches)

    @property
    def num_stages(self) -> int:
        return len(self.branches[0].depth)

    @property
    def branch_img_sizes(self) -> tuple[tuple[int, int], ...]:
        """(H_b, W_b) each branch resizes the input to."""
        height, width = self.img_size  # type: ignore[misc]
        return tuple((int(height * b.img_scale), int(width * b.img_scale)) for b in self.branches)


def part_spec(branch: BranchConfig, cfg: MultiBranchConfig) -> PartSpec:
    """The fields of ``branch`` and ``cfg`` that its tokenizer and encoders are built from."""
    return PartSpec(
        tokenizer=branch.tokenizer,
        encoder=branch.encoder,
        patch_size=branch.patch_size,
        embed_dim=branch.embed_dim,
        num_heads=branch.num_heads,
        mlp_ratio=branch.mlp_ratio,
        kernel_size=branch.kernel_size,
        in_chans=cfg.in_chans,
        qkv_bias=cfg.qkv_bias,
        drop_rate=cfg.drop_rate,
        attn_drop_rate=cfg.attn_drop_rate,
        act_layer=cfg.act_layer,
        norm_layer=cfg.norm_layer,
        norm_eps=cfg.norm_eps,
        conv_norm_layer=cfg.conv_norm_layer,
        conv_act_layer=cfg.conv_act_layer,
    )


def _as_branch(value: Any) -> BranchConfig:
    # YAML/JSON configs give dicts (and lists, which apply_overrides has made tuples)
    if isinstance(value, BranchConfig):
        return value
    if isinstance(value, dict):
        known = {f.name for f in dataclasses.fields(BranchConfig)}
        unknown = sorted(set(value) - known)
        if unknown:
            raise ModelOptionError(
                f"Unknown BranchConfig option(s) {unknown}. Valid options: {', '.join(sorted(known))}."
            )
        return BranchConfig(**value)
    raise ModelOptionError(f"A branch is a BranchConfig or a dict of its fields, got {type(value).__name__}.")
