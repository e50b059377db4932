"""Multivariate series: UEA archive sets bundled with aeon, and ``.npz`` arrays, as SignalData.

Variable-length series (e.g. JapaneseVowels, 7–29 samples) are never silently cut. The
``length_policy`` decides, and it is recorded in the result:

* ``"pad"`` (default): zero-pad at the end to the longest series; ``SignalData.mask`` (n, T) marks
  the real samples;
* ``"resample"``: linearly interpolate every series to ``length`` samples (default: the longest);
* ``"error"``: refuse unequal lengths.

UEA: Bagnall et al., "The UEA multivariate time series classification archive, 2018",
arXiv:1811.00075; loaded through aeon (``aeon.datasets.load_classification``). Downloaded sets are read
from their files: ``.ts`` (both archives), or the UCR archive's ``.tsv`` / ``.txt`` (:mod:`.ucr_text`).

Shape legend: n series, C channels (dimensions), T samples.
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from ..errors import ConfigError, DataError, MissingFileError
from .signal import SignalData, encode_labels
from .ucr_text import UCR_TEXT_SUFFIXES, read_ucr_text

__all__ = [
    "bundled_uea_datasets",
    "load_npz",
    "load_uea",
    "load_uea_splits",
    "pad_series",
    "read_uea_split",
    "resample_series",
    "stack_series",
    "uea_split_files",
]

LengthPolicy = Literal["pad", "resample", "error"]


def pad_series(series: Sequence[np.ndarray], length: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """List of (C, T_i) -> zero-padded (n, C, T) and mask (n, T), T = ``length`` or max T_i.

    A ``length`` shorter than a series is an error (padding never truncates).
    """
    lengths = [s.shape[1] for s in series]
    target = max(lengths) if length is None else length
    if target < max(lengths):
        raise ConfigError(f"length={target} is shorter than the longest series ({max(lengths)}); use resample.")
    x = np.zeros((len(series), series[0].shape[0], target), dtype=np.float32)
    mask = np.zeros((len(series), target), dtype=bool)
    for i, s in enumerate(series):
        x[i, :, : s.shape[1]] = s
        mask[i, : s.shape[1]] = True
    return x, mask


def resample_series(series: Sequence[np.ndarray], length: int | None = None) -> np.ndarray:
    """List of (C, T_i) -> (n, C, length) by linear interpolation over each series' own time span."""
    target = max(s.shape[1] for s in series) if length is None else length
    if target < 2:
        raise ConfigError(f"Resample to at least 2 samples, got length={target}.")
    grid = np.linspace(0.0, 1.0, target)
    out = np.empty((len(series), series[0].shape[0], target), dtype=np.float32)
    for i, s in enumerate(series):
        if s.shape[1] == 1:
            out[i] = s[:, :1]  # a single sample stays constant
            continue
        own = np.linspace(0.0, 1.0, s.shape[1])
        out[i] = np.stack([np.interp(grid, own, channel) for channel in s])
    return out


