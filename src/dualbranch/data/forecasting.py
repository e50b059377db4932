"""Forecasting data: multivariate series tables as look-back/horizon windows, with the field's protocol.

The long-horizon benchmarks (ETTh1/2, ETTm1/2, Weather, Electricity, Traffic, ...) are CSV tables:
a time column ``date``, then one numeric column per variable. :func:`load_series` reads such a
table (``.csv``; ``.parquet`` with pandas and pyarrow; or an ``.npz`` array (T, C)), and
:func:`prepare_forecasting` turns it into train/validation/test windows exactly as the reference
code does (Time-Series-Library / Autoformer, ``Dataset_ETT_hour``, ``Dataset_ETT_minute``,
``Dataset_Custom``; learnt from it, not copied):

* chronological borders: ``"ett_hour"`` 12/4/4 months of 30 days × 24 hours (8,640 / 2,880 / 2,880
  rows; rows after month 20 are not used); ``"ett_minute"`` the same ×4 (15-minute steps);
  ``"ratio"`` ⌊0.7·T⌋ training rows, ⌊0.2·T⌋ test rows and the rest for validation. ``"auto"`` picks
  by file name (ETTh* / ETTm* / anything else), as the reference code picks by data set name;
* the validation and test parts start ``seq_len`` rows before their border, so their first window's
  look-back comes from the previous part; windows never cross a part's end;
* a scaler (per-variable mean and population standard deviation) fitted on the training rows only,
  applied to every part;
* window i of a part reads rows [i·stride, i·stride + L) and forecasts [i·stride + L, … + H); with
  stride 1 a part of n rows has n − L − H + 1 windows (:func:`count_windows`).

Errors are scored on the standardised scale (as papers report) and on the original scale
(:meth:`ForecastingData.metrics`).

Shape legend
    T time steps (rows)   C variables   C_t target variables   L look-back (seq_len)
    H horizon (pred_len)  N windows
"""

from __future__ import annotations

import difflib
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import ConfigError, DataError, MissingDependencyError, MissingFileError

__all__ = [
    "PROTOCOLS",
    "ForecastWindows",
    "ForecastingData",
    "Scaler",
    "SeriesTable",
    "count_windows",
    "forecast_errors",
    "infer_protocol",
    "load_forecasting",
    "load_series",
    "prepare_forecasting",
    "split_borders",
]

#: Split protocols: fixed ETT borders (hourly, 15-minute) or 70/10/20 ratios.
PROTOCOLS = ("ett_hour", "ett_minute", "ratio")
_ETT_MONTH_ROWS = {"ett_hour": 30 * 24, "ett_minute": 30 * 24 * 4}
_MISSING = {"", "na", "nan", "null", "none"}


@dataclass(frozen=True)
class SeriesTable:
    """A multivariate series: ``values`` (T, C) float64, finite, with C column names.

    ``timestamps`` (T,) holds the time column as text (None without one); ``source`` the file.
    """

    values: np.ndarray
    columns: tuple[str, ...]
    timestamps: np.ndarray | None = field(default=None, repr=False)
    source: str = ""

    def __post_init__(self) -> None:
        values = np.asarray(self.values)
        where = f" in {self.source}" if self.source else ""
        if values.ndim != 2 or values.shape[1] == 0:
            raise DataError(f"A series table is (T, C) with C ≥ 1 variables, got shape {values.shape}{where}.")
        if not np.issubdtype(values.dtype, np.number) or np.issubdtype(values.dtype, np.complexfloating):
            raise DataError(f"Series values must be real numbers, got dtype {values.dtype}{where}.")
        values = values.astype(np.float64)
        if len(self.columns) != values.shape[1]:
            raise DataError(f"{len(self.columns)} column names for {values.shape[1]} variables{where}.")
        bad = ~np.isfinite(values)
        if bad.any():
            rows, cols = np.nonzero(bad)
            counts = bad.sum(axis=0)
            raise DataError(
                f"Column {self.columns[cols[0]]!r}{where} has {counts[cols[0]]} missing/NaN/Inf value(s), the "
                f"first in data row {rows[0] + 1}; fill or drop them before forecasting."
            )
        if self.timestamps is not None and len(self.timestamps) != values.shape[0]:
            raise DataError(f"{len(self.timestamps)} timestamps for {values.shape[0]} rows{where}.")
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "columns", tuple(str(c) for c in self.columns))


