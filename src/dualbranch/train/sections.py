"""The sections of a run configuration, and :func:`option`, which gives each value its one check.

A run config has the sections ``model``, ``data``, ``augment``, ``objective``, ``optim``,
``evaluation``, ``trainer`` and ``output``. ``data`` and ``augment`` are chosen by the data kind
(:mod:`dualbranch.train.kinds`): each kind subclasses :class:`DataSection` / :class:`AugmentSection`
with its own keys, so an image run cannot carry signal options and vice versa. Every other section is
the same for every kind and lives here.

Each value's valid range is declared once, next to the value, with :func:`option`;
loading (:mod:`dualbranch.train.config`) enforces it for every section alike.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ConfigDict

__all__ = [
    "AugmentSection",
    "DataSection",
    "EvaluationSection",
    "ModelSection",
    "ObjectiveSection",
    "OptimSection",
    "OutputSection",
    "TrainerSection",
    "option",
]

EVALUATION_PROTOCOLS = ("none", "holdout", "kfold", "loso")  # evaluation.protocol (evaluation/protocols.py)
PRECISIONS = ("auto", "32-true", "32", "bf16-mixed", "16-mixed", "bf16-true", "16-true", "64-true")
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps")
SCHEDULES = ("cosine", "halving")  # optim.schedule (train/task.py)
SEARCH_KEYS = ("lr", "drop_path_rate")  # what optim.search may choose on validation (train/search.py)


class _Section:
    """Base of every section: validation (pydantic, :mod:`.config`) refuses keys the dataclass does not declare."""

    __pydantic_config__ = ConfigDict(extra="forbid")


def option(
    default: Any = dataclasses.MISSING,
    check: Callable[[Any], bool] | None = None,
    expect: str = "",
    factory: Callable[[], Any] | None = None,
) -> Any:
    """A config field whose value must satisfy ``check``; ``expect`` says what a valid value is."""
    metadata = {"check": check, "expect": expect} if check is not None else {}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


def one_of(*choices: Any) -> tuple[Callable[[Any], bool], str]:
    """``check`` and ``expect`` of a value that must be one of ``choices``."""
    return (lambda v: v in choices), "one of " + ", ".join(str(c) for c in choices)


positive = (lambda v: v >= 1), "a positive integer"
non_negative = (lambda v: v >= 0), "0 or more"
probability = (lambda v: 0 <= v <= 1), "a probability in [0, 1]"
finite_non_negative = (lambda v: 0 <= v < float("inf")), "0 (off) or a positive number"


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
    val_ratio: float = option(0.1, lambda v: 0 <= v < 1, "in [0, 1) (0: no validation, keep the last epoch)")
    batch_size: int = option(128, *positive)
    eval_batch_size: int = option(512, *positive)
    # DataLoader worker processes; null: none for data held in memory, one per CPU core (at most 12) for
    # data made as it is read (photos decoded from files)
    num_workers: int | None = option(None, lambda v: v is None or v >= 0, "0 or more, or null (automatic)")
    shuffle: bool = True
    # a stratified random subset (quick runs, tests): n training examples, and n of each evaluation split
    limit_train: int | None = option(None, lambda v: v is None or v >= 1, "a positive integer, or null for all")
    limit_eval: int | None = option(None, lambda v: v is None or v >= 1, "a positive integer, or null for all")


@dataclass
class AugmentSection(_Section):
    """Keys every kind's augmentation has; a kind's own section subclasses this one."""

    label_smoothing: float = option(0.1, lambda v: 0 <= v < 1, "in [0, 1)")


@dataclass
class ObjectiveSection(_Section):
    """The training objective (:mod:`dualbranch.train.objectives`): its name and its options."""

    name: str = "cross_entropy"
    args: dict[str, Any] = field(default_factory=dict)


@dataclass
class OptimSection(_Section):
    budget: int | str = "auto"  # updates ("4000") or wall time ("15m"), turned into epochs; see train/recipe.py
    epochs: int | None = option(None, lambda v: v is None or v >= 1, "a positive integer, or null (from the budget)")
    lr: float = option(1e-3, lambda v: 0 < v < float("inf"), "a positive number")
    # keys chosen on the validation split with part of the budget, e.g. [lr] (train/search.py)
    search: list[str] = option(  # noqa: RUF009 (option returns a field with a default_factory)
        check=lambda v: len(set(v)) == len(v) and set(v) <= set(SEARCH_KEYS),
        expect="a list of distinct keys from " + ", ".join(SEARCH_KEYS) + " (e.g. [lr]), or []",
        factory=list,
    )
    scale_lr_by_batch: bool = False  # DeiT's rule: lr × global batch / 512
    weight_decay: float = option(0.05, *non_negative)
    betas: tuple[float, float] = (0.9, 0.999)
    warmup_epochs: float | None = option(
        None, lambda v: v is None or v >= 0, "0 or more, or null (5 % of the schedule)"
    )
    min_lr: float = option(1e-5, *non_negative)
    # cosine: warm-up then cosine decay to min_lr (DeiT); halving: the rate halves after each epoch, no
    # warm-up (the forecasting papers' "type1" schedule); auto: the data kind's choice (train/recipe.py)
    schedule: str = option("auto", *one_of("auto", *SCHEDULES))
    # stop once the validation score has not improved for this many epochs; null: train every epoch
    patience: int | None = option(None, lambda v: v is None or v >= 1, "a positive integer, or null for none")
    grad_clip: float | None = option(None, lambda v: v is None or v > 0, "a positive number, or null for none")
    ema: bool = False
    ema_decay: float = option(0.999, lambda v: 0 < v < 1, "between 0 and 1 (exclusive)")


@dataclass
class EvaluationSection(_Section):
    """How a run is evaluated: one split (``none``), or a protocol with one model per fold (any kind)."""

    protocol: str = option("none", *one_of(*EVALUATION_PROTOCOLS))  # none: the data's own test split
    folds: int = option(5, lambda v: v >= 2, "2 or more")  # kfold: number of stratified folds
    test_fraction: float = option(0.2, lambda v: 0 < v < 1, "in (0, 1)")  # holdout: last share per group


@dataclass
class TrainerSection(_Section):
    accelerator: str = option("auto", *one_of(*ACCELERATORS))
    devices: int = option(1, *positive)  # processes (CPU) or GPUs per node
    num_nodes: int = option(1, *positive)
    strategy: str = "auto"  # auto | ddp
    # auto: bf16 mixed precision on GPUs, and on CPUs with AMX where it measures faster (train/precision.py)
    precision: str = option("auto", *one_of(*PRECISIONS))
    seed: int = 0
    deterministic: bool = False
    threads: int | None = option(None, lambda v: v is None or v >= 1, "a positive integer, or null for all cores")
    max_time: str | None = None  # stop after "DD:HH:MM:SS", finishing the epoch cleanly
    log_every_n_steps: int = option(50, *positive)
    progress_bar: bool | None = None  # null: progress bars in a terminal, none when the output is piped
    logger: str = option("csv", *one_of("csv", "tensorboard", "mlflow"))  # where metrics go (train/loggers.py)
    # last.ckpt (to resume from) is rewritten after a batch or an epoch once this many seconds passed since
    # the previous write (0: every batch); an interrupted run saves where it stands first (train/checkpoints.py)
    checkpoint_seconds: float = option(30.0, *finite_non_negative)
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
    report_thumbnails: int = option(16, *non_negative)
