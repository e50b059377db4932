"""Signal runs, data side: from the ``data`` / ``signal`` / ``evaluation`` config sections to
examples, folds and fitted preprocessing.

* :func:`load_signal_source` — every example of the configured set (EEGMMIDB through MNE, a UEA set
  bundled with aeon, or ``.npz`` arrays) plus which of them form the set's own test split;
* :func:`make_folds` — train / validation / test indices: the set's own split (``protocol: none``)
  or one fold per split of a protocol (hold-out, stratified k-fold, leave-one-subject-out), with the
  validation part held out of each fold's training part, stratified by class;
* :class:`Preprocessor` — fitted on a fold's training examples only: Euclidean alignment per
  subject (training trials offline, every other trial online, seeded with its subject's training
  mean covariance when there is one) and channel standardisation; saved as JSON next to the model.

Variable-length series follow ``signal.length_policy`` (pad with a mask, resample, or refuse);
nothing is ever cut. Padded samples are zero after preprocessing (the channel mean, once
standardised), so the padding carries no signal.

Shape legend: n examples, C channels, T samples.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..data.signal import SignalData
from ..data.signal_transforms import OnlineEuclideanAligner, _inv_sqrt, mean_covariance
from ..evaluation.protocols import make_splits
from ..safe_io import atomic_write_text
from .config import ConfigError, RunConfig

__all__ = [
    "SIGNAL_DATASETS",
    "Fold",
    "Preprocessor",
    "SignalSource",
    "is_signal_config",
    "load_signal_source",
    "make_folds",
    "plain_chs_info",
    "refuse_signal_options",
]

SIGNAL_DATASETS = ("eegbci", "uea", "signal_npz")
PROTOCOLS = ("none", "holdout", "kfold", "loso")
_IMAGE_ONLY = {"img_size": None, "channels": None, "val_path": None, "limit_train": None, "limit_eval": None}


def is_signal_config(config: RunConfig) -> bool:
    """True when ``data.name`` is a signal dataset (the run goes through the signal workflow)."""
    return config.data.name in SIGNAL_DATASETS


def check_signal_config(config: RunConfig) -> None:
    """Refuse options that a signal run would silently ignore or cannot honour."""
    for key, default in _IMAGE_ONLY.items():
        if getattr(config.data, key) != default:
            raise ConfigError(f"data.{key} applies to image datasets only; remove it for data.name={config.data.name}.")
    signal, evaluation = config.signal, config.evaluation
    choices = {
        "signal.length_policy": (signal.length_policy, ("pad", "resample", "error")),
        "signal.alignment": (signal.alignment, ("none", "euclidean")),
        "signal.standardize": (signal.standardize, ("channel", "trial", "none")),
        "evaluation.protocol": (evaluation.protocol, PROTOCOLS),
    }
    for key, (value, valid) in choices.items():
        if value not in valid:
            raise ConfigError(f"{key}: {value!r} is not one of {', '.join(valid)}.")
    if not 0 <= config.data.val_ratio < 1:
        raise ConfigError(
            f"data.val_ratio must be in [0, 1) for signals (0: no validation), got {config.data.val_ratio}."
        )


def refuse_signal_options(config: RunConfig) -> None:
    """An image run must not carry signal or evaluation options it would silently ignore."""
    from .config import EvaluationSection, SignalSection

    for section, default in (("signal", SignalSection()), ("evaluation", EvaluationSection())):
        changed = [k for k, v in vars(getattr(config, section)).items() if getattr(default, k) != v]
        if changed:
            raise ConfigError(
                f"{section}.{changed[0]} applies to signal datasets ({', '.join(SIGNAL_DATASETS)}) only; "
                f"data.name={config.data.name} is an image dataset. Remove it."
            )


def plain_chs_info(chs_info: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    """MNE channel descriptions reduced to JSON: name and the 12-value ``loc`` (NaN -> 0)."""
    if chs_info is None:
        return None
    return [
        {"ch_name": str(ch["ch_name"]), "loc": np.nan_to_num(np.asarray(ch["loc"], dtype=float)).tolist()}
        for ch in chs_info
    ]


@dataclass
class SignalSource:
    """All examples of a run's data; ``test_index`` marks the set's own test split (None: it has none)."""

    data: SignalData
    test_index: np.ndarray | None = None


def _concat(parts: list[SignalData]) -> SignalData:
    first = parts[0]
    masks = None
    if any(p.mask is not None for p in parts):
        masks = np.concatenate([p.mask if p.mask is not None else np.ones((len(p), p.n_times), bool) for p in parts])
    groups = None
    if any(p.groups is not None for p in parts):
        groups = np.concatenate([p.groups if p.groups is not None else np.zeros(len(p), int) for p in parts])
    return SignalData(
        x=np.concatenate([p.x for p in parts]),
        y=np.concatenate([p.y for p in parts]),
        class_names=first.class_names,
        sfreq=first.sfreq,
        ch_names=first.ch_names,
        chs_info=first.chs_info,
        groups=groups,
        mask=masks,
    )


def _load_uea(config: RunConfig) -> SignalSource:
    from ..data.series import load_uea

    signal = config.signal
    if not signal.uea_name:
        raise ConfigError("data.name=uea needs signal.uea_name, e.g. BasicMotions or JapaneseVowels.")
    train, test = (load_uea(signal.uea_name, s, signal.length_policy, signal.length) for s in ("train", "test"))
    if train.n_times != test.n_times:
        # bring both splits to the longer length (padding or resampling, never cutting)
        length = max(train.n_times, test.n_times)
        train, test = (load_uea(signal.uea_name, s, signal.length_policy, length) for s in ("train", "test"))
    data = _concat([train, test])
    return SignalSource(data, np.arange(len(train), len(data)))


def _load_npz(config: RunConfig) -> SignalSource:
    from ..data.series import load_npz

    section, signal = config.data, config.signal
    if section.path is None:
        raise ConfigError("data.name=signal_npz needs data.path (an .npz with x (n, C, T) and y (n,)).")
    train = load_npz(section.path, signal.length_policy, signal.length)
    if section.test_path is None:
        return SignalSource(train)
    test = load_npz(section.test_path, signal.length_policy, signal.length or train.n_times)
    if test.class_names != train.class_names or test.n_chans != train.n_chans:
        raise ConfigError(
            f"{section.test_path} has classes {test.class_names} × {test.n_chans} channels but {section.path} "
            f"has {train.class_names} × {train.n_chans}; save both with the same class_names and channels."
        )
    if test.n_times != train.n_times:
        train = load_npz(section.path, signal.length_policy, test.n_times)
    data = _concat([train, test])
    return SignalSource(data, np.arange(len(train), len(data)))


def load_signal_source(config: RunConfig) -> SignalSource:
    """Every example of the configured signal set (see the module docstring)."""
    check_signal_config(config)
    name, signal = config.data.name, config.signal
    if name == "uea":
        return _load_uea(config)
    if name == "signal_npz":
        return _load_npz(config)
    from ..data.eeg import EEGBCI_TASKS, load_eegbci

    if signal.task not in EEGBCI_TASKS:
        raise ConfigError(f"signal.task: {signal.task!r} is not one of {', '.join(EEGBCI_TASKS)}.")
    runs, class_names = EEGBCI_TASKS[signal.task]
    path = config.data.path or "/work/shared/data"
    data = load_eegbci(
        signal.subjects, runs, path, signal.l_freq, signal.h_freq, signal.tmin, signal.tmax, signal.resample,
        class_names,
    )  # fmt: skip
    return SignalSource(data)


@dataclass(frozen=True)
class Fold:
    """Indices into :attr:`SignalSource.data`: train, validation (None: none) and test (None: none)."""

    name: str
    train: np.ndarray
    val: np.ndarray | None
    test: np.ndarray | None


def _hold_out(y: np.ndarray, index: np.ndarray, ratio: float, seed: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Split ``index`` into (train, validation) with ``ratio`` of each class (at least one) held out."""
    if ratio == 0:
        return index, None
    rng = np.random.default_rng(seed)
    train, val = [], []
    for label in np.unique(y[index]):
        members = rng.permutation(index[y[index] == label])
        if len(members) < 2:
            raise ConfigError(
                f"Class {label} has {len(members)} training example(s) in a fold, too few to hold out validation; "
                "set data.val_ratio=0 (train on all, keep the last epoch) or use fewer folds."
            )
        n_val = max(1, round(len(members) * ratio))
        val.append(members[:n_val])
        train.append(members[n_val:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))


