"""Contrastive objectives for two-branch models: NT-Xent, cross-view and cross-model contrast.

NT-Xent is the normalised temperature-scaled cross-entropy of SimCLR (Chen, Kornblith, Norouzi,
Hinton, "A Simple Framework for Contrastive Learning of Visual Representations", ICML 2020). The
cross-view and cross-model terms are MVCNet's (Wang, Li, Chen, Li, Wu, "MVCNet: Multi-View
Contrastive Network for Motor Imagery Classification", Knowledge-Based Systems 2025,
arXiv:2502.17482), written for any model whose :meth:`forward_views` returns the keys below.

The per-view interface
    A two-branch model exposes ``forward_views(x) -> dict`` for one batch ``x`` (one view of the
    trials) with

    * ``"logits"``     (B, n_outputs): the classifier's output on that view (what inference uses);
    * ``"embedding"``  (B, E): branch A's representation (what the classifier reads);
    * ``"projection"`` (B, E): branch B's representation projected to the same width E.

    A training objective calls it once per view — the raw batch first, then each augmented view —
    and passes the list of dicts, with each view's labels, to :func:`multi_view_contrastive_loss`.
    One call per view (rather than one call on the concatenated views) keeps BatchNorm's batch
    statistics per view, as in the MVCNet release.

Shape legend: B batch, E embedding width, V views (raw included).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F

from ..errors import ConfigError, DataError

__all__ = [
    "EMBEDDING",
    "LOGITS",
    "PROJECTION",
    "cross_model_loss",
    "cross_view_loss",
    "multi_view_contrastive_loss",
    "nt_xent",
]

#: Keys of the dict that ``forward_views`` returns.
LOGITS, EMBEDDING, PROJECTION = "logits", "embedding", "projection"


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.2) -> torch.Tensor:
    """NT-Xent between paired rows: ``z1[i]`` and ``z2[i]`` are positives, every other row a negative.

    The 2N rows of ``[z1; z2]`` are compared by cosine similarity divided by ``temperature``; each
    row's loss is the cross-entropy of picking its partner among the other 2N - 1 rows (itself is
    left out), and the result is the mean over the 2N rows:

        ℓ_i = -log( exp(s(i, p(i)) / τ) / Σ_{k ≠ i} exp(s(i, k) / τ) ),   loss = (1 / 2N) Σ_i ℓ_i

    Args:
        z1, z2: (N, E) representations, row i of one paired with row i of the other (N ≥ 1).
        temperature: τ > 0 (MVCNet: 0.2).

    Returns:
        A scalar tensor. Invariant to the scale of each row (cosine similarity).
    """
    if z1.ndim != 2 or z1.shape != z2.shape:
        raise DataError(
            f"nt_xent needs two (N, E) tensors of the same shape, got {tuple(z1.shape)} and {tuple(z2.shape)}."
        )
    if temperature <= 0:
        raise ConfigError(f"temperature must be positive, got {temperature}.")
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2], dim=0), dim=1)  # (2N, E), unit rows
    logits = z @ z.T / temperature  # (2N, 2N) cosine similarities / τ
    self_mask = torch.eye(2 * n, dtype=torch.bool, device=z.device)
    logits = logits.masked_fill(self_mask, float("-inf"))  # a row is not its own candidate
    partner = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)  # i <-> i + N
    return F.cross_entropy(logits, partner)


def _check_views(outputs: Sequence[Mapping[str, torch.Tensor]], needed: int) -> None:
    if len(outputs) < needed:
        raise DataError(f"Need at least {needed} views (the raw batch first), got {len(outputs)}.")


def cross_view_loss(
    outputs: Sequence[Mapping[str, torch.Tensor]],
    temperature: float = 0.2,
    keys: tuple[str, str] = (EMBEDDING, PROJECTION),
) -> torch.Tensor:
    """MVCNet's cross-view contrast: the raw view against each augmented view, both branches at once.

    For every augmented view v ≥ 1: ``nt_xent([h_0; z_0], [h_v; z_v])`` where h is ``keys[0]`` and z
    is ``keys[1]`` — each branch's raw representation is pulled towards the same branch's
    representation of the augmented trial, and the other 4B - 2 rows (both branches, both views) are
    negatives. The result is the mean over the augmented views.

    Args:
        outputs: V ≥ 2 dicts from ``forward_views``, ``outputs[0]`` the raw batch.
    """
    _check_views(outputs, 2)
    first, second = keys
    raw = torch.cat([outputs[0][first], outputs[0][second]], dim=0)  # (2B, E)
    terms = [nt_xent(raw, torch.cat([view[first], view[second]], dim=0), temperature) for view in outputs[1:]]
    return torch.stack(terms).mean()


def cross_model_loss(
    outputs: Sequence[Mapping[str, torch.Tensor]],
    temperature: float = 0.2,
    keys: tuple[str, str] = (EMBEDDING, PROJECTION),
) -> torch.Tensor:
    """MVCNet's cross-model contrast: branch A's representation against branch B's, over all views.

    ``nt_xent([h_0; …; h_{V-1}], [z_0; …; z_{V-1}])``: the embedding of trial i in view v and the
    projection of the same trial in the same view are positives; the other 2VB - 2 rows negatives.

    Args:
        outputs: V ≥ 1 dicts from ``forward_views`` (every view, the raw one included).
    """
    _check_views(outputs, 1)
    first, second = keys
    a = torch.cat([view[first] for view in outputs], dim=0)  # (V·B, E)
    b = torch.cat([view[second] for view in outputs], dim=0)
    return nt_xent(a, b, temperature)


def multi_view_contrastive_loss(
    outputs: Sequence[Mapping[str, torch.Tensor]],
    targets: Sequence[torch.Tensor],
    lambda_cross_view: float = 0.1,
    lambda_cross_model: float = 0.1,
    temperature: float = 0.2,
    class_weight: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """MVCNet's training objective over V views: Σ_v CE_v + λ_cv · L_cross-view + λ_cm · L_cross-model.

    The cross-entropy is summed (not averaged) over the views, each view with its own labels (a
    channel reflection swaps left and right), as in the MVCNet release.

    Args:
        outputs: V ≥ 2 dicts from ``forward_views``; ``outputs[0]`` is the raw batch.
        targets: V label tensors (B,), one per view.
        lambda_cross_view, lambda_cross_model: weights of the two contrastive terms.
        temperature: NT-Xent temperature of both terms.
        class_weight: optional per-class weight of the cross-entropy.

    Returns:
        ``{"loss", "cross_entropy", "cross_view", "cross_model"}``, scalars; ``loss`` is the total.
    """
    if len(targets) != len(outputs):
        raise DataError(f"Got {len(outputs)} views but {len(targets)} label tensors.")
    ce = torch.stack([F.cross_entropy(o[LOGITS], y, weight=class_weight) for o, y in zip(outputs, targets)]).sum()
    cross_view = cross_view_loss(outputs, temperature)
    cross_model = cross_model_loss(outputs, temperature)
    total = ce + lambda_cross_view * cross_view + lambda_cross_model * cross_model
    return {"loss": total, "cross_entropy": ce, "cross_view": cross_view, "cross_model": cross_model}
