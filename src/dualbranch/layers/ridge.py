"""Ridge regression classifier in closed form, its penalty chosen by leave-one-out error.

ROCKET classifies its random-kernel features with a ridge classifier whose penalty α is chosen from
``logspace(-3, 3, 10)`` by leave-one-out cross-validation (scikit-learn's ``RidgeClassifierCV``;
Dempster et al. 2020). The leave-one-out residuals of every α come from one eigendecomposition
(Rifkin and Lippert, "Notes on regularized least squares", MIT-CSAIL-TR-2007-025): with the Gram
matrix G = X Xᵀ = Q diag(s) Qᵀ and c = (G + α I)⁻¹ Y, the residual of example i when it is left out is
c_i / [(G + α I)⁻¹]_ii. Targets are ±1 per class; features and targets are centred (the intercept).

Shape legend: n examples, F features, K classes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["RIDGE_ALPHAS", "RidgeFit", "fit_ridge_classifier"]

# plain floats (not tensors): the module may first be imported under a meta-device context
RIDGE_ALPHAS = tuple(float(a) for a in np.logspace(-3, 3, 10))
TEMPERATURES = tuple(float(t) for t in np.logspace(-1, 2, 31))


@dataclass
class RidgeFit:
    """A fitted ridge classifier: ``scores = features @ weight.T + bias``.

    Attributes:
        weight: (K, F); bias: (K,).
        alpha: the chosen penalty.
        loo_scores: (n, K) each training example's scores from the fit without it.
        temperature: τ with softmax(τ · scores) the best leave-one-out likelihood (a calibration).
        loo_accuracy: the leave-one-out accuracy at ``alpha``.
        loo_log_likelihood: the mean log-probability of the true class at ``temperature`` from the
            leave-one-out scores (how two fits on other features compare).
    """

    weight: torch.Tensor
    bias: torch.Tensor
    alpha: float
    loo_scores: torch.Tensor
    temperature: float
    loo_accuracy: float
    loo_log_likelihood: float


def fit_ridge_classifier(
    features: torch.Tensor, labels: torch.Tensor, num_classes: int, alphas: tuple[float, ...] = RIDGE_ALPHAS
) -> RidgeFit:
    """Ridge classifier on ``features`` (n, F) and ``labels`` (n,) integer classes; α by leave-one-out
    squared error (as ``RidgeClassifierCV``). Computed in float64 from the eigendecomposition of the
    smaller of the n × n Gram matrix (n ≤ F, the case ROCKET's features are made for) and the F × F
    covariance: O(min(n, F)² · max(n, F))."""
    x = features.double()
    targets = -torch.ones(len(labels), num_classes, dtype=torch.float64, device=x.device)
    targets[torch.arange(len(labels)), labels.long()] = 1.0
    x_mean, y_mean = x.mean(dim=0), targets.mean(dim=0)
    xc, yc = x - x_mean, targets - y_mean  # (n, F), (n, K)
    solve = _loo_dual if len(x) <= x.shape[1] else _loo_primal
    alpha, weight, loo = solve(xc, yc, alphas)  # weight (K, F), loo (n, K) centred leave-one-out scores
    bias = y_mean - weight @ x_mean  # (K,)
    loo_scores = loo + y_mean
    rows, truth = torch.arange(len(labels)), labels.long()
    log_likelihood = torch.stack([torch.log_softmax(t * loo_scores, dim=1)[rows, truth].mean() for t in TEMPERATURES])
    best = int(log_likelihood.argmax())
    accuracy = float((loo_scores.argmax(dim=1) == labels.to(x.device)).double().mean())
    return RidgeFit(
        weight.float(),
        bias.float(),
        alpha,
        loo_scores.float(),
        TEMPERATURES[best],
        accuracy,
        float(log_likelihood[best]),
    )


def _loo_dual(
    xc: torch.Tensor, yc: torch.Tensor, alphas: tuple[float, ...]
) -> tuple[float, torch.Tensor, torch.Tensor]:
    """Centred (n, F) features and (n, K) targets, n ≤ F: (α, weight (K, F), leave-one-out scores (n, K))."""
    eigenvalues, q = torch.linalg.eigh(xc @ xc.T)  # (n,), (n, n)
    eigenvalues = eigenvalues.clamp(min=0)
    qty = q.T @ yc  # (n, K)
    # centring makes the constant vector an eigenvector of eigenvalue 0: the direction of the intercept,
    # which is not penalised, so it takes no part in the residuals (as scikit-learn's _RidgeGCV)
    intercept = int((q.sum(dim=0).abs()).argmax())
    best = None
    for alpha in alphas:
        inverse = 1.0 / (eigenvalues + alpha)  # (n,)
        inverse[intercept] = 0.0
        dual = q @ (inverse[:, None] * qty)  # (n, K): (G + αI)⁻¹ Y
        diagonal = (q.square() * inverse).sum(dim=1)  # (n,): diag((G + αI)⁻¹)
        residual = dual / diagonal[:, None]
        error = float(residual.square().mean())
        if best is None or error < best[0]:
            best = (error, alpha, dual, yc - residual)
    _, alpha, dual, loo = best  # type: ignore[misc]
    return alpha, dual.T @ xc, loo


def _loo_primal(
    xc: torch.Tensor, yc: torch.Tensor, alphas: tuple[float, ...]
) -> tuple[float, torch.Tensor, torch.Tensor]:
    """Centred (n, F) features and (n, K) targets, n > F: the same fit from the covariance's
    eigendecomposition. The hat matrix with an unpenalised intercept is 11ᵀ/n + Z diag(1 / (s + α)) Zᵀ
    (Z = X V), and the leave-one-out residual of example i is its residual over 1 − H_ii."""
    eigenvalues, v = torch.linalg.eigh(xc.T @ xc)  # (F,), (F, F)
    eigenvalues = eigenvalues.clamp(min=0)
    z = xc @ v  # (n, F)
    zty = z.T @ yc  # (F, K)
    best = None
    for alpha in alphas:
        inverse = 1.0 / (eigenvalues + alpha)  # (F,)
        coefficients = inverse[:, None] * zty  # (F, K) in the eigenbasis
        leverage = 1.0 / len(xc) + (z.square() * inverse).sum(dim=1)  # (n,): diag of the hat matrix
        residual = (yc - z @ coefficients) / (1.0 - leverage)[:, None]
        error = float(residual.square().mean())
        if best is None or error < best[0]:
            best = (error, alpha, coefficients, yc - residual)
    _, alpha, coefficients, loo = best  # type: ignore[misc]
    return alpha, (v @ coefficients).T, loo
