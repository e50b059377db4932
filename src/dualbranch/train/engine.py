"""The Lightning trainer every run uses (images and signals alike).

One place decides the checkpoints (:mod:`.checkpoints`: the kept epoch by the data kind's validation
metric, e.g. validation accuracy or loss, :mod:`.scoring`; ``last`` to resume from), the epoch
summary, the logger (:mod:`.loggers`), the progress bars and the trainer flags, so an image run,
every fold of a signal run and a forecasting run are trained the same way.
"""

from __future__ import annotations

import logging
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import EarlyStopping, EMAWeightAveraging, TQDMProgressBar

from .callbacks import EpochSummary
from .checkpoint_io import ChecksummedCheckpointIO
from .checkpoints import RunCheckpoints
from .config import RunConfig
from .loggers import make_logger
from .scoring import ACCURACY, StepMetric
from .sections import TrainerSection

__all__ = ["make_trainer", "shows_progress"]


def shows_progress(trainer: TrainerSection) -> bool:
    """Whether progress bars are drawn: ``trainer.progress_bar``, or (null) whether stderr is a terminal, so a
    run piped to a file logs one line per epoch and no bars."""
    return trainer.progress_bar if trainer.progress_bar is not None else sys.stderr.isatty()


class _NoTips(logging.Filter):
    """Lightning logs an advertising tip at the start of every run, and "`Trainer.fit` stopped: ..." at its end
    (onto a progress bar's line, in a terminal); a run's output is for the run, and its epoch lines say it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.getMessage())
        return not (message.startswith("💡") or message.startswith("`Trainer.fit` stopped"))


class _Bars(TQDMProgressBar):
    """Lightning's progress bars without the logger's version number (``v_num=logs``), which says nothing here."""

    def get_metrics(self, trainer: Any, pl_module: Any) -> dict:
        metrics = super().get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)
        return metrics


logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(_NoTips())
# a deprecation inside Lightning's own pytree helper (not ours to fix), printed on every run
warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)", category=Warning)
# a stream (image shards) shares its batches out over the workers itself, so its length is exact
warnings.filterwarnings("ignore", message=r"Your `IterableDataset` has `__len__` defined", category=Warning)


def make_trainer(
    config: RunConfig,
    out_dir: Path,
    callbacks: list | None = None,
    validate: bool = True,
    steps_per_epoch: int | None = None,
    monitor: tuple[str, str] = ("val_acc", "max"),
    metric: StepMetric = ACCURACY,
    on_first_write: Callable[[], None] | None = None,
) -> Any:
    """A ``lightning.Trainer`` writing checkpoints, ``history.jsonl`` and ``logs/`` under ``out_dir``.

    ``validate=False`` trains without a validation set: the model of the last epoch is kept. With one,
    ``monitor`` (logged name, "max" | "min") picks the kept epoch (:mod:`.checkpoints`, which
    ``trainer.checkpoint_callback`` is); ``metric`` is the one the epoch summary records.
    ``steps_per_epoch`` caps the step-logging interval, so a short epoch is still logged (and
    Lightning does not warn about it). ``on_first_write`` runs once the first checkpoint is on disk.
    """
    trainer_cfg = config.trainer
    every: list = [RunCheckpoints(out_dir, config, monitor if validate else None, on_first_write)]
    if validate and config.optim.patience is not None:
        # the papers' early stopping: no better validation score for `patience` epochs in a row ends the run
        # (the kept epoch is still the best one: .checkpoints); checked as validation ends, so the epoch
        # summary that follows notes the stop
        stop = EarlyStopping(
            monitor[0], patience=config.optim.patience, mode=monitor[1], check_on_train_epoch_end=False, verbose=False
        )
        every.append(stop)
    every += [EpochSummary(out_dir, metric), *(callbacks or [])]
    progress = shows_progress(trainer_cfg)
    if progress:
        every.append(_Bars(leave=False))
    if config.optim.ema:
        every.append(EMAWeightAveraging(decay=config.optim.ema_decay))
    return L.Trainer(
        accelerator=trainer_cfg.accelerator,
        devices=trainer_cfg.devices,
        num_nodes=trainer_cfg.num_nodes,
        strategy=trainer_cfg.strategy,
        precision=trainer_cfg.precision,  # type: ignore[arg-type]
        max_epochs=config.optim.epochs,
        max_time=trainer_cfg.max_time,
        gradient_clip_val=config.optim.grad_clip,
        deterministic=trainer_cfg.deterministic,
        logger=make_logger(trainer_cfg.logger, out_dir),
        callbacks=every,
        log_every_n_steps=min(trainer_cfg.log_every_n_steps, steps_per_epoch or trainer_cfg.log_every_n_steps),
        enable_progress_bar=progress,
        enable_model_summary=False,
        use_distributed_sampler=False,  # the datamodule shards by rank itself
        num_sanity_val_steps=0,
        limit_val_batches=None if validate else 0,
        plugins=[ChecksummedCheckpointIO()],  # atomic writes, checksums verified on load
    )
