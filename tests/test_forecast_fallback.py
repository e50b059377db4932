"""A short univariate series: the statistical fallback behind the same run (``data.statistical``).

A seasonal random walk of 36 monthly points (24 to train, 12 held out) is a series no global model can
be validated on (24 rows hold no window of look-back + two horizons) and on which seasonal naive is the
forecaster to beat: the defaults must keep seasonal naive, forecast exactly its oracle, save it so that
``predict`` works from the run folder alone, and say why in the recipe. The comparison keeps the global
model where it forecasts the validation period better; ``data.statistical`` forces either side; ETS
without statsmodels is a one-line error.

Shape legend: T rows, H horizon, m season.
"""

from __future__ import annotations

import builtins
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from dualbranch.cli import main
from dualbranch.data.forecast_baselines import cycle_season
from dualbranch.data.statistical_forecast import EtsSpec, auto_ets, ets_forecast, seasonal_naive_series
from dualbranch.errors import DataError, MissingDependencyError
from dualbranch.train.config import load_config
from dualbranch.train.kinds import KINDS, forecast_statistical
from dualbranch.train.kinds.base import DataKind, register_kind
from dualbranch.train.kinds.forecasting import ForecastingKind
from dualbranch.train.pipeline import folds_of
from dualbranch.train.predict import predict

pd = pytest.importorskip("pandas")

H, M, T = 12, 12, 36
QUICK = ["trainer.progress_bar=false", "trainer.threads=1", "output.report=false", "data.protocol=last",
         f"data.pred_len={H}"]  # fmt: skip


def _walk(n: int, seed: int = 0) -> np.ndarray:
    """A seasonal random walk (T,): y_t = y_{t−12} + ε_t, the first season a random pattern around 100."""
    rng = np.random.default_rng(seed)
    y = np.empty(n)
    y[:M] = 100 + rng.normal(0, 5, M)
    for t in range(M, n):
        y[t] = y[t - M] + rng.normal(0, 1)
    return y


def _csv(path: Path, values: np.ndarray) -> Path:
    dates = pd.date_range("2000-01-01", periods=len(values), freq="MS").strftime("%Y-%m-%d")
    pd.DataFrame({"date": dates, "y": values}).to_csv(path, index=False)
    return path


def _forecast(run: Path) -> np.ndarray:
    frame = pd.read_csv(run / "predictions.csv")
    return frame["pred_y"].to_numpy()


@pytest.fixture(scope="module")
def walk_run(tmp_path_factory) -> tuple[Path, np.ndarray]:
    root = tmp_path_factory.mktemp("fallback")
    values = _walk(T)
    path = _csv(root / "walk.csv", values)
    assert main(["fit", "data.name=series", f"data.path={path}", *QUICK, f"output.root={root}", "output.name=w"]) == 0
    return root / "w", values


def test_defaults_fall_back_to_seasonal_naive_on_24_points(walk_run):
    run, values = walk_run
    record = json.loads((run / "run.json").read_text())
    assert record["model_name"] == "seasonal_naive"
    assert record["data"]["seq_len"] == T - H  # a statistical model reads the whole training part
    np.testing.assert_allclose(_forecast(run), seasonal_naive_series(values[: T - H], H, M), rtol=1e-5)
    choice = next(c for c in json.loads((run / "recipe.json").read_text())["choices"] if c["key"] == "data.statistical")
    assert choice["value"] == "seasonal_naive"
    assert "seasonal naive (m=12)" in choice["reason"] and "not validated" in choice["reason"]
    saved = json.loads((run / "statistical.json").read_text())
    assert saved["method"] == "seasonal_naive" and saved["season"] == M
    metrics = json.loads((run / "metrics.json").read_text())
    truth = values[T - H :]
    assert metrics["mae_original"] == pytest.approx(np.abs(seasonal_naive_series(values[: T - H], H, M) - truth).mean())


