"""How forecasts are scored: the field's MSE and MAE, on the standardised and on the original scale.

As the published long-horizon results (Informer, Autoformer, DLinear, iTransformer, Gateformer) do,
errors are averaged over every test window, horizon step and target variable on the standardised
scale (the training rows' scaler); the same errors on the original scale (the scaler undone) say
what they mean in the data's own units. Training logs the MAE beside the loss (MSE); the checkpoint
with the lowest validation loss is kept (the reference code's early-stopping criterion).

``metrics.json`` (after ``protocol`` and ``split``)::

    n, horizon, targets        test windows, H, the forecast variables
    mse, mae, mse_original, mae_original    over everything
    horizons                   the same over the first h steps, for a few h up to H (a table per horizon)
    per_step                   each of them at each step 1..H (error by horizon step)
    per_target                 each of them per target variable
    folds, summary             per fold, and mean ± std over folds

Shape legend: n windows, H horizon, C_t targets, B batch.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from torchmetrics import MeanAbsoluteError, Metric

from ...data.forecasting import forecast_errors
from ...evaluation.metrics import summarize
from .. import figures
from ..scoring import ScoredFold, Scoring, StepMetric
from .series_windows import SeriesScaling, SeriesWindows

__all__ = ["ForecastScoring", "horizons_of"]

ERRORS = ("mse", "mae", "mse_original", "mae_original")
MAE = StepMetric("mae", "MAE (standardised)", 1.0, "{:.4f}")
MAX_PREDICTION_ROWS = 100_000  # predictions.csv: beyond this, evenly spaced test windows are written


class _MAE(MeanAbsoluteError):
    """MAE over every element of outputs and targets of any equal shape (B, H, C_t): torchmetrics flattens
    with ``view``, which a transposed forecast cannot take."""

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        super().update(preds.reshape(-1), target.reshape(-1))


def horizons_of(pred_len: int) -> list[int]:
    """The horizons of the per-horizon table: 1, H/4, H/2, 3H/4 and H (distinct, in order)."""
    return sorted({max(1, round(pred_len * q)) for q in (0, 0.25, 0.5, 0.75, 1.0)})


def _errors(pred: np.ndarray, true: np.ndarray, pred_original: np.ndarray, true_original: np.ndarray) -> dict:
    """The four errors of forecasts against truths, standardised and original (any equal shapes)."""
    std, original = forecast_errors(pred, true), forecast_errors(pred_original, true_original)
    return {**std, "mse_original": original["mse"], "mae_original": original["mae"]}


class ForecastScoring(Scoring):
    """Forecast errors; ``facts`` are the forecasting kind's facts of the run (``run.json``'s ``data``)."""

    monitor, mode, step_metric, unit, hidden = "val_loss", "min", MAE, "windows", ("per_step",)
    num_classes = 0

    def __init__(self, facts: dict[str, Any]) -> None:
        self.targets = list(facts["targets"])
        self.n_vars = len(facts["columns"])
        self.seq_len, self.pred_len = int(facts["seq_len"]), int(facts["pred_len"])

    def new_metric(self) -> Metric:
        return _MAE()

    def val_loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(outputs, targets)

    def run_metrics(self, folds: Sequence[ScoredFold]) -> dict[str, Any]:
        pred = np.concatenate([fold.outputs.numpy() for fold in folds]).astype(np.float64)  # (n, H, C_t)
        true = np.concatenate([fold.y for fold in folds]).astype(np.float64)
        pred_o = np.concatenate([fold.preprocessing.original(fold.outputs) for fold in folds])
        true_o = np.concatenate([fold.preprocessing.original(fold.y) for fold in folds])
        rows = [
            {"fold": fold.name, "n": len(fold.y),
             **_errors(fold.outputs.numpy(), fold.y, fold.preprocessing.original(fold.outputs),
                       fold.preprocessing.original(fold.y))}
            for fold in folds
        ]  # fmt: skip
        per_step = {
            "mse": ((pred - true) ** 2).mean(axis=(0, 2)), "mae": np.abs(pred - true).mean(axis=(0, 2)),
            "mse_original": ((pred_o - true_o) ** 2).mean(axis=(0, 2)),
            "mae_original": np.abs(pred_o - true_o).mean(axis=(0, 2)),
        }  # fmt: skip
        return {
            "n": len(pred),
            "horizon": self.pred_len,
            "targets": self.targets,
            **_errors(pred, true, pred_o, true_o),
            "horizons": [
                {"horizon": h, **_errors(pred[:, :h], true[:, :h], pred_o[:, :h], true_o[:, :h])}
                for h in horizons_of(self.pred_len)
            ],
            "per_step": {k: v.round(8).tolist() for k, v in per_step.items()},
            "per_target": {
                name: _errors(pred[..., j], true[..., j], pred_o[..., j], true_o[..., j])
                for j, name in enumerate(self.targets)
            },
            "folds": rows,
            "summary": summarize(rows, ERRORS),
        }

    def prediction_rows(self, folds: Sequence[ScoredFold]) -> list[dict[str, object]]:
        """One row per test window and horizon step: the table row forecast, its time, the truth and the
        forecast of each target on the original scale (evenly spaced windows beyond 100,000 rows)."""
        rows: list[dict[str, object]] = []
        for fold in folds:
            windows: SeriesWindows = fold.examples
            scaling: SeriesScaling = fold.preprocessing
            pred = scaling.original(fold.outputs)  # (n, H, C_t)
            columns = list(windows.target_indices or range(self.n_vars))
            keep = max(1, MAX_PREDICTION_ROWS // (self.pred_len * len(folds)))
            chosen = np.unique(np.linspace(0, len(pred) - 1, min(len(pred), keep)).round().astype(int))
            for i in chosen.tolist():
                first = int(windows.starts[i]) + self.seq_len
                for h in range(self.pred_len):
                    row = first + h
                    time = windows.timestamps[row] if windows.timestamps is not None else row
                    values: dict[str, object] = {}
                    for j, name in enumerate(self.targets):
                        # the truth as the table holds it (not a round trip through the scaler)
                        values[f"true_{name}"] = float(windows.values[row, columns[j]])
                        values[f"pred_{name}"] = round(float(pred[i, h, j]), 6)
                    rows.append(
                        {"fold": fold.name, "index": int(fold.index[i]), "row": row, "time": str(time),
                         "step": h + 1, **values}
                    )  # fmt: skip
        return rows

    def headline(self, metrics: dict[str, Any], n_folds: int) -> str:
        return (
            f"{metrics['split']} MSE {metrics['mse']:.4f}  MAE {metrics['mae']:.4f} (standardised); original scale "
            f"MSE {metrics['mse_original']:.4g}  MAE {metrics['mae_original']:.4g}  "
            f"({metrics['n']} windows, horizon {self.pred_len})"
        )

    def describe(self) -> str:
        targets = "every variable" if len(self.targets) == self.n_vars else ", ".join(self.targets)
        return f"{self.n_vars} variables → {targets}, look-back {self.seq_len}, horizon {self.pred_len}"

    def cards(self, metrics: dict[str, Any], several: bool) -> list[tuple[str, str]]:
        return [
            (f"{metrics['mse']:.4f}", f"{metrics['split']} MSE (standardised)"),
            (f"{metrics['mae']:.4f}", f"{metrics['split']} MAE (standardised)"),
            (f"{metrics['mse_original']:.4g}", "MSE, original scale"),
            (f"{metrics['mae_original']:.4g}", "MAE, original scale"),
        ]

    def report_sections(self, metrics: dict[str, Any], several: bool) -> list[str]:
        table = figures.table(
            ["horizon", "MSE", "MAE", "MSE (original scale)", "MAE (original scale)"],
            [
                [str(r["horizon"]), *(f"{r[k]:.4f}" if "original" not in k else f"{r[k]:.4g}" for k in ERRORS)]
                for r in metrics["horizons"]
            ],
        )
        targets = figures.table(
            ["target", "MSE", "MAE", "MSE (original scale)", "MAE (original scale)"],
            [[html.escape(name), *(f"{m[k]:.4g}" for k in ERRORS)] for name, m in metrics["per_target"].items()],
        )
        return [
            "<h2>Errors by horizon</h2>",
            '<p class="note">Over the first h steps of every test window (standardised scale: the training '
            "rows' mean and std, as published results are reported; original scale: the data's own units).</p>",
            table,
            "<h2>Error by horizon step</h2>",
            _per_step(metrics["per_step"]),
            "<h2>Errors per target</h2>",
            targets,
        ]

    def predictions(self, outputs: torch.Tensor, preprocessing: Any) -> torch.Tensor:
        return torch.from_numpy(preprocessing.original(outputs))

    def predict_rows(self, names: list[str], predictions: torch.Tensor, top_k: int) -> list[dict[str, object]]:
        """One row per input file and step of the horizon after its last row: each target's forecast."""
        return [
            {"input": name, "step": h + 1,
             **{target: round(float(predictions[i, h, j]), 6) for j, target in enumerate(self.targets)}}
            for i, name in enumerate(names)
            for h in range(predictions.shape[1])
        ]  # fmt: skip


def _per_step(per_step: dict[str, list[float]]) -> str:
    """MSE and MAE at each horizon step (standardised scale)."""
    steps = np.arange(1, len(per_step["mse"]) + 1)
    fig, ax = plt.subplots(figsize=(7.5, 3.2))
    ax.plot(steps, per_step["mse"], marker="o", ms=2.5, label="MSE")
    ax.plot(steps, per_step["mae"], marker="o", ms=2.5, label="MAE")
    ax.set(xlabel="horizon step", ylabel="error (standardised)", title="error by horizon step (mean over windows)")
    ax.grid(alpha=0.3)
    ax.legend()
    return figures.png(fig)
