"""The horizon's time features: a model whose contract reads them (``future_marks``: Informer, Autoformer)
gets the calendar of the steps it forecasts — never their values — through the one run pipeline.

A small hourly CSV in the ETT layout (a daily cycle plus noise) is trained for two epochs with tiny
Informer and Autoformer models through ``dualbranch fit``, then forecast with ``dualbranch predict``.

Shape legend: B batch, L look-back, H horizon, C variables, M time features.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import dualbranch
from dualbranch.cli import main
from dualbranch.data.time_features import time_features
from dualbranch.train.kinds.forecast_marks import reads_future_marks
from dualbranch.train.kinds.series_windows import SeriesInputs
from dualbranch.train.pipeline import load_fold_models

L, H, C, M = 24, 8, 3, 4  # hourly data: hour, weekday, day of month, day of year
QUICK = ["trainer.progress_bar=false", "trainer.threads=1", "optim.epochs=2", "output.report=false"]
TINY = {
    "informer": "model.args={d_model: 16, d_ff: 32, n_heads: 2, label_len: 12}",
    "autoformer": "model.args={d_model: 16, d_ff: 32, n_heads: 2, label_len: 12, moving_avg: 7}",
}


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def hourly_csv(tmp_path_factory) -> Path:
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    t = np.arange(500)
    values = np.stack([10 * np.sin(2 * np.pi * t / 24 + k) + rng.normal(size=500) + 50 * k for k in range(C)], 1)
    frame = pd.DataFrame(values, columns=["HUFL", "MUFL", "OT"])
    frame.insert(0, "date", pd.date_range("2016-07-01", periods=500, freq="h").astype(str))
    path = tmp_path_factory.mktemp("hourly") / "load.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module", params=["informer", "autoformer"])
def run(request, hourly_csv, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp(request.param)
    argv = ["fit", "data.name=series", f"data.path={hourly_csv}", f"data.seq_len={L}", f"data.pred_len={H}",
            f"model.name={request.param}", TINY[request.param], *QUICK,
            f"output.root={root}", "output.name=r"]  # fmt: skip
    assert main(argv) == 0
    return root / "r"


def test_the_contract_says_which_models_read_the_horizon_marks():
    forecasters = [n for n in dualbranch.list_models() if dualbranch.get_model_entry(n).task == "forecasting"]
    readers = {n for n in forecasters if reads_future_marks(n)}
    assert readers == {"informer", "autoformer"}
    for name in forecasters:
        model = dualbranch.create_model(name, **{**dualbranch.get_model_entry(name).tiny, "n_marks": M})
        rows = model.seq_len + (model.pred_len if name in readers else 0)
        assert model.input_shape == (rows, model.n_vars + M)


def test_the_input_pipeline_serves_the_horizon_calendar_and_no_horizon_value():
    batch = torch.randn(5, L + H, C + M)
    plain = SeriesInputs(L, None, C)
    future = SeriesInputs(L, None, C, horizon_marks=True)
    assert torch.equal(plain.prepare(batch), batch[:, :L])
    x = future.prepare(batch)
    assert x.shape == (5, L + H, C + M)
    assert torch.equal(x[:, :L], batch[:, :L])  # the look-back as it is
    assert torch.equal(x[:, L:, C:], batch[:, L:, C:])  # the horizon's time features
    assert not x[:, L:, :C].any()  # none of the values the model is scored on
    assert torch.equal(future.targets(batch, torch.zeros(5)), batch[:, L:, :C])


@pytest.mark.parametrize("name", ["informer", "autoformer"])
def test_the_models_read_the_horizon_calendar_but_not_its_values(name):
    torch.manual_seed(0)
    model = dualbranch.create_model(name, **{**dualbranch.get_model_entry(name).tiny, "n_marks": M}).eval()
    x = torch.randn(2, *model.input_shape)
    moved_values, moved_calendar = x.clone(), x.clone()
    moved_values[:, model.seq_len :, : model.n_vars] += 100.0
    moved_calendar[:, model.seq_len :, model.n_vars :] += 0.3
    with torch.no_grad():
        assert torch.equal(model(moved_values), model(x))
        assert not torch.allclose(model(moved_calendar), model(x))


def test_a_fit_serves_the_horizon_calendar(run):
    record = json.loads((run / "run.json").read_text())
    assert record["input_shape"] == [L + H, C + M]
    assert record["model_args"]["n_marks"] == M and record["data"]["horizon_marks"] is True
    recipe = json.loads((run / "recipe.json").read_text())
    assert any(c["key"] == "data.horizon_marks" and c["value"] is True for c in recipe["choices"])
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["n"] > 0 and np.isfinite(metrics["mse"]) and metrics["mse"] < 2.0  # standardised scale
    (fold,), _ = load_fold_models(run)
    assert fold.preprocessing.horizon_marks is True


def test_predict_extends_the_calendar_by_the_horizon(run, hourly_csv, tmp_path):
    lines = hourly_csv.read_text().splitlines()
    tail = tmp_path / "tail.csv"
    tail.write_text("\n".join([lines[0], *lines[-60:]]) + "\n")
    out = tmp_path / "f.csv"
    assert main(["predict", str(run), str(tail), "--output", str(out)]) == 0
    rows = _rows(out)
    assert [int(r["step"]) for r in rows] == list(range(1, H + 1))
    # by hand: the last L rows standardised, H zero rows, the next H hours' calendar, through the model
    (fold,), _ = load_fold_models(run)
    table = np.loadtxt(tail, delimiter=",", skiprows=1, usecols=(1, 2, 3))
    stamps = np.array([line.split(",")[0].replace(" ", "T") for line in lines[-60:]], dtype="datetime64[s]")
    future = stamps[-1] + np.arange(1, H + 1) * np.timedelta64(3600, "s")
    calendar = time_features(np.concatenate([stamps[-L:], future]), "hour")[0]  # (L + H, M)
    mean, std = np.array(fold.preprocessing.mean), np.array(fold.preprocessing.std)
    values = np.concatenate([(table[-L:] - mean) / std, np.zeros((H, C))])
    window = torch.from_numpy(np.concatenate([values, calendar], 1).astype(np.float32))[None]
    with torch.no_grad():
        expected = fold.model(window)[0].numpy() * std + mean  # (H, C)
    got = np.array([[float(r[c]) for c in ("HUFL", "MUFL", "OT")] for r in rows])
    np.testing.assert_allclose(got, expected, atol=2e-4)


def test_other_models_keep_the_look_back_only(hourly_csv, tmp_path):
    argv = ["fit", "data.name=series", f"data.path={hourly_csv}", f"data.seq_len={L}", f"data.pred_len={H}",
            "model.name=itransformer", "model.args={d_model: 16, d_ff: 16, n_heads: 2}", *QUICK,
            f"output.root={tmp_path}", "output.name=it"]  # fmt: skip
    assert main(argv) == 0
    record = json.loads((tmp_path / "it" / "run.json").read_text())
    assert record["input_shape"] == [L, C + M] and record["data"]["horizon_marks"] is False


@pytest.mark.parametrize(
    ("model", "setting", "message"),
    [
        ("itransformer", "true", "does not read the time features of the horizon"),
        ("informer", "false", "reads the time features of the horizon"),
    ],
)
def test_a_horizon_marks_setting_the_model_cannot_use_is_one_line(
    model, setting, message, hourly_csv, tmp_path, capsys
):
    argv = ["fit", "data.name=series", f"data.path={hourly_csv}", f"data.seq_len={L}", f"data.pred_len={H}",
            f"model.name={model}", f"data.horizon_marks={setting}", *QUICK, f"output.root={tmp_path}"]  # fmt: skip
    assert main(argv) == 2
    assert message in capsys.readouterr().err.strip().splitlines()[-1]
    assert not any(tmp_path.iterdir())