def test_predict_reads_the_statistical_model_from_the_run_folder(walk_run, tmp_path):
    run = walk_run[0]
    longer = _walk(T + 5, seed=0)  # the same walk, 5 more months: the file's last 24 rows are read
    rows = predict(run, [str(_csv(tmp_path / "new.csv", longer))])
    assert [int(r["step"]) for r in rows] == list(range(1, H + 1))
    np.testing.assert_allclose([float(r["y"]) for r in rows], seasonal_naive_series(longer, H, M), rtol=1e-5)


def _dataset(path: Path, *extra: str):
    config = load_config(None, ["data.name=series", f"data.path={path}", *QUICK, *extra])
    kind = config.kind
    dataset = kind.load(config.data, 0, False)
    return kind, config, dataset, folds_of(config, dataset)[0]


def test_the_comparison_keeps_a_global_model_that_forecasts_better(tmp_path):
    values = _walk(120, seed=1)
    kind, config, dataset, fold = _dataset(_csv(tmp_path / "long.csv", values))
    assert isinstance(kind, ForecastingKind)
    origin = 120 - H - H  # the validation period: the training part's last horizon
    asked = []

    def perfect(inner):  # a global model that forecasts the validation period exactly
        asked.append(inner)
        starts = dataset.examples.starts[inner.test]
        assert starts[0] + dataset.examples.seq_len == origin
        assert (dataset.examples.starts[inner.train] + dataset.examples.seq_len + H <= origin).all()
        truth = values[origin : origin + H].reshape(1, H, 1)
        return SimpleNamespace(outputs=truth, preprocessing=SimpleNamespace(original=lambda x: x))

    key, value, why = kind.choose_own_model(dataset, config.data, fold, "dlinear", perfect)
    assert (key, value) == ("data.statistical", "none") and len(asked) == 1
    assert why.startswith(f"MAE on the training part's last {H} rows: dlinear ")  # the lowest first

    def poor(inner):
        return SimpleNamespace(outputs=np.zeros((1, H, 1)), preprocessing=SimpleNamespace(original=lambda x: x))

    assert kind.choose_own_model(dataset, config.data, fold, "dlinear", poor)[1] in ("seasonal_naive", "ets")
    forced = _dataset(tmp_path / "long.csv", "data.statistical=none")
    assert forced[0].choose_own_model(forced[2], forced[1].data, forced[3], "dlinear", perfect) is None
    by_hand = _dataset(tmp_path / "long.csv", "data.seq_len=24")  # a look-back set by hand: the global model's
    assert by_hand[0].choose_own_model(by_hand[2], by_hand[1].data, by_hand[3], "dlinear", perfect) is None


def test_several_targets_are_compared_in_their_standard_deviations(tmp_path, monkeypatch):
    # two seasonal walks, one in units a thousand times larger: each target's error counts in its own spread
    big, small = 1000 * _walk(120, seed=4), _walk(120, seed=5)
    dates = pd.date_range("2000-01-01", periods=120, freq="MS").strftime("%Y-%m-%d")
    path = tmp_path / "two.csv"
    pd.DataFrame({"date": dates, "big": big, "small": small}).to_csv(path, index=False)
    kind, config, dataset, fold = _dataset(path)
    origin = 120 - H - H
    history = np.stack([big, small], axis=1)[:origin]  # (T, 2)
    truth = np.stack([big, small], axis=1)[origin : origin + H]
    naive = np.stack([seasonal_naive_series(history[:, c], H, M) for c in (0, 1)], axis=1)  # (H, 2)

    def off_by(offset):  # a global model whose forecast misses each target by offset standard deviations
        def validate(inner):
            forecast = (truth + offset * history.std(axis=0))[None]  # (1, H, 2)
            return SimpleNamespace(outputs=forecast, preprocessing=SimpleNamespace(original=lambda x: x))

        return validate

    expected = np.mean(np.abs(naive - truth) / history.std(axis=0))  # seasonal naive's error, in deviations
    _, value, why = kind.choose_own_model(dataset, config.data, fold, "dlinear", off_by(expected / 2))
    assert value == "none" and why.startswith("MAE over 2 targets, each in its standard deviations, on the")
    assert f"dlinear {expected / 2:.4g}" in why and f"seasonal naive (m=12) {expected:.4g}" in why
    assert kind.choose_own_model(dataset, config.data, fold, "dlinear", off_by(2 * expected))[1] != "none"

    def no_form_fits(history, horizon, season):
        raise DataError(f"No ETS model could be fitted to this series of {len(history)} points")

    monkeypatch.setattr(forecast_statistical, "auto_ets", no_form_fits)  # the others still compete
    _, value, why = kind.choose_own_model(dataset, config.data, fold, "dlinear", off_by(2 * expected))
    assert value == "seasonal_naive" and "AutoETS left out: No ETS model could be fitted" in why


