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

from .signal import SignalData

__all__ = [
    "ChannelStandardizer",
    "EuclideanAligner",
    "OnlineEuclideanAligner",
    "align_per_group",
    "mean_covariance",
    "zscore_trials",
]


def mean_covariance(x: np.ndarray) -> np.ndarray:
    """(n, C, T) -> (C, C), the mean of the trials' spatial covariances XXᵀ/T (not centred: the
    band-passed EEG has zero mean already, and EA is defined this way)."""
    x = np.asarray(x, dtype=np.float64)
    return np.einsum("nct,ndt->cd", x, x) / (x.shape[0] * x.shape[2])


def _inv_sqrt(matrix: np.ndarray, eps: float) -> np.ndarray:
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
            raise ValueError(f"Euclidean alignment needs trials (n ≥ 1, C, T), got shape {np.shape(x)}.")
        self.whitener_ = _inv_sqrt(mean_covariance(x), self.eps)
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
            out[i] = _inv_sqrt(self.mean_, self.eps) @ trial
        return out


def align_per_group(data: SignalData) -> SignalData:
    """Offline EA of each group (subject) with its own R̄; returns new SignalData."""
    groups = data.groups if data.groups is not None else np.zeros(len(data), dtype=int)
    x = np.empty_like(data.x)
    for g in np.unique(groups):
        idx = np.flatnonzero(groups == g)
        x[idx] = EuclideanAligner().fit_transform(data.x[idx])
    return data.with_x(x)


def zscore_trials(x: np.ndarray, eps: float = 1e-8) -> np.ndarray:
    """Per trial and channel: subtract the mean over time, divide by the std. (n, C, T) -> same."""
    x = np.asarray(x, dtype=np.float32)
    return (x - x.mean(axis=2, keepdims=True)) / (x.std(axis=2, keepdims=True) + eps)


class ChannelStandardizer:
    """Per-channel mean/std estimated on training trials and applied to any trials (no test leakage)."""

    def __init__(self, eps: float = 1e-8) -> None:
        self.eps = eps
        self.mean_: np.ndarray | None = None
        self.std_: np.ndarray | None = None

    def fit(self, x: np.ndarray) -> ChannelStandardizer:
        x = np.asarray(x, dtype=np.float64)
        self.mean_ = x.mean(axis=(0, 2), keepdims=True)[0]  # (C, 1)
        self.std_ = x.std(axis=(0, 2), keepdims=True)[0]
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        if self.mean_ is None or self.std_ is None:
            raise RuntimeError("Call fit() first.")
        return ((np.asarray(x) - self.mean_) / (self.std_ + self.eps)).astype(np.float32)

    def fit_transform(self, x: np.ndarray) -> np.ndarray:
        return self.fit(x).transform(x)
