"""The time features a forecasting run serves beside its variables (:mod:`dualbranch.data.time_features`).

* :func:`series_marks`: the ``timeF`` calendar features of a table's time column, and their facts;
* :func:`horizon_calendar`: those of the steps after a table's end (``predict`` for a model that reads
  the horizon's time features: its decoder embeds the calendar of the steps it forecasts);
* :func:`reads_future_marks`: whether a registered model does (its contract's ``future_marks``).

Shape legend: T rows, M time features.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from ...data.series_table import SeriesTable
from ...data.time_features import infer_frequency, parse_times, time_features
from ...errors import DataError
from ...factory import create_model

__all__ = ["horizon_calendar", "reads_future_marks", "series_marks"]


def series_marks(table: SeriesTable, mode: str, frequency: str | None = None) -> tuple[np.ndarray | None, dict | None]:
    """The time features (T, M) of ``table`` and their facts ({"frequency", "names"}), or (None, None).
    ``frequency`` given (a trained run's), the features are those; else inferred from the time stamps."""
    if mode == "none" or (mode == "auto" and table.timestamps is None):
        return None, None
    stamps = None if table.timestamps is None else parse_times(table.timestamps)
    if stamps is None:
        if mode == "auto":
            return None, None
        raise DataError(
            f"data.time_features=timeF: {table.source or 'the table'} has no time column of dates; set "
            "data.time_column to its date column, or data.time_features=none."
        )
    frequency = frequency or infer_frequency(stamps)
    values, names = time_features(stamps, frequency)
    return values, {"frequency": frequency, "names": list(names)}


def horizon_calendar(table: SeriesTable, steps: int, frequency: str, where: str) -> np.ndarray:
    """The time features (steps, M) of the ``steps`` time stamps after the table's last one, at its median
    step (the calendar of the horizon, as the official code's prediction set extends its dates)."""
    stamps = None if table.timestamps is None else parse_times(table.timestamps)
    if stamps is None or len(stamps) < 2:
        raise DataError(
            f"{where}: the model reads the calendar of the horizon; give the file its time column of dates."
        )
    step = np.median(np.diff(stamps).astype("timedelta64[s]").astype(np.int64)).astype(np.int64)
    future = stamps[-1] + np.arange(1, steps + 1) * np.timedelta64(int(step), "s")
    return time_features(future, frequency)[0]


@functools.cache
def reads_future_marks(model_name: str) -> bool:
    """Whether the registered model ``model_name`` reads the horizon's time features (its contract's
    ``future_marks``; built on the meta device, no weights)."""
    with torch.device("meta"):
        return bool(getattr(create_model(model_name), "future_marks", False))
