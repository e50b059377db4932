"""Evaluation protocols as split generators, and a loop that runs any classifier over them.

* :func:`chronological_holdout` — within each subject, the first trials train and the last test
  (no shuffling: later trials are never used to predict earlier ones);
* :func:`stratified_kfold` — k folds with the class proportions kept;
* :func:`leave_one_subject_out` — train on all subjects but one, test on that one (cross-subject).

Every generator yields :class:`Split` (index arrays into a :class:`~dualbranch.data.signal.SignalData`).
:func:`run_protocol` fits and scores a ``fit_predict(train, test) -> y_pred`` callable on each split,
with per-fold and per-subject metrics and a mean ± std summary.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..data.signal import SignalData
from .metrics import classification_metrics, per_group_metrics, summarize

__all__ = [
    "PROTOCOLS",
    "ProtocolResult",
    "Split",
    "chronological_holdout",
    "leave_one_subject_out",
    "make_splits",
    "run_protocol",
    "stratified_kfold",
]


@dataclass(frozen=True)
class Split:
    """Indices of one train/test split; ``name`` says which (e.g. "fold 2", "subject 7")."""

    train: np.ndarray
    test: np.ndarray
    name: str


def _groups(data: SignalData) -> np.ndarray:
    return data.groups if data.groups is not None else np.zeros(len(data), dtype=int)


def chronological_holdout(data: SignalData, test_fraction: float = 0.2) -> Iterator[Split]:
    """One split: per subject, the last ``test_fraction`` of its trials (in recorded order) test."""
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}.")
    groups = _groups(data)
    train, test = [], []
    for g in np.unique(groups):
        idx = np.flatnonzero(groups == g)  # recorded order
        n_test = max(1, round(len(idx) * test_fraction))
        if n_test >= len(idx):
            raise ValueError(f"Subject {g} has {len(idx)} trial(s): too few for a hold-out split.")
        train.append(idx[:-n_test])
        test.append(idx[-n_test:])
    yield Split(np.concatenate(train), np.concatenate(test), "holdout")


def stratified_kfold(data: SignalData, n_splits: int = 5, shuffle: bool = True, seed: int = 0) -> Iterator[Split]:
    """k stratified folds over all trials (use within one subject, or pooled across subjects)."""
    from sklearn.model_selection import StratifiedKFold

    smallest = min(data.class_counts().values())
    if smallest < n_splits:
        raise ValueError(f"A class has only {smallest} trial(s), fewer than n_splits={n_splits}.")
    folds = StratifiedKFold(n_splits, shuffle=shuffle, random_state=seed if shuffle else None)
    for k, (train, test) in enumerate(folds.split(np.zeros(len(data)), data.y)):
        yield Split(train, test, f"fold {k}")


def leave_one_subject_out(data: SignalData) -> Iterator[Split]:
    """One split per subject: that subject's trials test, everyone else's train."""
    groups = _groups(data)
    subjects = np.unique(groups)
    if len(subjects) < 2:
        raise ValueError("Leave-one-subject-out needs at least 2 subjects in data.groups.")
    for s in subjects:
        yield Split(np.flatnonzero(groups != s), np.flatnonzero(groups == s), f"subject {s}")


PROTOCOLS: dict[str, Callable[..., Iterator[Split]]] = {
    "holdout": chronological_holdout,
    "kfold": stratified_kfold,
    "loso": leave_one_subject_out,
}


def make_splits(protocol: str, data: SignalData, **options: Any) -> list[Split]:
    """Splits of a protocol by name: "holdout", "kfold" or "loso" (options go to its generator)."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"Unknown protocol {protocol!r}; choose one of {sorted(PROTOCOLS)}.")
    return list(PROTOCOLS[protocol](data, **options))


@dataclass
class ProtocolResult:
    """Per-fold metrics, per-subject metrics (over all test predictions) and their mean ± std."""

    folds: list[dict[str, Any]] = field(default_factory=list)
    subjects: dict[str, dict[str, float]] = field(default_factory=dict)
    summary: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"folds": self.folds, "subjects": self.subjects, "summary": self.summary}


def run_protocol(
    data: SignalData,
    splits: list[Split],
    fit_predict: Callable[[SignalData, SignalData], np.ndarray],
) -> ProtocolResult:
    """Fit on each split's train part, predict its test part, and score.

    ``fit_predict(train, test)`` gets two SignalData and returns predicted class codes for ``test``
    (any preprocessing fitted inside it sees only ``train``, so nothing leaks).
    """
    result = ProtocolResult()
    y_true, y_pred, groups = [], [], []
    for split in splits:
        if np.intersect1d(split.train, split.test).size:
            raise ValueError(f"Split {split.name!r} has trials in both train and test.")
        test = data.subset(split.test)
        predicted = np.asarray(fit_predict(data.subset(split.train), test)).reshape(-1)
        if predicted.shape != test.y.shape:
            raise ValueError(f"fit_predict returned {predicted.shape[0]} predictions for {len(test)} test trials.")
        result.folds.append({"split": split.name, "n_test": len(test), **classification_metrics(test.y, predicted)})
        y_true.append(test.y)
        y_pred.append(predicted)
        groups.append(test.groups if test.groups is not None else np.zeros(len(test), dtype=int))
    result.subjects = per_group_metrics(np.concatenate(y_true), np.concatenate(y_pred), np.concatenate(groups))
    result.summary = summarize(result.folds)
    return result
