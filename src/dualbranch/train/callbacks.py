"""Training callbacks: a one-line summary per epoch, and the epoch history the report plots."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import lightning as L
from tqdm import tqdm

from ..safe_io import strict_json
from .scoring import ACCURACY, StepMetric

__all__ = ["EpochSummary"]


class EpochSummary(L.Callback):
    """Print one line per epoch and append it to ``history.jsonl`` in the run folder (rank 0 only):
    the loss and the data kind's ``metric`` (accuracy by default) of training and validation.

    With progress bars the line goes above them (``tqdm.write``); ``history.jsonl`` is strict
    JSON (a value that could not be measured is ``null``)."""

    def __init__(self, run_dir: Path, metric: StepMetric = ACCURACY) -> None:
        self.history_path = Path(run_dir) / "history.jsonl"
        self.metric = metric
        self._started = 0.0

    def on_train_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self._started = time.perf_counter()  # a run resumed within an epoch starts it without the hook below

    def on_train_epoch_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self._started = time.perf_counter()

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        # Lightning runs this epoch's validation before this hook, so both sets of metrics are here.
        if not trainer.is_global_zero:
            return
        name = self.metric.name
        suffixes = ("_epoch", f"_{name}", "_loss")
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.endswith(suffixes)}
        row = {
            "epoch": trainer.current_epoch + 1,
            "step": trainer.global_step,
            "seconds": round(time.perf_counter() - self._started, 2),
            "lr": trainer.optimizers[0].param_groups[0]["lr"],
            "train_loss": metrics.get("train_loss_epoch"),
            f"train_{name}": metrics.get(f"train_{name}"),
            "val_loss": metrics.get("val_loss"),
            f"val_{name}": metrics.get(f"val_{name}"),
        }
        patience = trainer.early_stopping_callback
        if patience is not None and trainer.should_stop and patience.wait_count >= patience.patience:
            row["early_stop"] = True  # optim.patience epochs without a better validation score: the run ends
        stopped = " (early stop: no better val for optim.patience epochs)" if row.get("early_stop") else ""
        with self.history_path.open("a") as handle:
            handle.write(strict_json(row) + "\n")

        def fmt(value: float | None, pattern: str) -> str:
            return "-" if value is None else pattern.format(value)

        line = (
            f"epoch {row['epoch']}/{trainer.max_epochs}  train_loss {fmt(row['train_loss'], '{:.4f}')}  "
            f"train_{name} {fmt(row[f'train_{name}'], self.metric.fmt)}  val_loss {fmt(row['val_loss'], '{:.4f}')}  "
            f"val_{name} {fmt(row[f'val_{name}'], self.metric.fmt)}  lr {row['lr']:.2e}  {row['seconds']:.0f}s{stopped}"
        )
        # tqdm.write clears any progress bar, prints the line and redraws the bar below it, so the summary
        # never lands on the line a bar is drawn on; without bars it is a plain print
        tqdm.write(line, file=sys.stdout)
        sys.stdout.flush()


def read_history(run_dir: Path) -> list[dict]:
    """Epoch rows of a run; a resumed run's repeated epochs keep their latest row."""
    path = Path(run_dir) / "history.jsonl"
    if not path.is_file():
        return []
    rows: dict[int, dict] = {}
    for line in path.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            rows[row["epoch"]] = row
    return [rows[k] for k in sorted(rows)]
