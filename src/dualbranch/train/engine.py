"""The Lightning trainer every run uses (images and signals alike), and restoring its best weights.

One place decides the checkpoints (``best`` by the data kind's validation metric, e.g. validation
accuracy or loss: :mod:`.scoring`; ``last`` to resume from), the epoch summary, the logger and the
trainer flags, so an image run, every fold of a signal run and a forecasting run are trained the same
way.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

from torch import nn

from .checkpoint_io import ChecksummedCheckpointIO, load_training_checkpoint
from .config import RunConfig
from .scoring import ACCURACY, StepMetric

__all__ = ["make_trainer", "restore_best"]


class _NoTips(logging.Filter):
    """Lightning logs an advertising tip at the start of every run; a run's output is for the run."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.getMessage()).startswith("💡")


logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(_NoTips())
# a deprecation inside Lightning's own pytree helper (not ours to fix), printed on every run
warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)", category=Warning)


def make_trainer(
    config: RunConfig,
    out_dir: Path,
    callbacks: list | None = None,
    validate: bool = True,
    steps_per_epoch: int | None = None,
    monitor: tuple[str, str] = ("val_acc", "max"),
    metric: StepMetric = ACCURACY,
) -> Any:
    """A ``lightning.Trainer`` writing checkpoints, ``history.jsonl`` and ``logs/`` under ``out_dir``.

    ``validate=False`` trains without a validation set: no ``best`` checkpoint is kept, so the
    model of the last epoch is the result. ``steps_per_epoch`` caps the step-logging interval, so a
    short epoch is still logged (and Lightning does not warn about it). ``monitor`` (logged name,
    "max" | "min") picks the ``best`` checkpoint; ``metric`` is the one the epoch summary records.
    """
    import lightning as L
    from lightning.pytorch.callbacks import EMAWeightAveraging, ModelCheckpoint, TQDMProgressBar
    from lightning.pytorch.loggers import CSVLogger

    from .callbacks import EpochSummary

    trainer_cfg = config.trainer
    checkpoints = out_dir / "checkpoints"
    every: list = []
    if validate:
        every.append(ModelCheckpoint(checkpoints, filename="best", monitor=monitor[0], mode=monitor[1]))
    every += [
        # a separate "latest" checkpoint, rewritten after every epoch, to resume from
        ModelCheckpoint(checkpoints, filename="last", save_on_train_epoch_end=True, enable_version_counter=False),
        EpochSummary(out_dir, metric),
        *(callbacks or []),
    ]
    if trainer_cfg.progress_bar:
        every.append(TQDMProgressBar(leave=False))
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
        logger=CSVLogger(out_dir, name="", version="logs"),
        callbacks=every,
        log_every_n_steps=min(trainer_cfg.log_every_n_steps, steps_per_epoch or trainer_cfg.log_every_n_steps),
        enable_progress_bar=trainer_cfg.progress_bar,
        enable_model_summary=False,
        use_distributed_sampler=False,  # the datamodule shards by rank itself
        num_sanity_val_steps=0,
        limit_val_batches=None if validate else 0,
        plugins=[ChecksummedCheckpointIO()],  # atomic writes, checksums verified on load
    )


def restore_best(task: nn.Module, out_dir: Path) -> bool:
    """Load ``checkpoints/best.ckpt`` into ``task`` when there is one; True if it was loaded."""
    best = out_dir / "checkpoints" / "best.ckpt"
    if not best.is_file():
        return False
    task.load_state_dict(load_training_checkpoint(best)["state_dict"])
    return True
