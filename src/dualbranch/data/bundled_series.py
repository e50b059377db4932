"""Series tables that installed packages ship, read offline (nothing is downloaded): aeon's data folder.

No standard long-horizon benchmark (ETT, Weather, Electricity) comes with a Python package, so the
tests and benchmarks use what aeon bundles, through the same reader as a user's file
(:func:`~dualbranch.data.series_table.load_series`):

==========  ==========================  ======  ========  =========================================
name        aeon file                   rows    columns   what
==========  ==========================  ======  ========  =========================================
uschange    Uschange/Uschange.csv       187     5         US quarterly % changes 1970–2016
                                                          (consumption, income, production,
                                                          savings, unemployment; fpp2)
daphnet     Daphnet_S06R02E0/...csv     7,040   9         3-axis accelerometers on ankle, thigh
                                                          and trunk at 64 Hz (Daphnet freezing of
                                                          gait, subject 6, run 2)
solar       solar/solar.csv             289     1         half-hourly solar generation (GB)
airline     Airline/Airline.csv         144     1         monthly airline passengers 1949–1960
==========  ==========================  ======  ========  =========================================

Each entry knows its seasonal period (quarterly 4, half-hourly 48 a day, monthly 12; none for the
accelerometers, whose gait cycle is found from the data: :mod:`.forecast_baselines`).

Shape legend: T rows, C variables.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError, MissingDependencyError, MissingFileError
from .series_table import SeriesTable, load_series

__all__ = ["BUNDLED_SERIES", "BundledSeries", "bundled_path", "load_bundled"]


@dataclass(frozen=True)
class BundledSeries:
    """Where a bundled table is (``folder/file`` in aeon's data folder), its time column, the columns
    that are not variables (``drop``), and its seasonal period (None: not a calendar series)."""

    folder: str
    file: str
    time_column: str
    drop: tuple[str, ...] = ()
    season: int | None = None


BUNDLED_SERIES: dict[str, BundledSeries] = {
    # the first column of Uschange is an unnamed row number, not a variable
    "uschange": BundledSeries("Uschange", "Uschange.csv", "Quarter", ("Unnamed: 0",), 4),
    # is_anomaly is an annotation (all 0 in this run), not a sensor
    "daphnet": BundledSeries("Daphnet_S06R02E0", "S06R02E0.csv", "timestamp", ("is_anomaly",)),
    "solar": BundledSeries("solar", "solar.csv", "datetime_gmt", (), 48),
    "airline": BundledSeries("Airline", "Airline.csv", "Date", (), 12),
}


def bundled_path(name: str) -> Path:
    """The file of bundled table ``name`` inside the installed aeon (found without importing aeon)."""
    if name not in BUNDLED_SERIES:
        raise ConfigError(f"No bundled series {name!r}; bundled: {', '.join(BUNDLED_SERIES)}.")
    spec = importlib.util.find_spec("aeon")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(f"The bundled series {name!r} ships with aeon: pip install aeon")
    entry = BUNDLED_SERIES[name]
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / entry.folder / entry.file
    if not path.is_file():
        raise MissingFileError(f"The installed aeon has no {entry.folder}/{entry.file} (looked at {path}).")
    return path


def load_bundled(name: str, columns: str | list[str] | None = None) -> SeriesTable:
    """Bundled table ``name`` (see the module docstring) as a :class:`SeriesTable`; ``columns`` picks
    variables (None: all of them)."""
    path = bundled_path(name)
    entry = BUNDLED_SERIES[name]
    if columns is None and entry.drop:
        header = path.read_text().splitlines()[0].split(",")
        # pandas names an unnamed column "Unnamed: <position>"
        names = [h.strip('"') or f"Unnamed: {i}" for i, h in enumerate(header)]
        columns = [c for c in names if c not in (entry.time_column, *entry.drop)]
    return load_series(path, columns=columns, time_column=entry.time_column)
