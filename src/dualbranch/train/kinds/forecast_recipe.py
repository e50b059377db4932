"""The forecasting kind's recipe: the training protocol of the long-horizon papers' code, and the sizes a model's
official scripts give large data sets.

Protocol (Informer, Autoformer, iTransformer, PatchTST, Gateformer): batch 32, at most 10 epochs, early stopping
on validation MSE with patience 3, the learning rate halved after each epoch ("type1"), no gradient clipping, no
weight decay, the model's own learning rate where its script or a measurement says so. A short series (fewer
than ``PAPER_MIN_WINDOWS`` training windows) keeps the general recipe's schedule instead: 10 epochs of a few
dozen windows would be a few dozen updates.

Sizes: PatchTST's official scripts give d_model 16 (4 heads, d_ff 128, dropout 0.3) to ETTh1, ETTh2 and ILI and
d_model 128 (16 heads, d_ff 256, dropout 0.2) to ETTm1, ETTm2, Weather, Electricity and Traffic. A
channel-independent model learns from every variate's windows: about 59,000 on ETTh1 (8,400 windows × 7
variates) and 240,000 on ETTm1, so the larger sizes apply from 100,000 on.
"""

from __future__ import annotations

from typing import Any

from .forecast_marks import reads_future_marks
from .series_windows import SeriesWindows

__all__ = ["LARGE_DATA_SIZES", "PAPER_LR", "PAPER_MIN_WINDOWS", "forecast_recipe"]

PAPER_BATCH, PAPER_EPOCHS, PAPER_PATIENCE = 32, 10, 3
#: Fewer training windows than this (a short series) keep the general recipe's schedule instead.
PAPER_MIN_WINDOWS = 1000
DEFAULT_LR = 1e-4  # the reference code's --learning_rate default
#: Learning rates of a model's own ETTh1 script where it differs from the default, or where measured better.
PAPER_LR: dict[str, tuple[float, str]] = {
    # the rates compared: benchmarks/results/forecasting_issue24.md
    "dlinear": (1e-3, "measured on ETTh1-96: the published MSE at 1e-3 (a linear model takes larger steps)"),
    "gateformer": (1e-3, "measured on ETTh1-96 and ETTm1-96 (the forecasting benchmarks in the docs)"),
}
#: model -> (training windows × variates from which they apply, the official scripts' sizes for large data)
LARGE_DATA_SIZES: dict[str, tuple[int, dict[str, Any]]] = {
    "patchtst": (100_000, {"d_model": 128, "n_heads": 16, "d_ff": 256, "dropout": 0.2}),
}


def forecast_recipe(windows: SeriesWindows, n_train: int, model_name: str) -> list[tuple[str, Any, str]]:
    """The recipe's choices (dotted key, value, reason) for ``model_name`` trained on ``n_train`` of ``windows``."""
    choices: list[tuple[str, Any, str]] = [
        ("objective.name", "mse", "forecasts: mean squared error on the standardised scale"),
        ("optim.weight_decay", 0.0, "no weight decay, as the forecasting reference code (Adam)"),
        ("optim.grad_clip", None, "no gradient clipping, as the official forecasting code"),
    ]
    if windows.marks is not None and windows.marks.shape[1] > 0 and reads_future_marks(model_name):
        reason = f"{model_name}'s decoder reads the calendar of the steps it forecasts (known in advance)"
        choices.append(("data.horizon_marks", True, reason))
    if n_train < PAPER_MIN_WINDOWS:
        return choices
    lr, source = PAPER_LR.get(model_name, (DEFAULT_LR, "the forecasting reference code's default"))
    choices += [
        ("optim.lr", lr, source),
        ("data.batch_size", PAPER_BATCH, "the forecasting papers' batch (Informer to iTransformer)"),
        ("optim.epochs", PAPER_EPOCHS, "at most 10 epochs, as the forecasting papers (never a timing)"),
        ("optim.patience", PAPER_PATIENCE, "early stopping on validation MSE after 3 epochs without a better one"),
        ("optim.schedule", "halving", "the learning rate halves after each epoch (the papers' 'type1')"),
        ("optim.warmup_epochs", 0.0, "no warm-up with the halving schedule"),
    ]
    threshold, sizes = LARGE_DATA_SIZES.get(model_name, (0, {}))
    series = n_train * len(windows.columns)
    if sizes and series >= threshold:
        reason = f"{model_name}'s official sizes for large data: {series:,} training windows × variates"
        choices += [(f"model.args.{key}", value, reason) for key, value in sizes.items()]
    return choices
