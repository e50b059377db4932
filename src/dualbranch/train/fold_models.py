"""A finished run's trained models read back: each fold's weights, its preprocessing and the weight config
the weights record, checked to belong together (``test``, ``predict``, ``export`` and benchmarks read them).

A run folder holds, per fold, ``model.safetensors`` (weights and the weight config: input size,
normalisation, crop) and ``preprocessing.json`` (fitted on the fold's training part); ``run.json`` names
the model, its arguments and the data kind (:mod:`.run_folder`). Files from different runs mixed in one
fold folder are named, not silently combined.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from torch import nn

from ..checkpoint import read_weight_config
from ..errors import RunFolderError
from ..factory import create_model
from ..registry import WeightConfig, get_model_entry
from .kinds import kind_named
from .run_folder import RunRecord, fold_dir, read_record

__all__ = ["FoldModel", "load_fold_models"]


@dataclasses.dataclass
class FoldModel:
    """One fold's trained model (eval mode) with its preprocessing and the weight config its weights record."""

    name: str
    model: nn.Module
    preprocessing: Any
    weights: WeightConfig | None = None


def load_fold_models(
    run_dir: str | os.PathLike[str], folds: list[str] | None = None
) -> tuple[list[FoldModel], RunRecord]:
    """Every fold's best model (or those named in ``folds``) with its preprocessing, and the run record."""
    run_dir = Path(run_dir)
    record = read_record(run_dir)
    kind = kind_named(record.kind)
    own = record.model_name in kind.own_models  # a model the kind fitted itself (no weights)
    if not own:
        get_model_entry(record.model_name)  # a clear error for a model this version does not have
    unknown = sorted(set(folds or ()) - set(record.folds))
    if unknown:
        raise RunFolderError(f"{run_dir} has no fold {unknown[0]!r}; its folds are {', '.join(record.folds)}.")
    loaded = []
    for name in folds or record.folds:
        out = fold_dir(run_dir, name)
        if own:
            preprocessing = kind.read_preprocessing(_read_json(out / "preprocessing.json"), record.to_dict())
            loaded.append(FoldModel(name, kind.load_own_model(out, preprocessing, record.to_dict()), preprocessing))
            continue
        if not (out / "model.safetensors").is_file():
            raise RunFolderError(
                f"{out} has no model.safetensors: the run did not finish; resume it with `dualbranch fit --resume`."
            )
        model = create_model(record.model_name, checkpoint_path=str(out / "model.safetensors"), **record.model_args)
        model.eval()  # the weights were loaded strictly
        saved = out / "preprocessing.json"
        values = _read_json(saved) if saved.is_file() else None
        preprocessing = kind.read_preprocessing(values, record.to_dict())
        weights = read_weight_config(out / "model.safetensors")
        if weights is not None:
            _check_fed(out, model, kind.feed(preprocessing), weights)
        loaded.append(FoldModel(name, model, preprocessing, weights))
    return loaded, record


def _check_fed(out: Path, model: nn.Module, fed: dict[str, Any], weights: WeightConfig) -> None:
    """The weights were trained on inputs as the fold's preprocessing makes them (its files belong together)."""
    made = {
        "input_size": tuple(model.input_shape),
        **{k: tuple(v) if isinstance(v, list) else v for k, v in fed.items()},
    }
    differ = [key for key, value in made.items() if value is not None and value != getattr(weights, key)]
    if differ:
        raise RunFolderError(
            f"{out}: model.safetensors records inputs fed otherwise than preprocessing.json and run.json make them "
            f"({', '.join(differ)}): the files come from different runs. Restore the fold folder from one run."
        )


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except ValueError as err:
        raise RunFolderError(f"{path}: not valid JSON ({err}); the run folder is damaged.") from err
