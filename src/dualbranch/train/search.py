"""Choosing on the validation split within the budget: ``optim.search``.

What the recipe (:mod:`.recipe`) cannot read from the data's shape and size — how large a learning
rate suits this data, how much stochastic depth — can be chosen by trying it. ``optim.search: [lr]``
(or ``[lr, drop_path_rate]``) spends :data:`SEARCH_SHARE` of the run's updates on short trials and the
rest on the final run:

* each key in turn gets three candidates around its value (the learning rate ÷3, ×1, ×3; stochastic
  depth 0, ×1, ×2), the keys searched before it fixed at their winners;
* each trial is a miniature of the real run — the same data, fold, seed, model and recipe, its own
  warm-up and cosine schedule compressed into ``SEARCH_SHARE / trials`` of the updates — trained on the
  first fold's training part and scored on its validation part (the run's monitored metric, best epoch);
* the winners are set in the config, written to ``recipe.json`` with every trial's score, and printed.

A search needs a validation split, so with ``optim.search`` the recipe keeps one even below 1,000
training examples; ``data.val_ratio=0`` set by hand leaves nothing to choose on, which is an error.

Shape legend: none (this module handles configs, not tensors).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import ConfigError
from .config import RunConfig
from .recipe import SEARCH_SHARE, WARMUP_SHARE, Choice, set_key

__all__ = ["SEARCHABLE", "Searchable", "Trial", "run_search"]


def _lr_candidates(config: RunConfig) -> list[float]:
    return [config.optim.lr / 3, config.optim.lr, config.optim.lr * 3]


def _drop_path_candidates(config: RunConfig) -> list[float]:
    rate = float(config.model.args.get("drop_path_rate", 0.1)) or 0.1
    return [0.0, rate, min(2 * rate, 0.5)]


@dataclass(frozen=True)
class Searchable:
    """A key ``optim.search`` may name: its dotted config key and its candidates given the config."""

    key: str
    candidates: Callable[[RunConfig], list[float]]


SEARCHABLE = {
    "lr": Searchable("optim.lr", _lr_candidates),
    "drop_path_rate": Searchable("model.args.drop_path_rate", _drop_path_candidates),
}


@dataclass(frozen=True)
class Trial:
    """One tried value and its best validation score."""

    value: float
    score: float


def run_search(
    config: RunConfig,
    has_validation: bool,
    model_fields: Callable[[str], set[str]],
    trial: Callable[[RunConfig], float],
    maximize: bool,
) -> list[Choice]:
    """Try the candidates of every key in ``config.optim.search``, set the winners in ``config`` (in place)
    and return one :class:`Choice` per key.

    ``config.optim.epochs`` is the final run's length (the recipe has already kept ``SEARCH_SHARE`` of
    the budget aside); each trial gets its share of the updates the search may spend. ``trial(config)``
    trains one miniature run and returns its best validation score, higher is better if ``maximize``;
    ``model_fields(name)`` gives a model's option names (asked only when stochastic depth is searched).
    """
    keys = list(config.optim.search)
    if not keys:
        return []
    if not has_validation:
        raise ConfigError(
            f"optim.search={keys} chooses on the validation split, but this run has none (data.val_ratio=0); "
            "set data.val_ratio (e.g. 0.2) or drop optim.search."
        )
    if config.trainer.devices * config.trainer.num_nodes > 1:
        raise ConfigError("optim.search runs its trials in one process; search with trainer.devices=1, then train.")
    if "drop_path_rate" in keys and "drop_path_rate" not in model_fields(config.model.name):
        raise ConfigError(
            f"optim.search names drop_path_rate, but model.name={config.model.name} has no such option; "
            "search lr only, or choose a model with stochastic depth."
        )
    n_trials = 3 * len(keys)
    # the final run has (1 - share) of the updates; the trials share the rest equally
    search_epochs = config.optim.epochs * SEARCH_SHARE / (1 - SEARCH_SHARE)
    trial_epochs = max(1, round(search_epochs / n_trials))
    choices = []
    for name in keys:
        searchable = SEARCHABLE[name]
        trials = []
        for value in searchable.candidates(config):
            candidate = copy.deepcopy(config)
            set_key(candidate, searchable.key, value)
            candidate.optim.epochs = trial_epochs
            candidate.optim.warmup_epochs = round(WARMUP_SHARE * trial_epochs, 3)
            trials.append(Trial(value, trial(candidate)))
            print(f"search {searchable.key} = {value:.3g}: validation {trials[-1].score:.4f}", flush=True)
        best = (max if maximize else min)(trials, key=lambda t: t.score)
        set_key(config, searchable.key, best.value)
        tried = ", ".join(f"{t.value:.3g}: {t.score:.4f}" for t in trials)
        reason = f"chosen on validation, {trial_epochs}-epoch trials ({tried})"
        choices.append(Choice(searchable.key, best.value, reason))
    return choices