def make_folds(config: RunConfig, source: SignalSource) -> list[Fold]:
    """The folds of a run (one for ``protocol: none``), deterministic given ``trainer.seed``."""
    evaluation, seed, ratio = config.evaluation, config.trainer.seed, config.data.val_ratio
    data = source.data
    if evaluation.protocol == "none":
        every = np.arange(len(data))
        if source.test_index is None:
            if ratio == 0:
                raise ConfigError(
                    f"data.name={config.data.name} has no test split of its own: set evaluation.protocol "
                    "(holdout | kfold | loso), give data.test_path, or data.val_ratio > 0 to test on validation."
                )
            train, val = _hold_out(data.y, every, ratio, seed)
            return [Fold("run", train, val, None)]
        train, val = _hold_out(data.y, np.setdiff1d(every, source.test_index), ratio, seed)
        return [Fold("run", train, val, source.test_index)]
    options: dict[str, Any] = {}
    if evaluation.protocol == "kfold":
        options = {"n_splits": evaluation.folds, "seed": seed}
    elif evaluation.protocol == "holdout":
        options = {"test_fraction": evaluation.test_fraction}
    try:
        splits = make_splits(evaluation.protocol, data, **options)
    except ValueError as err:
        raise ConfigError(f"evaluation.protocol={evaluation.protocol}: {err}") from err
    folds = []
    for k, split in enumerate(splits):
        train, val = _hold_out(data.y, np.sort(split.train), ratio, seed + k)
        folds.append(Fold(f"fold_{k}", train, val, np.sort(split.test)))
    return folds


