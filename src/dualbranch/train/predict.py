"""Predictions of a trained run on new inputs, for every data kind and every engine.

The run's data kind reads the inputs (image files, folders or an ``.npz`` of images; an ``.npz`` of
signals; series tables) without labels; each fold's model sees them preprocessed as its training
data was, run by the chosen engine (:data:`PREDICT_ENGINES`, the names of :mod:`dualbranch.engines`,
or ``auto``: the fastest one that agrees with fp32 eager on this machine, :mod:`.engine_auto`). The
kind's scoring (:mod:`.scoring`) makes each fold's outputs comparable (probabilities; forecasts on the
original scale) and writes the rows; a run with several folds predicts the mean over its fold models
(an ensemble of the k models).

``openvino-int8`` is calibrated once per fold on up to 512 of the fold's own training examples and
stored in the run folder (:mod:`.calibrated`): later predictions never read the training data.

Shape legend: n inputs, K classes (or the kind's output shape).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..engine_names import AUTO, OPENVINO_PRECISION, PREDICT_ENGINES, engine_name
from ..engines import build_engine
from ..errors import ConfigError
from ..export import to_openvino
from .calibrated import model_ready_batches, stored_int8
from .engine_auto import SAMPLE_INPUTS, choose_engine
from .evaluate import outputs_of
from .fold_models import FoldModel, load_fold_models
from .kinds import InputPipeline, LoaderInputs, kind_named, stack_items
from .predictions import write_csv

__all__ = ["AUTO", "PREDICT_ENGINES", "predict"]


def _note(line: str) -> None:
    print(line, file=sys.stderr)


@torch.no_grad()
def predict(
    run_dir: str | os.PathLike[str],
    inputs: list[str],
    output: str | os.PathLike[str] | None = None,
    batch_size: int = 256,
    top_k: int = 1,
    engine: str = "eager",
    on_corrupt: str = "error",
    log: Callable[[str], None] = _note,
) -> list[dict[str, object]]:
    """Predict ``inputs`` with a run's models; write a CSV (``output``) and return the rows.

    For classes the columns are ``input``, ``label``/``probability`` (and ``label_2``... with
    ``top_k``), and for up to 20 classes a ``p_<class>`` column per class; other kinds write their
    own (forecasts: ``input``, ``step`` and a column per target variable). ``engine``: one of
    :data:`PREDICT_ENGINES` (the old names ``torch`` and ``int8`` still work, with a note); ``log``
    gets the notes and what ``auto`` chose (default: stderr, so that a CSV on stdout stays clean).

    ``on_corrupt``: an unreadable input stops the run naming every such input ("error"), or is left
    out ("skip"): the skipped inputs are listed on stderr and, with ``output``, in
    ``<output>.skipped.csv`` (input, reason).
    """
    chosen = _predict_engine(engine, log)
    models, record = load_fold_models(run_dir)
    kind = kind_named(record.kind)
    scoring = kind.scoring(record.class_names, record.data)
    names, examples, skipped = kind.read_inputs(inputs, record.to_dict(), on_corrupt)
    if skipped:
        _report_skipped(skipped, output)
    labels = torch.zeros(len(names), dtype=torch.long)
    predictions = []
    for fold in models:
        loader_inputs = kind.loader_inputs(examples, fold.preprocessing, training=False)
        pipeline = kind.input_pipeline(fold.preprocessing, kind.augment_section())
        model = fold.model
        if chosen != "eager":
            engines = _FoldEngines(run_dir, fold, pipeline, _sample(loader_inputs, pipeline, 2), log)
            runner = None
            if chosen == AUTO:  # measured (or read back) on the first fold, used for every fold
                sample = _sample(loader_inputs, pipeline, SAMPLE_INPUTS)
                classes = scoring.num_classes > 0
                chosen, runner = choose_engine(run_dir, fold.model, sample, classes, engines.build, batch_size, log)
            if chosen != "eager":
                model = _Called(runner or engines.build(chosen))
        outputs, _ = outputs_of(model, pipeline, loader_inputs, labels, batch_size)
        predictions.append(scoring.predictions(outputs, fold.preprocessing))
    mean = torch.stack(predictions).mean(dim=0)  # (n, ...): the folds' mean
    rows = scoring.predict_rows(names, mean, top_k)
    if output is not None:
        write_csv(rows, output)
    return rows


def _predict_engine(name: str, log: Callable[[str], None]) -> str:
    if name == AUTO:
        return AUTO
    try:
        name = engine_name(name, note=log)
    except ConfigError:
        raise ConfigError(f"Unknown engine {name!r}; choose from {', '.join(PREDICT_ENGINES)}.") from None
    if name not in PREDICT_ENGINES:
        raise ConfigError(
            f"predict has no engine {name!r}: its calibration is not stored, so every call would read the "
            "training data again; use openvino-int8 (calibrated once, stored in the run) or int8-dynamic."
        )
    return name


def _sample(loader_inputs: LoaderInputs, pipeline: InputPipeline, limit: int) -> torch.Tensor:
    """Up to ``limit`` of the inputs as one model-ready batch (limit, ...): the first two when ``limit``
    is 2 (an example batch), else a seeded random choice (the inputs may be sorted by class)."""
    n = len(loader_inputs)
    if limit >= n or limit == 2:
        index = np.arange(min(limit, n))
    else:
        index = np.sort(np.random.default_rng(0).choice(n, size=limit, replace=False))
    return torch.cat(model_ready_batches(stack_items(loader_inputs, index), pipeline, batch_size=64))


class _FoldEngines:
    """Builds the engines for one fold's model, with one OpenVINO conversion shared by the OpenVINO
    engines and the fold's stored int8 model for ``openvino-int8``."""

    def __init__(self, run_dir: Any, fold: FoldModel, pipeline: InputPipeline, example: torch.Tensor, log: Any):
        self.run_dir, self.fold, self.pipeline, self.example, self.log = run_dir, fold, pipeline, example, log
        self.converted: Any = None

    def build(self, name: str) -> Callable[[torch.Tensor], torch.Tensor]:
        fold, converted = self.fold, None
        if name == "openvino-int8":
            converted, _ = stored_int8(self.run_dir, fold.name, fold.model, fold.preprocessing, self.pipeline, self.log)
        elif name in OPENVINO_PRECISION:
            if self.converted is None:
                self.converted = to_openvino(fold.model)
            converted = self.converted
        return build_engine(name, fold.model, self.example, converted=converted)


def _report_skipped(skipped: list[tuple[str, str]], output: str | os.PathLike[str] | None) -> None:
    """List the inputs left out as unreadable: on stderr, and beside ``output`` when there is one."""
    where = ""
    if output is not None:
        report = Path(f"{output}.skipped.csv")
        write_csv([{"input": path, "reason": reason} for path, reason in skipped], report)
        where = f"; listed in {report}"
    print(f"predict: skipped {len(skipped)} unreadable input(s){where}:", file=sys.stderr)
    for path, reason in skipped:
        print(f"  {path}: {reason}", file=sys.stderr)


class _Called(torch.nn.Module):
    """An engine (any callable on a batch) behind the nn.Module interface ``outputs_of`` uses."""

    def __init__(self, runner: object) -> None:
        super().__init__()
        self.runner = runner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.runner(x)  # type: ignore[operator]