def test_the_validation_trains_the_global_model_and_the_run_keeps_the_winner(tmp_path):
    path = _csv(tmp_path / "long.csv", _walk(72, seed=2))
    args = ["fit", "data.name=series", f"data.path={path}", *QUICK, "model.name=dlinear", "optim.budget=30",
            f"output.root={tmp_path}", "output.name=v"]  # fmt: skip
    assert main(args) == 0
    choices = json.loads((tmp_path / "v" / "recipe.json").read_text())["choices"]
    choice = next(c for c in choices if c["key"] == "data.statistical")
    assert "dlinear" in choice["reason"] and "not validated" not in choice["reason"]
    kept = json.loads((tmp_path / "v" / "run.json").read_text())["model_name"]
    assert kept == ("dlinear" if choice["value"] == "none" else choice["value"])


def test_data_statistical_forces_the_global_model(tmp_path):
    path = _csv(tmp_path / "walk.csv", _walk(T))
    args = ["fit", "data.name=series", f"data.path={path}", *QUICK, "model.name=dlinear", "optim.budget=10",
            "data.statistical=none", f"output.root={tmp_path}", "output.name=g"]  # fmt: skip
    assert main(args) == 0
    assert json.loads((tmp_path / "g" / "run.json").read_text())["model_name"] == "dlinear"
    assert (tmp_path / "g" / "model.safetensors").is_file()
    choices = json.loads((tmp_path / "g" / "recipe.json").read_text())["choices"]
    assert not any(c["key"] == "data.statistical" for c in choices)


def test_data_statistical_forces_autoets_refitted_on_the_training_part(tmp_path):
    pytest.importorskip("statsmodels")
    path = _csv(tmp_path / "walk.csv", _walk(60, seed=3))
    values = pd.read_csv(path)["y"].to_numpy()  # as the run reads them (the optimiser feels the last bit)
    args = ["fit", "data.name=series", f"data.path={path}", *QUICK, "data.statistical=ets", f"output.root={tmp_path}",
            "output.name=e"]  # fmt: skip
    assert main(args) == 0
    run = tmp_path / "e"
    assert json.loads((run / "run.json").read_text())["model_name"] == "ets"
    expected = auto_ets(values[:-H], H, M)
    saved = json.loads((run / "statistical.json").read_text())
    assert saved["targets"][0]["name"] == expected.spec.name
    np.testing.assert_allclose(_forecast(run), expected.forecast, rtol=1e-4)
    assert not (run / "model.safetensors").exists()
    # predict: the saved form refitted on the file's last seq_len (48) rows, from the saved parameters
    rows = predict(run, [str(path)])
    again = ets_forecast(values[-48:], H, EtsSpec.from_json(saved["targets"][0]["spec"]), saved["targets"][0]["params"])
    np.testing.assert_allclose([float(r["y"]) for r in rows], again, rtol=1e-4)


