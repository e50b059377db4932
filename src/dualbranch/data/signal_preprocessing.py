"""A fold's signal preprocessing, fitted on its training examples only and saved as JSON.

Two steps, each from :mod:`.signal_transforms`:

1. Euclidean alignment per subject (``alignment: euclidean``): training trials are whitened
   offline by their subject's mean covariance; every other trial is aligned online
   (:class:`~.signal_transforms.OnlineEuclideanAligner`), seeded with that subject's training mean
   covariance when the fold trained on the subject.
2. Standardisation: per channel with the training statistics (``channel``), per trial (``trial``), or
   none. Padding (``mask`` False) never enters a statistic and is 0 afterwards.

Shape legend: n examples, C channels, T samples.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..errors import ConfigError
from .signal import SignalData
from .signal_transforms import ChannelStandardizer, OnlineEuclideanAligner, inverse_sqrt, mean_covariance, zscore_trials

__all__ = ["SignalPreprocessor"]


def _groups(data: SignalData) -> np.ndarray:
    return data.groups if data.groups is not None else np.zeros(len(data), dtype=int)


@dataclass
class SignalPreprocessor:
    """What a fold's training data decided; ``to_json`` / ``from_json`` round-trip exactly.

    Attributes:
        alignment: "none" or "euclidean".
        standardize: "channel", "trial" or "none".
        mean, std: per-channel statistics (C,) of the (aligned) training signals, for "channel".
        covariances: subject id -> its training trials' mean spatial covariance (C, C), for EA.
        counts: subject id -> how many training trials that mean covers (weights the online update).
    """

    alignment: str = "none"
    standardize: str = "channel"
    mean: list[float] | None = None
    std: list[float] | None = None
    covariances: dict[str, list[list[float]]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    @classmethod
    def fit(cls, train: SignalData, alignment: str, standardize: str) -> SignalPreprocessor:
        """Fit on training examples only (nothing from validation or test leaks in)."""
        pre = cls(alignment, standardize)
        if alignment == "euclidean":
            if train.mask is not None:
                raise ConfigError("Euclidean alignment needs equal-length trials; set data.length_policy=resample.")
            groups = _groups(train)
            for g in np.unique(groups):
                trials = train.x[groups == g]
                pre.covariances[str(g)] = mean_covariance(trials).tolist()
                pre.counts[str(g)] = len(trials)
        if standardize == "channel":
            scaler = ChannelStandardizer().fit(pre._align(train, online=False), train.mask)
            pre.mean, pre.std = scaler.mean_[:, 0].tolist(), scaler.std_[:, 0].tolist()  # type: ignore[index]
        return pre

    def _align(self, data: SignalData, online: bool) -> np.ndarray:
        if self.alignment == "none":
            return data.x
        groups = _groups(data)
        out = np.empty_like(data.x)
        for g in np.unique(groups):
            index = np.flatnonzero(groups == g)
            cov = self.covariances.get(str(g))
            if not online and cov is not None:
                out[index] = np.einsum("cd,ndt->nct", inverse_sqrt(np.asarray(cov), 1e-10), data.x[index])
                continue
            # an unseen subject, or trials arriving after training: align each with the trials so far
            aligner = OnlineEuclideanAligner()
            if cov is not None:
                aligner.mean_, aligner.count = np.asarray(cov), self.counts[str(g)]
            out[index] = aligner.partial_transform(data.x[index])
        return out

    def transform(self, data: SignalData, training: bool = False) -> np.ndarray:
        """(n, C, T) float32 preprocessed signals: training examples aligned offline, all others online."""
        x = self._align(data, online=not training)
        if self.standardize == "channel":
            scaler = ChannelStandardizer()
            scaler.mean_ = np.asarray(self.mean, dtype=np.float64)[:, None]
            scaler.std_ = np.asarray(self.std, dtype=np.float64)[:, None]
            return scaler.transform(x, data.mask)
        if self.standardize == "trial":
            return zscore_trials(x, data.mask)
        real = np.ones(x.shape[::2], dtype=bool) if data.mask is None else data.mask
        return np.where(real[:, None, :], x, 0).astype(np.float32)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, values: dict[str, Any]) -> SignalPreprocessor:
        return cls(**values)
