"""CrossViT's cross-attention fusion, for any number of branches.

Each branch's CLS token is projected to the width of the *next* branch (cyclically), used as the only
query over that branch's patch tokens, projected back and put in place of the original CLS token.
One query means the cost grows linearly with the number of tokens (Chen et al., 2021, Sec. 3.3).

Shape legend
    B batch   n number of branches   b branch index, o = (b + 1) mod n the branch it attends to
    N_b patch tokens of branch b      D_b width of branch b
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from .attention import Attention
from .mlp import DropPath

__all__ = ["CrossAttentionBlock", "CrossAttentionFusion", "branch_projection"]


class CrossAttentionBlock(nn.Module):
    """One cross-attention layer: the CLS token queries ``[CLS; tokens]``, with a pre-norm residual.

    As in the paper, there is no MLP after the cross-attention.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        qkv_bias: bool = True,
        drop: float = 0.0,
        attn_drop: float = 0.0,
        drop_path: float = 0.0,
        norm_layer: Callable[[int], nn.Module] = nn.LayerNorm,
    ) -> None:
        super().__init__()
        self.norm1 = norm_layer(dim)
        self.attn = Attention(dim, num_heads, qkv_bias=qkv_bias, attn_drop=attn_drop, proj_drop=drop, cross=True)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def _normed(self, cls: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        return self.norm1(torch.cat([cls, tokens], dim=1))  # (B, 1 + N, D)

    def forward(self, cls: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """``cls`` (B, 1, D) attends over ``[cls; tokens]`` with ``tokens`` (B, N, D); returns (B, 1, D)."""
        seq = self._normed(cls, tokens)
        return cls + self.drop_path(self.attn(seq[:, :1], context=seq))

    def attention_weights(self, cls: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """Where the CLS query looks: (B, H, 1, 1 + N), softmax over ``[cls; tokens]``."""
        seq = self._normed(cls, tokens)
        return self.attn.attention_weights(seq[:, :1], context=seq)


def branch_projection(
    norm_layer: Callable[[int], nn.Module], act_layer: type[nn.Module], d_in: int, d_out: int
) -> nn.Sequential:
    """CrossViT's f(·)/g(·): LayerNorm, activation, linear; (..., d_in) -> (..., d_out)."""
    # The official code keeps this projection even when widths match (it disables the Identity
    # shortcut), so the published checkpoints always carry norm + linear weights here.
    return nn.Sequential(norm_layer(d_in), act_layer(), nn.Linear(d_in, d_out))


class CrossAttentionFusion(nn.Module):
    """Fuse n ≥ 2 branches by CLS-token cross-attention (CrossViT, Fig. 3 (d)).

    For each branch b (o = (b + 1) mod n):
        cls   = projs[b](x_b[:, :1])                      (B, 1, D_b) -> (B, 1, D_o)
        cls   = layer(cls, x_o[:, 1:]) for each of L layers in layers[b]   (width D_o, heads of o)
        x_b'  = [revert_projs[b](cls); x_b[:, 1:]]        (B, 1 + N_b, D_b)

    Args:
        dims: width of each branch.
        num_heads: heads of each branch (branch b's fusion uses the heads of branch o).
        depth: L, stacked cross-attention layers per branch. Every layer attends over the other
            branch's patch tokens. (The official code stacks layers as a plain ``nn.Sequential``, so
            its 2nd and later layers would see the CLS token alone; no published model has L > 1.)
        drop_path: stochastic-depth rate of every fusion layer.
    """

    def __init__(
        self,
        dims: tuple[int, ...],
        num_heads: tuple[int, ...],
        depth: int = 1,
        qkv_bias: bool = True,
        drop: float = 0.0,
        attn_drop: float = 0.0,
        drop_path: float = 0.0,
        act_layer: type[nn.Module] = nn.GELU,
        norm_layer: Callable[[int], nn.Module] = nn.LayerNorm,
    ) -> None:
        super().__init__()
        n = len(dims)
        if n < 2:
            raise ValueError(f"Cross-attention fusion needs at least 2 branches, got {n}.")
        if depth < 1:
            raise ValueError(f"Fusion depth must be at least 1, got {depth}.")
        self.num_branches = n
        others = [(b + 1) % n for b in range(n)]
        self.projs = nn.ModuleList(
            branch_projection(norm_layer, act_layer, dims[b], dims[o]) for b, o in enumerate(others)
        )
        self.layers = nn.ModuleList(
            nn.ModuleList(
                CrossAttentionBlock(dims[o], num_heads[o], qkv_bias, drop, attn_drop, drop_path, norm_layer)
                for _ in range(depth)
            )
            for o in others
        )
        self.revert_projs = nn.ModuleList(
            branch_projection(norm_layer, act_layer, dims[o], dims[b]) for b, o in enumerate(others)
        )

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        """``xs[b]``: (B, 1 + N_b, D_b) -> list of the same shapes with fused CLS tokens."""
        fused = []
        for b, x in enumerate(xs):
            other_tokens = xs[(b + 1) % self.num_branches][:, 1:]  # (B, N_o, D_o)
            cls = self.projs[b](x[:, :1])  # (B, 1, D_o)
            for layer in self.layers[b]:
                cls = layer(cls, other_tokens)
            fused.append(torch.cat([self.revert_projs[b](cls), x[:, 1:]], dim=1))
        return fused

    def attention_maps(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        """First layer's attention of each branch's CLS query: ``maps[b]`` is (B, H_o, 1 + N_o).

        Index 0 is the query's attention to itself; 1: are the other branch's patch tokens.
        """
        maps = []
        for b, x in enumerate(xs):
            other_tokens = xs[(b + 1) % self.num_branches][:, 1:]
            cls = self.projs[b](x[:, :1])
            maps.append(self.layers[b][0].attention_weights(cls, other_tokens)[:, :, 0])
        return maps
