"""Tables of series for forecasting: a time column and numeric variables, read from CSV, parquet or .npz.

:func:`load_series` reads the layout of the long-horizon forecasting benchmarks (ETTh1/ETTm1/Weather/
Electricity: ``date`` then one numeric column per variable) into a :class:`SeriesTable`; errors name
the file, the column and the row. :mod:`.forecasting` turns a table into windows.

Shape legend: T time steps (rows), C variables.
"""

from __future__ import annotations

import difflib
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ConfigError, DataError, MissingDependencyError, MissingFileError

#: Split protocols: fixed ETT borders (hourly, 15-minute) or 70/10/20 ratios.

__all__ = ["SeriesTable", "load_series"]

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
            if it is not numeric, else none; None: no time column. A first column with an empty header
            holding the row numbers (the index ``DataFrame.to_csv`` writes) is neither time nor variable.

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
            table.values[:, column_indices(table.columns, columns, path)], tuple(columns), table.timestamps, str(path)
        )
    data = _read_table(path)
    names = list(data)
    if not names or len(data[names[0]]) == 0:
        raise DataError(f"{path} has no data rows.")
    if _is_written_index(names[0], data[names[0]]):
        names = names[1:]  # the row numbers pandas' to_csv writes first, under an empty header: no variable
        if not names:
            raise DataError(f"{path} holds only row numbers (an unnamed first column); give the series' columns.")
    if time_column == "auto":
        time_column = "date" if "date" in data else (names[0] if data[names[0]].dtype == object else None)
    elif time_column is not None and time_column not in data:
        raise DataError(
            f"{path} has no time column {time_column!r}; its columns are {names}.{_hint(time_column, names)}"
        )
    chosen = [n for n in names if n != time_column] if columns is None else list(columns)
    column_indices(tuple(names), chosen, path)  # unknown names are an error
    text = [n for n in chosen if data[n].dtype == object]
    if text:
        first = next(v for v in data[text[0]] if _not_a_number(v))
        raise DataError(
            f"{path}: column(s) {text} are not numeric (e.g. {first!r}); choose the numeric variables with "
            f"columns=[...], or name the time column with time_column=."
        )
    stamps = data[time_column].astype(str) if time_column is not None else None
    return SeriesTable(np.stack([data[n] for n in chosen], axis=1), tuple(chosen), stamps, str(path))


def _is_written_index(name: str, values: np.ndarray) -> bool:
    """Whether a column is a saved row index: an empty header (pandas reads it as ``Unnamed: 0``) over
    increasing whole numbers (0, 1, 2, ...; or what is left of them after rows were dropped)."""
    if not name.startswith("Unnamed: ") or values.dtype == object or not np.isfinite(values).all():
        return False
    return bool((values == np.round(values)).all() and (np.diff(values) > 0).all())


def _not_a_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return value.strip().lower() not in _MISSING
    return False


def _hint(name: str, names: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(names), n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


def column_indices(columns: tuple[str, ...], wanted: Sequence[str], where: object) -> list[int]:
    wanted = [wanted] if isinstance(wanted, str) else list(wanted)
    missing = [w for w in wanted if w not in columns]
    if missing:
        raise DataError(
            f"{where} has no column(s) {missing}; its columns are {list(columns)}.{_hint(missing[0], columns)}"
        )
    if not wanted or len(set(wanted)) != len(wanted):
        raise ConfigError(f"Give distinct column names, at least one; got {list(wanted)}.")
    return [columns.index(w) for w in wanted]
