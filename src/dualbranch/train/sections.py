"""The sections of a run configuration, each value's valid range declared beside it for pydantic (strict, no
undeclared keys: :class:`~dualbranch.train.config.RunConfig`'s settings, which every section inherits).

A range is a constraint in the field's type (``Field(ge=0, description=...)`` or a ``Literal``) that errors and the
configuration reference quote (:func:`expect`); the comment beside a field says what the key means. ``data`` and
``augment`` are the data kind's subclasses of :class:`DataSection` / :class:`AugmentSection` (:mod:`.kinds`).
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field

__all__ = ["AugmentSection", "DataSection", "EvaluationSection", "ModelSection", "ObjectiveSection", "OptimSection",
           "OutputSection", "TrainerSection", "expect"]  # fmt: skip

EVALUATION_PROTOCOLS = ("none", "holdout", "kfold", "loso")  # evaluation.protocol (evaluation/protocols.py)
SEARCH_KEYS = ("lr", "drop_path_rate")  # what optim.search may choose on validation (train/search.py)

Positive = Annotated[int, Field(ge=1, description="a positive integer")]
NonNegative = Annotated[float, Field(ge=0, description="0 or more")]
Probability = Annotated[float, Field(ge=0, le=1, description="a probability in [0, 1]")]
Strength = Annotated[float, Field(ge=0, allow_inf_nan=False, description="0 (off) or a positive number")]
_TYPES = {int: "an integer", bool: "true or false", float: "a number", str: "a string", dict: "a mapping",
          list: "a list"}  # fmt: skip


def expect(hint: Any, index: tuple[int, ...] = ()) -> str:
    """What a valid value of a field declared as ``hint`` is, in words: the description of its constraint, a
    Literal's choices, or its type (``int | str``: an integer or a string); of its item at ``index`` if given."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Annotated:
        described = [meta.description for meta in hint.__metadata__ if getattr(meta, "description", None)]
        return described[0] if described else expect(args[0], index)
    if origin is Literal:
        return "one of " + ", ".join(str(choice) for choice in args)
    if origin in (typing.Union, types.UnionType):  # null goes unsaid: a description says where it is allowed
        return " or ".join(dict.fromkeys(words for arg in args if (words := expect(arg, index))))
    if index:  # an item of a list or tuple
        return expect(args[index[0]] if origin is tuple else args[0], index[1:]) if args else ""
    return f"a list of {len(args)} values" if origin is tuple else _TYPES.get(origin or hint, "")


def _distinct(values: list) -> list:
    if len(set(values)) != len(values):
        raise ValueError("repeated keys")
    return values


@dataclass
class ModelSection:
    name: str = "auto"  # a registered model (`dualbranch models`); auto: chosen from the data (train/recipe.py)
    args: dict[str, Any] = field(default_factory=dict)  # config overrides for create_model
    checkpoint: str | None = None  # weights to start from (.safetensors / .pth)


@dataclass
class DataSection:
    """Keys every data kind has; a kind's own section subclasses this one."""

    name: str = "fashion_mnist"  # a dataset of some data kind (`dualbranch fit --help` lists them)
    path: str | None = None  # where the data is (a folder or a file), for datasets that need one
    test_path: str | None = None  # a separate test set (else the dataset's own, or none)
    val_ratio: Annotated[float, Field(ge=0, lt=1, description="in [0, 1) (0: no validation, keep the last epoch)")] = (
        0.1
    )
    batch_size: Positive = 128
    eval_batch_size: Positive = 512
    # DataLoader workers; null: none for data in memory, one per core (≤ 12) for data made as it is read (photos)
    num_workers: Annotated[int | None, Field(ge=0, description="0 or more, or null (automatic)")] = None
    shuffle: bool = True
    # a stratified random subset (quick runs, tests): n training examples, and n of each evaluation split
    limit_train: Positive | None = None
    limit_eval: Positive | None = None


@dataclass
class AugmentSection:
    """Keys every kind's augmentation has; a kind's own section subclasses this one."""

    label_smoothing: Annotated[float, Field(ge=0, lt=1, description="in [0, 1)")] = 0.1


@dataclass
class ObjectiveSection:
    """The training objective (:mod:`dualbranch.train.objectives`): its name and its options."""

    name: str = "cross_entropy"
    args: dict[str, Any] = field(default_factory=dict)


@dataclass
class OptimSection:
    budget: int | str = "auto"  # updates ("4000") or wall time ("15m"), turned into epochs; see train/recipe.py
    epochs: Positive | None = None  # null: from the budget
    # adamw (DeiT's recipe) or radam (Liu et al., ICLR 2020; ShapeFormer's official recipe), decoupled decay
    optimizer: Literal["adamw", "radam"] = "adamw"
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
    # cosine: warm-up then cosine decay to min_lr (DeiT); halving: the rate halves after each epoch, no warm-up
    # (the forecasting papers' "type1"; both in train/task.py); auto: the data kind's choice (train/recipe.py)
    schedule: Literal["auto", "cosine", "halving"] = "auto"
    # stop once the validation score has not improved for this many epochs; null: train every epoch
    patience: Positive | None = None
    grad_clip: Annotated[float | None, Field(gt=0, description="a positive number, or null for none")] = None
    ema: bool = False
    ema_decay: Annotated[float, Field(gt=0, lt=1, description="between 0 and 1 (exclusive)")] = 0.999


@dataclass
class EvaluationSection:
    """How a run is evaluated: one split (``none``), or a protocol with one model per fold (any kind)."""

    protocol: Literal[EVALUATION_PROTOCOLS] = "none"  # none: the data's own test split
    folds: Annotated[int, Field(ge=2, description="2 or more")] = 5  # kfold: number of stratified folds
    test_fraction: Annotated[float, Field(gt=0, lt=1, description="in (0, 1)")] = 0.2  # holdout: last share per group


@dataclass
class TrainerSection:
    accelerator: Literal["auto", "cpu", "gpu", "cuda", "mps"] = "auto"
    devices: Positive = 1  # processes (CPU) or GPUs per node
    num_nodes: Positive = 1
    strategy: str = "auto"  # auto | ddp
    # auto: bf16 mixed precision on GPUs, and on CPUs with AMX where it measures faster (train/precision.py)
    precision: Literal["auto", "32-true", "32", "bf16-mixed", "16-mixed", "bf16-true", "16-true", "64-true"] = "auto"
    seed: Annotated[int, Field(ge=0, le=2**32 - 1, description="an integer in [0, 2**32 - 1]")] = 0  # numpy's seeds
    deterministic: bool = False
    threads: Positive | None = None  # null: all cores
    max_time: str | None = None  # stop after "DD:HH:MM:SS", finishing the epoch cleanly
    log_every_n_steps: Positive = 50
    progress_bar: bool | None = None  # null: progress bars in a terminal, none when the output is piped
    logger: Literal["csv", "tensorboard", "mlflow"] = "csv"  # where metrics go (train/loggers.py)
    # last.ckpt (to resume from) is rewritten after a batch or an epoch once this many seconds passed since
    # the previous write (0: every batch); an interrupted run saves where it stands first (train/checkpoints.py)
    checkpoint_seconds: Strength = 30.0
    # torch.compile the model for training (GPU: faster steps after a slow first one); weights and names unchanged
    compile: bool = False


@dataclass
class OutputSection:
    root: str = "runs"
    name: str | None = None  # run folder name; default: <model>-<data>-<timestamp>
    overwrite: bool = False  # replace an existing run folder (never done silently)
    report: bool = True
    report_thumbnails: Annotated[int, Field(ge=0, description="0 or more")] = 16