def _read_table(path: Path) -> dict[str, np.ndarray]:
    """Column name -> float64 array (numeric columns) or object array of text (the others), via pandas."""
    kind = "parquet" if path.suffix.lower() == ".parquet" else "CSV"
    try:
        import pandas as pd
    except ImportError as err:
        raise MissingDependencyError(f"Reading {kind} files needs pandas: pip install pandas") from err
    try:
        frame = pd.read_parquet(path) if kind == "parquet" else pd.read_csv(path)
    except ImportError as err:  # read_parquet without an engine
        raise MissingDependencyError("Reading parquet files needs pyarrow: pip install pyarrow") from err
    except (ValueError, OSError, UnicodeDecodeError) as err:  # pandas' parser errors are ValueErrors
        raise DataError(f"{path} is not a readable {kind} table ({str(err).strip()}).") from err
    out = {}
    for name in frame.columns:
        column = frame[name]
        numeric = pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
        out[str(name)] = column.to_numpy(np.float64) if numeric else column.astype(str).to_numpy(object)
    return out


def _read_npz(path: Path) -> SeriesTable:
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as err:
        reason = "holds pickled objects, which are refused" if "Object arrays" in str(err) else f"is unreadable ({err})"
        raise DataError(f"{path} {reason}; save numeric arrays with np.savez(path, data=values).") from err
    key = next((k for k in ("data", "values") if k in arrays), None)
    if key is None:
        candidates = [k for k in arrays if k not in ("columns", "timestamps")]
        if len(candidates) != 1:
            raise DataError(f"{path} has arrays {sorted(arrays)}; save the series as 'data' (T, C).")
        key = candidates[0]
    values = arrays[key]
    if values.ndim == 1:
        values = values[:, None]  # (T,) -> (T, 1)
    if values.ndim != 2:
        raise DataError(f"'{key}' in {path} must be (T, C) or (T,), got shape {values.shape}.")
    columns = arrays.get("columns")
    names = [str(c) for c in columns] if columns is not None else [f"var{j}" for j in range(values.shape[1])]
    stamps = arrays.get("timestamps")
    return SeriesTable(values, tuple(names), None if stamps is None else stamps.astype(str), str(path))


def load_series(
    path: str | Path,
    columns: str | Sequence[str] | None = None,
    time_column: str | None = "auto",
) -> SeriesTable:
    """A series table from ``.csv`` / ``.parquet`` (a time column and numeric variables) or ``.npz``.

    Args:
        path: the file. An ``.npz`` holds ``data`` (T, C) (or its one array), optionally ``columns``
            (C names) and ``timestamps`` (T,).
        columns: the variables to keep, in this order; None keeps every column but the time column.
        time_column: the time column's name; "auto" takes ``date`` if present, else the first column
            if it is not numeric, else none; None: no time column.

    Raises:
        MissingFileError: no such file. MissingDependencyError: parquet without pandas/pyarrow.
        DataError: unreadable file, unknown or non-numeric columns, missing/NaN/Inf values.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"No such file: {path}")
    columns = [columns] if isinstance(columns, str) else columns
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet", ".npz"):
        raise DataError(f"{path}: unsupported file type {suffix!r}; give a .csv, .parquet or .npz series table.")
    if suffix == ".npz":
        table = _read_npz(path)
        if columns is None:
            return table
        return SeriesTable(
            table.values[:, _indices(table.columns, columns, path)], tuple(columns), table.timestamps, str(path)
        )
    data = _read_table(path)
    names = list(data)
    if not names or len(data[names[0]]) == 0:
        raise DataError(f"{path} has no data rows.")
    if time_column == "auto":
        time_column = "date" if "date" in data else (names[0] if data[names[0]].dtype == object else None)
    elif time_column is not None and time_column not in data:
        raise DataError(
            f"{path} has no time column {time_column!r}; its columns are {names}.{_hint(time_column, names)}"
        )
    chosen = [n for n in names if n != time_column] if columns is None else list(columns)
    _indices(tuple(names), chosen, path)  # unknown names are an error
    text = [n for n in chosen if data[n].dtype == object]
    if text:
        first = next(v for v in data[text[0]] if _not_a_number(v))
        raise DataError(
            f"{path}: column(s) {text} are not numeric (e.g. {first!r}); choose the numeric variables with "
            f"columns=[...], or name the time column with time_column=."
        )
    stamps = data[time_column].astype(str) if time_column is not None else None
    return SeriesTable(np.stack([data[n] for n in chosen], axis=1), tuple(chosen), stamps, str(path))


def _not_a_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return value.strip().lower() not in _MISSING
    return False


def _hint(name: str, names: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(names), n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


def _indices(columns: tuple[str, ...], wanted: Sequence[str], where: object) -> list[int]:
    wanted = [wanted] if isinstance(wanted, str) else list(wanted)
    missing = [w for w in wanted if w not in columns]
    if missing:
        raise DataError(
            f"{where} has no column(s) {missing}; its columns are {list(columns)}.{_hint(missing[0], columns)}"
        )
    if not wanted or len(set(wanted)) != len(wanted):
        raise ConfigError(f"Give distinct column names, at least one; got {list(wanted)}.")
    return [columns.index(w) for w in wanted]


def infer_protocol(source: str | Path) -> str:
    """The reference code's split for a data set: ``ett_hour`` (ETTh*), ``ett_minute`` (ETTm*), ``ratio``."""
    stem = Path(str(source)).stem
    return "ett_hour" if stem.startswith("ETTh") else "ett_minute" if stem.startswith("ETTm") else "ratio"


