"""``SignalData``: labelled multichannel signals (EEG epochs, multivariate series) with validation.

Every signal loader (:mod:`.eeg`, :mod:`.series`) returns one, every protocol
(:mod:`dualbranch.evaluation.protocols`) splits one, and the models read its ``x`` directly:
(n, n_chans, n_times) float32, which is braindecode's layout.

Shape legend: n examples, C channels, T samples, K classes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import DataError

__all__ = ["SignalData", "encode_labels"]


def encode_labels(labels: Sequence[Any] | np.ndarray) -> tuple[np.ndarray, tuple[str, ...]]:
    """Arbitrary labels -> (int64 codes 0..K-1, sorted class names)."""
    names, codes = np.unique(np.asarray(labels), return_inverse=True)
    return codes.astype(np.int64).reshape(-1), tuple(str(n) for n in names)


@dataclass
class SignalData:
    """Examples ``x`` (n, C, T) float32 with labels ``y`` (n,) int64 in 0..K-1 and their metadata.

    Attributes:
        x: signals, (n, C, T), converted to float32.
        y: class codes, (n,), converted to int64; ``class_names[y[i]]`` is the label.
        class_names: the K class names.
        sfreq: sampling frequency in Hz (None when unknown, e.g. some UEA sets).
        ch_names: C channel names (defaults to "ch0", "ch1", ...).
        groups: (n,) subject/session id of each example (for leave-one-subject-out, per-subject
            alignment and metrics); None means one group.
        chs_info: MNE channel descriptions (``info["chs"]``), with electrode positions for topomaps.
        mask: (n, T) bool, True where a sample is real and False where it is padding (variable-length
            series padded to a common length); None when every example is full length.
        require_all_classes: check that every class has at least one example (off for subsets, a
            fold may legitimately miss a class).

    Raises :class:`~dualbranch.errors.DataError` (a ValueError) naming the problem: wrong ndim,
    NaN/Inf (with the first location and the count), labels out of range, empty classes, mismatched
    lengths.
    """

    x: np.ndarray
    y: np.ndarray
    class_names: tuple[str, ...]
    sfreq: float | None = None
    ch_names: tuple[str, ...] | None = None
    groups: np.ndarray | None = None
    chs_info: list[dict[str, Any]] | None = field(default=None, repr=False)
    mask: np.ndarray | None = field(default=None, repr=False)
    require_all_classes: bool = field(default=True, repr=False)

    def __post_init__(self) -> None:
        x = np.asarray(self.x)
        if x.ndim != 3:
            raise DataError(
                f"x must be 3-D (examples, channels, times), got shape {x.shape}. "
                "Add a channel axis for univariate series: x[:, None, :]."
            )
        if not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
            # a cast would silently drop the imaginary part of complex data
            raise DataError(f"x must hold real numbers, got dtype {x.dtype}; take np.abs or .real first.")
        self.x = np.ascontiguousarray(x, dtype=np.float32)
        y = np.asarray(self.y)
        if y.ndim != 1 or len(y) != len(self.x):
            raise DataError(f"y must be 1-D with one label per example ({len(self.x)}), got shape {y.shape}.")
        if len(y) and not np.issubdtype(y.dtype, np.integer):
            raise DataError(f"y must hold integer class codes, got dtype {y.dtype}; use encode_labels(labels).")
        self.y = y.astype(np.int64)
        self.class_names = tuple(str(c) for c in self.class_names)
        n, chans, _ = self.x.shape
        if self.ch_names is None:
            self.ch_names = tuple(f"ch{i}" for i in range(chans))
        self.ch_names = tuple(self.ch_names)
        if len(self.ch_names) != chans:
            raise DataError(f"{len(self.ch_names)} ch_names for {chans} channels.")
        if self.chs_info is not None and len(self.chs_info) != chans:
            raise DataError(f"chs_info describes {len(self.chs_info)} channels, x has {chans}.")
        if self.groups is not None:
            self.groups = np.asarray(self.groups)
            if self.groups.shape != (n,):
                raise DataError(f"groups must have shape ({n},) (one id per example), got {self.groups.shape}.")
        if self.mask is not None:
            self.mask = np.asarray(self.mask, dtype=bool)
            if self.mask.shape != (n, self.x.shape[2]):
                raise DataError(f"mask must have shape {(n, self.x.shape[2])}, got {self.mask.shape}.")
        if self.sfreq is not None and not self.sfreq > 0:
            raise DataError(f"sfreq must be positive, got {self.sfreq}.")
        self._check_values()

    def _check_values(self) -> None:
        bad = ~np.isfinite(self.x)
        if bad.any():
            trial, chan, sample = (int(i) for i in np.argwhere(bad)[0])
            kind = "NaN" if np.isnan(self.x[trial, chan, sample]) else "Inf"
            raise DataError(
                f"x has {int(bad.sum())} non-finite value(s); the first is {kind} at example {trial}, "
                f"channel {chan} ({self.ch_names[chan]}), sample {sample}. Interpolate or drop them first."
            )
        k = len(self.class_names)
        if k == 0:
            raise DataError("class_names is empty.")
        if len(self.y) and (self.y.min() < 0 or self.y.max() >= k):
            wrong = sorted({int(v) for v in self.y if not 0 <= v < k})
            raise DataError(f"labels {wrong[:10]} are out of range for {k} classes {self.class_names}.")
        if self.require_all_classes:
            counts = np.bincount(self.y, minlength=k)
            empty = [self.class_names[i] for i in np.flatnonzero(counts == 0)]
            if empty:
                raise DataError(f"class(es) {empty} have no examples; drop them from class_names or add data.")

    def __repr__(self) -> str:
        groups = "" if self.groups is None else f", groups={len(np.unique(self.groups))}"
        padded = "" if self.mask is None else ", padded"
        return (
            f"SignalData(n={self.n_trials}, n_chans={self.n_chans}, n_times={self.n_times}, "
            f"sfreq={self.sfreq}, classes={self.class_counts()}{groups}{padded})"
        )

    # ----------------------------------------------------------------- views
    @property
    def n_trials(self) -> int:
        return int(self.x.shape[0])

    @property
    def n_chans(self) -> int:
        return int(self.x.shape[1])

    @property
    def n_times(self) -> int:
        return int(self.x.shape[2])

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def __len__(self) -> int:
        return self.n_trials

    def class_counts(self) -> dict[str, int]:
        """Examples per class name."""
        counts = np.bincount(self.y, minlength=self.n_classes)
        return {name: int(c) for name, c in zip(self.class_names, counts)}

    def subset(self, index: np.ndarray | Sequence[int]) -> SignalData:
        """The examples at ``index`` (same classes and channels; classes may be empty)."""
        index = np.asarray(index)
        return dataclasses.replace(
            self,
            x=self.x[index],
            y=self.y[index],
            groups=None if self.groups is None else self.groups[index],
            mask=None if self.mask is None else self.mask[index],
            require_all_classes=False,
        )

    def with_x(self, x: np.ndarray) -> SignalData:
        """The same examples and metadata with new signals (e.g. after alignment); re-validated."""
        return dataclasses.replace(self, x=x, require_all_classes=False)
