"""A fold's checkpoints: the state to resume from (``last.ckpt``) and the kept epoch (``best.ckpt``).

**Which epoch is kept.** With a validation split, the epoch with the best validation metric (the
data kind's monitor: validation accuracy for classes, the validation loss for forecasts); among
epochs tied on it, the one with the lower validation loss; among those, the later epoch, which has
trained longer at a lower learning rate (a small validation split often ties early, at a validation
loss far above the final one). Without a validation split the last epoch is kept. :meth:`RunCheckpoints.kept`
says which epoch and why; it goes into ``model.safetensors``' metadata, ``metrics.json`` and the report.

**When the state is written.** Each epoch's end is captured (in memory: a copy of the model,
optimizer and loop state, as Lightning would write it), and written as ``last.ckpt`` after the first
epoch, after the last, and otherwise once ``trainer.checkpoint_seconds`` have passed since the
previous write, so an epoch of a second does not pay for a checkpoint each time. The kept epoch's
weights are written to ``best.ckpt`` just before ``last.ckpt``, so on disk the two always agree.
Within a long epoch the state is also written after a batch once ``checkpoint_seconds`` have passed
(the training loader is resumable, :class:`~.datamodule.ResumableLoader`: it records the batches
trained), and so is an interrupted run's (SIGINT, SIGTERM: the step in progress finishes first,
:mod:`.interrupt`); otherwise an interrupted run writes the latest captured end of an epoch.
Resuming repeats what followed the last written state exactly, from the batch it stopped at, so
the result is the same bit for bit. Each state records where it stands (``position``: epoch,
batches trained of how many). The first write calls ``on_first_write`` (an ``--overwrite`` swaps the new run in).

Every file goes through the strategy's checkpoint IO (atomic, fsynced, checksummed:
:mod:`.checkpoint_io`); only rank 0 writes.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Checkpoint

from .checkpoint_io import load_training_checkpoint
from .config import RunConfig
from .divergence import check_weights, diverged
from .interrupt import RunInterrupted, hold_signals, release_signals

__all__ = ["RunCheckpoints", "kept_rule"]


def kept_rule(monitor: tuple[str, str] | None) -> str:
    """The rule that picks the kept epoch, in words."""
    if monitor is None:
        return "the last epoch (no validation split)"
    name, mode = monitor
    best = "highest" if mode == "max" else "lowest"
    tie = ", ties broken by the lower val_loss" if name != "val_loss" else ""
    return f"the {best} {name}{tie}, then the later epoch"


class RunCheckpoints(Checkpoint):
    """Writes ``last.ckpt`` and ``best.ckpt`` in ``folder/checkpoints`` (see the module docstring).

    ``monitor`` is (logged name, "max" | "min") of the validation metric, or None without validation.
    """

    def __init__(
        self,
        folder: Path,
        config: RunConfig,
        monitor: tuple[str, str] | None,
        on_first_write: Callable[[], None] | None = None,
    ) -> None:
        self.dir = Path(folder) / "checkpoints"
        self.config = config
        self.monitor = monitor
        self.interval = config.trainer.checkpoint_seconds
        self.on_first_write = on_first_write
        self.best: dict[str, Any] | None = None  # epoch, score, val_loss, ties (in the checkpoint)
        self._best_state: dict[str, Any] | None = None  # the kept epoch's weights, not yet on disk
        self._pending: dict[str, Any] | None = None  # the latest end-of-epoch state, not yet on disk
        self._written_at: float | None = None
        self._started_at: float | None = None  # when training started: the interval's origin until a write
        self._wrote_any = False
        self.written_epoch: int | None = None  # the epoch the state on disk holds (None: no state yet)
        self._in_step = False

    # ------------------------------------------------------------------ Lightning hooks
    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.best = state_dict.get("best")

    def on_train_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self.written_epoch = trainer.current_epoch or None  # a resumed run starts after its last state
        self._started_at = time.monotonic()

    def on_train_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if trainer.is_global_zero and self._pending is not None:  # stopped early (trainer.max_time)
            self._write(trainer, self._pending)

    def on_exception(self, trainer: L.Trainer, module: L.LightningModule, exception: BaseException) -> None:
        # an interrupted run saves where it stands (between two batches of an epoch) or the latest end of an
        # epoch; after an error (divergence, a full disk, a bug) the last state written stays the one to
        # resume from
        if not isinstance(exception, RunInterrupted) or not trainer.is_global_zero:
            return
        if not self._in_step and self._between_batches(trainer):
            self._write(trainer, self._dump(trainer))
        elif self._pending is not None:
            self._write(trainer, self._pending)

    def on_train_batch_start(self, trainer: L.Trainer, module: L.LightningModule, batch: Any, batch_idx: int) -> None:
        self._in_step = True
        hold_signals()

    def on_train_batch_end(
        self, trainer: L.Trainer, module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        self._in_step = False
        if self._between_batches(trainer) and self._since_write() >= self.interval:
            trained, of = trainer.fit_loop.epoch_loop.batch_progress.current.processed, trainer.num_training_batches
            where = f"epoch {trainer.current_epoch + 1} of {trainer.max_epochs}, batch {trained} of {of}"
            check_weights(module, where, self.config)  # a weight the step made NaN never reaches the disk
            if trainer.is_global_zero:
                self._write(trainer, self._dump(trainer))
        release_signals()  # a stop requested during the step: on_exception saves this point

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        epoch, of = trainer.current_epoch + 1, trainer.max_epochs
        where = f"the end of epoch {epoch} of {of} (step {trainer.global_step})"
        check_weights(module, where, self.config)  # every rank: their weights are the same
        if not trainer.is_global_zero:
            return
        improved = self._update_best(trainer.callback_metrics, epoch, where)
        state = self._dump(trainer)
        if improved:
            self._best_state = {"state_dict": _copied(state["state_dict"]), "epoch": epoch, "kept": self.best}
        due = self._written_at is None or epoch >= (of or epoch) or self._since_write() >= self.interval
        if due:
            self._write(trainer, state)
        else:
            self._pending = _copied(state)

    # ------------------------------------------------------------------ the rule
    def _update_best(self, metrics: dict[str, Any], epoch: int, where: str) -> bool:
        if self.monitor is None:
            return False
        name, mode = self.monitor
        if name not in metrics:
            return False
        score, loss = float(metrics[name]), float(metrics.get("val_loss", metrics[name]))
        for label, value in ((name, score), ("val_loss", loss)):
            if not math.isfinite(value):
                raise diverged(f"the validation score {label}", value, where, self.config)
        sign = 1.0 if mode == "max" else -1.0
        best = self.best
        if best is not None:
            if sign * score < sign * best["score"]:
                return False
            tied = score == best["score"]
            if tied and loss > best["val_loss"]:
                best["ties"] += 1
                return False
            ties = best["ties"] + 1 if tied else 1
        else:
            ties = 1
        self.best = {"epoch": epoch, "score": score, "val_loss": loss, "ties": ties}
        return True

    def kept(self, epochs: int) -> dict[str, Any]:
        """Which epoch the fold keeps and why: ``{"epoch", "of", "rule", "why"}``."""
        rule = kept_rule(self.monitor)
        if self.best is None:
            return {"epoch": epochs, "of": epochs, "rule": rule, "why": "no validation score to choose by"}
        name, best = self.monitor[0], self.best  # type: ignore[index]
        why = f"{name} {best['score']:.4g}"
        if best["ties"] > 1 and name != "val_loss":
            why += f", reached by {best['ties']} epochs; the lowest val_loss among them, {best['val_loss']:.4g}"
        elif name != "val_loss":
            why += f" (val_loss {best['val_loss']:.4g})"
        return {"epoch": best["epoch"], "of": epochs, "rule": rule, "why": why}

    def kept_weights(self) -> dict[str, torch.Tensor] | None:
        """The kept epoch's state dict (of the training task), or None: keep the final weights."""
        if self.best is None:
            return None
        if self._best_state is not None:
            return self._best_state["state_dict"]
        return load_training_checkpoint(self.dir / "best.ckpt")["state_dict"]  # kept before a resume

    # ------------------------------------------------------------------ writing
    @staticmethod
    def _between_batches(trainer: L.Trainer) -> bool:
        """Within an epoch's training batches (not before the first, not after the last)."""
        trained = trainer.fit_loop.epoch_loop.batch_progress.current.processed
        return trainer.training and 0 < trained < trainer.num_training_batches

    @staticmethod
    def _dump(trainer: L.Trainer) -> dict[str, Any]:
        """The training state as Lightning checkpoints it, with where it stands (``position``)."""
        state = trainer._checkpoint_connector.dump_checkpoint(weights_only=False)
        trained = trainer.fit_loop.epoch_loop.batch_progress.current.processed
        state["position"] = {"epoch": trainer.current_epoch + 1, "batches": trained, "of": trainer.num_training_batches}
        return state

    def _since_write(self) -> float:
        """Seconds since the last write, or since training started when nothing was written yet (not since
        the clock's origin: a run's first batch is no reason for a checkpoint)."""
        origin = self._written_at if self._written_at is not None else self._started_at
        return time.monotonic() - (origin if origin is not None else time.monotonic())

    def _write(self, trainer: L.Trainer, state: dict[str, Any]) -> None:
        io = trainer.strategy.checkpoint_io
        if self._best_state is not None and not self._best_state.get("written"):
            io.save_checkpoint({k: v for k, v in self._best_state.items() if k != "written"}, self.dir / "best.ckpt")
            self._best_state["written"] = True
        io.save_checkpoint(state, self.dir / "last.ckpt")
        self._pending, self._written_at, self.written_epoch = None, time.monotonic(), state["epoch"] + 1
        if not self._wrote_any:
            self._wrote_any = True
            if self.on_first_write is not None:
                self.on_first_write()


def _copied(state: Any) -> Any:
    """A copy of a checkpoint dict that later training steps cannot change: tensors cloned, containers
    rebuilt (cheaper than ``copy.deepcopy``, whose bookkeeping per tensor would be paid every epoch)."""
    if isinstance(state, torch.Tensor):
        return state.detach().clone()
    if isinstance(state, dict):
        return type(state)((key, _copied(value)) for key, value in state.items())
    if isinstance(state, list):
        return [_copied(value) for value in state]
    if type(state) is tuple:
        return tuple(_copied(value) for value in state)
    return copy.deepcopy(state)