def split_borders(
    n_rows: int,
    seq_len: int,
    protocol: str = "ratio",
    ratios: Sequence[float] = (0.7, 0.1, 0.2),
) -> dict[str, tuple[int, int]]:
    """Row ranges [start, stop) of the train, val and test parts; val and test start ``seq_len`` early.

    ``ratio``: n_train = ⌊T·r_train⌋, n_test = ⌊T·r_test⌋, n_val = T − n_train − n_test.
    ``ett_hour`` / ``ett_minute``: 12, 4 and 4 months of 30 days (720 or 2,880 rows a month).
    """
    if protocol in _ETT_MONTH_ROWS:
        month = _ETT_MONTH_ROWS[protocol]
        n_train, n_val, n_test = 12 * month, 4 * month, 4 * month
        if n_rows < 20 * month:
            raise DataError(
                f"The {protocol} protocol needs 20 months ({20 * month} rows), the table has {n_rows}; "
                f"use protocol='ratio' for other data."
            )
        end = n_train + n_val + n_test
    elif protocol == "ratio":
        if len(ratios) != 3 or min(ratios) <= 0 or abs(sum(ratios) - 1.0) > 1e-6:
            raise ConfigError(f"ratios={tuple(ratios)}: give three positive fractions (train, val, test) summing to 1.")
        n_train, n_test = int(n_rows * ratios[0]), int(n_rows * ratios[2])
        n_val, end = n_rows - n_train - n_test, n_rows
    else:
        raise ConfigError(f"protocol={protocol!r} is not one of {[*PROTOCOLS, 'auto']}.")
    if n_train < seq_len:
        raise DataError(f"The training part has {n_train} rows, fewer than seq_len={seq_len}; the table is too short.")
    return {
        "train": (0, n_train),
        "val": (n_train - seq_len, n_train + n_val),
        "test": (end - n_test - seq_len, end),
    }


def count_windows(n_rows: int, seq_len: int, pred_len: int, stride: int = 1) -> int:
    """Windows in ``n_rows`` rows: ⌊(n_rows − L − H) / stride⌋ + 1 (0 when too short)."""
    span = n_rows - seq_len - pred_len
    return span // stride + 1 if span >= 0 else 0


