"""Channel-attention pooling: one learned importance weight per electrode token.

DBConformer (Wang et al., IEEE JBHI 2026, arXiv:2506.21140) pools the spatial branch's channel
tokens with a lightweight attention that assigns each EEG channel a data-driven weight; the weights
are what its topographic plots show.

Shape legend: B batch, C channels (tokens), D token width, H scorer hidden width.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["ChannelAttentionPool"]


class ChannelAttentionPool(nn.Module):
    """Additive attention over channel tokens: w = softmax_c(v·tanh(W z_c + b)), pooled = Σ_c w_c z_c.

    As DBConformer's release, with a scorer as wide as the tokens (H = D). The release's output layer
    also has a bias; softmax ignores a shift shared by all channels, so that bias can never learn
    (its gradient is zero) and is left out: the weights are the same for any value of it.

    Args:
        dim: token width D.
        hidden: scorer width H (None: D).
    """

    def __init__(self, dim: int, hidden: int | None = None) -> None:
        super().__init__()
        self.score_hidden = nn.Linear(dim, hidden or dim)
        self.score_out = nn.Linear(hidden or dim, 1, bias=False)

    def weights(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, C, D) -> attention weights (B, C), non-negative, summing to 1 over channels."""
        scores = self.score_out(torch.tanh(self.score_hidden(tokens))).squeeze(-1)  # (B, C)
        return scores.softmax(dim=-1)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, C, D) -> (B, D), the attention-weighted mean of the channel tokens."""
        return (self.weights(tokens).unsqueeze(-1) * tokens).sum(dim=1)
