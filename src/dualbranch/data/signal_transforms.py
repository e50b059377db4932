"""Signal normalisation: Euclidean alignment (offline and online) and z-scoring.

Euclidean alignment (EA; He & Wu, "Transfer Learning for Brain-Computer Interfaces: A Euclidean
Space Data Alignment Approach", IEEE Trans. Biomed. Eng. 67(2):399–410, 2020, arXiv 2019) whitens
each subject's trials by the mean of their spatial covariances, R̄ = (1/n) Σ XᵢXᵢᵀ/T, so that
X̃ᵢ = R̄^(-1/2) Xᵢ. Afterwards the mean covariance of every subject is the identity, which removes
much of the between-subject shift. EA is unsupervised (no labels), so it may use test trials; the
online variant updates R̄ one test trial at a time and aligns each with the trials seen so far,
which is what a real-time system can do.

Shape legend: n trials, C channels, T samples.
"""

from __future__ import annotations

import numpy as np

from ..errors import DataError
from .signal import SignalData

__all__ = [
    "ChannelStandardizer",
    "EuclideanAligner",
    "OnlineEuclideanAligner",
    "align_per_group",
    "inverse_sqrt",
    "mean_covariance",
    "zscore_trials",
]


def mean_covariance(x: np.ndarray) -> np.ndarray:
    """(n, C, T) -> (C, C), the mean of the trials' spatial covariances XXᵀ/T (not centred: the
    band-passed EEG has zero mean already, and EA is defined this way)."""
    x = np.asarray(x, dtype=np.float64)
    return np.einsum("nct,ndt->cd", x, x) / (x.shape[0] * x.shape[2])


def inverse_sqrt(matrix: np.ndarray, eps: float) -> np.ndarray:
    """R^(-1/2) of a symmetric positive (semi-)definite matrix (C, C)."""
    # Symmetric positive definite -> eigendecomposition; eps guards rank-deficient data (e.g. after
    # re-referencing to the average, the covariance loses one rank).
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    floor = eps * max(float(values.max()), np.finfo(float).tiny)
    return (vectors / np.sqrt(np.maximum(values, floor))) @ vectors.T


class EuclideanAligner:
    """Offline EA: ``fit(x)`` estimates R̄^(-1/2) from trials (n, C, T); ``transform`` applies it."""

    def __init__(self, eps: float = 1e-10) -> None:
        self.eps = eps
        self.whitener_: np.ndarray | None = None

    def fit(self, x: np.ndarray) -> EuclideanAligner:
        if np.asarray(x).ndim != 3 or len(x) == 0:
            raise DataError(f"Euclidean alignment needs trials (n ≥ 1, C, T), got shape {np.shape(x)}.")
        self.whitener_ = inverse_sqrt(mean_covariance(x), self.eps)
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        if self.whitener_ is None:
            raise RuntimeError("Call fit() first.")
        return np.einsum("cd,ndt->nct", self.whitener_, np.asarray(x, dtype=np.float64)).astype(np.float32)

    def fit_transform(self, x: np.ndarray) -> np.ndarray:
        return self.fit(x).transform(x)


class OnlineEuclideanAligner:
    """Incremental EA for a stream of test trials: each trial is aligned with R̄ of the trials so far.

    ``prior`` (optional, (n, C, T)) seeds the running mean, e.g. with a short calibration block;
    without it the first trial is whitened by its own covariance. ``partial_transform`` takes one
    or more trials in arrival order and returns them aligned.
    """

    def __init__(self, prior: np.ndarray | None = None, eps: float = 1e-10) -> None:
        self.eps = eps
        self.count = 0
        self.mean_: np.ndarray | None = None
        if prior is not None:
            self.mean_ = mean_covariance(prior)
            self.count = len(prior)

    def partial_transform(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim == 2:
            x = x[None]
        out = np.empty_like(x, dtype=np.float32)
        for i, trial in enumerate(x):
            cov = trial @ trial.T / trial.shape[1]
            # running mean: R̄_k = R̄_(k-1) + (R_k - R̄_(k-1)) / k
            self.mean_ = cov if self.mean_ is None else self.mean_ + (cov - self.mean_) / (self.count + 1)
            self.count += 1
            out[i] = inverse_sqrt(self.mean_, self.eps) @ trial
        return out


def align_per_group(data: SignalData) -> SignalData:
    """Offline EA of each group (subject) with its own R̄; returns new SignalData."""
    groups = data.groups if data.groups is not None else np.zeros(len(data), dtype=int)
    x = np.empty_like(data.x)
    for g in np.unique(groups):
        idx = np.flatnonzero(groups == g)
        x[idx] = EuclideanAligner().fit_transform(data.x[idx])
    return data.with_x(x)


def _real(x: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """(n, 1, T) weights: 1 where a sample is real, 0 where it is padding (``mask`` (n, T) or None)."""
    if mask is None:
        return np.ones((x.shape[0], 1, x.shape[2]), dtype=np.float64)
    return np.asarray(mask, dtype=np.float64)[:, None, :]


def zscore_trials(x: np.ndarray, mask: np.ndarray | None = None, eps: float = 1e-8) -> np.ndarray:
    """Per trial and channel: subtract the mean over time, divide by the std. (n, C, T) -> same.

    With ``mask`` (n, T), statistics use the real samples only and padding stays 0.
    """
    x = np.asarray(x, dtype=np.float64)
    real = _real(x, mask)
    count = real.sum(axis=2, keepdims=True).clip(min=1)
    mean = (x * real).sum(axis=2, keepdims=True) / count
    std = np.sqrt((((x - mean) * real) ** 2).sum(axis=2, keepdims=True) / count)
    return (((x - mean) / (std + eps)) * real).astype(np.float32)


class ChannelStandardizer:
    """Per-channel mean/std estimated on training trials and applied to any trials (no test leakage).

    With a ``mask`` (n, T), statistics use real samples only, and padding stays 0 after ``transform``.
    """

    def __init__(self, eps: float = 1e-8) -> None:
        self.eps = eps
        self.mean_: np.ndarray | None = None
        self.std_: np.ndarray | None = None

    def fit(self, x: np.ndarray, mask: np.ndarray | None = None) -> ChannelStandardizer:
        x = np.asarray(x, dtype=np.float64)
        real = _real(x, mask)
        n_real = max(float(real.sum()), 1.0)
        mean = (x * real).sum(axis=(0, 2)) / n_real
        var = (((x - mean[None, :, None]) * real) ** 2).sum(axis=(0, 2)) / n_real
        self.mean_, self.std_ = mean[:, None], np.sqrt(var)[:, None]  # (C, 1)
        return self

    def transform(self, x: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        if self.mean_ is None or self.std_ is None:
            raise RuntimeError("Call fit() first.")
        out = (np.asarray(x) - self.mean_) / (self.std_ + self.eps)
        return (out * _real(out, mask)).astype(np.float32)

    def fit_transform(self, x: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        return self.fit(x, mask).transform(x, mask)
