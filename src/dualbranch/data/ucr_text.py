"""The UCR archive's text files: ``NAME_TRAIN.tsv`` (the 2018 archive) and ``NAME_TRAIN.txt`` (the 2015 one).

One series per line, its class label first, then its values; the 2018 archive separates them by tabs,
the 2015 one by commas or spaces (a line with a tab is split at tabs, else at commas, else at spaces, so
a label may hold spaces in the first two), and pads series shorter than the longest with ``NaN`` at the end
(those are cut here, so unequal lengths stay unequal). A ``NaN`` inside a series is a missing value and
is kept: the data checks report it with its place.

UCR: Dau et al., "The UCR time series archive", IEEE/CAA Journal of Automatica Sinica 6(6), 2019.

Shape legend: n series, T_i the samples of series i (one channel: UCR sets are univariate).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DataError

__all__ = ["UCR_TEXT_SUFFIXES", "read_ucr_text"]

#: Suffixes of the UCR archive's text splits, in the order they are looked for after ``.ts``.
UCR_TEXT_SUFFIXES = (".tsv", ".txt")


def _fields(line: str) -> list[str]:
    """A line's fields: split at tabs if it has any, else at commas, else at runs of spaces. One trailing
    separator is dropped; an empty field between two separators is a missing value (``"nan"``)."""
    for separator in ("\t", ","):
        if separator in line:
            fields = [field.strip() for field in line.split(separator)]
            if fields[-1] == "":
                fields.pop()
            return [field or "nan" for field in fields]
    return line.split()


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
    with file.open(encoding="utf-8-sig", errors="replace") as f:  # -sig: a byte-order mark is no label
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue  # blank lines between series carry nothing
            fields = _fields(line.strip("\r\n"))
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
