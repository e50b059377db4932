"""Forecasting through the one run pipeline: ``dualbranch fit / test / predict`` on series tables.

A bundled table (aeon's Uschange, read offline) and a small CSV in the benchmarks' layout are trained
for a few steps with tiny models; the run is checked against the field's protocol (window counts
from :func:`count_windows`, the scaler of the training rows, errors on both scales), its files
(metrics, predictions on the original scale, report sections) and its errors.

Shape legend: T rows, C variables, C_t targets, L look-back, H horizon, n windows.
"""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from dualbranch.cli import main
from dualbranch.data.bundled_series import bundled_path, load_bundled
from dualbranch.data.forecasting import count_windows
from dualbranch.errors import DataError
from dualbranch.train.config import load_config
from dualbranch.train.kinds.series_windows import window_view
from dualbranch.train.objectives import make_objective
from dualbranch.train.pipeline import folds_of, load_fold_models

needs_aeon = pytest.mark.skipif(importlib.util.find_spec("aeon") is None, reason="the bundled tables ship with aeon")

L, H = 16, 4
QUICK = ["trainer.progress_bar=false", "trainer.threads=1", "optim.epochs=2"]
TINY_GATEFORMER = "model.args={d_model: 16, d_ff: 32, n_heads: 2}"


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def uschange_run(tmp_path_factory) -> Path:
    if importlib.util.find_spec("aeon") is None:
        pytest.skip("the bundled tables ship with aeon")
    root = tmp_path_factory.mktemp("forecast_runs")
    # the global model's workflow on the variables alone: on a table this short the defaults would also weigh
    # AutoETS and seasonal naive (tests/test_forecast_fallback.py), and its quarters would add a month-of-year
    # feature (tests/test_time_features.py)
    argv = ["fit", "data.name=uschange", f"data.seq_len={L}", f"data.pred_len={H}", TINY_GATEFORMER, *QUICK,
            "data.statistical=none", "data.time_features=none", f"output.root={root}", "output.name=u"]  # fmt: skip
    assert main(argv) == 0
    return root / "u"


@pytest.fixture(scope="module")
def series_csv(tmp_path_factory) -> Path:
    """An ETT-shaped file: ``date`` then four variables (a daily cycle plus noise), 400 hourly rows."""
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    t = np.arange(400)
    values = np.stack([10 * np.sin(2 * np.pi * t / 24 + k) + rng.normal(size=400) + 50 * k for k in range(4)], 1)
    frame = pd.DataFrame(values, columns=["HUFL", "HULL", "MUFL", "OT"])
    frame.insert(0, "date", pd.date_range("2016-07-01", periods=400, freq="h").astype(str))
    path = tmp_path_factory.mktemp("series") / "load.csv"
    frame.to_csv(path, index=False)
    return path


def test_the_run_follows_the_protocol(uschange_run):
    record = json.loads((uschange_run / "run.json").read_text())
    assert record["kind"] == "forecasting" and record["model_name"] == "gateformer"  # model.name auto
    assert record["model_args"]["n_vars"] == 5 and record["model_args"]["seq_len"] == L
    assert record["model_args"]["pred_len"] == H and record["input_shape"] == [L, 5]
    facts = record["data"]
    borders = facts["borders"]
    assert facts["protocol"] == "ratio" and borders["train"] == [0, 130] and borders["test"][1] == 187  # 70/10/20
    for part, (start, stop) in borders.items():
        assert facts["windows"][part] == count_windows(stop - start, L, H)
    metrics = json.loads((uschange_run / "metrics.json").read_text())
    assert metrics["n"] == count_windows(borders["test"][1] - borders["test"][0], L, H) == 34
    # the scaler is the training rows' own
    table = load_bundled("uschange")
    scaling = json.loads((uschange_run / "preprocessing.json").read_text())
    np.testing.assert_allclose(scaling["mean"], table.values[:130].mean(axis=0))
    np.testing.assert_allclose(scaling["std"], table.values[:130].std(axis=0))
    recipe = json.loads((uschange_run / "recipe.json").read_text())
    assert {"key": "objective.name", "value": "mse"} in [{k: c[k] for k in ("key", "value")} for c in recipe["choices"]]
    history = [json.loads(line) for line in (uschange_run / "history.jsonl").read_text().splitlines()]
    assert all(row["val_loss"] is not None and row["val_mae"] is not None for row in history)
    assert (uschange_run / "checkpoints" / "best.ckpt").is_file()  # the lowest validation MSE


