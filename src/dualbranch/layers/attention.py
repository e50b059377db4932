"""Multi-head attention: self-attention, and cross-attention through an optional context.

Shape legend
    B  batch              H  heads            Dh  head width (D / H)
    Nq query tokens       Nk context tokens   D   model width
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["Attention"]


class Attention(nn.Module):
    """Multi-head scaled-dot-product attention (Vaswani et al., 2017).

    Two projection layouts, matching the published CrossViT checkpoints:

    * ``cross=False`` (a Transformer block's self-attention): one fused ``qkv`` projection, so the
      queries, keys and values all come from ``x``.
    * ``cross=True`` (CrossViT's fusion): separate ``wq``, ``wk``, ``wv`` projections, so queries come
      from ``x`` and keys/values from ``context`` (``x`` itself when no context is given).

    Attention runs through :func:`torch.nn.functional.scaled_dot_product_attention`, the fused kernel.

    Args:
        dim: model width ``D``; must be divisible by ``num_heads``.
        num_heads: number of heads ``H``.
        qkv_bias: bias on the query/key/value projections.
        attn_drop: dropout on the attention weights (training only).
        proj_drop: dropout after the output projection.
        cross: use separate query/key/value projections (see above).
        scale: factor on the query-key products before the softmax (None: 1/√Dh, the standard one).
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        qkv_bias: bool = True,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
        cross: bool = False,
        scale: float | None = None,
    ) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"Attention width {dim} is not divisible by num_heads={num_heads}.")
        self.num_heads = num_heads
        self.cross = cross
        self.scale = (dim // num_heads) ** -0.5 if scale is None else scale
        self.attn_drop = attn_drop
        if cross:
            self.wq = nn.Linear(dim, dim, bias=qkv_bias)
            self.wk = nn.Linear(dim, dim, bias=qkv_bias)
            self.wv = nn.Linear(dim, dim, bias=qkv_bias)
        else:
            self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def _split_heads(self, t: torch.Tensor) -> torch.Tensor:
        batch, tokens, width = t.shape
        # (B, N, D) -> (B, N, H, Dh) -> (B, H, N, Dh)
        return t.view(batch, tokens, self.num_heads, width // self.num_heads).transpose(1, 2)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        """Attend from ``x`` (B, Nq, D) over ``context`` (B, Nk, D); returns (B, Nq, D)."""
        batch, n_query, width = x.shape
        if self.cross:
            context = x if context is None else context
            q, k, v = self.wq(x), self.wk(context), self.wv(context)
        else:
            if context is not None:
                raise ValueError("This attention has a fused qkv projection; build it with cross=True.")
            # (B, N, 3D) -> three (B, N, D)
            q, k, v = self.qkv(x).chunk(3, dim=-1)
        q, k, v = self._split_heads(q), self._split_heads(k), self._split_heads(v)
        dropout = self.attn_drop if self.training else 0.0
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout, scale=self.scale)  # (B, H, Nq, Dh)
        out = out.transpose(1, 2).reshape(batch, n_query, width)  # (B, Nq, D)
        return self.proj_drop(self.proj(out))

    def attention_weights(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        """The softmax attention weights (B, H, Nq, Nk), computed explicitly (for plots, not speed)."""
        if self.cross:
            context = x if context is None else context
            q, k = self.wq(x), self.wk(context)
        else:
            q, k, _ = self.qkv(x).chunk(3, dim=-1)
        q, k = self._split_heads(q), self._split_heads(k)
        return (q @ k.transpose(-2, -1) * self.scale).softmax(dim=-1)