@dataclass(frozen=True)
class Scaler:
    """Per-variable standardisation, ``(v − mean) / std``; ``mean`` and ``std`` are (C,)."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, values: np.ndarray) -> Scaler:
        """Mean and population std of ``values`` (T, C); a constant variable gets std 1 (as scikit-learn)."""
        std = values.std(axis=0)
        return cls(values.mean(axis=0), np.where(std > 0, std, 1.0))

    def transform(self, values: np.ndarray) -> np.ndarray:
        """(…, C) -> standardised (…, C)."""
        return (values - self.mean) / self.std

    def inverse_transform(self, values: np.ndarray, indices: Sequence[int] | None = None) -> np.ndarray:
        """Standardised (…, C) -> original scale; with ``indices``, (…, C_t) of those variables."""
        idx = slice(None) if indices is None else list(indices)
        return values * self.std[idx] + self.mean[idx]


class ForecastWindows(Dataset):
    """Windows of one part: item i is (x (L, C), y (H, C_t)) float32 tensors.

    ``values`` (n, C) are the part's rows (look-back context included); ``first_row`` is the row of
    the table where they start, so window i covers table rows first_row + i·stride onwards.
    """

    def __init__(
        self,
        values: np.ndarray,
        seq_len: int,
        pred_len: int,
        stride: int = 1,
        target_indices: Sequence[int] | None = None,
        first_row: int = 0,
    ) -> None:
        self.values = np.ascontiguousarray(values, dtype=np.float32)
        self.seq_len, self.pred_len, self.stride, self.first_row = seq_len, pred_len, stride, first_row
        self.target_indices = None if target_indices is None else list(target_indices)

    def __len__(self) -> int:
        return count_windows(len(self.values), self.seq_len, self.pred_len, self.stride)

    def start_row(self, index: int) -> int:
        """The table row of window ``index``'s first look-back step."""
        return self.first_row + index * self.stride

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"Window {index} of {len(self)}.")
        begin = (index % len(self)) * self.stride
        x = self.values[begin : begin + self.seq_len]  # (L, C)
        y = self.values[begin + self.seq_len : begin + self.seq_len + self.pred_len]  # (H, C)
        if self.target_indices is not None:
            y = y[:, self.target_indices]  # (H, C_t)
        return torch.from_numpy(x.copy()), torch.from_numpy(np.ascontiguousarray(y))


def _numpy(a: np.ndarray | torch.Tensor) -> np.ndarray:
    return np.asarray(a.detach().cpu() if isinstance(a, torch.Tensor) else a, np.float64)


def forecast_errors(pred: np.ndarray | torch.Tensor, true: np.ndarray | torch.Tensor) -> dict[str, float]:
    """MSE and MAE over every element of two equal-shaped arrays (in float64)."""
    p, t = _numpy(pred), _numpy(true)
    if p.shape != t.shape:
        raise DataError(f"Forecast shape {p.shape} differs from the truth's {t.shape}.")
    return {"mse": float(np.mean((p - t) ** 2)), "mae": float(np.mean(np.abs(p - t)))}


@dataclass(frozen=True)
class ForecastingData:
    """Train/val/test windows of one table, with the scaler and what is needed to report errors.

    ``series`` is the table as loaded (original scale); ``target_indices`` index the forecast
    variables among its columns (None: all of them); ``borders`` are the parts' row ranges (see
    :func:`split_borders`); ``scaler`` is None when the values were not standardised.
    """

    series: SeriesTable
    train: ForecastWindows
    val: ForecastWindows
    test: ForecastWindows
    target_indices: tuple[int, ...] | None
    scaler: Scaler | None
    borders: dict[str, tuple[int, int]]
    protocol: str

    @property
    def n_vars(self) -> int:
        """C, the model's ``n_vars``."""
        return len(self.series.columns)

    @property
    def target_columns(self) -> tuple[str, ...]:
        """The forecast variables' names."""
        columns = self.series.columns
        return columns if self.target_indices is None else tuple(columns[i] for i in self.target_indices)

    def parts(self) -> dict[str, ForecastWindows]:
        """{"train": …, "val": …, "test": …}."""
        return {"train": self.train, "val": self.val, "test": self.test}

    def inverse_transform_targets(self, y: np.ndarray | torch.Tensor) -> np.ndarray:
        """Forecasts or truths (…, C_t) on the windows' scale -> the original scale."""
        values = _numpy(y)
        return values if self.scaler is None else self.scaler.inverse_transform(values, self.target_indices)

    def metrics(self, pred: np.ndarray | torch.Tensor, true: np.ndarray | torch.Tensor) -> dict[str, float]:
        """``mse``/``mae`` on the windows' (standardised) scale and ``mse_original``/``mae_original``
        after undoing the scaler; ``pred`` and ``true`` are (N, H, C_t)."""
        original = forecast_errors(self.inverse_transform_targets(pred), self.inverse_transform_targets(true))
        return {**forecast_errors(pred, true), "mse_original": original["mse"], "mae_original": original["mae"]}

    def summary(self) -> dict[str, Any]:
        """A JSON-ready description: source, protocol, window sizes, columns, borders, windows per part."""
        return {
            "source": self.series.source,
            "protocol": self.protocol,
            "scaled": self.scaler is not None,
            "seq_len": self.train.seq_len,
            "pred_len": self.train.pred_len,
            "stride": self.train.stride,
            "columns": list(self.series.columns),
            "targets": list(self.target_columns),
            "borders": {k: list(v) for k, v in self.borders.items()},
            "windows": {k: len(v) for k, v in self.parts().items()},
        }