def test_metrics_on_both_scales_per_horizon_and_step(uschange_run):
    metrics = json.loads((uschange_run / "metrics.json").read_text())
    assert {"mse", "mae", "mse_original", "mae_original", "horizons", "per_step", "per_target", "gates"} <= set(metrics)
    assert metrics["targets"] == list(load_bundled("uschange").columns) and metrics["horizon"] == H
    assert [h["horizon"] for h in metrics["horizons"]] == [1, 2, 3, 4]
    assert metrics["horizons"][-1]["mse"] == pytest.approx(metrics["mse"])
    assert len(metrics["per_step"]["mae"]) == H
    assert np.mean(metrics["per_step"]["mse_original"]) == pytest.approx(metrics["mse_original"])
    assert metrics["mse_original"] != pytest.approx(metrics["mse"])  # the scales differ on this table
    assert set(metrics["gates"]) == {"gate1", "gate2"} and all(0 < v < 1 for v in metrics["gates"].values())


def test_predictions_are_on_the_original_scale(uschange_run):
    rows = _rows(uschange_run / "predictions.csv")
    metrics = json.loads((uschange_run / "metrics.json").read_text())
    assert len(rows) == metrics["n"] * H and rows[0]["time"] == "2007 Q3"  # the first test forecast's quarter
    table = load_bundled("uschange")
    names = table.columns
    true = np.array([[float(r[f"true_{c}"]) for c in names] for r in rows])
    pred = np.array([[float(r[f"pred_{c}"]) for c in names] for r in rows])
    np.testing.assert_array_equal(true, table.values[[int(r["row"]) for r in rows]])  # the file's own values
    assert np.mean((pred - true) ** 2) == pytest.approx(metrics["mse_original"], rel=1e-5)
    scaling = json.loads((uschange_run / "preprocessing.json").read_text())
    std = np.array(scaling["std"])  # errors are standardised by the training rows' std
    assert np.mean(((pred - true) / std) ** 2) == pytest.approx(metrics["mse"], rel=1e-4)
    assert {int(r["step"]) for r in rows} == set(range(1, H + 1))


def test_the_report_has_the_forecasting_sections(uschange_run):
    page = (uschange_run / "report.html").read_text()
    for heading in ("Learning curves", "Errors by horizon", "Error by horizon step", "Errors per target",
                    "Forecasts and truth", "Gates"):  # fmt: skip
        assert f"<h2>{heading}</h2>" in page
    assert "Confusion matrix" not in page and "5 variables → every variable, look-back 16, horizon 4" in page
    assert page.count("data:image/png") >= 4


def test_test_rewrites_the_same_metrics(uschange_run, capsys):
    before = json.loads((uschange_run / "metrics.json").read_text())
    assert main(["test", str(uschange_run)]) == 0
    assert "test MSE" in capsys.readouterr().out
    assert json.loads((uschange_run / "metrics.json").read_text()) == before


def test_predict_forecasts_the_horizon_after_each_file(uschange_run, tmp_path):
    source = bundled_path("uschange").read_text().splitlines()
    for name, rows in (("a.csv", 40), ("b.csv", 60)):
        (tmp_path / name).write_text("\n".join(source[: rows + 1]) + "\n")
    out = tmp_path / "forecast.csv"
    assert (
        main(["predict", str(uschange_run), str(tmp_path / "a.csv"), str(tmp_path / "b.csv"), "--output", str(out)])
        == 0
    )
    rows = _rows(out)
    assert [(Path(r["input"]).name, int(r["step"])) for r in rows] == [(f, h) for f in ("a.csv", "b.csv")
                                                                       for h in range(1, H + 1)]  # fmt: skip
    # by hand: the file's last L rows, standardised by the run's scaler, through the model, scaled back
    (fold,), _ = load_fold_models(uschange_run)
    values = load_bundled("uschange").values[40 - L : 40]
    mean, std = np.array(fold.preprocessing.mean), np.array(fold.preprocessing.std)
    window = torch.from_numpy(((values - mean) / std).astype(np.float32))[None]
    expected = fold.model(window)[0].detach().numpy() * std + mean  # (H, C)
    got = np.array([[float(r[c]) for c in load_bundled("uschange").columns] for r in rows[:H]])
    np.testing.assert_allclose(got, expected, atol=2e-5)


