"""Predictions of a trained run on new inputs, for every data kind and every engine.

The run's data kind reads the inputs (image files, folders or an ``.npz`` of images; an ``.npz`` of
signals; series tables) without labels; each fold's model sees them preprocessed as its training
data was, run by the chosen engine (``torch``, ``onnx``, ``int8``, ``openvino``, ``openvino-int8``:
:mod:`dualbranch.engines`). The kind's scoring (:mod:`.scoring`) makes each fold's outputs
comparable (probabilities; forecasts on the original scale) and writes the rows; a run with several
folds predicts the mean over its fold models (an ensemble of the k models).

``openvino-int8`` is calibrated on up to 512 of the fold's own training examples (chosen at random
with the run's seed), prepared exactly like the model's input: the run folder's ``config.yaml`` says
where the data is and which examples each fold trained on.

Shape legend: n inputs, K classes (or the kind's output shape).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..engines import CALIBRATED, build_engine
from ..errors import ConfigError, RunFolderError
from .config import load_config
from .evaluate import batches_of, outputs_of
from .kinds import InputPipeline, kind_named, stack_items
from .pipeline import folds_of, load_fold_models
from .predictions import write_csv

__all__ = ["CALIBRATION_EXAMPLES", "PREDICT_ENGINES", "calibration_batches", "predict"]

# `predict --engine` names -> dualbranch.engines names
PREDICT_ENGINES = {
    "torch": "eager",
    "onnx": "onnx",
    "int8": "int8-dynamic",
    "openvino": "openvino",
    "openvino-int8": "openvino-int8",
}
CALIBRATION_EXAMPLES = 512  # training examples a calibrated engine sees; NNCF's default is 300


@torch.no_grad()
def predict(
    run_dir: str | os.PathLike[str],
    inputs: list[str],
    output: str | os.PathLike[str] | None = None,
    batch_size: int = 256,
    top_k: int = 1,
    engine: str = "torch",
    on_corrupt: str = "error",
) -> list[dict[str, object]]:
    """Predict ``inputs`` with a run's models; write a CSV (``output``) and return the rows.

    For classes the columns are ``input``, ``label``/``probability`` (and ``label_2``... with
    ``top_k``), and for up to 20 classes a ``p_<class>`` column per class; other kinds write their
    own (forecasts: ``input``, ``step`` and a column per target variable).

    ``on_corrupt``: an unreadable input stops the run naming every such input ("error"), or is left
    out ("skip"): the skipped inputs are listed on stderr and, with ``output``, in
    ``<output>.skipped.csv`` (input, reason).
    """
    if engine not in PREDICT_ENGINES:
        raise ConfigError(f"Unknown engine {engine!r}; choose from {', '.join(PREDICT_ENGINES)}.")
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
        if engine != "torch":
            name = PREDICT_ENGINES[engine]
            example = pipeline.prepare(stack_items(loader_inputs, range(min(2, len(names)))))
            calibration = None
            if name in CALIBRATED:  # real training examples: calibrating on the inputs themselves would leak
                calibration = calibration_batches(run_dir, fold.name, fold.preprocessing, pipeline)
            model = _Called(build_engine(name, model, example, calibration))
        outputs, _ = outputs_of(model, pipeline, loader_inputs, labels, batch_size)
        predictions.append(scoring.predictions(outputs, fold.preprocessing))
    mean = torch.stack(predictions).mean(dim=0)  # (n, ...): the folds' mean
    rows = scoring.predict_rows(names, mean, top_k)
    if output is not None:
        write_csv(rows, output)
    return rows


@torch.no_grad()
def calibration_batches(
    run_dir: str | os.PathLike[str],
    fold: str,
    preprocessing: Any,
    pipeline: InputPipeline,
    limit: int = CALIBRATION_EXAMPLES,
    batch_size: int = 64,
) -> list[torch.Tensor]:
    """Up to ``limit`` of fold ``fold``'s training examples as model input: batches (B, ...) made by
    the fold's ``preprocessing`` and input ``pipeline`` (no augmentation), in a seeded random order."""
    config_file = Path(run_dir) / "config.yaml"
    if not config_file.is_file():
        raise RunFolderError(f"{run_dir} has no config.yaml, which says where the training data to calibrate on is.")
    config = load_config(config_file)
    dataset = config.kind.load(config.data, config.trainer.seed)
    folds = {f.name: f for f in folds_of(config, dataset)}
    if fold not in folds:
        raise RunFolderError(f"The config in {run_dir} gives folds {sorted(folds)}, not the run's {fold!r}.")
    train = folds[fold].train
    rng = np.random.default_rng(config.trainer.seed)
    # a random sample, not the first examples: a sorted or grouped dataset would calibrate on one class
    index = np.sort(rng.choice(train, size=min(limit, len(train)), replace=False))
    kind = config.kind
    inputs = kind.loader_inputs(dataset.examples.subset(index), preprocessing, training=False)
    labels = torch.from_numpy(dataset.y[index])
    return [pipeline.prepare(batch) for batch, _ in batches_of(inputs, labels, batch_size)]


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
