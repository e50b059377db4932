"""Statistical forecasts of one series: seasonal naive and AutoETS, the baselines a short series is judged by.

Seasonal naive (Hyndman & Athanasopoulos, *Forecasting: Principles and Practice*, §5.2) repeats the last
season: step h (1-based) of the horizon is y[T − m + (h − 1) mod m].

AutoETS: the exponential smoothing state-space models of Hyndman, Koehler, Ord & Snyder (*Forecasting
with Exponential Smoothing*, Springer 2008), each fitted by maximum likelihood (statsmodels' ``ETSModel``,
initial states estimated) for every error / trend / damping / season combination that suits the data,
the lowest AICc kept, as R's ``forecast::ets`` and statsforecast's AutoETS choose. Multiplicative error
or season only for a positive series; a season only with at least two of them plus two points, and
of at most 24 steps. An
:class:`EtsSpec` is the chosen form; :func:`ets_forecast` fits its parameters on a history and forecasts.

statsmodels is an optional dependency (``pip install 'dualbranch[forecasting]'``); without it
:func:`auto_ets` and :func:`ets_forecast` raise :class:`~dualbranch.errors.MissingDependencyError`.

Shape legend: T points of history, H horizon, m season.
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError, DataError, MissingDependencyError

__all__ = ["EtsFit", "EtsSpec", "auto_ets", "ets_forecast", "has_statsmodels", "seasonal_naive_series"]

MAX_ETS_SEASON = 24
MAX_ITER = 2000  # the optimiser's iterations for one ETS fit (statsmodels' default 1000 stops short on some)


def has_statsmodels() -> bool:
    """Whether statsmodels (AutoETS) can be imported."""
    try:
        import statsmodels.tsa.exponential_smoothing.ets  # noqa: F401
    except ImportError:
        return False
    return True


def _ets_model_class() -> Any:
    try:
        from statsmodels.tsa.exponential_smoothing.ets import ETSModel
    except ImportError as err:
        raise MissingDependencyError(
            "ETS forecasts need statsmodels: pip install 'dualbranch[forecasting]' (or set data.statistical to "
            "none or seasonal_naive)."
        ) from err
    return ETSModel


def seasonal_naive_series(history: np.ndarray, pred_len: int, season: int) -> np.ndarray:
    """The seasonal naive forecast (H,) after ``history`` (T,): the value one season ``season`` earlier."""
    history = np.asarray(history, dtype=np.float64).ravel()
    if not 1 <= season <= len(history):
        raise DataError(f"A seasonal naive forecast with season {season} needs that many points; the history has "
                        f"{len(history)}.")  # fmt: skip
    return history[len(history) - season + np.arange(pred_len) % season]


@dataclass(frozen=True)
class EtsSpec:
    """The form of an ETS model: error and season "add" / "mul" (season None: none), trend "add" or None,
    damped trend, season length."""

    error: str
    trend: str | None
    damped: bool
    seasonal: str | None
    season: int

    @property
    def name(self) -> str:
        """Hyndman's notation, e.g. ETS(M,Ad,M)."""
        trend = (self.trend or "n")[0].upper() + ("d" if self.damped else "")
        return f"ETS({self.error[0].upper()},{trend},{(self.seasonal or 'n')[0].upper()})"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, values: dict[str, Any]) -> EtsSpec:
        return cls(str(values["error"]), values.get("trend"), bool(values["damped"]), values.get("seasonal"),
                   int(values["season"]))  # fmt: skip


@dataclass(frozen=True)
class EtsFit:
    """An ETS model fitted on a history: its form, AICc, parameters (statsmodels' names) and forecast (H,)."""

    spec: EtsSpec
    aicc: float
    params: dict[str, float]
    forecast: np.ndarray


