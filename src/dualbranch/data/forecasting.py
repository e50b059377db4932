"""Forecasting data: multivariate series tables as look-back/horizon windows, with the field's protocol.

The long-horizon benchmarks (ETTh1/2, ETTm1/2, Weather, Electricity, Traffic, ...) are CSV tables:
a time column ``date``, then one numeric column per variable. :func:`load_series` reads such a
table (``.csv``; ``.parquet`` with pandas and pyarrow; or an ``.npz`` array (T, C)), and
:func:`prepare_forecasting` turns it into train/validation/test windows exactly as the reference
code does (Time-Series-Library / Autoformer, ``Dataset_ETT_hour``, ``Dataset_ETT_minute``,
``Dataset_Custom``; learnt from it, not copied):

* chronological borders: ``"ett_hour"`` 12/4/4 months of 30 days × 24 hours (8,640 / 2,880 / 2,880
  rows; rows after month 20 are not used); ``"ett_minute"`` the same ×4 (15-minute steps);
  ``"ratio"`` ⌊0.7·T⌋ training rows, ⌊0.2·T⌋ test rows and the rest for validation; ``"last"`` the last
  H rows for the test (one window: the hold-out of short-series evaluations such as M3/M4's), everything
  before for training, no validation. ``"auto"`` picks by file name (ETTh* / ETTm* / anything else), as
  the reference code picks by data set name;
* the validation and test parts start ``seq_len`` rows before their border, so their first window's
  look-back comes from the previous part; windows never cross a part's end; the validation part may
  hold no window (a short series: the run trains without validation and keeps its last epoch);
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

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import ConfigError, DataError
from .series_table import SeriesTable, column_indices, load_series

__all__ = [
    "FORECAST_SPLIT_PROTOCOLS",
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

#: Split protocols: fixed ETT borders (hourly, 15-minute), 70/10/20 ratios, or the last horizon held out
#: (short series: one test window, no validation part).
FORECAST_SPLIT_PROTOCOLS = ("ett_hour", "ett_minute", "ratio", "last")
_ETT_MONTH_ROWS = {"ett_hour": 30 * 24, "ett_minute": 30 * 24 * 4}


def infer_protocol(source: str | Path) -> str:
    """The reference code's split for a data set: ``ett_hour`` (ETTh*), ``ett_minute`` (ETTm*), ``ratio``."""
    stem = Path(str(source)).stem
    return "ett_hour" if stem.startswith("ETTh") else "ett_minute" if stem.startswith("ETTm") else "ratio"


def split_borders(
    n_rows: int,
    seq_len: int,
    protocol: str = "ratio",
    ratios: Sequence[float] = (0.7, 0.1, 0.2),
    pred_len: int = 1,
) -> dict[str, tuple[int, int]]:
    """Row ranges [start, stop) of the train, val and test parts; val and test start ``seq_len`` early.

    ``ratio``: n_train = ⌊T·r_train⌋, n_test = ⌊T·r_test⌋, n_val = T − n_train − n_test.
    ``ett_hour`` / ``ett_minute``: 12, 4 and 4 months of 30 days (720 or 2,880 rows a month).
    ``last``: n_test = ``pred_len``, n_val = 0, n_train = T − n_test.
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
    elif protocol == "last":
        n_train, n_val, n_test, end = n_rows - pred_len, 0, pred_len, n_rows
    elif protocol == "ratio":
        if len(ratios) != 3 or min(ratios) <= 0 or abs(sum(ratios) - 1.0) > 1e-6:
            raise ConfigError(f"ratios={tuple(ratios)}: give three positive fractions (train, val, test) summing to 1.")
        n_train, n_test = int(n_rows * ratios[0]), int(n_rows * ratios[2])
        n_val, end = n_rows - n_train - n_test, n_rows
    else:
        raise ConfigError(f"protocol={protocol!r} is not one of {[*FORECAST_SPLIT_PROTOCOLS, 'auto']}.")
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
    train_windows: bool = True,
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
        train_windows: whether the training part must hold a window; False for a model fitted on the training
            rows themselves (a statistical forecaster, whose look-back may be the whole training part).

    Raises:
        ConfigError: bad sizes, ratios, protocol or targets. DataError: a part too short for one window.
    """
    if seq_len < 1 or pred_len < 1 or stride < 1:
        raise ConfigError(f"Need seq_len, pred_len, stride ≥ 1; got {seq_len}, {pred_len}, {stride}.")
    protocol = infer_protocol(series.source) if protocol == "auto" else protocol
    borders = split_borders(len(series.values), seq_len, protocol, ratios, pred_len)
    where = series.source or "the table"
    targets_at = None if targets is None else tuple(column_indices(series.columns, targets, where))
    for part, (start, stop) in borders.items():
        if (part == "test" or (part == "train" and train_windows)) and count_windows(
            stop - start, seq_len, pred_len, stride
        ) < 1:
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
    train_windows: bool = True,
) -> ForecastingData:
    """:func:`load_series` then :func:`prepare_forecasting`: a benchmark file as windows, in one call."""
    series = load_series(path, columns=columns, time_column=time_column)
    return prepare_forecasting(series, seq_len, pred_len, targets, stride, protocol, ratios, scale)
