"""Calendar features of a series' time column, as the long-horizon forecasting code feeds them (``timeF``).

Informer (Zhou et al., AAAI 2021), Autoformer (Wu et al., NeurIPS 2021) and iTransformer (Liu et al.,
ICLR 2024) read, beside the variables, a few calendar features of each time step, each scaled to
[−0.5, 0.5] (their ``timeenc=1`` / ``embed=timeF`` setting, after GluonTS's time features). Which
features depends on the data's frequency, finest first:

==========  ==========================================================================
frequency   features
==========  ==========================================================================
second      second of minute, minute of hour, hour of day, day of week, day of month, day of year
minute      minute of hour, hour of day, day of week, day of month, day of year
hour        hour of day, day of week, day of month, day of year
day         day of week, day of month, day of year
week        day of month, week of year
month       month of year
quarter     month of year
year        (none)
==========  ==========================================================================

Each is ``value / (count − 1) − 0.5`` on zero-based values: hour/23, weekday/6 (Monday 0),
(day of month − 1)/30, (day of year − 1)/365, minute/59, second/59, (month − 1)/11, (ISO week − 1)/52.

The frequency is inferred from the median step between consecutive time stamps (15-minute ETTm1 is
"minute", hourly ETTh1 "hour"). The official scripts run ETTm1 with the hourly set (their ``--freq``
default); here ETTm1 also gets minute of hour, which the frequency implies.

Shape legend: T time steps, M features.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable

import numpy as np

from ..errors import DataError

__all__ = ["FEATURES", "FREQUENCIES", "infer_frequency", "time_features"]

_Feature = Callable[[np.ndarray], np.ndarray]


def _scaled(values: np.ndarray, count: int) -> np.ndarray:
    return values / (count - 1) - 0.5


def _fields(stamps: np.ndarray) -> dict[str, np.ndarray]:
    """Calendar fields (zero-based where the feature is) of datetime64 ``stamps`` (T,), as float64 arrays."""
    days = stamps.astype("datetime64[D]")
    months = stamps.astype("datetime64[M]")
    years = stamps.astype("datetime64[Y]")
    seconds = (stamps - days).astype("timedelta64[s]").astype(np.int64)
    day_of_year = (days - years.astype("datetime64[D]")).astype(np.int64)  # 0-based
    weekday = (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday; Monday is 0
    # ISO week: the week of the Thursday of this date's week
    thursday = days - weekday.astype("timedelta64[D]") + np.timedelta64(3, "D")
    iso_week = (thursday - thursday.astype("datetime64[Y]").astype("datetime64[D]")).astype(np.int64) // 7
    return {
        "second": (seconds % 60).astype(float),
        "minute": (seconds // 60 % 60).astype(float),
        "hour": (seconds // 3600).astype(float),
        "weekday": weekday.astype(float),
        "day": (days - months.astype("datetime64[D]")).astype(np.int64).astype(float),
        "yday": day_of_year.astype(float),
        "month": (months.astype(np.int64) % 12).astype(float),
        "week": iso_week.astype(float),
    }


#: name -> (calendar field, number of values) of each feature.
FEATURES: dict[str, tuple[str, int]] = {
    "second_of_minute": ("second", 60),
    "minute_of_hour": ("minute", 60),
    "hour_of_day": ("hour", 24),
    "day_of_week": ("weekday", 7),
    "day_of_month": ("day", 31),
    "day_of_year": ("yday", 366),
    "month_of_year": ("month", 12),
    "week_of_year": ("week", 53),
}

#: The features of each frequency, finest first, with the largest step (seconds) that frequency covers.
FREQUENCIES: dict[str, tuple[float, tuple[str, ...]]] = {
    "second": (59, ("second_of_minute", "minute_of_hour", "hour_of_day", "day_of_week", "day_of_month", "day_of_year")),
    "minute": (3599, ("minute_of_hour", "hour_of_day", "day_of_week", "day_of_month", "day_of_year")),
    "hour": (86399, ("hour_of_day", "day_of_week", "day_of_month", "day_of_year")),
    "day": (6 * 86400, ("day_of_week", "day_of_month", "day_of_year")),
    "week": (27 * 86400, ("day_of_month", "week_of_year")),
    "month": (88 * 86400, ("month_of_year",)),
    "quarter": (364 * 86400, ("month_of_year",)),
    "year": (float("inf"), ()),
}


_QUARTER = re.compile(r"^(\d{4})\s*-?\s*Q([1-4])$", re.IGNORECASE)


def _quarters(texts: list[str]) -> np.ndarray | None:
    """``"1970 Q1"`` / ``"1970Q1"`` / ``"1970-Q1"`` -> the first day of the quarter, or None if any is not one."""
    found = [_QUARTER.match(t) for t in texts]
    if not all(found):
        return None
    return np.asarray([f"{m[1]}-{3 * int(m[2]) - 2:02d}-01" for m in found if m], dtype="datetime64[s]")


_YEAR = re.compile(r"\d{4}")
_MONTH_NAMES = ("%Y %b", "%b %Y", "%Y-%b", "%b-%Y", "%Y %B", "%B %Y")  # "1991 Jul", "Jul 1991", ...


def _written_dates(texts: list[str]) -> np.ndarray | None:
    """Dates in the other forms tables hold (``"1991 Jul"``, ``"13/05/2021 00:30"``, a UTC offset, which is
    converted to UTC), parsed by pandas with one format for the whole column: month names, then the format
    pandas infers month first, then day first — the first reading that increases throughout (else the
    first that parses, for the frequency check to refuse). None where pandas is absent, a value names no
    year (``"10:00"`` would be read as today) or no format reads them all."""
    if not all(_YEAR.search(t) for t in texts):
        return None
    try:
        import pandas as pd
    except ImportError:
        return None
    readings = []
    for options in [{"format": f} for f in _MONTH_NAMES] + [{"dayfirst": False}, {"dayfirst": True}]:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # "could not infer format": pandas would guess value by value
                parsed = pd.to_datetime(pd.Series(texts), utc=True, **options)
        except (ValueError, TypeError, OverflowError, UserWarning):  # pandas' parse errors are ValueErrors
            continue
        stamps = parsed.dt.tz_localize(None).to_numpy().astype("datetime64[s]")
        if (np.diff(stamps) > np.timedelta64(0, "s")).all():
            return stamps
        readings.append(stamps)
    return readings[0] if readings else None


def parse_times(timestamps: np.ndarray) -> np.ndarray | None:
    """``timestamps`` (T,) as datetime64[s], or None when they are not all dates (numbers, labels).

    ISO dates are read directly; quarters (``1970 Q1``), month names (``1991 Jul``) and time stamps with a UTC
    offset (converted to UTC) are read too."""
    texts = [str(t).strip() for t in timestamps]
    if any(t.lstrip("-").isdigit() for t in texts):
        return None  # plain numbers count steps; they are no calendar
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # numpy only warns on a UTC offset; those are read below
            stamps = np.asarray([t.replace(" ", "T", 1) for t in texts], dtype="datetime64[s]")
    except (ValueError, UserWarning, DeprecationWarning):
        stamps = _quarters(texts)
        if stamps is None:
            stamps = _written_dates(texts)
    return None if stamps is None or np.isnat(stamps).any() else stamps


def infer_frequency(stamps: np.ndarray) -> str:
    """The frequency of datetime64 ``stamps`` (T,) from their median step: second, minute, ..., year."""
    if len(stamps) < 2:
        raise DataError("A time column needs two or more time stamps to tell its frequency.")
    step = float(np.median(np.diff(stamps).astype("timedelta64[s]").astype(np.int64)))
    if step <= 0:
        raise DataError("The time column does not increase; sort the table by time.")
    return next(name for name, (largest, _) in FREQUENCIES.items() if step <= largest)


def time_features(stamps: np.ndarray, frequency: str) -> tuple[np.ndarray, tuple[str, ...]]:
    """The ``timeF`` features of datetime64 ``stamps`` (T,) at ``frequency``: (T, M) float32 and their names."""
    names = FREQUENCIES[frequency][1]
    fields = _fields(np.asarray(stamps, dtype="datetime64[s]"))
    columns = [_scaled(fields[FEATURES[n][0]], FEATURES[n][1]) for n in names]
    values = np.stack(columns, axis=1) if columns else np.zeros((len(stamps), 0))
    return values.astype(np.float32), names
