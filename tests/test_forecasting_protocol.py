"""The forecasting papers' training protocol as the forecasting kind's defaults (issue 24).

Early stopping on validation MSE (patience 3, at most 10 epochs), the halving learning rate
("type1"), batch 32, no gradient clipping (the default config's clipping is Fashion-MNIST's and must
not reach other kinds), the model's own learning rate; a budget the user gives still decides the epochs.

Shape legend: none (runs and configs, checked through their files).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dualbranch.cli import main
from dualbranch.train.callbacks import read_history
from dualbranch.train.config import load_config
from dualbranch.train.kinds.forecast_recipe import PAPER_LR
from dualbranch.train.pipeline import _finished, plan_run
from dualbranch.train.task import halving

QUIET = ["trainer.progress_bar=false", "trainer.threads=1"]


@pytest.fixture(scope="module")
def hourly_csv(tmp_path_factory) -> Path:
    """An ETT-shaped file: ``date`` then three variables with a daily cycle, 1,600 hourly rows (1,120 to
    train: over 1,000 training windows, so the papers' protocol applies)."""
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(1)
    t = np.arange(1600)
    values = np.stack([5 * np.sin(2 * np.pi * t / 24 + k) + rng.normal(size=1600) + 20 * k for k in range(3)], 1)
    frame = pd.DataFrame(values, columns=["a", "b", "OT"])
    frame.insert(0, "date", pd.date_range("2017-01-01", periods=1600, freq="h").astype(str))
    path = tmp_path_factory.mktemp("hourly") / "hourly.csv"
    frame.to_csv(path, index=False)
    return path


def _choices(run: Path) -> dict[str, object]:
    return {c["key"]: c["value"] for c in json.loads((run / "recipe.json").read_text())["choices"]}


def test_halving_multiplier_is_one_then_halves_each_epoch():
    per_epoch = 5
    got = [halving(step, per_epoch) for step in range(0, 20)]
    assert got == [1.0] * 5 + [0.5] * 5 + [0.25] * 5 + [0.125] * 5


def test_default_file_clipping_does_not_reach_forecasting():
    config = load_config(None, ["data.name=uschange"])
    assert config.optim.grad_clip is None and "optim.grad_clip" not in config.explicit
    assert load_config(None, []).optim.grad_clip == 5.0  # Fashion-MNIST's own default run keeps it


def test_papers_protocol_is_the_default_and_early_stopping_ends_a_flat_run(hourly_csv, tmp_path):
    # a learning rate too small to move float32 weights: the validation MSE repeats exactly, so patience
    # 3 ends the run after epoch 4 of 10
    argv = ["fit", "data.name=series", f"data.path={hourly_csv}", "data.seq_len=24", "data.pred_len=12",
            "model.name=dlinear", "optim.lr=1e-30", *QUIET, f"output.root={tmp_path}", "output.name=flat"]  # fmt: skip
    assert main(argv) == 0
    run = tmp_path / "flat"
    choices = _choices(run)
    assert choices["optim.epochs"] == 10 and choices["optim.patience"] == 3
    assert choices["optim.schedule"] == "halving" and choices["optim.warmup_epochs"] == 0
    assert choices["data.batch_size"] == 32 and choices["optim.grad_clip"] is None
    assert "optim.lr" not in choices  # set by the user
    config = (run / "config.yaml").read_text()
    assert "grad_clip: null" in config and "schedule: halving" in config
    history = read_history(run / "folds" / "run") if (run / "folds").is_dir() else read_history(run)
    assert [row["epoch"] for row in history] == [1, 2, 3, 4]
    assert history[-1].get("early_stop") is True and not any(row.get("early_stop") for row in history[:-1])
    lrs = [row["lr"] for row in history]
    np.testing.assert_allclose(lrs, [1e-30 * 0.5**k for k in range(1, 5)])  # read after each epoch's last step


def test_model_learning_rate_and_a_user_budget(hourly_csv, tmp_path):
    argv = ["fit", "data.name=series", f"data.path={hourly_csv}", "data.seq_len=24", "data.pred_len=12",
            "model.name=dlinear", "optim.budget=30", "data.val_ratio=0", *QUIET,
            f"output.root={tmp_path}", "output.name=b"]  # fmt: skip
    assert main(argv) == 0
    choices = _choices(tmp_path / "b")
    assert choices["optim.lr"] == PAPER_LR["dlinear"][0]
    # 30 updates at batch 32 over the training windows, whatever the kind's 10-epoch cap says
    assert choices["optim.epochs"] == max(1, round(30 / -(-(1120 - 24 - 12 + 1) // 32)))


def _monthly_csv(folder: Path, n: int) -> Path:
    pd = pytest.importorskip("pandas")
    t = np.arange(n)
    frame = pd.DataFrame({"date": pd.date_range("2001-01-01", periods=n, freq="MS").strftime("%Y-%m")})
    frame["sales"] = 100 + 2 * t + 15 * np.sin(2 * np.pi * t / 12)
    path = folder / f"monthly{n}.csv"
    frame.to_csv(path, index=False)
    return path


def test_look_back_adapts_to_a_short_training_part(hourly_csv, tmp_path):
    long = load_config(None, ["data.name=series", f"data.path={hourly_csv}", "data.pred_len=12"])
    assert long.kind.load(long.data, 0).decided == [("data.seq_len", 96, "the long-horizon papers' look-back")]
    short = _monthly_csv(tmp_path, 144)  # airline's length: 100 training rows by the 70/10/20 ratios
    config = load_config(None, ["data.name=series", f"data.path={short}", "data.pred_len=12"])
    dataset = config.kind.load(config.data, 0)
    assert dataset.decided[0][:2] == ("data.seq_len", (100 - 12 + 1) // 2)
    assert dataset.examples.seq_len == 44


def test_a_24_point_series_with_a_12_step_hold_out_trains_without_validation(tmp_path):
    # shampoo sales' shape: 36 months, the last 12 held out; 24 to train on
    path = _monthly_csv(tmp_path, 36)
    # the global model itself (the defaults would compare it with the statistical models: test_forecast_fallback.py)
    argv = ["fit", "data.name=series", f"data.path={path}", "data.pred_len=12", "data.protocol=last",
            "data.val_ratio=0", "model.name=dlinear", "optim.epochs=3", "data.statistical=none", *QUIET,
            f"output.root={tmp_path}", "output.name=s"]  # fmt: skip
    assert main(argv) == 0
    record = json.loads((tmp_path / "s" / "run.json").read_text())
    assert record["data"]["seq_len"] == (24 - 12 + 1) // 2
    assert record["data"]["windows"] == {"train": 24 - 6 - 12 + 1, "val": 0, "test": 1}
    assert record["data"]["borders"]["test"] == [36 - 12 - 6, 36]
    assert len(read_history(tmp_path / "s")) == 3  # no validation, no early stop: every epoch, the last kept
    choices = _choices(tmp_path / "s")
    # 7 training windows: the general recipe's schedule (warm-up + cosine, a small batch), not 10 halving epochs
    assert choices["optim.schedule"] == "cosine" and "optim.patience" not in choices
    assert choices["data.batch_size"] == 8 and choices["optim.grad_clip"] is None
    assert not (tmp_path / "s" / "checkpoints" / "best.ckpt").exists()


def test_a_fold_stopped_early_counts_as_finished_when_resumed(tmp_path):
    config = load_config(None, ["data.name=uschange", "optim.epochs=10"])
    rows = [{"epoch": e, "val_loss": 1.0} for e in (1, 2, 3, 4)]
    (tmp_path / "model.safetensors").write_bytes(b"x")
    (tmp_path / "history.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert not _finished(tmp_path, config)  # 4 of 10 epochs, not stopped: an interrupted run continues
    rows[-1]["early_stop"] = True
    (tmp_path / "history.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert _finished(tmp_path, config)


def test_patchtst_takes_its_official_large_data_sizes_from_enough_windows_and_variates(tmp_path):
    """PatchTST's scripts give d_model 128 to the large sets (ETTm1 on): 1,077 training windows × 100 variates are
    over the recipe's 100,000; 3 variates are not, and a model without such sizes gets none."""
    pd = pytest.importorskip("pandas")
    t = np.arange(1600)[:, None]
    wide = pd.DataFrame(np.sin(2 * np.pi * t / 24 + np.arange(100)) + 0.01 * t, columns=[f"v{k}" for k in range(100)])
    paths = {"wide": tmp_path / "wide.csv", "narrow": tmp_path / "narrow.csv"}
    wide.to_csv(paths["wide"], index=False)
    wide.iloc[:, :3].to_csv(paths["narrow"], index=False)

    def planned(table: str, model: str) -> tuple[dict, dict]:
        config = load_config(None, ["data.name=series", f"data.path={paths[table]}", f"model.name={model}",
                                    "data.seq_len=24", "data.pred_len=12", *QUIET])  # fmt: skip
        plan = plan_run(config, dry=True)  # the recipe as `fit` resolves it, without training
        return {c.key: c.value for c in plan.recipe.choices if c.key.startswith("model.args.")}, plan.args

    sizes, args = planned("wide", "patchtst")
    assert sizes == {"model.args.d_model": 128, "model.args.n_heads": 16, "model.args.d_ff": 256,
                     "model.args.dropout": 0.2}  # fmt: skip
    assert (args["d_model"], args["n_heads"], args["d_ff"], args["dropout"]) == (128, 16, 256, 0.2)  # the model built
    assert planned("narrow", "patchtst")[0] == {}  # 1,077 × 3: the ETTh1-sized defaults
    assert planned("wide", "dlinear")[0] == {}
