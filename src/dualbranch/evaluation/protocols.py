"""Evaluation protocols as split generators, the folds of a run, and a loop that runs any classifier.

* :func:`chronological_holdout` — within each subject, the first trials train and the last test
  (no shuffling: later trials are never used to predict earlier ones);
* :func:`stratified_kfold` — k folds with the class proportions kept;
* :func:`leave_one_subject_out` — train on all subjects but one, test on that one (cross-subject).

Every generator yields :class:`Split` (index arrays) for any data with class codes ``y`` (n,) and
optional ``groups`` (n,): signals, images, the run pipeline's ``Dataset``. :func:`make_folds` turns
a protocol into the folds of a run — train, validation (held out of train, stratified by class) and
test indices — the same way for every kind of data. :func:`run_protocol` fits and scores a
``fit_predict(train, test) -> y_pred`` callable on each split, with per-fold and per-subject metrics
and a mean ± std summary.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from ..data.signal import SignalData
from ..errors import ConfigError, DataError
from .metrics import classification_metrics, per_group_metrics, summarize

__all__ = [
    "FOLD_PROTOCOLS",
    "Fold",
    "Labelled",
    "ProtocolResult",
    "Split",
    "chronological_holdout",
    "hold_out",
    "leave_one_subject_out",
    "make_folds",
    "make_splits",
    "run_protocol",
    "stratified_kfold",
    "stratified_subset",
]


class Labelled(Protocol):
    """What a protocol needs of the data: class codes ``y`` (n,) and subject ids ``groups`` (n,) or None."""

    y: np.ndarray
    groups: np.ndarray | None

    def __len__(self) -> int: ...


@dataclass(frozen=True)
class Split:
    """Indices of one train/test split; ``name`` says which (e.g. "fold 2", "subject 7")."""

    train: np.ndarray
    test: np.ndarray
    name: str


def _groups(data: Labelled) -> np.ndarray:
    return data.groups if data.groups is not None else np.zeros(len(data), dtype=int)


def chronological_holdout(data: Labelled, test_fraction: float = 0.2) -> Iterator[Split]:
    """One split: per subject, the last ``test_fraction`` of its trials (in recorded order) test."""
    if not 0 < test_fraction < 1:
        raise DataError(f"test_fraction must be in (0, 1), got {test_fraction}.")
    groups = _groups(data)
    train, test = [], []
    for g in np.unique(groups):
        idx = np.flatnonzero(groups == g)  # recorded order
        n_test = max(1, round(len(idx) * test_fraction))
        if n_test >= len(idx):
            raise DataError(f"Subject {g} has {len(idx)} trial(s): too few for a hold-out split.")
        train.append(idx[:-n_test])
        test.append(idx[-n_test:])
    yield Split(np.concatenate(train), np.concatenate(test), "holdout")


def stratified_kfold(data: Labelled, n_splits: int = 5, shuffle: bool = True, seed: int = 0) -> Iterator[Split]:
    """k stratified folds over all trials (use within one subject, or pooled across subjects)."""
    from sklearn.model_selection import StratifiedKFold

    counts = np.bincount(data.y)
    smallest = int(counts[counts > 0].min())
    if smallest < n_splits:
        raise DataError(f"A class has only {smallest} trial(s), fewer than n_splits={n_splits}.")
    folds = StratifiedKFold(n_splits, shuffle=shuffle, random_state=seed if shuffle else None)
    for k, (train, test) in enumerate(folds.split(np.zeros(len(data)), data.y)):
        yield Split(train, test, f"fold {k}")


def leave_one_subject_out(data: Labelled) -> Iterator[Split]:
    """One split per subject: that subject's trials test, everyone else's train."""
    groups = _groups(data)
    subjects = np.unique(groups)
    if len(subjects) < 2:
        raise DataError("Leave-one-subject-out needs at least 2 subjects in data.groups.")
    for s in subjects:
        yield Split(np.flatnonzero(groups != s), np.flatnonzero(groups == s), f"subject {s}")


FOLD_PROTOCOLS: dict[str, Callable[..., Iterator[Split]]] = {
    "holdout": chronological_holdout,
    "kfold": stratified_kfold,
    "loso": leave_one_subject_out,
}


def make_splits(protocol: str, data: Labelled, **options: Any) -> list[Split]:
    """Splits of a protocol by name: "holdout", "kfold" or "loso" (options go to its generator)."""
    if protocol not in FOLD_PROTOCOLS:
        raise DataError(f"Unknown protocol {protocol!r}; choose one of {sorted(FOLD_PROTOCOLS)}.")
    return list(FOLD_PROTOCOLS[protocol](data, **options))


@dataclass(frozen=True)
class Fold:
    """Indices of one fold of a run: train, validation (None: none) and test (None: none)."""

    name: str
    train: np.ndarray
    val: np.ndarray | None
    test: np.ndarray | None


def hold_out(
    y: np.ndarray, index: np.ndarray, ratio: float, seed: int, class_names: Sequence[str] | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Split ``index`` into (train, validation), ``ratio`` of each class (at least one) held out at random."""
    if ratio == 0:
        return index, None
    rng = np.random.default_rng(seed)
    train, val = [], []
    for label in np.unique(y[index]):
        members = rng.permutation(index[y[index] == label])
        if len(members) < 2:
            name = repr(class_names[label]) if class_names is not None else str(label)
            raise ConfigError(
                f"Class {name} has {len(members)} training example(s), too few to hold out validation; "
                "set data.val_ratio=0 (train on all, keep the last epoch), add examples, or use fewer folds."
            )
        n_val = max(1, round(len(members) * ratio))
        val.append(members[:n_val])
        train.append(members[n_val:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))