def test_ets_without_statsmodels_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    real_import = builtins.__import__

    def no_statsmodels(name, *args, **kwargs):
        if name.startswith("statsmodels"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_statsmodels)
    path = _csv(tmp_path / "walk.csv", _walk(T))
    args = ["fit", "data.name=series", f"data.path={path}", *QUICK, "data.statistical=ets", f"output.root={tmp_path}"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "pip install 'dualbranch[forecasting]'" in err
    with pytest.raises(MissingDependencyError, match="statsmodels"):
        auto_ets(_walk(T), H, M)
    # the defaults compare without AutoETS, and say so
    defaults = ["fit", "data.name=series", f"data.path={path}", *QUICK, f"output.root={tmp_path}", "output.name=n"]
    assert main(defaults) == 0
    choice = next(c for c in json.loads((tmp_path / "n" / "recipe.json").read_text())["choices"]
                  if c["key"] == "data.statistical")  # fmt: skip
    assert "AutoETS left out: statsmodels is not installed" in choice["reason"]


def test_the_cycle_of_a_short_series_is_its_first_autocorrelation_peak():
    t = np.arange(110)
    rng = np.random.default_rng(4)
    cycle = 1000 + 800 * np.sin(2 * np.pi * t / 10) + rng.normal(0, 50, 110)  # Lynx-like: a 10-step cycle
    assert cycle_season(cycle[:, None], 55) == 10  # not 20 or 30, its multiples
    trend = 100 + 3 * t + 20 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 2, 110)  # Airline-like: trend and season
    assert cycle_season(trend[:, None], 55) == 12
    walk = np.cumsum(rng.normal(size=110))  # persistent, no cycle: every level autocorrelation is high
    assert cycle_season(walk[:, None], 55) == 1
    assert cycle_season(cycle[:8, None], 4) == 1  # too short to see a cycle three times


def test_a_kind_with_own_models_must_fit_and_load_them():
    class HalfDone(ForecastingKind):  # declares the forecasting kind's own models, but fits them nowhere
        name, datasets = "half_done", ("half_done_series",)
        fit_own_model = DataKind.fit_own_model  # the default, which fits nothing

    with pytest.raises(TypeError, match="'half_done' declares own_models but does not implement fit_own_model"):
        register_kind(HalfDone)
    assert "half_done" not in KINDS


def test_autoets_finds_the_form_and_continues_a_known_trend_and_season():
    # analytic oracles: a line continues as a line (ETS with additive trend), a season repeats (additive
    # season without trend); the noise (sd 0.01) only keeps the likelihood finite
    rng = np.random.default_rng(0)
    t = np.arange(40.0)
    trend = auto_ets(10 + 2 * t + rng.normal(0, 0.01, 40), 5, 1)
    assert trend.spec.trend == "add" and trend.spec.seasonal is None
    np.testing.assert_allclose(trend.forecast, 10 + 2 * np.arange(40, 45), atol=0.05)
    pattern = np.array([5.0, 9.0, 7.0, 3.0])
    seasonal = auto_ets(20 + np.tile(pattern, 12) + rng.normal(0, 0.01, 48), 8, 4)
    assert seasonal.spec.seasonal is not None and seasonal.spec.trend is None
    np.testing.assert_allclose(seasonal.forecast, 20 + np.tile(pattern, 2), atol=0.05)


def test_a_constant_variable_is_forecast_as_that_constant(tmp_path):
    # a flag that is 0 all through the training part: statsmodels fits no ETS form to it, the run must not fail
    constant = auto_ets(np.zeros(40), 6, 12)
    assert constant.spec.name == "ETS(A,N,N)" and constant.params == {}
    np.testing.assert_array_equal(constant.forecast, np.zeros(6))
    np.testing.assert_array_equal(ets_forecast(np.full(30, 2.5), 4, constant.spec, constant.params), np.full(4, 2.5))
    # saved without parameters, the form is still refitted where predict's rows do vary
    moving = ets_forecast(np.linspace(0.0, 1.0, 30), 4, constant.spec, constant.params)
    assert moving.shape == (4,) and np.isfinite(moving).all() and moving[0] > 0.5
    walk = _walk(60, seed=3)
    table = pd.DataFrame({"y": walk, "flag": np.zeros(60)})
    path = tmp_path / "flagged.csv"
    table.to_csv(path, index=False)
    args = ["fit", "data.name=series", f"data.path={path}", *QUICK, "data.statistical=ets", f"output.root={tmp_path}",
            "output.name=c"]  # fmt: skip
    assert main(args) == 0
    saved = json.loads((tmp_path / "c" / "statistical.json").read_text())
    assert [t["column"] for t in saved["targets"]] == ["y", "flag"] and saved["targets"][1]["params"] == {}
