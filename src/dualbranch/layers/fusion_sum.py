"""Fusion by projected sums: no fusion, class-token fusion and pairwise fusion, for n ≥ 2 branches.

Three of the fusion schemes CrossViT compares with its cross-attention in Table 6 (Chen, Fan, Panda,
"CrossViT", ICCV 2021, arXiv:2103.14899, Sec. 3.3 and Fig. 3 (b), (c)):

* none: the branches stay independent until their heads.
* class token: each branch's CLS token becomes its own plus the other branches' CLS tokens, each
  projected to this branch's width ("the CLS token of each branch is summed after projection").
* pairwise: the same, and every patch token also receives the other branches' patch tokens at the
  same spatial position. The branches have different grids (20×20 and 14×14 in CrossViT-S), so the
  other branch's projected token grid is resampled to this branch's grid first (see
  :func:`resample_tokens`).

A message from branch o to branch b goes through ``P[o→b]``, CrossViT's projection f(·) (LayerNorm,
GELU, linear D_o -> D_b). Pairwise fusion uses the same ``P[o→b]`` for the CLS and the patch tokens,
so both schemes carry n(n-1) projections per fusion layer: for CrossViT-S that is the +0.45 M
parameters over "none" that the paper reports for both (24.2 M vs 23.7 M).

Shape legend
    B batch   n branches   b the branch being updated, o another branch
    h_b×w_b token grid of branch b, N_b = h_b·w_b patch tokens, T_b = 1 + N_b tokens with CLS
    D_b width of branch b
"""

from __future__ import annotations

import abc
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .fusion import branch_projection
from .mlp import DropPath

__all__ = ["ClassTokenFusion", "NoFusion", "PairwiseFusion", "resample_tokens"]


class NoFusion(nn.Module):
    """Table 6 "None": the branches do not exchange anything. No parameters; ``xs`` is returned as is."""

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        """``xs[b]``: (B, T_b, D_b) -> the same tensors."""
        return list(xs)


def resample_tokens(tokens: torch.Tensor, src_grid: tuple[int, int], dst_grid: tuple[int, int]) -> torch.Tensor:
    """Patch tokens on one grid, resampled onto another: (B, h_s·w_s, D) -> (B, h_d·w_d, D).

    Bilinear interpolation of the token map, antialiased when a side shrinks (a 20×20 grid seen
    from a 14×14 one is averaged over, not point-sampled). Its weights sum to one, so a constant map
    stays constant and the resampling commutes with the linear part of a projection.
    """
    if tuple(src_grid) == tuple(dst_grid):
        return tokens
    batch, _, width = tokens.shape
    grid = tokens.transpose(1, 2).reshape(batch, width, *src_grid)  # (B, D, h_s, w_s)
    grid = F.interpolate(grid, size=dst_grid, mode="bilinear", align_corners=False, antialias=True)
    return grid.flatten(2).transpose(1, 2)  # (B, D, h_d, w_d) -> (B, h_d·w_d, D)


def _pair(source: int, target: int) -> str:
    return f"{source}_to_{target}"


class _ProjectedSumLayer(nn.Module, abc.ABC):
    """One fusion layer: x_b + drop_path(Σ_{o≠b} message(o -> b)); the messages use ``projs[o_to_b]``."""

    cls_only = False  # messages reach the CLS token alone, (B, 1, D_b), instead of every token

    def __init__(
        self,
        dims: tuple[int, ...],
        drop_path: float,
        act_layer: type[nn.Module],
        norm_layer: Callable[[int], nn.Module],
    ) -> None:
        super().__init__()
        n = len(dims)
        self.num_branches = n
        self.projs = nn.ModuleDict(
            {
                _pair(o, b): branch_projection(norm_layer, act_layer, dims[o], dims[b])
                for b in range(n)
                for o in range(n)
                if o != b
            }
        )
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    @abc.abstractmethod
    def message(self, xs: list[torch.Tensor], source: int, target: int) -> torch.Tensor:
        """What branch ``source`` adds to branch ``target``: (B, T_t, D_t) or (B, 1, D_t)."""

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        # every branch is updated from the *incoming* tokens, so the branch order does not matter
        fused = []
        for b, x in enumerate(xs):
            total = sum(self.message(xs, o, b) for o in range(self.num_branches) if o != b)
            update = self.drop_path(total)  # (B, 1, D_b) if cls_only, else (B, T_b, D_b)
            if self.cls_only:
                fused.append(torch.cat([x[:, :1] + update, x[:, 1:]], dim=1))
            else:
                fused.append(x + update)
        return fused