def stratified_subset(y: np.ndarray, index: np.ndarray, n: int | None, seed: int) -> np.ndarray:
    """``n`` of ``index`` drawn at random with the class proportions kept (every class present in
    ``index`` keeps at least one example while ``n`` allows); all of it when ``n`` is None or larger."""
    if n is None or n >= len(index):
        return index
    rng = np.random.default_rng(seed)
    labels, counts = np.unique(y[index], return_counts=True)
    # largest-remainder apportionment of n over the classes, at least one each while n allows
    share = counts * n / len(index)
    take = np.maximum(np.floor(share).astype(int), 1 if n >= len(labels) else 0)
    order = np.argsort(-(share - np.floor(share)))
    for k in order[: max(0, n - int(take.sum()))]:
        take[k] += 1
    while take.sum() > n:
        take[np.argmax(take)] -= 1
    chosen = [
        rng.choice(index[y[index] == label], size=min(t, c), replace=False) for label, t, c in zip(labels, take, counts)
    ]
    return np.sort(np.concatenate(chosen))


def make_folds(
    data: Labelled,
    protocol: str = "none",
    *,
    own_test: np.ndarray | None = None,
    own_val: np.ndarray | None = None,
    val_ratio: float = 0.1,
    folds: int = 5,
    test_fraction: float = 0.2,
    seed: int = 0,
    limit_train: int | None = None,
    limit_eval: int | None = None,
    class_names: Sequence[str] | None = None,
) -> list[Fold]:
    """The folds of a run, deterministic given ``seed``, for any data with ``y`` (and ``groups``).

    ``protocol="none"``: one fold named "run" — the data's own test split (``own_test``; without one
    the run is scored on validation), validation from ``own_val`` or held out of the rest by
    ``val_ratio``. Otherwise one fold per split of the protocol, named ``fold_<k>``, each with its
    validation part held out of its training part. ``limit_train`` / ``limit_eval`` keep a stratified
    random subset of each fold's training and evaluation parts.
    """
    y, every = np.asarray(data.y), np.arange(len(data))

    def limited(fold: Fold, k: int) -> Fold:
        pick = lambda index, n: None if index is None else stratified_subset(y, index, n, seed + k)  # noqa: E731
        return Fold(fold.name, pick(fold.train, limit_train), pick(fold.val, limit_eval), pick(fold.test, limit_eval))

    if protocol == "none":
        rest = np.setdiff1d(every, np.concatenate([i for i in (own_test, own_val) if i is not None] or [[]]))
        if own_val is not None:
            train, val = rest, own_val
        else:
            if own_test is None and val_ratio == 0:
                raise ConfigError(
                    "The data has no test split of its own: set evaluation.protocol (holdout | kfold | loso), "
                    "give data.test_path, or data.val_ratio > 0 to score on validation."
                )
            train, val = hold_out(y, rest, val_ratio, seed, class_names)
        return [limited(Fold("run", train, val, own_test), 0)]
    options: dict[str, Any] = {}
    if protocol == "kfold":
        options = {"n_splits": folds, "seed": seed}
    elif protocol == "holdout":
        options = {"test_fraction": test_fraction}
    try:
        splits = make_splits(protocol, data, **options)
    except DataError as err:
        raise ConfigError(f"evaluation.protocol={protocol}: {err}") from err
    result = []
    for k, split in enumerate(splits):
        train, val = hold_out(y, np.sort(split.train), val_ratio, seed + k, class_names)
        result.append(limited(Fold(f"fold_{k}", train, val, np.sort(split.test)), k))
    return result


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
            raise DataError(f"Split {split.name!r} has trials in both train and test.")
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
