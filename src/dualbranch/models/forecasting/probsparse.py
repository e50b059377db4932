"""Informer's ProbSparse self-attention (Zhou et al., AAAI 2021, section "Efficient Self-attention Mechanism").

Haoyi Zhou, Shanghang Zhang, Jieqi Peng, Shuai Zhang, Jianxin Li, Hui Xiong, Wancai Zhang. "Informer:
Beyond Efficient Transformer for Long Sequence Time-Series Forecasting." AAAI 2021, arXiv:2012.07436.
Learnt from the paper and the official code (github.com/zhouhaoyi/Informer2020, Apache-2.0; and
Time-Series-Library's ``ProbAttention``, MIT), written here.

Only the u = c·⌈ln L_Q⌉ "active" queries get a softmax attention over every key; the others ("lazy"
queries, whose attention would be close to uniform) get the mean of the values — or, with the causal
mask of the decoder, the cumulative sum of the values up to their step, as the official code. The
active queries are those with the largest sparsity measurement

    M̄(q_i, K) = max_j (q_i·k_j) − (1 / L_K) Σ_j (q_i·k_j),

estimated from U = c·⌈ln L_K⌉ keys sampled at random for each query (u and U capped at L_Q and L_K;
the sum over the sampled keys is divided by L_K, as in the official code). Scores are scaled by 1/√E.
With u ≥ L_Q every query is active and the result is full softmax attention (tests check this).

The sampled key positions are drawn afresh at each training step (from PyTorch's global generator,
so a seeded run repeats). In evaluation they are one fixed draw, made when the module is built from
its own generator (seed 0): a forecast is then reproducible and exportable, where the official code
draws again at each call. The sampled dot products are read from Q·Kᵀ — the same numbers as the
official per-query products; at the lengths of the long-horizon tables (L ≤ 1,000) one matrix product
costs less on a CPU than gathering U copies of the keys for every query.

Output layout. The official Time-Series-Library ``AttentionLayer`` reshapes the ProbSparse context,
laid out (B, heads, L, E), directly to (B, L, heads·E) — Informer's "mix" of its generative decoder
(``--mix``, on by default in Informer2020, where the encoder does not mix), which the Time-Series-
Library and Autoformer code apply to every ProbSparse layer. ``mix=True`` reproduces it; ``mix=False``
concatenates the heads of each step, as standard multi-head attention.

Shape legend
    B batch   H heads   L_Q queries   L_K keys   E head width   D model width (H·E)
    u active queries   U sampled keys per query
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ...errors import ConfigError

__all__ = ["ProbSparseAttention", "ProbSparseLayer", "sparse_counts"]


def sparse_counts(factor: int, n_queries: int, n_keys: int) -> tuple[int, int]:
    """(u, U): active queries c·⌈ln L_Q⌉ capped at L_Q, sampled keys c·⌈ln L_K⌉ capped at L_K."""
    if factor < 1 or n_queries < 1 or n_keys < 1:
        raise ConfigError(
            f"ProbSparse attention needs factor, queries and keys ≥ 1; got {factor}, {n_queries}, {n_keys}."
        )
    active = factor * math.ceil(math.log(n_queries))
    sampled = factor * math.ceil(math.log(n_keys))
    return max(1, min(active, n_queries)), max(1, min(sampled, n_keys))


class ProbSparseAttention(nn.Module):
    """ProbSparse attention core: q (B, H, L_Q, E), k (B, H, L_K, E), v (B, H, L_K, E) -> (B, H, L_Q, E).

    Args:
        factor: c (Informer's default 5).
        n_queries, n_keys: L_Q and L_K, fixed by the model's window (for the evaluation draw).
        causal: the decoder's mask (query i sees keys 0..i; needs L_Q = L_K).
    """

    def __init__(self, factor: int, n_queries: int, n_keys: int, causal: bool = False) -> None:
        super().__init__()
        if causal and n_queries != n_keys:
            raise ConfigError(f"Causal ProbSparse attention is self-attention: {n_queries} queries, {n_keys} keys.")
        self.factor, self.causal = factor, causal
        self.n_queries, self.n_keys = n_queries, n_keys
        self.n_active, self.n_sampled = sparse_counts(factor, n_queries, n_keys)
        draw = torch.randint(
            n_keys, (n_queries, self.n_sampled), generator=torch.Generator().manual_seed(0), device="cpu"
        )
        self.register_buffer("eval_sample", draw, persistent=False)  # (L_Q, U)

    def sample(self, device: torch.device) -> torch.Tensor:
        """Key positions (L_Q, U) to estimate each query's sparsity from."""
        if self.training:
            return torch.randint(self.n_keys, (self.n_queries, self.n_sampled), device=device)
        return self.eval_sample

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        n_queries, n_keys, width = q.shape[2], k.shape[2], q.shape[3]
        if (n_queries, n_keys) != (self.n_queries, self.n_keys):
            raise ConfigError(
                f"This ProbSparse attention was built for {self.n_queries} queries and {self.n_keys} keys, "
                f"got {n_queries} and {n_keys}."
            )
        products = q @ k.transpose(-2, -1)  # (B, H, L_Q, L_K)
        sample = self.sample(q.device)[None, None].expand(q.shape[0], q.shape[1], -1, -1)  # (B, H, L_Q, U)
        sampled = products.gather(-1, sample)  # (B, H, L_Q, U)
        sparsity = sampled.amax(-1) - sampled.sum(-1) / n_keys  # (B, H, L_Q)
        active = sparsity.topk(self.n_active, dim=-1, sorted=False).indices  # (B, H, u)
        scores = products.gather(2, active[..., None].expand(-1, -1, -1, n_keys)) / math.sqrt(width)  # (B, H, u, L_K)
        if self.causal:
            future = torch.arange(n_keys, device=q.device) > active[..., None]  # (B, H, u, L_K): keys after the query
            scores = scores.masked_fill(future, float("-inf"))
        attended = torch.softmax(scores, dim=-1) @ v  # (B, H, u, E)
        # lazy queries: the values' mean (no mask) or their running sum (causal), as the official code
        lazy = v.cumsum(dim=2) if self.causal else v.mean(dim=2, keepdim=True).expand(-1, -1, n_queries, -1)
        return lazy.scatter(2, active[..., None].expand(-1, -1, -1, v.shape[3]), attended)  # (B, H, L_Q, E)


class ProbSparseLayer(nn.Module):
    """Multi-head ProbSparse attention with the official projections (four D×D linear layers with
    bias): queries (B, L_Q, D), keys/values (B, L_K, D) -> (B, L_Q, D).

    ``mix``: the official output layout (module docstring). The attention core has no dropout (the
    official ``ProbAttention`` builds one and never applies it).
    """

    def __init__(
        self, d_model: int, n_heads: int, factor: int, n_queries: int, n_keys: int, causal: bool, mix: bool = True
    ) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ConfigError(f"d_model={d_model} is not divisible by n_heads={n_heads}.")
        self.heads, self.mix = n_heads, mix
        self.q, self.k = nn.Linear(d_model, d_model), nn.Linear(d_model, d_model)
        self.v, self.out = nn.Linear(d_model, d_model), nn.Linear(d_model, d_model)
        self.attention = ProbSparseAttention(factor, n_queries, n_keys, causal)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        return x.unflatten(-1, (self.heads, -1)).transpose(1, 2)  # (B, L, D) -> (B, L, H, E) -> (B, H, L, E)

    def forward(self, queries: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        context = self.attention(self._heads(self.q(queries)), self._heads(self.k(keys)), self._heads(self.v(keys)))
        # mix: (B, H, L_Q, E) read as (B, L_Q, D), the official layout;
        # else (B, H, L_Q, E) -> (B, L_Q, H, E) -> (B, L_Q, D)
        mixed = context.reshape(queries.shape) if self.mix else context.transpose(1, 2).flatten(2)
        return self.out(mixed)
