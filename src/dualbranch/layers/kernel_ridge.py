"""An RBF-kernel ridge classifier in closed form, on a Nyström approximation of the kernel.

The classic partner of HOG descriptors is a support-vector machine with a Gaussian (RBF) kernel; a
kernel ridge classifier on ±1 targets is its least-squares twin (Rifkin, Yeo and Poggio, "Regularized
least-squares classification", 2003) and is fitted in closed form, with its penalty chosen by
leave-one-out error (:mod:`.ridge`). The kernel is approximated through m landmarks drawn from the
training examples (Williams and Seeger, NIPS 2000): the features φ(x) = k(x, L) K_LL^(-1/2) make a
linear ridge on φ a kernel ridge on the landmarks' span — exact when every training example is a
landmark. The kernel width is the median heuristic: γ = 1 / median ‖a − b‖² over landmark pairs.
The fitted classifier folds K_LL^(-1/2) into its weights, so it scores with k(x, L) alone.

Shape legend: n examples, F descriptor length, m landmarks, K classes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .ridge import fit_ridge_classifier

__all__ = ["KernelRidgeFit", "fit_rbf_classifier", "rbf_kernel"]

_MEDIAN_PAIRS = 1000  # landmarks whose pairwise distances set the width
_CHUNK = 2048  # examples whose kernel rows are computed at once


def rbf_kernel(a: torch.Tensor, b: torch.Tensor, gamma: torch.Tensor | float) -> torch.Tensor:
    """(n, F), (m, F) -> (n, m) exp(−γ ‖a_i − b_j‖²)."""
    distances = a.square().sum(dim=1, keepdim=True) + b.square().sum(dim=1)[None] - 2 * a @ b.T
    return torch.exp(-gamma * distances.clamp(min=0))


@dataclass
class KernelRidgeFit:
    """``scores = rbf_kernel(x, landmarks, gamma) @ weight.T + bias``: landmarks (m, F), weight (K, m),
    bias (K,); ``alpha``, ``temperature`` and ``loo_accuracy`` as in :class:`~.ridge.RidgeFit`."""

    landmarks: torch.Tensor
    gamma: float
    weight: torch.Tensor
    bias: torch.Tensor
    alpha: float
    temperature: float
    loo_accuracy: float


def fit_rbf_classifier(
    features: torch.Tensor, labels: torch.Tensor, num_classes: int, max_landmarks: int, seed: int = 0
) -> KernelRidgeFit:
    """RBF kernel ridge classifier on ``features`` (n, F) and ``labels`` (n,) with up to ``max_landmarks``
    landmarks (a seeded draw of the examples; all of them when there are no more)."""
    x = features.double()
    generator = torch.Generator().manual_seed(seed)
    count = min(len(x), max_landmarks)
    landmarks = x[torch.randperm(len(x), generator=generator)[:count]]  # (m, F)
    sample = landmarks[:_MEDIAN_PAIRS]
    distances = torch.cdist(sample, sample).square()
    pairs = distances[torch.triu_indices(len(sample), len(sample), offset=1).unbind()]
    gamma = 1.0 / float(pairs.median()) if len(pairs) and float(pairs.median()) > 0 else 1.0
    eigenvalues, vectors = torch.linalg.eigh(rbf_kernel(landmarks, landmarks, gamma))  # (m,), (m, m)
    keep = eigenvalues > eigenvalues.max() * 1e-10  # directions the landmarks span
    whiten = vectors[:, keep] / eigenvalues[keep].sqrt()  # (m, r): K_LL^(-1/2) on its range
    mapped = torch.cat([rbf_kernel(part, landmarks, gamma) @ whiten for part in x.split(_CHUNK)])  # (n, r)
    fit = fit_ridge_classifier(mapped, labels, num_classes)
    weight = fit.weight.double() @ whiten.T  # (K, r) @ (r, m) -> (K, m)
    return KernelRidgeFit(
        landmarks.float(), gamma, weight.float(), fit.bias, fit.alpha, fit.temperature, fit.loo_accuracy
    )
