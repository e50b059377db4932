"""A data kind's own models in the run pipeline: models the kind fits without training (the forecasting
kind's statistical forecasters, :mod:`.kinds.forecast_statistical`), forced by the config or chosen by the
kind's comparison with the trained model (:meth:`~.kinds.DataKind.choose_own_model`)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path

from ..evaluation.protocols import Fold
from ..safe_io import atomic_write_text
from .config import RunConfig
from .kinds import DataKind, FoldEvaluation, RunData
from .recipe import Choice, set_key
from .run_folder import is_primary_process

__all__ = ["compare_own_models", "fit_own_model"]


def compare_own_models(
    config: RunConfig, given: RunConfig, dataset: RunData, fold: Fold, validate: Callable[[Fold], FoldEvaluation]
) -> tuple[Choice, RunConfig | None] | None:
    """The kind's comparison of ``config``'s model with its own models on ``fold`` (printed): the choice, and
    the caller's config ``given`` with it when it makes the run fit one of the kind's models (None: the run
    trains, ``config`` takes the choice). None: the kind compares nothing."""
    kind = config.kind
    chosen = kind.choose_own_model(dataset, config.data, fold, config.model.name, validate)
    if chosen is None:
        return None
    choice = Choice(*chosen)
    print(f"{choice.key} = {choice.value}   ({choice.reason})", flush=True)
    again = copy.deepcopy(given)
    set_key(again, choice.key, choice.value)
    if kind.own_model(again.data) is not None:
        return choice, again
    set_key(config, choice.key, choice.value)
    return choice, None


def fit_own_model(config: RunConfig, kind: DataKind, dataset: RunData, fold: Fold, out: Path) -> None:
    """The kind's own model (no training) fitted on the fold's training part, saved with its preprocessing."""
    out.mkdir(parents=True, exist_ok=True)
    preprocessing = kind.fit_preprocessing(dataset.examples.subset(fold.train), config.data)
    if is_primary_process():
        atomic_write_text(out / "preprocessing.json", json.dumps(preprocessing.to_json()))
        kind.fit_own_model(dataset, fold, config.data, preprocessing, out)