@dataclass
class Preprocessor:
    """What a fold's training data decided about preprocessing; JSON round-trips exactly.

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
    def fit(cls, train: SignalData, alignment: str, standardize: str) -> Preprocessor:
        """Fit on training examples only (nothing from validation or test leaks in)."""
        pre = cls(alignment, standardize)
        if alignment == "euclidean":
            if train.mask is not None:
                raise ConfigError("Euclidean alignment needs equal-length trials; set signal.length_policy=resample.")
            for g in np.unique(_groups(train)):
                trials = train.x[_groups(train) == g]
                pre.covariances[str(g)] = mean_covariance(trials).tolist()
                pre.counts[str(g)] = len(trials)
        if standardize == "channel":
            x = pre._align(train, online=False)
            real = _mask(train)[:, None, :]  # statistics over real samples only, never padding
            n_real = max(int(real.sum()), 1)
            mean = (x * real).sum(axis=(0, 2), dtype=np.float64) / n_real
            var = (((x - mean[None, :, None]) * real) ** 2).sum(axis=(0, 2), dtype=np.float64) / n_real
            pre.mean, pre.std = mean.tolist(), np.sqrt(var).tolist()
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
                out[index] = np.einsum("cd,ndt->nct", _inv_sqrt(np.asarray(cov), 1e-10), data.x[index])
                continue
            # unseen subject, or trials arriving after training: align each with the trials so far
            aligner = OnlineEuclideanAligner()
            if cov is not None:
                aligner.mean_, aligner.count = np.asarray(cov), self.counts[str(g)]
            out[index] = aligner.partial_transform(data.x[index])
        return out

    def transform(self, data: SignalData, training: bool = False) -> np.ndarray:
        """(n, C, T) preprocessed signals: training examples aligned offline, all others online."""
        x = self._align(data, online=not training).astype(np.float32)
        real = _mask(data)[:, None, :]
        if self.standardize == "channel":
            mean = np.asarray(self.mean, dtype=np.float32)[None, :, None]
            std = np.asarray(self.std, dtype=np.float32)[None, :, None]
            x = (x - mean) / (std + 1e-8)
        elif self.standardize == "trial":
            count = real.sum(axis=2, keepdims=True).clip(min=1)
            mean = (x * real).sum(axis=2, keepdims=True) / count
            std = np.sqrt((((x - mean) * real) ** 2).sum(axis=2, keepdims=True) / count)
            x = (x - mean) / (std + 1e-8)
        return np.where(real, x, 0).astype(np.float32)

    def save(self, path: Path) -> None:
        atomic_write_text(path, json.dumps(self.__dict__))

    @classmethod
    def load(cls, path: Path) -> Preprocessor:
        return cls(**json.loads(Path(path).read_text()))


def _groups(data: SignalData) -> np.ndarray:
    return data.groups if data.groups is not None else np.zeros(len(data), dtype=int)


def _mask(data: SignalData) -> np.ndarray:
    return data.mask if data.mask is not None else np.ones((len(data), data.n_times), dtype=bool)
