"""Divergence and the kept epoch (issue 23, items 1 and 2): a non-finite loss or weight stops the run with one
line and leaves no NaN in any file; the kept epoch follows its rule (best validation score, then the lower
validation loss, then the later epoch) and metrics.json and the report say which it was and why."""

from __future__ import annotations

import json
import math
from pathlib import Path

import lightning as L
import pytest
import torch
from safetensors.torch import load_file

from dualbranch.checkpoint import read_metadata
from dualbranch.errors import TrainingDivergedError
from dualbranch.safe_io import strict_json
from dualbranch.train.checkpoint_io import load_training_checkpoint
from dualbranch.train.checkpoints import RunCheckpoints
from dualbranch.train.config import load_config
from dualbranch.train.pipeline import fit
from fit_processes import SMALL_FIT


def _strict(text: str) -> object:
    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def _config(tmp_path: Path, *extra: str):
    return load_config(None, [*SMALL_FIT, "data.limit_train=300", "data.limit_eval=60", f"output.root={tmp_path}",
                              "output.name=run", *extra])  # fmt: skip


class _PoisonWeight(L.Callback):
    """Sets one weight to NaN in epoch ``epoch`` (after its first batch, or at its end), as a blown-up update
    would."""

    def __init__(self, epoch: int, at_end: bool) -> None:
        self.epoch, self.at_end = epoch, at_end

    def _poison(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if trainer.current_epoch + 1 == self.epoch:
            with torch.no_grad():
                next(module.parameters()).view(-1)[0] = float("nan")

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if self.at_end:
            self._poison(trainer, module)

    def on_train_batch_end(self, trainer: L.Trainer, module: L.LightningModule, *args: object) -> None:
        if not self.at_end:
            self._poison(trainer, module)


def test_strict_json_writes_null_for_what_could_not_be_measured():
    text = strict_json({"loss": float("nan"), "folds": [{"kappa": float("inf")}, 0.5], "n": 3}, indent=2)
    assert _strict(text) == {"loss": None, "folds": [{"kappa": None}, 0.5], "n": 3}


def test_a_nan_weight_at_an_epoch_end_stops_the_run_before_it_is_kept(tmp_path):
    config = _config(tmp_path, "optim.epochs=3", "trainer.checkpoint_seconds=0")
    with pytest.raises(TrainingDivergedError, match=r"at the end of epoch 2 of 3 .*the weight model\.\S+ is NaN"):
        fit(config, callbacks=[_PoisonWeight(epoch=2, at_end=True)])
    run = tmp_path / "run"
    assert not (run / "model.safetensors").exists() and not (run / "metrics.json").exists()
    state = load_training_checkpoint(run / "checkpoints" / "last.ckpt")
    # the last good state: within epoch 2, after its last-but-one batch (checkpoint_seconds=0 writes after every
    # batch); epoch 2's end, with the NaN weight, never reached the disk
    position = state["position"]
    assert position["epoch"] == 2 and position["batches"] == position["of"] - 1
    assert all(torch.isfinite(t).all() for t in state["state_dict"].values())
    for line in (run / "history.jsonl").read_text().splitlines():
        _strict(line)


def test_a_nan_weight_within_an_epoch_is_caught_before_a_checkpoint_holds_it(tmp_path):
    config = _config(tmp_path, "optim.epochs=3", "trainer.checkpoint_seconds=0")  # a write after every batch
    with pytest.raises(TrainingDivergedError, match=r"epoch 2 of 3, batch 1 of \d+.*the weight model\.\S+ is NaN"):
        fit(config, callbacks=[_PoisonWeight(epoch=2, at_end=False)])
    state = load_training_checkpoint(tmp_path / "run" / "checkpoints" / "last.ckpt")
    assert state["position"]["epoch"] == 1 and all(torch.isfinite(t).all() for t in state["state_dict"].values())


def test_a_diverged_run_writes_no_nan_anywhere(tmp_path):
    # writes at epoch ends only (the first after epoch 1), so the NaN loss of the next step stops the run
    config = _config(tmp_path, "optim.epochs=3", "trainer.checkpoint_seconds=3600", "output.report=true")
    with pytest.raises(TrainingDivergedError, match=r"diverged at epoch 2 of 3, step 7 .*loss is NaN.*optim\.lr"):
        fit(config, callbacks=[_PoisonWeight(epoch=2, at_end=False)])
    last = load_training_checkpoint(tmp_path / "run" / "checkpoints" / "last.ckpt")  # epoch 1 stays, to look at
    assert last["epoch"] == 0 and all(torch.isfinite(t).all() for t in last["state_dict"].values())
    assert not list(tmp_path.rglob("*.safetensors")) and not list(tmp_path.rglob("report.html"))
    for path in tmp_path.rglob("*"):
        if path.suffix == ".jsonl":
            for line in path.read_text().splitlines():
                _strict(line)
        elif path.suffix == ".json":
            _strict(path.read_text())
        elif path.suffix == ".safetensors":
            assert all(torch.isfinite(t).all() for t in load_file(path).values())


def _epoch(checkpoints: RunCheckpoints, epoch: int, score: float, loss: float) -> bool:
    return checkpoints._update_best({"val_acc": score, "val_loss": loss}, epoch, f"epoch {epoch}")


def test_the_kept_epoch_rule_prefers_lower_validation_loss_then_the_later_epoch(tmp_path):
    checkpoints = RunCheckpoints(tmp_path, load_config(None, []), ("val_acc", "max"))
    assert _epoch(checkpoints, 1, 0.75, 0.90)
    assert _epoch(checkpoints, 2, 1.00, 0.31)  # better score
    assert _epoch(checkpoints, 3, 1.00, 0.20)  # tied score, lower loss
    assert not _epoch(checkpoints, 4, 1.00, 0.25)  # tied score, higher loss
    assert _epoch(checkpoints, 5, 1.00, 0.20)  # tied on both: the later epoch, trained longer
    assert not _epoch(checkpoints, 6, 0.92, 0.01)  # a lower score loses, whatever its loss
    kept = checkpoints.kept(6)
    assert (kept["epoch"], kept["of"]) == (5, 6)
    assert kept["rule"] == "the highest val_acc, ties broken by the lower val_loss, then the later epoch"
    assert "reached by 4 epochs; the lowest val_loss among them, 0.2" in kept["why"]
    loss_only = RunCheckpoints(tmp_path, load_config(None, []), ("val_loss", "min"))
    assert _epoch(loss_only, 1, 0.5, 0.5) and not _epoch(loss_only, 2, 0.6, 0.6) and _epoch(loss_only, 3, 0.5, 0.5)
    assert loss_only.kept(3)["epoch"] == 3 and loss_only.kept(3)["rule"] == "the lowest val_loss, then the later epoch"
    with pytest.raises(TrainingDivergedError, match="the validation score val_loss is NaN"):
        _epoch(checkpoints, 7, 1.0, math.nan)


def test_metrics_and_report_say_which_epoch_was_kept_and_why(tmp_path):
    run = fit(_config(tmp_path, "optim.epochs=3", "output.report=true"))
    metrics = json.loads((run / "metrics.json").read_text())
    kept = metrics["kept"]
    history = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    best = max(history, key=lambda row: (row["val_acc"], -row["val_loss"], row["epoch"]))
    assert (kept["epoch"], kept["of"]) == (best["epoch"], 3) and kept["rule"].startswith("the highest val_acc")
    assert json.loads(read_metadata(run / "model.safetensors")["kept"]) == kept
    best_weights = load_training_checkpoint(run / "checkpoints" / "best.ckpt")
    assert best_weights["epoch"] == kept["epoch"]
    weights = load_file(run / "model.safetensors")
    assert all(torch.equal(weights[k], best_weights["state_dict"][f"model.{k}"]) for k in weights)
    report = (run / "report.html").read_text()
    assert f"Kept weights: epoch {kept['epoch']} of 3, by the highest val_acc" in report
    assert f"{kept['epoch']} of 3" in report  # the summary card
