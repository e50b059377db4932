"""How much of one branch's logits to add to another's, chosen on examples neither was fitted on.

A fused classifier adds two branches' logits, ``base + w · added``. Where the added branch generalises
worse than the base (a small training set it overfits), the sum can be worse than the base alone; where
it generalises as well, the sum is usually better than either. Which case holds is a property of the
data set, so it is measured on held-out examples: the weight ``w`` of a short grid with the lowest
held-out cross-entropy is chosen, ties broken by the smaller weight (the simpler model). ``w = 0`` is the
base branch alone. Cross-entropy rather than accuracy: on the few held-out examples a small training set
leaves (4-41 on aeon's bundled sets), accuracy moves in steps of one example and ties or flips on noise,
while cross-entropy also weighs how sure each answer is (the rules compared on the same trained models:
``benchmarks/series_fusion_rules.py``, results in ``benchmarks/results/series_fusion_rules_all.md``).

Shape legend: n held-out examples, K classes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["BRANCH_WEIGHTS", "BranchChoice", "choose_branch_weight"]

# 0: the base alone; 1: the plain sum (no larger weight: a few held-out examples cannot justify it)
BRANCH_WEIGHTS = (0.0, 0.25, 0.5, 1.0)


@dataclass
class BranchChoice:
    """The chosen weight and, per weight of the grid, the held-out accuracy and mean cross-entropy."""

    weight: float
    accuracy: dict[float, float]
    cross_entropy: dict[float, float]


def choose_branch_weight(
    base: torch.Tensor, added: torch.Tensor, labels: torch.Tensor, weights: tuple[float, ...] = BRANCH_WEIGHTS
) -> BranchChoice:
    """``base`` (n, K) and ``added`` (n, K) held-out logits of two branches, ``labels`` (n,): the weight
    ``w`` of ``weights`` whose ``base + w · added`` has the lowest cross-entropy on them (see the module
    docstring); the held-out accuracy at each weight is reported beside it."""
    if base.shape != added.shape or base.ndim != 2 or len(labels) != len(base) or len(base) == 0:
        raise ValueError(f"logits {tuple(base.shape)} and {tuple(added.shape)} for {len(labels)} labels")
    truth = labels.long()
    accuracy, cross_entropy = {}, {}
    for w in weights:
        logits = base.double() + w * added.double()
        accuracy[w] = float((logits.argmax(dim=1) == truth).double().mean())
        cross_entropy[w] = float(torch.nn.functional.cross_entropy(logits, truth))
    best = min(weights, key=lambda w: (cross_entropy[w], w))
    return BranchChoice(best, accuracy, cross_entropy)
