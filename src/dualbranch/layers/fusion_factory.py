"""Fusion strategies by name: ``build_fusion("pairwise", ...)``, and ``register_fusion`` for new ones.

The five schemes of CrossViT's Table 6 (Chen, Fan, Panda, ICCV 2021, arXiv:2103.14899). Every fusion
module maps ``xs`` -> ``xs'`` with ``xs[b]`` of shape (B, 1 + N_b, D_b) and the same shapes out.

Shape legend: B batch, b a branch, N_b = h_b·w_b patch tokens on its grid, D_b its width.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from .fusion import CrossAttentionFusion
from .fusion_joint import AllAttentionFusion
from .fusion_sum import ClassTokenFusion, NoFusion, PairwiseFusion

__all__ = ["FusionSpec", "build_fusion", "check_fusion_name", "fusion_names", "register_fusion"]


@dataclass(frozen=True)
class FusionSpec:
    """What a fusion builder may need to know about the branches it joins.

    Attributes:
        dims: width D_b of each branch.
        num_heads: attention heads of each branch.
        grids: (h_b, w_b), the patch-token grid of each branch.
        depth: L, stacked fusion layers.
        qkv_bias, drop, attn_drop, drop_path: as in the branches' Transformer blocks.
        act_layer: activation class of the projections; norm_layer: norm constructor (takes a width).
    """

    dims: tuple[int, ...]
    num_heads: tuple[int, ...]
    grids: tuple[tuple[int, int], ...]
    depth: int = 1
    qkv_bias: bool = True
    drop: float = 0.0
    attn_drop: float = 0.0
    drop_path: float = 0.0
    act_layer: type[nn.Module] = nn.GELU
    norm_layer: Callable[[int], nn.Module] = nn.LayerNorm

    @property
    def token_counts(self) -> tuple[int, ...]:
        """T_b = 1 + h_b·w_b: tokens per branch, CLS included."""
        return tuple(1 + h * w for h, w in self.grids)


_BUILDERS: dict[str, Callable[[FusionSpec], nn.Module]] = {}


def register_fusion(name: str) -> Callable[[Callable[[FusionSpec], nn.Module]], Callable[[FusionSpec], nn.Module]]:
    """Decorator: make ``builder(spec) -> nn.Module`` available as ``build_fusion(name, ...)``."""

    def decorate(builder: Callable[[FusionSpec], nn.Module]) -> Callable[[FusionSpec], nn.Module]:
        if name in _BUILDERS:
            raise ValueError(f"Fusion strategy {name!r} is registered twice.")
        _BUILDERS[name] = builder
        return builder

    return decorate


def fusion_names() -> tuple[str, ...]:
    """The registered strategy names, in registration order."""
    return tuple(_BUILDERS)


def check_fusion_name(name: str) -> None:
    """Raise a ValueError listing the valid strategies if ``name`` is not one of them."""
    if name not in _BUILDERS:
        raise ValueError(f"Unknown fusion strategy {name!r}; valid strategies: {', '.join(fusion_names())}.")


def build_fusion(name: str, **spec: object) -> nn.Module:
    """A fusion module for the branches described by ``spec`` (the fields of :class:`FusionSpec`)."""
    check_fusion_name(name)
    return _BUILDERS[name](FusionSpec(**spec))  # type: ignore[arg-type]


@register_fusion("none")
def _none(spec: FusionSpec) -> nn.Module:
    return NoFusion()


@register_fusion("all_attention")
def _all_attention(spec: FusionSpec) -> nn.Module:
    return AllAttentionFusion(
        spec.dims,
        spec.num_heads,
        spec.token_counts,
        depth=spec.depth,
        qkv_bias=spec.qkv_bias,
        drop=spec.drop,
        attn_drop=spec.attn_drop,
        drop_path=spec.drop_path,
        act_layer=spec.act_layer,
        norm_layer=spec.norm_layer,
    )


@register_fusion("class_token")
def _class_token(spec: FusionSpec) -> nn.Module:
    return ClassTokenFusion(spec.dims, spec.depth, spec.drop_path, spec.act_layer, spec.norm_layer)


@register_fusion("pairwise")
def _pairwise(spec: FusionSpec) -> nn.Module:
    return PairwiseFusion(spec.dims, spec.grids, spec.depth, spec.drop_path, spec.act_layer, spec.norm_layer)


@register_fusion("cross_attention")
def _cross_attention(spec: FusionSpec) -> nn.Module:
    return CrossAttentionFusion(
        spec.dims,
        spec.num_heads,
        depth=spec.depth,
        qkv_bias=spec.qkv_bias,
        drop=spec.drop,
        attn_drop=spec.attn_drop,
        drop_path=spec.drop_path,
        act_layer=spec.act_layer,
        norm_layer=spec.norm_layer,
    )
