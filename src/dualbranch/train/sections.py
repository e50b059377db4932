"""The sections of a run configuration, each value's valid range declared beside it for pydantic.

A run config has the sections ``model``, ``data``, ``augment``, ``objective``, ``optim``, ``evaluation``,
``trainer`` and ``output``; ``data`` and ``augment`` are the data kind's subclasses of :class:`DataSection` /
:class:`AugmentSection` (:mod:`dualbranch.train.kinds`), so an image run cannot carry signal options. A range is
a pydantic constraint in the field's type (``Annotated[float, Field(ge=0, lt=1, description=...)]``, or a
``Literal`` of the choices), whose description loading (:mod:`.config`) quotes (:func:`expect`) when a value is
out of range; the comment beside a field says what the key means (the configuration reference shows both).
"""

from __future__ import annotations

import sys
import typing
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, ConfigDict, Field

__all__ = [
    "AugmentSection",
    "DataSection",
    "EvaluationSection",
    "ModelSection",
    "ObjectiveSection",
    "OptimSection",
    "OutputSection",
    "TrainerSection",
    "expect",
]

EVALUATION_PROTOCOLS = ("none", "holdout", "kfold", "loso")  # evaluation.protocol (evaluation/protocols.py)
SCHEDULES = ("cosine", "halving")  # optim.schedule (train/task.py)
OPTIMIZERS = ("adamw", "radam")  # optim.optimizer (train/task.py)
SEARCH_KEYS = ("lr", "drop_path_rate")  # what optim.search may choose on validation (train/search.py)

Positive = Annotated[int, Field(ge=1, description="a positive integer")]
NonNegative = Annotated[float, Field(ge=0, description="0 or more")]
Probability = Annotated[float, Field(ge=0, le=1, description="a probability in [0, 1]")]
Strength = Annotated[float, Field(ge=0, allow_inf_nan=False, description="0 (off) or a positive number")]


def expect(hint: Any) -> str:
    """What a valid value of a field declared as ``hint`` is: its description, or a Literal's choices."""
    for part in (hint, *typing.get_args(hint)):
        for meta in getattr(part, "__metadata__", ()):
            if getattr(meta, "description", None):
                return meta.description
        if typing.get_origin(part) is Literal:
            return "one of " + ", ".join(str(choice) for choice in typing.get_args(part))
    return "valid"


def _distinct(values: list) -> list:
    if len(set(values)) != len(values):
        raise ValueError("repeated keys")
    return values


class _Section:
    """Base of every section: validation (pydantic, :mod:`.config`) is strict (``"5"`` is not an integer,
    ``1`` not a boolean) and refuses keys the dataclass does not declare."""

    __pydantic_config__ = ConfigDict(extra="forbid", strict=True)


@dataclass
class ModelSection(_Section):
    name: str = "auto"  # a registered model (`dualbranch models`); auto: chosen from the data (train/recipe.py)
    args: dict[str, Any] = field(default_factory=dict)  # config overrides for create_model
    checkpoint: str | None = None  # weights to start from (.safetensors / .pth)


@dataclass
class DataSection(_Section):
    """Keys every data kind has; a kind's own section subclasses this one."""

    name: str = "fashion_mnist"  # a dataset of some data kind (`dualbranch fit --help` lists them)
    path: str | None = None  # where the data is (a folder or a file), for datasets that need one
    test_path: str | None = None  # a separate test set (else the dataset's own, or none)
    val_ratio: Annotated[float, Field(ge=0, lt=1, description="in [0, 1) (0: no validation, keep the last epoch)")] = (
        0.1
    )
    batch_size: Positive = 128
    eval_batch_size: Positive = 512
    # DataLoader worker processes; null: none for data held in memory, one per CPU core (at most 12) for
    # data made as it is read (photos decoded from files)
    num_workers: Annotated[int | None, Field(ge=0, description="0 or more, or null (automatic)")] = None
    shuffle: bool = True
    # a stratified random subset (quick runs, tests): n training examples, and n of each evaluation split
    limit_train: Positive | None = None
    limit_eval: Positive | None = None


@dataclass
class AugmentSection(_Section):
    """Keys every kind's augmentation has; a kind's own section subclasses this one."""

    label_smoothing: Annotated[float, Field(ge=0, lt=1, description="in [0, 1)")] = 0.1


@dataclass
class ObjectiveSection(_Section):
    """The training objective (:mod:`dualbranch.train.objectives`): its name and its options."""

    name: str = "cross_entropy"
    args: dict[str, Any] = field(default_factory=dict)


