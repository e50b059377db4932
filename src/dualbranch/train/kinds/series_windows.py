"""What a forecasting run's loader serves: windows over a series table, standardised, without copies.

A forecasting example is a window: ``seq_len`` rows of look-back then ``pred_len`` rows of horizon,
starting at some row of the table (:class:`SeriesWindows` keeps the table once and the start rows).
The preprocessing (:class:`SeriesScaling`) is the field's scaler, fitted on the training rows only,
plus the window layout. The loader serves each window whole, (span, C) with span = L + H, as a view
of the standardised table (a long multivariate table such as Electricity would not fit in memory as
copied windows); :class:`SeriesInputs` gives the model the look-back and scores it on the horizon of
the target variables. A model that reads the horizon's time features (an encoder-decoder whose decoder
embeds the calendar of the steps it forecasts: ``future_marks`` of the forecasting model contract) is
given the horizon rows too, their variate values replaced by zeros: only the calendar of the future,
known in advance, reaches it — never a value it is scored on (``SeriesScaling.horizon_marks``).

Shape legend: T rows, C variables, C_t targets, L look-back (seq_len), H horizon (pred_len),
n windows, B batch, M time features.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from ...data.forecasting import Scaler
from ...errors import DataError
from .base import InputPipeline

__all__ = ["SeriesInputs", "SeriesScaling", "SeriesWindows", "served_table", "window_view"]


@dataclass(frozen=True)
class SeriesWindows:
    """Windows over one table (the Examples of the forecasting kind).

    Attributes:
        values: (T, C) float64, the table on its original scale.
        starts: (n,) int64, the first row of each window.
        span: rows a window covers: L + H (L for ``predict`` inputs, which have no horizon).
        seq_len: L.
        target_indices: the forecast variables among the C columns (None: all of them).
        columns: the C column names.
        timestamps: (T,) the time column as text, or None.
        fit_rows: [start, stop) of the training rows the scaler is fitted on (None: ``predict`` inputs).
        summary: facts of the loaded data (source, protocol, borders, windows per part).
        marks: (T, M) float32 time features of each row (:mod:`dualbranch.data.time_features`), or None.
    """

    values: np.ndarray
    starts: np.ndarray
    span: int
    seq_len: int
    target_indices: tuple[int, ...] | None
    columns: tuple[str, ...]
    timestamps: np.ndarray | None = None
    fit_rows: tuple[int, int] | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    marks: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.starts)

    def subset(self, index: np.ndarray) -> SeriesWindows:
        return replace(self, starts=self.starts[index])

    @property
    def target_columns(self) -> tuple[str, ...]:
        return self.columns if self.target_indices is None else tuple(self.columns[i] for i in self.target_indices)


@dataclass(frozen=True)
class SeriesScaling:
    """A fold's preprocessing: per-variable mean and std (C,) of the training rows, and the window layout
    (``horizon_marks``: the model input carries the horizon rows' time features, module docstring)."""

    mean: list[float]
    std: list[float]
    seq_len: int
    target_indices: list[int] | None
    horizon_marks: bool = False

    @classmethod
    def fit(cls, windows: SeriesWindows, horizon_marks: bool = False) -> SeriesScaling:
        """The scaler of the training rows of ``windows`` (nothing after the training border leaks in);
        ``horizon_marks`` holds only where the windows have time features."""
        if windows.fit_rows is None:
            raise DataError("These windows have no training rows to fit a scaler on.")
        start, stop = windows.fit_rows
        scaler = Scaler.fit(windows.values[start:stop])
        targets = None if windows.target_indices is None else list(windows.target_indices)
        future = bool(horizon_marks and windows.marks is not None and windows.marks.shape[1] > 0)
        return cls(scaler.mean.tolist(), scaler.std.tolist(), windows.seq_len, targets, future)

    @classmethod
    def from_json(cls, values: dict[str, Any]) -> SeriesScaling:
        return cls(
            list(values["mean"]), list(values["std"]), int(values["seq_len"]), values.get("target_indices"),
            bool(values.get("horizon_marks", False)),
        )  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        return {"mean": self.mean, "std": self.std, "seq_len": self.seq_len, "target_indices": self.target_indices,
                "horizon_marks": self.horizon_marks}  # fmt: skip

    @property
    def scaler(self) -> Scaler:
        return Scaler(np.asarray(self.mean), np.asarray(self.std))

    def original(self, forecast: np.ndarray | torch.Tensor) -> np.ndarray:
        """Standardised forecasts or truths (…, C_t) of the target variables -> the original scale (float64)."""
        values = forecast.detach().cpu().numpy() if isinstance(forecast, torch.Tensor) else forecast
        return self.scaler.inverse_transform(np.asarray(values, np.float64), self.target_indices)


def served_table(windows: SeriesWindows, scaling: SeriesScaling) -> torch.Tensor:
    """The table the loader's windows view: (T, C) standardised variates, then the M time features
    as they are (already in [−0.5, 0.5]): (T, C + M) float32."""
    table = torch.from_numpy(scaling.scaler.transform(windows.values).astype(np.float32))
    if windows.marks is None or windows.marks.shape[1] == 0:
        return table
    return torch.cat([table, torch.from_numpy(np.asarray(windows.marks, np.float32))], dim=1)


def window_view(table: torch.Tensor, starts: np.ndarray, span: int) -> torch.Tensor:
    """Windows (n, span, C) of ``table`` (T, C) starting at ``starts`` (n,): a view of the table when the
    starts are evenly spaced (every part of a run), a copy otherwise (a subset)."""
    full = table.unfold(0, span, 1)  # (T − span + 1, C, span), a view
    steps = np.diff(starts)
    if len(starts) and (len(starts) == 1 or (steps[0] > 0 and (steps == steps[0]).all())):
        step = int(steps[0]) if len(starts) > 1 else 1
        windows = full[int(starts[0]) : int(starts[-1]) + 1 : step]
    else:
        windows = full[torch.from_numpy(np.asarray(starts, dtype=np.int64))]
    return windows.transpose(1, 2)  # (n, C, span) -> (n, span, C)


class SeriesInputs(InputPipeline):
    """Loader windows (B, L + H, C + M) -> the look-back (B, L, C + M) as model input (time features
    included), and the horizon of the target variables (B, H, C_t) as targets (never a time feature).
    With ``horizon_marks`` the model input is (B, L + H, C + M): the horizon rows keep their M time
    features and their C variate values are zeros. No augmentation: the published forecasting recipes
    use none, and a changed look-back would have to change its horizon too."""

    def __init__(
        self, seq_len: int, target_indices: list[int] | None, n_vars: int | None = None, horizon_marks: bool = False
    ) -> None:
        super().__init__()
        if horizon_marks and n_vars is None:
            raise DataError("The horizon's time features need n_vars: the columns before them are the variables.")
        self.seq_len, self.n_vars, self.horizon_marks = seq_len, n_vars, horizon_marks
        kept = torch.tensor(target_indices if target_indices is not None else [], dtype=torch.long)
        self.register_buffer("target_index", kept, persistent=False)
        self.all_targets = target_indices is None

    def prepare(self, batch: torch.Tensor) -> torch.Tensor:
        if not self.horizon_marks:
            return batch[:, : self.seq_len].float()
        horizon = batch[:, self.seq_len :].float()  # (B, H, C + M)
        calendar = torch.cat([torch.zeros_like(horizon[..., : self.n_vars]), horizon[..., self.n_vars :]], dim=2)
        return torch.cat([batch[:, : self.seq_len].float(), calendar], dim=1)  # (B, L + H, C + M)

    def targets(self, batch: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        horizon = batch[:, self.seq_len :, : self.n_vars].float()  # (B, H, C): time features dropped
        return horizon if self.all_targets else horizon.index_select(2, self.target_index)

    def train_batch(
        self, batch: torch.Tensor, labels: torch.Tensor, num_classes: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return self.prepare(batch), self.targets(batch, labels)
