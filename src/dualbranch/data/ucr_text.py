"""The UCR archive's text files: ``NAME_TRAIN.tsv`` (the 2018 archive) and ``NAME_TRAIN.txt`` (the 2015 one).

One series per line, its class label first, then its values; the 2018 archive separates them by tabs,
the 2015 one by commas or spaces, and pads series shorter than the longest with ``NaN`` at the end
(those are cut here, so unequal lengths stay unequal). A ``NaN`` inside a series is a missing value and
is kept: the data checks report it with its place.

UCR: Dau et al., "The UCR time series archive", IEEE/CAA Journal of Automatica Sinica 6(6), 2019.

Shape legend: n series, T_i the samples of series i (one channel: UCR sets are univariate).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..errors import DataError

__all__ = ["UCR_TEXT_SUFFIXES", "read_ucr_text"]

#: Suffixes of the UCR archive's text splits, in the order they are looked for after ``.ts``.
UCR_TEXT_SUFFIXES = (".tsv", ".txt")

_SEPARATOR = re.compile(r"[\t,; ]+")


def _label(text: str) -> str:
    """``"1.0000000e+00"`` and ``"1"`` name one class: integral numbers are written as integers."""
    try:
        value = float(text)
    except ValueError:
        return text
    return str(int(value)) if value.is_integer() else text


def read_ucr_text(file: Path) -> tuple[list[np.ndarray] | np.ndarray, np.ndarray]:
    """A UCR text split -> its series, (n, 1, T) when all lengths agree, else n arrays (1, T_i), and their
    labels (n,) as strings. Raises DataError naming the file and line for a value that is not a number or
    a line with no values."""
    series: list[np.ndarray] = []
    labels: list[str] = []
    with file.open(encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, start=1):
            fields = _SEPARATOR.split(line.strip())
            if fields == [""]:
                continue  # blank lines between series carry nothing
            try:
                values = np.asarray(fields[1:], dtype=np.float64)
            except ValueError as err:
                raise DataError(
                    f"{file}, line {number}: {' '.join(str(err).split())}; a UCR text file holds one series per "
                    "line, its class label first, then numbers separated by tabs, commas or spaces."
                ) from err
            finite = np.flatnonzero(~np.isnan(values))
            if finite.size == 0:
                raise DataError(f"{file}, line {number}: a class label ({fields[0]!r}) but no values.")
            series.append(values[: finite[-1] + 1][None, :])  # (1, T_i): the end's NaN padding cut
            labels.append(_label(fields[0]))
    if not series:
        raise DataError(f"{file} holds no series; a UCR text file holds one series per line, its class label first.")
    if len({s.shape[1] for s in series}) == 1:
        return np.stack(series), np.asarray(labels)  # (n, 1, T)
    return series, np.asarray(labels)