def test_one_target_from_a_csv_file_without_validation(series_csv, tmp_path):
    argv = ["fit", "data.name=series", f"data.path={series_csv}", "data.targets=OT", "data.seq_len=24",
            "data.pred_len=12", "data.stride=2", "data.val_ratio=0", "model.name=dlinear", *QUICK,
            "data.statistical=none", f"output.root={tmp_path}", "output.name=ms"]  # fmt: skip
    assert main(argv) == 0
    run = tmp_path / "ms"
    record = json.loads((run / "run.json").read_text())
    assert record["model_args"]["target_indices"] == [3] and record["data"]["targets"] == ["OT"]
    windows = record["data"]["windows"]
    assert windows == {"train": count_windows(280, 24, 12, 2), "val": count_windows(40 + 24, 24, 12, 2),
                       "test": count_windows(80 + 24, 24, 12, 2)}  # fmt: skip
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["n"] == windows["test"] and metrics["targets"] == ["OT"] and "gates" not in metrics
    assert not (run / "checkpoints" / "best.ckpt").exists()  # no validation: the last epoch
    assert set(_rows(run / "predictions.csv")[0]) == {"fold", "index", "row", "time", "step", "true_OT", "pred_OT"}
    out = tmp_path / "f.csv"
    assert main(["predict", str(run), str(series_csv), "--output", str(out)]) == 0
    rows = _rows(out)
    assert len(rows) == 12 and set(rows[0]) == {"input", "step", "OT"}
    assert 100 < np.mean([float(r["OT"]) for r in rows]) < 200  # OT lives around 150, not around 0


@needs_aeon
@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["evaluation.protocol=kfold"], "would train on the future"),
        (["model.name=crossvit_fmnist"], "is not a forecasting model"),
        (["data.seq_len=200"], "data.seq_len and data.pred_len smaller"),
        (["data.targets=Savngs"], "Did you mean 'Savings'"),
        (["augment.label_smoothing=0.1"], "forecasts have no classes"),
        (["data.test_path=x.csv"], "splits one table chronologically"),
    ],
)
def test_mistakes_are_one_line_errors(overrides, message, tmp_path, capsys):
    argv = ["fit", "data.name=uschange", f"data.seq_len={L}", f"data.pred_len={H}", *QUICK, f"output.root={tmp_path}"]
    assert main([*argv, *overrides]) == 2
    err = capsys.readouterr().err
    assert message in err.strip().splitlines()[-1]  # the error is its last line (a note on the config may precede)
    assert not any(tmp_path.iterdir())  # nothing half-made


def test_series_needs_a_path_and_predict_a_long_enough_file(uschange_run, tmp_path, capsys):
    assert main(["fit", "data.name=series", f"output.root={tmp_path}"]) == 2
    assert "needs data.path" in capsys.readouterr().err
    short = tmp_path / "short.csv"
    short.write_text("\n".join(bundled_path("uschange").read_text().splitlines()[:5]) + "\n")
    assert main(["predict", str(uschange_run), str(short)]) == 2
    assert "the model reads the last 16 (seq_len)" in capsys.readouterr().err


def test_limits_keep_evenly_spaced_windows_of_each_period(series_csv):
    config = load_config(
        None, ["data.name=series", f"data.path={series_csv}", "data.seq_len=24", "data.pred_len=12",
               "data.limit_train=10", "data.limit_eval=5"],
    )  # fmt: skip
    dataset = config.kind.load(config.data, 0)
    (fold,) = folds_of(config, dataset)
    n_train = count_windows(280, 24, 12)
    assert len(fold.train) == 10 and fold.train[0] == 0 and fold.train[-1] == n_train - 1  # the whole period
    assert len(fold.val) == len(fold.test) == 5 and fold.val[0] == n_train and fold.test[-1] == len(dataset) - 1
    windows = config.kind.loader_inputs(dataset.examples.subset(fold.train), config.kind.fit_preprocessing(
        dataset.examples.subset(fold.train), config.data), training=True)  # fmt: skip
    assert windows.shape == (10, 36, 4 + 4)  # 4 variables, then the hourly time features


def test_windows_are_views_of_the_table_when_evenly_spaced():
    table = torch.arange(40.0).reshape(20, 2)  # (T, C)
    starts = np.array([1, 4, 7])
    windows = window_view(table, starts, 5)
    assert windows.shape == (3, 5, 2) and windows.untyped_storage().data_ptr() == table.untyped_storage().data_ptr()
    for i, s in enumerate(starts):
        torch.testing.assert_close(windows[i], table[s : s + 5])
    uneven = window_view(table, np.array([0, 3, 11]), 5)  # a subset: copied, same values
    torch.testing.assert_close(uneven[2], table[11:16])


def test_mse_objective():
    objective = make_objective("mse", {})
    x = torch.randn(4, 3, 2)
    out = objective(torch.nn.Identity(), x, torch.zeros(4, 3, 2))
    assert out.loss.item() == pytest.approx(float((x**2).mean())) and out.logits is x
    with pytest.raises(DataError, match="differs from the targets"):
        objective(torch.nn.Identity(), x, torch.zeros(4, 3))
