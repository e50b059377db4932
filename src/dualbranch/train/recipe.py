"""A training recipe that fits the data: what the config leaves open is chosen from the data's kind,
shape and size, printed at the start of the run and stored in the run folder (``recipe.json``).

Nothing the user set is changed: a key given in the config file or on the command line is kept, and
only keys left at their defaults are chosen here. The choices:

* **model** (``model.name: auto``): the data kind picks a model that suits the data's shape (e.g. a
  convolutional dual-branch model for small images, RocketFormer for series that are not EEG-like);
* **schedule** (``optim.schedule``: warm-up + cosine unless the kind chooses otherwise, e.g.
  forecasting's halving rate, at most 10 epochs and early stopping; ``optim.budget``, :mod:`.budget`):
  ``auto`` comes from the data (about 30 epochs, 2,000 to 6,000 updates, at most 41 T multiply-adds of
  training: never a timing, so a run is the same on any machine), or a number of updates (``4000``), or
  a wall time (``15m``, ``1h``, ``90s``: the updates that fit, from a short measurement of the training
  step), turned into epochs; the warm-up is 5 % of it. With ``optim.search`` (:mod:`.search`) the final
  run gets 70 % of the updates and the trials the rest;
* **batch size**: 128, smaller for small training sets (about an eighth of them, at least 8), so a
  small set still gets enough updates;
* **regularisation** scales with the number of training examples (stochastic depth);
* **augmentation** suits the data (the kind decides: e.g. translation a small fraction of the image,
  flips only where mirror images keep their class, since they change handwriting and digits into other
  classes; Mixup for series that are not EEG-like).

Shape legend: none (this module handles configs, not tensors).
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..checkpoint import read_weight_config
from ..errors import ConfigError
from .budget import auto_updates
from .config import RunConfig
from .kinds import DataKind, RunData

__all__ = [
    "SEARCH_SHARE",
    "WARMUP_SHARE",
    "Choice",
    "Recipe",
    "parse_budget",
    "resolve_recipe",
    "resolve_validation",
    "set_key",
]

MEASURED = "the updates that fit, measured at the start of the run"
STEP_SHARE = 0.9  # of a wall-time budget, for the updates; the rest for evaluation and the final test
ACTIVATION_BUDGET = 2e9  # bytes of saved activations a training batch may keep (train/memory.py)
SMALL_SET = 1000  # fewer training examples than this: no validation split (see resolve_validation)
WARMUP_SHARE = 0.05
SEARCH_SHARE = 0.3  # of the budget, for optim.search's trials (train/search.py); the final run keeps the rest
_TIME_UNITS = {"s": 1, "m": 60, "h": 3600}


@dataclass(frozen=True)
class Choice:
    """One recipe decision: a dotted config key, its value, and why."""

    key: str
    value: Any
    reason: str


@dataclass
class Recipe:
    """The decisions of a run, in order, and the budget they came from."""

    budget: str
    choices: list[Choice] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps({"budget": self.budget, "choices": [dataclasses.asdict(c) for c in self.choices]}, indent=2)

    def describe(self) -> str:
        """The recipe in a few lines, for the start of a run."""
        lines = [f"recipe (budget {self.budget}; set any key yourself to override it):"]
        lines += [f"  {c.key} = {c.value}   ({c.reason})" for c in self.choices]
        return "\n".join(lines)


def parse_budget(text: str) -> tuple[str, float]:
    """``"auto"`` -> ("auto", 0); ``"4000"`` / ``"4000 steps"`` -> ("steps", 4000); ``"15m"`` -> ("seconds", 900)."""
    text = str(text).strip().lower()
    if text == "auto":
        return "auto", 0.0
    if match := re.fullmatch(r"(\d+)\s*(steps?|updates?)?", text):
        return "steps", float(match.group(1))
    if match := re.fullmatch(r"(\d+(?:\.\d+)?)\s*([smh])", text):
        return "seconds", float(match.group(1)) * _TIME_UNITS[match.group(2)]
    raise ConfigError(
        f"optim.budget: {text!r} is not a budget; give auto, a number of updates (4000 or '4000 steps') or a "
        "wall time ('15m', '1h', '90s')."
    )


def _is_set(config: RunConfig, key: str) -> bool:
    """Whether the user set ``key`` (a dotted config key): named in the config file or on the command line
    (``config.explicit``, from ``load_config``), or changed from its default in Python."""
    if key.startswith("model.args."):
        return key.removeprefix("model.args.") in config.model.args
    section, _, name = key.partition(".")
    (default,) = [f for f in dataclasses.fields(getattr(config, section)) if f.name == name]
    value = default.default if default.default is not dataclasses.MISSING else default.default_factory()  # type: ignore[misc]
    return key in getattr(config, "explicit", frozenset()) or getattr(getattr(config, section), name) != value


def set_key(config: RunConfig, key: str, value: Any) -> None:
    """Set the dotted config ``key`` (``optim.lr``, ``model.args.drop_path_rate``) to ``value``."""
    section, _, name = key.partition(".")
    if section == "model" and name.startswith("args."):
        config.model.args[name.removeprefix("args.")] = value
    else:
        setattr(getattr(config, section), name, value)


FINETUNE_LR_SHARE = 0.1  # fine-tuning starts from trained weights: a tenth of the from-scratch learning rate


def _finetuning(config: RunConfig, kind: DataKind, choose: Callable[[str, Any, str], None]) -> None:
    """A run that starts from ``model.checkpoint``: its inputs fed as the checkpoint's weight config says
    (size, normalisation, crop: the kind's :meth:`~.kinds.DataKind.fed_as`), and a lower learning rate; the
    classifier is new (pipeline: load_for_finetuning)."""
    name = Path(str(config.model.checkpoint)).name
    model = config.model.name if config.model.name != "auto" else None
    weights = read_weight_config(str(config.model.checkpoint), model)
    for key, value in (kind.fed_as(weights) if weights is not None else {}).items():
        choose(f"data.{key}", value, f"as {name} was trained")
    lr = config.optim.lr * FINETUNE_LR_SHARE
    choose("optim.lr", lr, f"fine-tuning {name}: a tenth of the from-scratch rate")


def resolve_validation(config: RunConfig, n_available: int, has_test: bool) -> Choice | None:
    """Below ``SMALL_SET`` training examples, train on all of them and keep the last epoch: a
    validation split of a few examples cannot pick an epoch (its first 100 % would win), and the
    cosine schedule already ends at a small learning rate. Decided before the folds are made; a run
    without a test split of its own (``has_test`` False, protocol none) keeps scoring on validation."""
    tested = has_test or config.evaluation.protocol != "none"
    # optim.search chooses on the validation split: asked for, it keeps one whatever the size
    if n_available >= SMALL_SET or _is_set(config, "data.val_ratio") or not tested or config.optim.search:
        return None
    config.data.val_ratio = 0.0
    return Choice("data.val_ratio", 0.0, f"{n_available} examples to train on: all of them, keeping the last epoch")


def resolve_recipe(
    config: RunConfig,
    kind: DataKind,
    dataset: RunData,
    n_train: int,
    model_fields: Callable[[str], set[str]],
    step_rate: Callable[[RunConfig], float] | None = None,
    macs_per_example: Callable[[RunConfig], float] | None = None,
    early: tuple[Choice, ...] = (),
    activation_bytes: Callable[[RunConfig], int | None] | None = None,
    precision: Callable[[RunConfig], tuple[str, str]] | None = None,
) -> Recipe:
    """Fill in what ``config`` leaves open (in place) and return the decisions.

    ``model_fields(name)`` gives a model's option names (a recipe sets only options the model has);
    ``step_rate(config)`` measures training updates per second, for wall-time budgets only;
    ``macs_per_example(config)`` counts the model's forward multiply-adds on one example, for the
    ``auto`` budget's compute cap (:mod:`.budget`; without it, no cap); ``early`` are choices made
    before the folds (:func:`resolve_validation`), listed first.
    """
    recipe = Recipe(config.optim.budget, list(early))
    recipe.choices += [Choice(key, value, reason) for key, value, reason in dataset.decided]

    if config.model.name == "auto":
        name, reason = kind.default_model(dataset)
        config.model.name = name
        recipe.choices.append(Choice("model.name", name, reason))
    fields = model_fields(config.model.name)

    def choose(key: str, value: Any, reason: str) -> None:
        # a model option only for a model that has it (DBConformer has no global_pool, say)
        option = key.removeprefix("model.args.") if key.startswith("model.args.") else None
        if key == "optim.epochs" and _is_set(config, "optim.budget"):
            return  # a budget the user gave decides the epochs, not a kind's epoch count
        if not _is_set(config, key) and (option is None or option in fields):
            set_key(config, key, value)
            recipe.choices.append(Choice(key, value, reason))

    if config.model.checkpoint is not None:
        _finetuning(config, kind, choose)
    # the kind's choices first: the input size they may set decides the activations a batch keeps
    for key, value, reason in kind.recipe(dataset, n_train, config.model.name):
        choose(key, value, reason)
    batch = 128 if n_train >= 1024 else max(8, 2 ** round(math.log2(max(n_train, 1) / 8)))
    why = f"{n_train} training examples" + ("" if batch == 128 else ": about 1/8 of them")
    kept = activation_bytes(config) if activation_bytes is not None and not _is_set(config, "data.batch_size") else None
    if kept and batch * kept > ACTIVATION_BUDGET:
        # a batch whose activations fit in memory: as many multiples of 8 as the budget holds
        fits = int(ACTIVATION_BUDGET // kept)
        batch = max(1, 8 * (fits // 8) if fits >= 8 else fits)
        why += f"; {batch} keep {batch * kept / 1e9:.1f} GB of activations ({kept / 1e6:.0f} MB per example)"
    choose("data.batch_size", batch, why)
    # fewer examples, more regularisation: stochastic depth doubles below 20,000 training examples
    # (the measurements behind it: docs/recipes.md, "The measurements behind the choices")
    rate = 0.1 if n_train < 20000 else 0.05
    choose("model.args.drop_path_rate", rate, f"stochastic depth for {n_train} training examples")
    global_batch = config.data.batch_size * config.trainer.devices * config.trainer.num_nodes
    steps_per_epoch = max(1, -(-n_train // global_batch))
    if config.optim.epochs is None:
        unit, amount = parse_budget(config.optim.budget)
        if unit == "auto":
            macs = macs_per_example(config) if macs_per_example is not None else 0.0
            updates, why = auto_updates(steps_per_epoch, global_batch, macs)
        elif unit == "steps":
            updates, why = int(amount), f"budget of {int(amount)} updates"
        elif step_rate is None:  # nothing measured (--print-config): the epochs stay open
            recipe.choices.append(Choice("optim.epochs", None, f"budget {config.optim.budget}: {MEASURED}"))
            return recipe
        else:
            rate = step_rate(config)
            updates = max(1, int(STEP_SHARE * amount * rate))
            why = f"budget {config.optim.budget}: {rate:.1f} updates/s measured -> {updates} updates"
        if config.optim.search:
            updates = max(1, round((1 - SEARCH_SHARE) * updates))
            why += f"; {1 - SEARCH_SHARE:.0%} of them for the final run, the rest for optim.search"
        epochs = max(1, round(updates / steps_per_epoch))
        config.optim.epochs = epochs
        recipe.choices.append(Choice("optim.epochs", epochs, f"{why}; {steps_per_epoch} updates per epoch"))
    for key, value, reason in kind.schedule_recipe(dataset, config.optim.epochs):
        choose(key, value, reason)
    if config.optim.schedule == "auto":
        config.optim.schedule = "cosine"
        recipe.choices.append(Choice("optim.schedule", "cosine", "warm-up, then cosine decay to optim.min_lr"))
    if config.trainer.precision == "auto":
        value, reason = precision(config) if precision is not None else ("32-true", "full precision")
        config.trainer.precision = value
        recipe.choices.append(Choice("trainer.precision", value, reason))
    if config.optim.warmup_epochs is None:
        warmup = round(WARMUP_SHARE * config.optim.epochs, 3)
        config.optim.warmup_epochs = warmup
        recipe.choices.append(Choice("optim.warmup_epochs", warmup, "5 % of the schedule"))
    return recipe
