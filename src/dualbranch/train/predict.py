"""Predictions of a trained run on new inputs, for every data kind and every engine.

The run's data kind reads the inputs (image files, folders or an ``.npz`` of images; an ``.npz`` of
signals) without labels; each fold's model sees them preprocessed as its training data was, run by
the chosen engine (``torch``, ``onnx``, ``int8``: :mod:`dualbranch.engines`). A run with several
folds predicts the mean of its fold models' probabilities (an ensemble of the k models).

Shape legend: n inputs, K classes.
"""

from __future__ import annotations

import os

import torch

from ..engines import build_engine
from ..errors import ConfigError
from .evaluate import logits_of
from .kinds import kind_named
from .pipeline import load_fold_models
from .predictions import prediction_rows, write_csv

__all__ = ["PREDICT_ENGINES", "predict"]

# `predict --engine` names -> dualbranch.engines names
PREDICT_ENGINES = {"torch": "eager", "onnx": "onnx", "int8": "int8-dynamic"}
_ALL_PROBABILITIES_UP_TO = 20  # classes: up to this many, every class gets a p_<class> column


@torch.no_grad()
def predict(
    run_dir: str | os.PathLike[str],
    inputs: list[str],
    output: str | os.PathLike[str] | None = None,
    batch_size: int = 256,
    top_k: int = 1,
    engine: str = "torch",
) -> list[dict[str, object]]:
    """Classify ``inputs`` with a run's models; write a CSV (``output``) and return the rows.

    Columns: ``input``, ``label``/``probability`` (and ``label_2``... with ``top_k``), and for up to
    20 classes a ``p_<class>`` column per class.
    """
    if engine not in PREDICT_ENGINES:
        raise ConfigError(f"Unknown engine {engine!r}; choose from {', '.join(PREDICT_ENGINES)}.")
    models, record = load_fold_models(run_dir)
    kind = kind_named(record.kind)
    names, examples = kind.read_inputs(inputs, record.to_dict())
    probs = []
    for fold in models:
        loader_inputs = kind.to_tensor(examples, fold.preprocessing, training=False)
        pipeline = kind.input_pipeline(fold.preprocessing, kind.augment_section())
        model = fold.model
        if engine != "torch":
            example = pipeline.prepare(loader_inputs[:2])
            runner = build_engine(PREDICT_ENGINES[engine], model, example)
            model = _Called(runner)
        probs.append(logits_of(model, pipeline, loader_inputs, batch_size).softmax(dim=1))
    mean = torch.stack(probs).mean(dim=0)  # (n, K): the folds' mean
    many = len(record.class_names) <= _ALL_PROBABILITIES_UP_TO
    rows = prediction_rows(names, mean, record.class_names, top_k, all_probabilities=many)
    if output is not None:
        write_csv(rows, output)
    return rows


class _Called(torch.nn.Module):
    """An engine (any callable on a batch) behind the nn.Module interface ``logits_of`` uses."""

    def __init__(self, runner: object) -> None:
        super().__init__()
        self.runner = runner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.runner(x)  # type: ignore[operator]
