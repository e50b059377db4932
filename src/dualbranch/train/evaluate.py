"""Scoring a run: every fold's model on its test examples -> ``predictions.csv``, ``metrics.json``, report.

``metrics.json`` starts with ``protocol`` and ``split`` (how the run was evaluated; "test" or
"validation"), then the entries of the data kind's scoring (:mod:`.scoring`), then the kind's own
(e.g. channel_attention, gate values). For classes, one vocabulary for every kind
(:mod:`dualbranch.evaluation.metrics`)::

    n, accuracy, balanced_accuracy, kappa, loss, per_class_accuracy, confusion_matrix
                               pooled over every fold's test predictions
    folds                      per fold: fold, n, accuracy, balanced_accuracy, kappa
    summary                    mean and std over folds of accuracy, balanced_accuracy, kappa
    groups                     per group (e.g. subject), when the data has several
    kept                       which epoch each fold kept, of how many, by which rule and why

The file is strict JSON: a value that could not be measured is ``null``, never ``NaN``.

Shape legend: n examples, K classes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from ..evaluation.protocols import Fold
from ..safe_io import atomic_write_text, strict_json
from ..weight_files import read_metadata
from .config import RunConfig
from .datamodule import batches_of
from .kinds import DataKind, FoldEvaluation, InputPipeline, LoaderInputs, RunData
from .predictions import write_csv
from .report import write_report
from .run_folder import RunRecord, fold_dir

__all__ = ["evaluate_run", "kept_epochs", "outputs_of", "score_fold"]


@torch.no_grad()
def outputs_of(
    model: torch.nn.Module,
    inputs: InputPipeline,
    loader_inputs: LoaderInputs,
    labels: torch.Tensor,
    batch_size: int,
    workers: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Outputs (n, ...) of ``model`` (logits (n, K) of a classifier) on loader inputs (n, ...) made model
    input by the pipeline ``inputs``, and what they are scored against (n, ...) (the pipeline's targets)."""
    model.eval()
    outputs, targets = [], []
    for batch, batch_labels in batches_of(loader_inputs, labels, batch_size, workers):
        outputs.append(model(inputs.prepare(batch)))
        targets.append(inputs.targets(batch, batch_labels))
    return torch.cat(outputs), torch.cat(targets)


def score_fold(config: RunConfig, kind: DataKind, dataset: RunData, fold: Fold, fold_model: Any) -> FoldEvaluation:
    """``fold_model`` (a :class:`~.fold_models.FoldModel`) on the fold's test part (validation part where there is
    none)."""
    index = fold.test if fold.test is not None else fold.val
    examples = dataset.examples.subset(index)
    preprocessing = fold_model.preprocessing
    loader_inputs = kind.loader_inputs(examples, preprocessing, training=False)
    inputs = kind.input_pipeline(preprocessing, config.augment)
    labels = torch.from_numpy(dataset.y[index])
    outputs, targets = outputs_of(
        fold_model.model, inputs, loader_inputs, labels, config.data.eval_batch_size, config.data.num_workers
    )
    groups = None if dataset.groups is None else dataset.groups[index]
    return FoldEvaluation(
        fold.name, fold_model.model, inputs, examples, index, targets.numpy(), outputs, loader_inputs, groups,
        preprocessing,
    )  # fmt: skip


def kept_epochs(run_dir: Path, folds: list[str]) -> dict[str, Any] | None:
    """Which epoch each fold kept and why (recorded in its ``model.safetensors``, :mod:`.checkpoints`):
    ``{"epoch", "of", "rule", "why"}`` for one fold; ``{"rule", "folds": [{"fold", "epoch", "of", "why"}]}``
    for several; None for a run made before this was recorded."""
    found = []
    for name in folds:
        if not (fold_dir(run_dir, name) / "model.safetensors").is_file():
            return None  # a model the data kind fitted itself (no epochs)
        text = read_metadata(fold_dir(run_dir, name) / "model.safetensors").get("kept")
        if text is None:
            return None
        found.append({"fold": name, **json.loads(text)})
    if len(found) == 1:
        return {k: v for k, v in found[0].items() if k != "fold"}
    return {"rule": found[0]["rule"], "folds": [{k: v for k, v in f.items() if k != "rule"} for f in found]}


def evaluate_run(
    run_dir: Path,
    config: RunConfig,
    kind: DataKind,
    dataset: RunData,
    folds: list[Fold],
    models: list[Any],
    record: RunRecord,
) -> dict[str, Any]:
    """Score each fold's model on its test part; write predictions, metrics and the report."""
    split = "test" if all(fold.test is not None for fold in folds) else "validation"
    scoring = kind.scoring(record.class_names, record.data)
    scored = [score_fold(config, kind, dataset, fold, m) for fold, m in zip(folds, models)]
    metrics: dict[str, Any] = {"protocol": record.protocol, "split": split, **scoring.run_metrics(scored)}
    metrics.update(kind.extra_metrics(scored, record.to_dict()))
    kept = kept_epochs(run_dir, [fold.name for fold in folds])
    if kept:
        metrics["kept"] = kept
    atomic_write_text(run_dir / "metrics.json", strict_json(metrics, indent=2))
    write_csv(scoring.prediction_rows(scored), run_dir / "predictions.csv")
    print(scoring.headline(metrics, len(folds)))
    if config.output.report:
        path = write_report(run_dir, record, metrics, kind, scored, config.output.report_thumbnails, scoring)
        print(f"report: {path}")
    return metrics
