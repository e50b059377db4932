"""Part registries of the generic builder: tokenizers and encoders by name.

A tokenizer turns the (resized) input of a branch into tokens; an encoder is one stage of a branch.
New kinds (a 1-D signal tokenizer, say) plug in with ``@register_tokenizer("name")`` /
``@register_encoder("name")`` and are then usable in :class:`~dualbranch.models.builder_config.BranchConfig`.

A part builder receives a :class:`PartSpec`: the few fields of one branch and of the model that parts
are built from, not the whole configuration. The configuration module depends on this one (to check
part names), never the reverse, so there is no import cycle between them.

Contracts
    tokenizer builder: ``(spec, img_size) -> module`` with a ``grid_size`` (h, w) attribute,
        mapping (B, C, H_b, W_b) -> (B, N, D) with N = h·w (a signal tokenizer would use h = 1).
    encoder builder: ``(spec, grid, depth, drop_path) -> module`` mapping (B, T, D) -> (B, T, D),
        CLS first, with ``drop_path`` one stochastic-depth rate per block.

Shape legend: B batch, C channels, H_b×W_b branch input, h×w token grid, N = h·w, T = 1 + N, D width.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from torch import nn

from ..errors import ConfigError
from ..layers.conv_encoder import ConvTokenEncoder
from ..layers.conv_tokenizer import ConvTokenizer, VGGTokenizer
from ..layers.patch_embed import PatchEmbed
from ..layers.transformer import Block

__all__ = [
    "ENCODERS",
    "TOKENIZERS",
    "PartSpec",
    "build_encoder",
    "build_tokenizer",
    "register_encoder",
    "register_tokenizer",
    "token_norm",
]


def token_norm(norm_layer: type[nn.Module], eps: float) -> Callable[[int], nn.Module]:
    """The token norm constructor (takes a width): ``norm_layer(width, eps=eps)``."""
    return partial(norm_layer, eps=eps)


@dataclass(frozen=True)
class PartSpec:
    """What a tokenizer or encoder builder of one branch may read.

    Attributes:
        tokenizer, encoder: the registered part names of the branch.
        patch_size: the tokenizer's total stride; embed_dim: token width D.
        num_heads, mlp_ratio: Transformer blocks (mlp_ratio is also the CNN blocks' expansion).
        kernel_size: depthwise kernel of the CNN blocks.
        in_chans: input channels C.
        qkv_bias, drop_rate, attn_drop_rate: attention bias and dropout rates.
        act_layer: activation class of the blocks; norm_layer, norm_eps: token norm class and epsilon.
        conv_norm_layer, conv_act_layer: norm and activation classes of the CNN parts (feature maps).
    """

    tokenizer: str
    encoder: str
    patch_size: int
    embed_dim: int
    num_heads: int
    mlp_ratio: float
    kernel_size: int
    in_chans: int
    qkv_bias: bool
    drop_rate: float
    attn_drop_rate: float
    act_layer: type[nn.Module]
    norm_layer: type[nn.Module]
    norm_eps: float
    conv_norm_layer: type[nn.Module]
    conv_act_layer: type[nn.Module]

    def token_norm(self) -> Callable[[int], nn.Module]:
        """The token norm constructor of this spec (takes a width)."""
        return token_norm(self.norm_layer, self.norm_eps)


TokenizerBuilder = Callable[[PartSpec, tuple[int, int]], nn.Module]
EncoderBuilder = Callable[[PartSpec, tuple[int, int], int, list[float]], nn.Module]

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
    """Raise a ConfigError (a ValueError) listing the registered names if ``name`` is not one of them."""
    if name not in table:
        raise ConfigError(f"Unknown {kind} {name!r}; valid: {', '.join(sorted(table))}.")


def build_tokenizer(spec: PartSpec, img_size: tuple[int, int]) -> nn.Module:
    """The tokenizer ``spec.tokenizer`` for an (H_b, W_b) input."""
    check_part_name(TOKENIZERS, "tokenizer", spec.tokenizer)
    return TOKENIZERS[spec.tokenizer](spec, img_size)


def build_encoder(spec: PartSpec, grid: tuple[int, int], depth: int, drop_path: list[float]) -> nn.Module:
    """One stage of ``depth`` blocks of the encoder ``spec.encoder`` (an identity when depth is 0)."""
    check_part_name(ENCODERS, "encoder", spec.encoder)
    if depth == 0:
        return nn.Identity()
    return ENCODERS[spec.encoder](spec, grid, depth, drop_path)


@register_tokenizer("patch")
def _patch(spec: PartSpec, img_size: tuple[int, int]) -> nn.Module:
    return PatchEmbed(img_size, spec.patch_size, spec.in_chans, spec.embed_dim, stem="patch")


@register_tokenizer("conv3")
def _conv3(spec: PartSpec, img_size: tuple[int, int]) -> nn.Module:
    return PatchEmbed(img_size, spec.patch_size, spec.in_chans, spec.embed_dim, stem="conv3")


@register_tokenizer("cnn")
def _cnn(spec: PartSpec, img_size: tuple[int, int]) -> nn.Module:
    return ConvTokenizer(
        img_size, spec.patch_size, spec.in_chans, spec.embed_dim, spec.conv_norm_layer, spec.conv_act_layer
    )


@register_tokenizer("vgg")
def _vgg(spec: PartSpec, img_size: tuple[int, int]) -> nn.Module:
    return VGGTokenizer(
        img_size, spec.patch_size, spec.in_chans, spec.embed_dim, spec.conv_norm_layer, spec.conv_act_layer
    )


@register_tokenizer("vgg_s2")
def _vgg_strided(spec: PartSpec, img_size: tuple[int, int]) -> nn.Module:
    return VGGTokenizer(
        img_size, spec.patch_size, spec.in_chans, spec.embed_dim, spec.conv_norm_layer, spec.conv_act_layer, 2
    )


@register_encoder("transformer")
def _transformer(spec: PartSpec, grid: tuple[int, int], depth: int, drop_path: list[float]) -> nn.Module:
    return nn.Sequential(
        *(
            Block(
                spec.embed_dim,
                spec.num_heads,
                spec.mlp_ratio,
                spec.qkv_bias,
                spec.drop_rate,
                spec.attn_drop_rate,
                rate,
                act_layer=spec.act_layer,
                norm_layer=spec.token_norm(),
            )
            for rate in drop_path
        )
    )


@register_encoder("cnn")
def _cnn_encoder(spec: PartSpec, grid: tuple[int, int], depth: int, drop_path: list[float]) -> nn.Module:
    return ConvTokenEncoder(
        spec.embed_dim,
        depth,
        grid,
        kernel_size=spec.kernel_size,
        mlp_ratio=spec.mlp_ratio,
        drop_path=drop_path,
        norm_layer=spec.conv_norm_layer,
        token_norm_layer=spec.token_norm(),
        act_layer=spec.act_layer,
    )


@register_encoder("resnet")
def _resnet_encoder(spec: PartSpec, grid: tuple[int, int], depth: int, drop_path: list[float]) -> nn.Module:
    return ConvTokenEncoder(
        spec.embed_dim,
        depth,
        grid,
        kernel_size=spec.kernel_size,
        drop_path=drop_path,
        norm_layer=spec.conv_norm_layer,
        token_norm_layer=spec.token_norm(),
        act_layer=spec.conv_act_layer,
        block="basic",
    )