def prepare_forecasting(
    series: SeriesTable,
    seq_len: int = 96,
    pred_len: int = 96,
    targets: str | Sequence[str] | None = None,
    stride: int = 1,
    protocol: str = "auto",
    ratios: Sequence[float] = (0.7, 0.1, 0.2),
    scale: bool = True,
) -> ForecastingData:
    """Split ``series`` into train/val/test windows by ``protocol``, standardised on the training rows.

    Args:
        series: the table (every column is a model input).
        seq_len, pred_len: look-back L and horizon H.
        targets: the variable(s) to forecast (e.g. ``"OT"``: the "MS" setting); None: all ("M").
            For the univariate "S" setting load only the target: ``load_series(path, columns=["OT"])``.
        stride: steps between consecutive windows (1, the published protocol), in every part.
        protocol: "auto" (by file name: ETTh*, ETTm*, else ratio), "ett_hour", "ett_minute", "ratio".
        ratios: train/val/test fractions of the "ratio" protocol.
        scale: standardise with the training rows' mean and std (the published protocol).

    Raises:
        ConfigError: bad sizes, ratios, protocol or targets. DataError: a part too short for one window.
    """
    if seq_len < 1 or pred_len < 1 or stride < 1:
        raise ConfigError(f"Need seq_len, pred_len, stride ≥ 1; got {seq_len}, {pred_len}, {stride}.")
    protocol = infer_protocol(series.source) if protocol == "auto" else protocol
    borders = split_borders(len(series.values), seq_len, protocol, ratios)
    targets_at = None if targets is None else tuple(_indices(series.columns, targets, series.source or "the table"))
    for part, (start, stop) in borders.items():
        if count_windows(stop - start, seq_len, pred_len, stride) < 1:
            raise DataError(
                f"The {part} part ({stop - start} rows with its look-back) holds no window of seq_len + pred_len = "
                f"{seq_len + pred_len} rows; the table ({len(series.values)} rows) is too short for this split."
            )
    scaler = Scaler.fit(series.values[slice(*borders["train"])]) if scale else None
    values = scaler.transform(series.values) if scaler is not None else series.values
    windows = {
        part: ForecastWindows(values[start:stop], seq_len, pred_len, stride, targets_at, first_row=start)
        for part, (start, stop) in borders.items()
    }
    return ForecastingData(
        series, **windows, target_indices=targets_at, scaler=scaler, borders=borders, protocol=protocol
    )


def load_forecasting(
    path: str | Path,
    seq_len: int = 96,
    pred_len: int = 96,
    columns: str | Sequence[str] | None = None,
    targets: str | Sequence[str] | None = None,
    time_column: str | None = "auto",
    stride: int = 1,
    protocol: str = "auto",
    ratios: Sequence[float] = (0.7, 0.1, 0.2),
    scale: bool = True,
) -> ForecastingData:
    """:func:`load_series` then :func:`prepare_forecasting`: a benchmark file as windows, in one call."""
    series = load_series(path, columns=columns, time_column=time_column)
    return prepare_forecasting(series, seq_len, pred_len, targets, stride, protocol, ratios, scale)