def stack_series(
    series: Sequence[np.ndarray] | np.ndarray, length_policy: LengthPolicy = "pad", length: int | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """(n, C, T) array or list of (C, T_i) -> (x (n, C, T), mask or None) following ``length_policy``."""
    if isinstance(series, np.ndarray) and series.ndim == 3:
        if length is not None and length != series.shape[2]:
            series = list(series)  # an explicit length still applies
        else:
            return series.astype(np.float32), None
    series = [np.asarray(s, dtype=np.float32) for s in series]
    if not series:
        raise DataError("No series given.")
    if any(s.ndim != 2 for s in series):
        raise DataError("Each series must be 2-D (channels, times).")
    if len({s.shape[0] for s in series}) > 1:
        raise DataError(f"Series have different channel counts: {sorted({s.shape[0] for s in series})}.")
    lengths = {s.shape[1] for s in series}
    if len(lengths) == 1 and length in (None, next(iter(lengths))):
        return np.stack(series), None
    if length_policy == "pad":
        return pad_series(series, length)
    if length_policy == "resample":
        return resample_series(series, length), None
    if length_policy == "error":
        raise DataError(
            f"Series lengths vary ({min(lengths)}–{max(lengths)} samples); choose length_policy='pad' "
            "(with a mask) or 'resample'."
        )
    raise ConfigError(f"length_policy must be 'pad', 'resample' or 'error', got {length_policy!r}.")


def _is_classification(path: Path) -> bool:
    """Whether a ``.ts`` file's header declares class labels (regression sets declare ``@targetLabel``)."""
    with path.open(encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.lower().startswith("@classlabel"):
                return line.split()[1].lower() == "true"
            if line.lower().startswith("@data"):
                break
    return False


def bundled_uea_datasets() -> list[str]:
    """Classification sets shipped inside aeon (loadable offline; its regression sets are left out)."""
    import aeon.datasets

    root = Path(aeon.datasets.__file__).parent / "data"
    return sorted(
        p.name
        for p in root.iterdir()
        if (p / f"{p.name}_TRAIN.ts").exists() and _is_classification(p / f"{p.name}_TRAIN.ts")
    )


def uea_split_files(name: str, path: str | Path) -> dict[str, Path]:
    """``{"train": ..., "test": ...}``: the two split files of set ``name`` under ``path`` in the UEA/UCR
    archives' layout, ``name/name_TRAIN.ts`` and ``name/name_TEST.ts`` (the UCR archive's ``.tsv`` and older
    ``.txt`` splits also count); ``path`` is the archive's folder, or the set's own folder."""
    path = Path(path)
    if path.is_file():
        raise MissingFileError(f"{path} is a file; give the folder that holds {name}/{name}_TRAIN.ts (data.path).")
    if not path.exists():
        raise MissingFileError(f"{path} does not exist; give the folder that holds {name}/{name}_TRAIN.ts.")
    for root in (path, path.parent):
        for suffix in (".ts", *UCR_TEXT_SUFFIXES):
            files = {split: root / name / f"{name}_{split.upper()}{suffix}" for split in ("train", "test")}
            if all(f.is_file() for f in files.values()):
                return files
    raise MissingFileError(
        f"{path} holds no {name}/{name}_TRAIN.ts and {name}/{name}_TEST.ts (nor UCR .tsv or .txt splits); give "
        f"the folder of the downloaded archive's sets (or {name}'s own folder), as the UEA/UCR archives unpack."
    )


Series = list[np.ndarray] | np.ndarray  # (n, C, T) or n arrays (C, T_i)


def read_uea_split(
    name: str, split: Literal["train", "test"], extract_path: str | Path | None = None
) -> tuple[Series, np.ndarray]:
    """The series of one split as the archive holds them (unequal lengths unpadded) and their class labels:
    aeon's bundled files, or the ``.ts`` (or UCR ``.tsv`` / ``.txt``) file under ``extract_path``
    (:func:`uea_split_files`) read directly (aeon's own loader would download into the folder what it does not
    find)."""
    from aeon.datasets import load_classification, load_from_ts_file

    if split not in ("train", "test"):
        raise ConfigError(f"split must be 'train' or 'test', got {split!r}.")
    if extract_path is None:
        if name not in bundled_uea_datasets():
            raise ConfigError(
                f"UEA dataset {name!r} is not bundled with aeon, and loading it would download it. "
                f"Bundled: {', '.join(bundled_uea_datasets())}. Download it yourself and give its folder "
                f"(holding {name}/{name}_TRAIN.ts): data.path=<folder> on the command line, extract_path= in Python."
            )
        return load_classification(name, split=split)
    file = uea_split_files(name, extract_path)[split]
    if file.suffix != ".ts":
        return read_ucr_text(file)
    try:
        series, labels, meta = load_from_ts_file(str(file), return_meta_data=True)
    except (OSError, ValueError) as err:
        raise DataError(f"{file}: not a readable .ts file ({' '.join(str(err).split())}).") from err
    if not meta.get("classlabel"):
        raise DataError(f"{file} declares no class labels (@classLabel true): it is not a classification set.")
    if len(labels) == 0 or any(np.shape(s)[0] == 0 for s in series):
        raise DataError(
            f"{file}: no series read; a .ts file has a header of @ lines, then @data and one series per line, "
            "its channels separated by ':' and its class label last."
        )
    return series, np.asarray(labels)


def _uea_parts(name: str, extract_path: str | Path | None) -> tuple[Series, np.ndarray, Series, np.ndarray, tuple]:
    """Both splits, each file read once, and the class names they share (sorted), so that train and test
    agree on what label 3 means."""
    (train, train_labels), (test, test_labels) = (read_uea_split(name, s, extract_path) for s in ("train", "test"))
    class_names = tuple(str(c) for c in np.unique(np.concatenate([train_labels, test_labels]).astype(str)))
    return train, train_labels, test, test_labels, class_names


def _uea_signals(
    series: Series, labels: np.ndarray, class_names: tuple, length_policy: LengthPolicy, length: int | None,
    require_all_classes: bool,
) -> SignalData:  # fmt: skip
    x, mask = stack_series(series, length_policy, length)
    y = np.searchsorted(np.asarray(class_names), labels.astype(str)).astype(np.int64)
    return SignalData(x=x, y=y, class_names=class_names, mask=mask, require_all_classes=require_all_classes)


def load_uea(
    name: str,
    split: Literal["train", "test"] | None = None,
    length_policy: LengthPolicy = "pad",
    length: int | None = None,
    extract_path: str | Path | None = None,
) -> SignalData:
    """A UEA/UCR classification set as SignalData (``groups`` None, ``sfreq`` None).

    Args:
        name: "BasicMotions" (6 channels × 100), "JapaneseVowels" (12 × 7–29), or any set in
            ``bundled_uea_datasets()``; with ``extract_path``, any set downloaded there.
        split: "train", "test" or None (both, train first; the first ``n_train`` are the train set).
        length_policy, length: how unequal lengths are made equal (see the module docstring).
        extract_path: a folder holding ``name/name_TRAIN.ts`` and ``name/name_TEST.ts``, or the set's own
            folder (:func:`uea_split_files`); its files are only read.
    """
    if split not in (None, "train", "test"):
        raise ConfigError(f"split must be 'train', 'test' or None, got {split!r}.")
    train, train_labels, test, test_labels, class_names = _uea_parts(name, extract_path)
    if split is None:
        same = isinstance(train, np.ndarray) and isinstance(test, np.ndarray) and train.shape[1:] == test.shape[1:]
        series: Series = np.concatenate([train, test]) if same else [*train, *test]
        labels = np.concatenate([train_labels, test_labels])
    else:
        series, labels = (train, train_labels) if split == "train" else (test, test_labels)
    return _uea_signals(series, labels, class_names, length_policy, length, require_all_classes=split is None)


def load_uea_splits(
    name: str, length_policy: LengthPolicy = "pad", length: int | None = None, extract_path: str | Path | None = None
) -> tuple[SignalData, SignalData]:
    """The train and test splits of a UEA/UCR set (see :func:`load_uea`), each file read once and both
    brought to one length: ``length``, or the longest series of either split (padding or resampling by
    ``length_policy``, never cutting)."""
    train, train_labels, test, test_labels, class_names = _uea_parts(name, extract_path)
    if length is None:
        length = max(np.shape(s)[-1] for part in (train, test) for s in part)  # (C, T_i) each
    return (
        _uea_signals(train, train_labels, class_names, length_policy, length, require_all_classes=False),
        _uea_signals(test, test_labels, class_names, length_policy, length, require_all_classes=False),
    )


def load_npz(
    path: str | Path,
    length_policy: LengthPolicy = "pad",
    length: int | None = None,
) -> SignalData:
    """Arrays from an ``.npz`` file: ``x`` (n, C, T) (or (n, T): one channel) and ``y`` (n,).

    Optional keys: ``class_names``, ``sfreq``, ``ch_names``, ``groups``, ``mask``. Labels that are not
    integer codes (strings, or integers without ``class_names``) are encoded as sorted classes.
    With ``length`` set, every series is brought to that length by ``length_policy`` ("pad" only
    lengthens; use "resample" to shorten). Pickled (object) arrays are refused.
    """
    path = Path(path)
    if not path.exists():
        raise MissingFileError(f"No such file: {path}")
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in ("x", "y") if k not in f.files]
            if missing:
                raise DataError(
                    f"{path} lacks array(s) {missing}; it has {f.files}. Save with np.savez(path, x=..., y=...)."
                )
            arrays = {k: f[k] for k in f.files}
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as err:
        if isinstance(err, DataError):  # the missing-array error above, already worded
            raise
        reason = (
            "holds pickled Python objects, which are refused (loading them could run code); save numeric arrays"
            if "Object arrays" in str(err)
            else f"is not a readable .npz file ({err}); it may be truncated"
        )
        raise DataError(f"{path} {reason}.") from err
    x = arrays["x"]
    if x.ndim == 2:
        x = x[:, None, :]
    if x.ndim != 3:
        raise DataError(f"x in {path} must be (n, C, T) or (n, T), got shape {x.shape}.")
    mask = arrays.get("mask")
    if length is not None and length != x.shape[2]:
        x, mask = stack_series(list(x), length_policy, length)
    labels = arrays["y"]
    if "class_names" in arrays and np.issubdtype(labels.dtype, np.integer):
        y, class_names = labels.astype(np.int64), tuple(str(c) for c in arrays["class_names"])
    else:
        y, class_names = encode_labels(labels)
    try:
        return SignalData(
            x=x,
            y=y,
            class_names=class_names,
            sfreq=float(arrays["sfreq"]) if "sfreq" in arrays else None,
            ch_names=tuple(str(c) for c in arrays["ch_names"]) if "ch_names" in arrays else None,
            groups=arrays.get("groups"),
            mask=mask,
        )
    except ValueError as err:
        raise DataError(f"{path}: {err}") from err
