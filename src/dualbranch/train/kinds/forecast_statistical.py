"""The forecasting kind's statistical models: seasonal naive and AutoETS behind the same run, and the choice
between them and the trained (global) model for a short series.

``data.statistical`` (:class:`~.forecasting.ForecastDataSection`):

* ``auto`` (default): on a short series (fewer training windows than the papers' protocol is for, the
  kind's short-series rule; one variable or several; ``data.seq_len`` auto) the run first holds out the
  last horizon of its training part as a validation period, as a forecaster would: the global model
  (``model.name``) is trained on the windows before it and forecasts it; seasonal naive and AutoETS
  (:mod:`dualbranch.data.statistical_forecast`) forecast it from the rows before it, each target on its
  own. The lowest MAE wins (with several targets, each target's error in its standard deviations, then
  averaged), printed with every candidate's error in the recipe. A statistical winner is refitted on the
  whole training part and is the run's model (its test forecasts, metrics, report, ``predict``); a global
  winner is trained as usual. Without statsmodels AutoETS is left out of the comparison (noted in the
  recipe). A series too short for the global model's validation (fewer than look-back + 2 horizons of
  training rows) keeps the statistical models only.
* ``none``: the global model, never a statistical one. ``ets`` / ``seasonal_naive``: that model, no
  comparison (``ets`` needs statsmodels: a one-line :class:`~dualbranch.errors.MissingDependencyError`).

A statistical model's look-back is the whole training part (a statistical model is fitted on a series,
not on windows of it): the test forecast is the model fitted on every training row. The season m is the
time column's calendar season, else the most autocorrelated lag
(the first autocorrelation peak:
:func:`dualbranch.data.forecast_baselines.cycle_season`). The ETS form (error, trend, damping, season) is
chosen by AICc on the training part and saved with its parameters; each forecast refits the parameters on
the rows it reads (the look-back, or in ``predict`` the file's last ``seq_len`` rows), starting from the
saved ones. A fold folder keeps
``statistical.json`` (the method, season, ETS form per target and the training fit's parameters and
AICc) beside ``preprocessing.json``; :class:`StatisticalForecaster` is the model read back from them.

Shape legend: B batch, L look-back, H horizon, C variables, C_t targets, M time features, T rows.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ...data.forecast_baselines import calendar_season, cycle_season
from ...data.statistical_forecast import EtsSpec, auto_ets, ets_forecast, has_statsmodels, seasonal_naive_series
from ...errors import DataError, RunFolderError
from ...evaluation.protocols import Fold
from ...safe_io import atomic_write_text
from .base import FoldEvaluation, RunData
from .series_windows import SeriesScaling, SeriesWindows

__all__ = ["METHODS", "STATISTICAL_FILE", "StatisticalForecaster", "choose_statistical", "fit_statistical",
           "load_statistical"]  # fmt: skip

METHODS = ("ets", "seasonal_naive")
STATISTICAL_FILE = "statistical.json"
NAMES = {"ets": "AutoETS", "seasonal_naive": "seasonal naive"}


class StatisticalForecaster(nn.Module):
    """A statistical model behind the forecasting model contract's input and output: standardised windows
    (B, L, C + M) -> standardised forecasts (B, H, C_t) of the target variables, made on the original
    scale (ETS's multiplicative forms need it) from each window's look-back. No trainable weights."""

    def __init__(
        self,
        method: str,
        season: int,
        pred_len: int,
        scaling: SeriesScaling,
        specs: list[EtsSpec] | None = None,
        params: list[dict[str, float]] | None = None,
    ) -> None:
        super().__init__()
        self.method, self.season, self.pred_len, self.specs, self.params = method, season, pred_len, specs, params
        n_vars = len(scaling.mean)
        self.targets = list(scaling.target_indices) if scaling.target_indices is not None else list(range(n_vars))
        self.mean = np.asarray(scaling.mean, np.float64)[self.targets]  # (C_t,)
        self.std = np.asarray(scaling.std, np.float64)[self.targets]
        self.input_shape = (scaling.seq_len, n_vars)
        self.output_shape = (pred_len, len(self.targets))

    def forecast(self, history: np.ndarray, target: int) -> np.ndarray:
        """The forecast (H,) after ``history`` (T,) of target variable number ``target`` (original scale)."""
        if self.method == "seasonal_naive":
            return seasonal_naive_series(history, self.pred_len, self.season)
        assert self.specs is not None
        start = None if self.params is None else self.params[target]  # the training fit's parameters
        return ets_forecast(history, self.pred_len, self.specs[target], start)

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values = x[..., self.targets].double().cpu().numpy() * self.std + self.mean  # (B, L, C_t), original scale
        out = np.empty((len(values), self.pred_len, len(self.targets)))  # (B, H, C_t)
        for b, window in enumerate(values):
            for t in range(len(self.targets)):
                out[b, :, t] = self.forecast(window[:, t], t)
        return torch.from_numpy((out - self.mean) / self.std).float()


def _season(windows: SeriesWindows) -> int:
    """The season of the training rows' target variables: the time column's calendar season when the training
    part holds one, else the first autocorrelation peak up to half of it (:func:`cycle_season`)."""
    assert windows.fit_rows is not None
    stop = windows.fit_rows[1]
    calendar = calendar_season(None if windows.timestamps is None else windows.timestamps[:stop])
    if calendar is not None and calendar <= stop:
        return calendar
    rows = windows.values[:stop, list(windows.target_indices or range(len(windows.columns)))]
    return cycle_season(rows, max_period=stop // 2)


def fit_statistical(
    method: str, windows: SeriesWindows, scaling: SeriesScaling, pred_len: int, out: Path
) -> StatisticalForecaster:
    """Fit ``method`` on the training rows of ``windows``; save ``statistical.json`` in ``out``; the model."""
    assert windows.fit_rows is not None
    start, stop = windows.fit_rows
    season = _season(windows)
    targets = list(windows.target_indices or range(len(windows.columns)))
    saved: dict[str, Any] = {"method": method, "season": season, "pred_len": pred_len, "targets": []}
    specs = None
    if method == "ets":
        fits = [auto_ets(windows.values[start:stop, t], pred_len, season) for t in targets]
        specs = [fit.spec for fit in fits]
        saved["targets"] = [
            {"column": windows.columns[t], "spec": fit.spec.to_json(), "name": fit.spec.name, "aicc": fit.aicc,
             "params": fit.params}
            for t, fit in zip(targets, fits, strict=True)
        ]  # fmt: skip
        print(f"fitted {', '.join(f.spec.name for f in fits)} (lowest AICc) on {stop - start} training rows, "
              f"season {season}", flush=True)  # fmt: skip
    else:
        saved["targets"] = [{"column": windows.columns[t]} for t in targets]
        print(f"seasonal naive with season {season}", flush=True)
    atomic_write_text(Path(out) / STATISTICAL_FILE, json.dumps(saved, indent=2))
    params = None if specs is None else [t["params"] for t in saved["targets"]]
    return StatisticalForecaster(method, season, pred_len, scaling, specs, params)


def load_statistical(out: Path, scaling: SeriesScaling) -> StatisticalForecaster:
    """The statistical model saved in the fold folder ``out``, fed as ``scaling`` says."""
    path = Path(out) / STATISTICAL_FILE
    if not path.is_file():
        raise RunFolderError(f"{out} has no {STATISTICAL_FILE}: the run did not finish; run `dualbranch fit` again.")
    try:
        saved = json.loads(path.read_text())
        ets = saved["method"] == "ets"
        specs = [EtsSpec.from_json(t["spec"]) for t in saved["targets"]] if ets else None
        params = [{k: float(v) for k, v in t["params"].items()} for t in saved["targets"]] if ets else None
        return StatisticalForecaster(
            saved["method"], int(saved["season"]), int(saved["pred_len"]), scaling, specs, params
        )
    except (ValueError, KeyError, TypeError) as err:
        raise RunFolderError(f"{path}: not a statistical model ({err}); the run folder is damaged.") from err


def choose_statistical(
    dataset: RunData, fold: Fold, model_name: str, validate: Callable[[Fold], FoldEvaluation]
) -> tuple[str, str]:
    """Compare ``model_name`` (trained by ``validate`` on the fold's windows before the last horizon of the
    training part), seasonal naive and AutoETS on that horizon: the winner ("none" for the global model)
    and why, with every candidate's validation MAE — in the target's units for one target; for several,
    each target's error divided by its standard deviation over the rows before, then averaged, so that no
    variable counts more for its units."""
    windows: SeriesWindows = dataset.examples  # type: ignore[assignment]
    starts = windows.starts[fold.train]
    last = int(np.argmax(starts))
    origin = int(starts[last]) + windows.seq_len  # the validation period: [origin, origin + H)
    horizon = windows.span - windows.seq_len
    targets = list(windows.target_indices or range(len(windows.columns)))
    history, truth = windows.values[:origin, targets], windows.values[origin : origin + horizon, targets]  # (T, C_t)
    spread = history.std(axis=0) if len(targets) > 1 else np.ones(1)
    scale = np.where(spread > 0, spread, 1.0)  # (C_t,)

    def error(forecast: np.ndarray) -> float:  # forecast (H, C_t), original scale
        return float(np.mean(np.abs(forecast - truth) / scale))

    season = _season(windows)  # of the whole training part: a calendar season, or the clearest cycle
    errors: dict[str, float] = {}
    notes = []
    inner = fold.train[starts <= starts[last] - horizon]  # windows whose horizon ends before the validation's
    if len(inner):
        print(f"validating {model_name} on the last {horizon} training rows ({len(inner)} windows before them)",
              flush=True)  # fmt: skip
        scored = validate(Fold("validation", inner, None, fold.train[[last]]))
        errors[model_name] = error(np.asarray(scored.preprocessing.original(scored.outputs))[0])
    else:
        notes.append(f"{model_name} not validated: {origin} rows before the validation period hold no window of "
                     f"{windows.seq_len} + {horizon} rows")  # fmt: skip
    labels = {model_name: model_name}
    columns = range(len(targets))
    if season <= len(history):
        errors["seasonal_naive"] = error(
            np.stack([seasonal_naive_series(history[:, t], horizon, season) for t in columns], axis=1)
        )
        labels["seasonal_naive"] = f"seasonal naive (m={season})"
    if has_statsmodels():
        try:
            fits = [auto_ets(history[:, t], horizon, season) for t in columns]
        except DataError as err:  # no ETS form fits some target: the other candidates still compete
            notes.append(f"AutoETS left out: {err}")
        else:
            errors["ets"] = error(np.stack([fit.forecast for fit in fits], axis=1))
            labels["ets"] = f"AutoETS {fits[0].spec.name}" if len(fits) == 1 else "AutoETS"
    else:
        notes.append("AutoETS left out: statsmodels is not installed (pip install 'dualbranch[forecasting]')")
    best = min(errors, key=errors.__getitem__)
    measured = ", ".join(f"{labels[k]} {v:.4g}" for k, v in sorted(errors.items(), key=lambda kv: kv[1]))
    what = "MAE" if len(targets) == 1 else f"MAE over {len(targets)} targets, each in its standard deviations,"
    why = f"{what} on the training part's last {horizon} rows: {measured}" + "".join(f"; {n}" for n in notes)
    return ("none" if best == model_name else best), why
