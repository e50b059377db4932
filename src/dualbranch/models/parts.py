"""Part registries of the generic builder: tokenizers and encoders by name.

A tokenizer turns the (resized) input of a branch into tokens; an encoder is one stage of a branch.
New kinds (a 1-D signal tokenizer, say) plug in with ``@register_tokenizer("name")`` /
``@register_encoder("name")`` and are then usable in :class:`~dualbranch.models.builder_config.BranchConfig`.

Contracts
    tokenizer builder: ``(branch, cfg, img_size) -> module`` with a ``grid_size`` (h, w) attribute,
        mapping (B, C, H_b, W_b) -> (B, N, D) with N = h·w (a signal tokenizer would use h = 1).
    encoder builder: ``(branch, cfg, grid, depth, drop_path) -> module`` mapping (B, T, D) -> (B, T, D),
        CLS first, with ``drop_path`` one stochastic-depth rate per block.

Shape legend: B batch, C channels, H_b×W_b branch input, h×w token grid, N = h·w, T = 1 + N, D width.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from torch import nn

from ..layers.conv_encoder import ConvTokenEncoder
from ..layers.conv_tokenizer import ConvTokenizer
from ..layers.patch_embed import PatchEmbed
from ..layers.transformer import Block

if TYPE_CHECKING:
    from .builder_config import BranchConfig, MultiBranchConfig

__all__ = ["ENCODERS", "TOKENIZERS", "build_encoder", "build_tokenizer", "register_encoder", "register_tokenizer"]

TokenizerBuilder = Callable[["BranchConfig", "MultiBranchConfig", tuple[int, int]], nn.Module]
EncoderBuilder = Callable[["BranchConfig", "MultiBranchConfig", tuple[int, int], int, list[float]], nn.Module]

TOKENIZERS: dict[str, TokenizerBuilder] = {}
ENCODERS: dict[str, EncoderBuilder] = {}


def _register(table: dict, kind: str, name: str) -> Callable:
    def decorate(builder: Callable) -> Callable:
        if name in table:
            raise ValueError(f"{kind} {name!r} is registered twice.")
        table[name] = builder
        return builder

    return decorate


def register_tokenizer(name: str) -> Callable[[TokenizerBuilder], TokenizerBuilder]:
    """Decorator: register a tokenizer builder under ``name``."""
    return _register(TOKENIZERS, "Tokenizer", name)


def register_encoder(name: str) -> Callable[[EncoderBuilder], EncoderBuilder]:
    """Decorator: register an encoder builder under ``name``."""
    return _register(ENCODERS, "Encoder", name)


def check_part_name(table: dict, kind: str, name: str) -> None:
    """Raise a ValueError listing the registered names if ``name`` is not one of them."""
    if name not in table:
        raise ValueError(f"Unknown {kind} {name!r}; valid: {', '.join(sorted(table))}.")


def build_tokenizer(branch: BranchConfig, cfg: MultiBranchConfig, img_size: tuple[int, int]) -> nn.Module:
    """The tokenizer ``branch.tokenizer`` for an (H_b, W_b) input."""
    check_part_name(TOKENIZERS, "tokenizer", branch.tokenizer)
    return TOKENIZERS[branch.tokenizer](branch, cfg, img_size)


def build_encoder(
    branch: BranchConfig, cfg: MultiBranchConfig, grid: tuple[int, int], depth: int, drop_path: list[float]
) -> nn.Module:
    """One stage of ``depth`` blocks of the encoder ``branch.encoder`` (an identity when depth is 0)."""
    check_part_name(ENCODERS, "encoder", branch.encoder)
    if depth == 0:
        return nn.Identity()
    return ENCODERS[branch.encoder](branch, cfg, grid, depth, drop_path)


def token_norm(cfg: MultiBranchConfig) -> Callable[[int], nn.Module]:
    """The token norm constructor (takes a width) of a config."""
    return partial(cfg.norm_layer, eps=cfg.norm_eps)


@register_tokenizer("patch")
def _patch(branch: BranchConfig, cfg: MultiBranchConfig, img_size: tuple[int, int]) -> nn.Module:
    return PatchEmbed(img_size, branch.patch_size, cfg.in_chans, branch.embed_dim, stem="patch")


@register_tokenizer("conv3")
def _conv3(branch: BranchConfig, cfg: MultiBranchConfig, img_size: tuple[int, int]) -> nn.Module:
    return PatchEmbed(img_size, branch.patch_size, cfg.in_chans, branch.embed_dim, stem="conv3")


@register_tokenizer("cnn")
def _cnn(branch: BranchConfig, cfg: MultiBranchConfig, img_size: tuple[int, int]) -> nn.Module:
    return ConvTokenizer(
        img_size, branch.patch_size, cfg.in_chans, branch.embed_dim, cfg.conv_norm_layer, cfg.conv_act_layer
    )


@register_encoder("transformer")
def _transformer(
    branch: BranchConfig, cfg: MultiBranchConfig, grid: tuple[int, int], depth: int, drop_path: list[float]
) -> nn.Module:
    return nn.Sequential(
        *(
            Block(
                branch.embed_dim,
                branch.num_heads,
                branch.mlp_ratio,
                cfg.qkv_bias,
                cfg.drop_rate,
                cfg.attn_drop_rate,
                rate,
                act_layer=cfg.act_layer,
                norm_layer=token_norm(cfg),
            )
            for rate in drop_path
        )
    )


@register_encoder("cnn")
def _cnn_encoder(
    branch: BranchConfig, cfg: MultiBranchConfig, grid: tuple[int, int], depth: int, drop_path: list[float]
) -> nn.Module:
    return ConvTokenEncoder(
        branch.embed_dim,
        depth,
        grid,
        kernel_size=branch.kernel_size,
        mlp_ratio=branch.mlp_ratio,
        drop_path=drop_path,
        norm_layer=cfg.conv_norm_layer,
        token_norm_layer=token_norm(cfg),
        act_layer=cfg.act_layer,
    )