def _fit(history: np.ndarray, spec: EtsSpec, pred_len: int, start: dict[str, float] | None = None) -> EtsFit | None:
    """``spec`` fitted on ``history`` (T,) by maximum likelihood (from the parameters ``start`` when given);
    None when statsmodels cannot fit it. A constant history forecasts that constant, with no parameters."""
    if np.ptp(history) == 0:  # statsmodels fits no form to a constant; every form forecasts it unchanged
        return EtsFit(spec, 0.0, {}, np.full(pred_len, history[-1]))
    model_class = _ets_model_class()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence notes of single candidates: the AICc judges them
            model = model_class(
                history, error=spec.error, trend=spec.trend, damped_trend=spec.damped, seasonal=spec.seasonal,
                seasonal_periods=spec.season if spec.seasonal else None, initialization_method="estimated",
            )  # fmt: skip
            begin = np.array([start[name] for name in model.param_names]) if start else None  # {}: a constant's
            result = model.fit(start_params=begin, disp=False, maxiter=MAX_ITER)
            forecast = np.asarray(result.forecast(pred_len), dtype=np.float64)
    except (ValueError, np.linalg.LinAlgError):
        return None
    if not np.isfinite(result.aicc) or not np.isfinite(forecast).all():
        return None
    params = {str(k): float(v) for k, v in zip(result.param_names, np.asarray(result.params), strict=True)}
    return EtsFit(spec, float(result.aicc), params, forecast)


def candidate_specs(history: np.ndarray, season: int) -> list[EtsSpec]:
    """The ETS forms that suit ``history`` (T,) with season ``season`` (1: none)."""
    positive = bool((np.asarray(history) > 0).all())
    # a season of at most 24 (as forecast::ets): a longer one has more states than a short series can estimate
    seasonal_ok = 1 < season <= MAX_ETS_SEASON and len(history) >= 2 * season + 2
    specs = []
    for error, trend, damped, seasonal in itertools.product(
        ("add", "mul") if positive else ("add",),
        (None, "add"),
        (False, True),
        (None, "add", "mul") if positive else (None, "add"),
    ):
        if (damped and trend is None) or (seasonal and not seasonal_ok):
            continue
        specs.append(EtsSpec(error, trend, damped, seasonal, season))
    return specs


def auto_ets(history: np.ndarray, pred_len: int, season: int) -> EtsFit:
    """The lowest-AICc ETS model of ``history`` (T,) over error, trend, damping and season (``season`` m;
    1: no season), with its forecast (H,). A constant history (e.g. a flag that is 0 throughout the training
    part) gets ETS(A,N,N), the first form, forecasting the constant, with no fitted parameters and AICc 0
    (:func:`_fit`)."""
    history = np.asarray(history, dtype=np.float64).ravel()
    if len(history) < 4 or not np.isfinite(history).all():
        raise DataError(f"AutoETS needs at least 4 finite points; the history has {len(history)} "
                        f"({int((~np.isfinite(history)).sum())} missing).")  # fmt: skip
    fits = [fit for spec in candidate_specs(history, season) if (fit := _fit(history, spec, pred_len)) is not None]
    if not fits:
        raise DataError(f"No ETS model could be fitted to this series of {len(history)} points; use "
                        "data.statistical=seasonal_naive.")  # fmt: skip
    return min(fits, key=lambda fit: fit.aicc)


def ets_forecast(
    history: np.ndarray, pred_len: int, spec: EtsSpec, start: dict[str, float] | None = None
) -> np.ndarray:
    """The forecast (H,) of the ETS form ``spec`` with its parameters fitted on ``history`` (T,), starting from
    ``start`` (a fit's parameters, e.g. the training part's: the likelihood of a short series is flat enough
    that a start from elsewhere can end elsewhere on the same data)."""
    history = np.asarray(history, dtype=np.float64).ravel()
    if (spec.error == "mul" or spec.seasonal == "mul") and not (history > 0).all():
        raise DataError(f"{spec.name} has multiplicative parts and needs positive values; this series has values "
                        "≤ 0. Refit the run on data like it.")  # fmt: skip
    if spec.seasonal and len(history) < 2 * spec.season + 2:
        raise ConfigError(f"{spec.name} with season {spec.season} needs {2 * spec.season + 2} points of history; "
                          f"got {len(history)}.")  # fmt: skip
    fit = _fit(history, spec, pred_len, start)
    if fit is None:
        raise DataError(f"{spec.name} could not be fitted to this series of {len(history)} points.")
    return fit.forecast