class _ClassTokenLayer(_ProjectedSumLayer):
    cls_only = True

    def message(self, xs: list[torch.Tensor], source: int, target: int) -> torch.Tensor:
        return self.projs[_pair(source, target)](xs[source][:, :1])  # (B, 1, D_o) -> (B, 1, D_b)


class _PairwiseLayer(_ProjectedSumLayer):
    def __init__(self, dims: tuple[int, ...], grids: tuple[tuple[int, int], ...], *args, **kwargs) -> None:
        super().__init__(dims, *args, **kwargs)
        self.grids = tuple(tuple(g) for g in grids)

    def message(self, xs: list[torch.Tensor], source: int, target: int) -> torch.Tensor:
        # Project on the source grid, then resample: the projection's norm and activation act on real
        # tokens, never on interpolated ones.
        projected = self.projs[_pair(source, target)](xs[source])  # (B, T_o, D_b)
        patches = resample_tokens(projected[:, 1:], self.grids[source], self.grids[target])  # (B, N_b, D_b)
        return torch.cat([projected[:, :1], patches], dim=1)  # (B, T_b, D_b)


def _check(dims: tuple[int, ...], depth: int, what: str) -> None:
    if len(dims) < 2:
        raise ValueError(f"{what} fusion needs at least 2 branches, got {len(dims)}.")
    if depth < 1:
        raise ValueError(f"Fusion depth must be at least 1, got {depth}.")


class ClassTokenFusion(nn.Module):
    """Class-token fusion (CrossViT, Fig. 3 (b)): CLS tokens are exchanged, patch tokens untouched.

    Per layer and branch b: ``cls_b' = cls_b + Σ_{o≠b} P[o→b](cls_o)``, all from the layer's input.

    Args:
        dims: width D_b of each branch.
        depth: L, stacked fusion layers (each with its own projections).
        drop_path: stochastic-depth rate on the summed messages.
    Input/output: ``xs[b]`` of shape (B, T_b, D_b).
    """

    def __init__(
        self,
        dims: tuple[int, ...],
        depth: int = 1,
        drop_path: float = 0.0,
        act_layer: type[nn.Module] = nn.GELU,
        norm_layer: Callable[[int], nn.Module] = nn.LayerNorm,
    ) -> None:
        super().__init__()
        _check(dims, depth, "Class-token")
        self.layers = nn.ModuleList(_ClassTokenLayer(dims, drop_path, act_layer, norm_layer) for _ in range(depth))

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        """``xs[b]``: (B, T_b, D_b) -> the same shapes, CLS tokens fused."""
        for layer in self.layers:
            xs = layer(xs)
        return xs


class PairwiseFusion(nn.Module):
    """Pairwise fusion (CrossViT, Fig. 3 (c)): tokens at the same spatial position are fused.

    Per layer and branch b: ``x_b' = x_b + Σ_{o≠b} [P[o→b](cls_o); resample_{o→b}(P[o→b](patches_o))]``.
    Position is relative (the grids cover the same image), so branch o's h_o×w_o grid of projected
    tokens is bilinearly resampled to h_b×w_b (:func:`resample_tokens`). Each projection is applied
    on its source grid; with CrossViT-S that costs the same as resampling first (the sum over the
    two directions is 400·192·384 + 196·384·192 MACs either way).

    Args:
        dims: width D_b of each branch.
        grids: (h_b, w_b), the patch-token grid of each branch.
        depth: L, stacked fusion layers (each with its own projections).
        drop_path: stochastic-depth rate on the summed messages.
    Input/output: ``xs[b]`` of shape (B, 1 + h_b·w_b, D_b).
    """

    def __init__(
        self,
        dims: tuple[int, ...],
        grids: tuple[tuple[int, int], ...],
        depth: int = 1,
        drop_path: float = 0.0,
        act_layer: type[nn.Module] = nn.GELU,
        norm_layer: Callable[[int], nn.Module] = nn.LayerNorm,
    ) -> None:
        super().__init__()
        _check(dims, depth, "Pairwise")
        if len(grids) != len(dims):
            raise ValueError(f"Pairwise fusion needs one token grid per branch: {len(grids)} grids, {len(dims)} dims.")
        self.layers = nn.ModuleList(_PairwiseLayer(dims, grids, drop_path, act_layer, norm_layer) for _ in range(depth))

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        """``xs[b]``: (B, T_b, D_b) -> the same shapes, every token fused."""
        for layer in self.layers:
            xs = layer(xs)
        return xs
