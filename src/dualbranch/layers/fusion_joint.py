"""All-attention fusion: every token of every branch in one joint self-attention, for n ≥ 2 branches.

The quadratic baseline of CrossViT's Table 6 (Chen, Fan, Panda, "CrossViT", ICCV 2021,
arXiv:2103.14899, Sec. 3.3 and Fig. 3 (a)):

    y   = [f_1(x_1) ‖ … ‖ f_n(x_n)]           tokens of all branches, projected to a common width d
    o   = y + MSA(LN(y))                       (L times)
    x_b' = g_b(o_b)                            split per branch and projected back

f_b and g_b are CrossViT's projections (LayerNorm, GELU, linear), kept for every branch even where
D_b = d, as the official code keeps its projections. Attention over all Σ T_b tokens makes the cost
grow with the square of the token count (cross-attention: linearly).

Matching Table 6 (CrossViT-S at 240 px, paper: 7.6 GMACs, 27.7 M parameters). The paper's equation at d = max D_b
with one MSA gives 7.58 GMACs (the paper's MACs to 0.2%) but 26.85 M parameters, 3.0% short. The
missing ~0.28 M parameters per stage cost (almost) no MACs, which rules out an MLP in the joint block:
any weight applied to all 598 tokens costs ~600 MACs per parameter (a full pre-norm Transformer block
with MLP ratio 4 at d = 384 gives 30.4 M / 9.7 GMACs). A learned position embedding of the joint
sequence, (1, Σ T_b, d), is exactly such a parameter: with it the module gives 27.54 M / 7.58 GMACs
(-0.6% / -0.2%). It also tells the joint attention which branch and grid cell a token came from.
``joint_pos_embed=True`` (the default) is that Table-6 design; ``mlp_ratio > 0`` turns each layer into a
full Transformer block (``benchmarks/fusion_cost.py`` prints the alternatives).

Shape legend
    B batch   n branches   b a branch   T_b = 1 + N_b tokens of branch b (CLS first)   D_b its width
    T = Σ_b T_b tokens in the joint sequence   d common width
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from .attention import Attention
from .fusion import branch_projection
from .mlp import DropPath
from .transformer import Block

__all__ = ["AllAttentionFusion", "JointAttentionLayer"]


class JointAttentionLayer(nn.Module):
    """``y + drop_path(MSA(LN(y)))``: the paper's all-attention layer, without an MLP. (B, T, d) -> (B, T, d)."""

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
        self.attn = Attention(dim, num_heads, qkv_bias=qkv_bias, attn_drop=attn_drop, proj_drop=drop)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return y + self.drop_path(self.attn(self.norm1(y)))


class AllAttentionFusion(nn.Module):
    """Fuse n ≥ 2 branches by joint self-attention over all their tokens (see the module docstring).

    Args:
        dims: width D_b of each branch.
        num_heads: heads of each branch; the joint attention uses those of the widest branch unless
            ``heads`` is given.
        token_counts: T_b, tokens per branch (CLS included); needed for the joint position embedding.
        depth: L, joint attention layers between the projections.
        width: common width d (default: the widest branch's).
        heads: heads of the joint attention.
        mlp_ratio: 0 (the paper's equation: attention only) or the MLP ratio of full Transformer blocks.
        joint_pos_embed: add a learned (1, T, d) position embedding after the projections (the
            Table-6 parameter budget, see above).
    Input/output: ``xs[b]`` of shape (B, T_b, D_b).
    """

    def __init__(
        self,
        dims: tuple[int, ...],
        num_heads: tuple[int, ...],
        token_counts: tuple[int, ...],
        depth: int = 1,
        width: int | None = None,
        heads: int | None = None,
        mlp_ratio: float = 0.0,
        joint_pos_embed: bool = True,
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
            raise ValueError(f"All-attention fusion needs at least 2 branches, got {n}.")
        if len(token_counts) != n or len(num_heads) != n:
            raise ValueError(f"Give one token count and one head count per branch ({n} branches).")
        if depth < 1:
            raise ValueError(f"Fusion depth must be at least 1, got {depth}.")
        widest = max(range(n), key=lambda b: dims[b])
        width = width or dims[widest]
        heads = heads or num_heads[widest]
        if width % heads:
            raise ValueError(f"All-attention width {width} is not divisible by {heads} heads.")
        self.token_counts = tuple(token_counts)
        self.in_projs = nn.ModuleList(branch_projection(norm_layer, act_layer, d, width) for d in dims)
        self.pos_embed = nn.Parameter(torch.zeros(1, sum(token_counts), width)) if joint_pos_embed else None
        if self.pos_embed is not None:
            nn.init.trunc_normal_(self.pos_embed, std=0.02)
        self.layers = nn.ModuleList(
            Block(width, heads, mlp_ratio, qkv_bias, drop, attn_drop, drop_path, act_layer, norm_layer)
            if mlp_ratio > 0
            else JointAttentionLayer(width, heads, qkv_bias, drop, attn_drop, drop_path, norm_layer)
            for _ in range(depth)
        )
        self.out_projs = nn.ModuleList(branch_projection(norm_layer, act_layer, width, d) for d in dims)

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        """``xs[b]``: (B, T_b, D_b) -> the same shapes, every token having attended to every token."""
        got = tuple(x.shape[1] for x in xs)
        if got != self.token_counts:
            raise ValueError(f"All-attention fusion was built for {self.token_counts} tokens per branch, got {got}.")
        y = torch.cat([proj(x) for proj, x in zip(self.in_projs, xs)], dim=1)  # (B, T, d)
        if self.pos_embed is not None:
            y = y + self.pos_embed
        for layer in self.layers:
            y = layer(y)
        parts = y.split(self.token_counts, dim=1)  # n tensors (B, T_b, d)
        return [proj(part) for proj, part in zip(self.out_projs, parts)]
