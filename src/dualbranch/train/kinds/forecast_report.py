"""The forecasting kind's report figures: forecasts against the truth, and Gateformer's gates.

Shape legend: n windows, L look-back, H horizon, C_t targets.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from .. import figures
from .base import FoldEvaluation
from .series_windows import SeriesScaling, SeriesWindows

__all__ = ["forecast_grid", "gate_bars"]

PLOTTED_WINDOWS, PLOTTED_TARGETS = 3, 6  # the report's forecast-vs-truth grid: windows × target variables


def forecast_grid(fold: FoldEvaluation) -> str:
    """Look-back, truth and forecast of a few evenly spaced test windows per target variable."""
    windows: SeriesWindows = fold.examples  # type: ignore[assignment]
    scaling: SeriesScaling = fold.preprocessing
    forecasts = scaling.original(fold.outputs)  # (n, H, C_t)
    names = windows.target_columns[:PLOTTED_TARGETS]
    columns = list(windows.target_indices or range(len(windows.columns)))
    chosen = np.unique(np.linspace(0, len(forecasts) - 1, min(PLOTTED_WINDOWS, len(forecasts))).round().astype(int))
    fig, axes = plt.subplots(
        len(names), len(chosen), figsize=(3.6 * len(chosen), 2.2 * len(names)), squeeze=False, sharex=True
    )
    seq_len, horizon = windows.seq_len, forecasts.shape[1]
    steps = np.arange(-seq_len + 1, horizon + 1)  # 0 is the last look-back row
    for col, i in enumerate(chosen.tolist()):
        start = int(windows.starts[i])
        for row, name in enumerate(names):
            actual = windows.values[start : start + seq_len + horizon, columns[row]]
            ax = axes[row, col]
            ax.plot(steps[:seq_len], actual[:seq_len], color="#8a8f99", lw=1, label="look-back")
            ax.plot(steps[seq_len - 1 :], actual[seq_len - 1 :], color="#1d2330", lw=1.2, label="truth")
            ax.plot(steps[seq_len:], forecasts[i, :, row], color="#d1495b", lw=1.4, label="forecast")
            ax.axvline(0.5, color="#ccd", lw=0.8)
            if col == 0:
                ax.set_ylabel(name[:18], fontsize=8)
            if row == 0:
                ax.set_title(f"window {int(fold.index[i])}", fontsize=8)
            ax.tick_params(labelsize=7)
    axes[0, 0].legend(fontsize=7, loc="best")
    for ax in axes[-1]:
        ax.set_xlabel("step (0: last row read)", fontsize=8)
    return figures.png(fig)


def gate_bars(gates: dict[str, float]) -> str:
    fig, ax = plt.subplots(figsize=(4.5, 0.5 * len(gates) + 1))
    bars = ax.barh(list(gates)[::-1], list(gates.values())[::-1], color="#4c72b0")
    ax.bar_label(bars, fmt="%.3f", fontsize=8, padding=2)
    ax.set(xlim=(0, 1.05), xlabel="mean gate value", title="which branch the model relied on")
    return figures.png(fig)