@dataclass
class OptimSection(_Section):
    budget: int | str = "auto"  # updates ("4000") or wall time ("15m"), turned into epochs; see train/recipe.py
    epochs: Positive | None = None  # null: from the budget
    # adamw: AdamW (DeiT's recipe); radam: RAdam (Liu et al., ICLR 2020) with the same decoupled weight
    # decay, whose rectified first steps let ShapeFormer's official recipe start at lr 0.05 with no warm-up
    optimizer: Literal[OPTIMIZERS] = "adamw"
    lr: Annotated[float, Field(gt=0, allow_inf_nan=False, description="a positive number")] = 1e-3
    # keys chosen on the validation split with part of the budget, e.g. [lr] (train/search.py)
    search: Annotated[
        list[Literal[SEARCH_KEYS]],
        AfterValidator(_distinct),
        Field(description=f"a list of distinct keys from {', '.join(SEARCH_KEYS)} (e.g. [lr]), or []"),
    ] = field(default_factory=list)
    scale_lr_by_batch: bool = False  # DeiT's rule: lr × global batch / 512
    weight_decay: NonNegative = 0.05
    betas: tuple[float, float] = (0.9, 0.999)
    warmup_epochs: NonNegative | None = None  # null: 5 % of the schedule
    min_lr: NonNegative = 1e-5
    # cosine: warm-up then cosine decay to min_lr (DeiT); halving: the rate halves after each epoch, no
    # warm-up (the forecasting papers' "type1" schedule); auto: the data kind's choice (train/recipe.py)
    schedule: Literal[("auto", *SCHEDULES)] = "auto"
    # stop once the validation score has not improved for this many epochs; null: train every epoch
    patience: Positive | None = None
    grad_clip: Annotated[float | None, Field(gt=0, description="a positive number, or null for none")] = None
    ema: bool = False
    ema_decay: Annotated[float, Field(gt=0, lt=1, description="between 0 and 1 (exclusive)")] = 0.999


@dataclass
class EvaluationSection(_Section):
    """How a run is evaluated: one split (``none``), or a protocol with one model per fold (any kind)."""

    protocol: Literal[EVALUATION_PROTOCOLS] = "none"  # none: the data's own test split
    folds: Annotated[int, Field(ge=2, description="2 or more")] = 5  # kfold: number of stratified folds
    test_fraction: Annotated[float, Field(gt=0, lt=1, description="in (0, 1)")] = 0.2  # holdout: last share per group


@dataclass
class TrainerSection(_Section):
    accelerator: Literal["auto", "cpu", "gpu", "cuda", "mps"] = "auto"
    devices: Positive = 1  # processes (CPU) or GPUs per node
    num_nodes: Positive = 1
    strategy: str = "auto"  # auto | ddp
    # auto: bf16 mixed precision on GPUs, and on CPUs with AMX where it measures faster (train/precision.py)
    precision: Literal["auto", "32-true", "32", "bf16-mixed", "16-mixed", "bf16-true", "16-true", "64-true"] = "auto"
    seed: int = 0
    deterministic: bool = False
    threads: Positive | None = None  # null: all cores
    max_time: str | None = None  # stop after "DD:HH:MM:SS", finishing the epoch cleanly
    log_every_n_steps: Positive = 50
    progress_bar: bool | None = None  # null: progress bars in a terminal, none when the output is piped
    logger: Literal["csv", "tensorboard", "mlflow"] = "csv"  # where metrics go (train/loggers.py)
    # last.ckpt (to resume from) is rewritten after a batch or an epoch once this many seconds passed since
    # the previous write (0: every batch); an interrupted run saves where it stands first (train/checkpoints.py)
    checkpoint_seconds: Strength = 30.0
    # torch.compile the model for training (on a GPU: faster steps after a slow first one); the weights and
    # their names are the same either way
    compile: bool = False

    def shows_progress(self) -> bool:
        """Whether progress bars are drawn: ``progress_bar``, or (null) whether stderr is a terminal, so a
        run piped to a file logs one line per epoch and no bars."""
        return self.progress_bar if self.progress_bar is not None else sys.stderr.isatty()


@dataclass
class OutputSection(_Section):
    root: str = "runs"
    name: str | None = None  # run folder name; default: <model>-<data>-<timestamp>
    overwrite: bool = False  # replace an existing run folder (never done silently)
    report: bool = True
    report_thumbnails: Annotated[int, Field(ge=0, description="0 or more")] = 16
