"""Scoring a run: every fold's model on its test examples -> ``predictions.csv``, ``metrics.json``, report.

``metrics.json`` has one vocabulary for every kind (:mod:`dualbranch.evaluation.metrics`)::

    protocol, split            how the run was evaluated; "test" or "validation"
    n, accuracy, balanced_accuracy, kappa, loss, per_class_accuracy, confusion_matrix
                               pooled over every fold's test predictions
    folds                      per fold: fold, n, accuracy, balanced_accuracy, kappa
    summary                    mean and std over folds of accuracy, balanced_accuracy, kappa
    groups                     per group (e.g. subject), when the data has several
    ...                        the data kind's own entries (e.g. channel_attention)

Shape legend: n examples, K classes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..evaluation.metrics import classification_metrics, per_group_metrics, pooled_metrics, summarize
from ..evaluation.protocols import Fold
from ..safe_io import atomic_write_text
from .config import RunConfig
from .kinds import DataKind, Dataset, FoldEvaluation
from .predictions import write_csv
from .report import write_report
from .run_folder import RunRecord

__all__ = ["evaluate_run", "logits_of"]


@torch.no_grad()
def logits_of(model: torch.nn.Module, inputs: Any, loader_inputs: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Logits (n, K) of ``model`` on loader inputs (n, ...) made model input by the pipeline ``inputs``."""
    model.eval()
    batches = [loader_inputs[i : i + batch_size] for i in range(0, len(loader_inputs), batch_size)]
    return torch.cat([model(inputs.prepare(batch)) for batch in batches])


def _score_fold(config: RunConfig, kind: DataKind, dataset: Dataset, fold: Fold, fold_model: Any) -> FoldEvaluation:
    index = fold.test if fold.test is not None else fold.val
    examples = dataset.examples.subset(index)
    loader_inputs = kind.to_tensor(examples, fold_model.preprocessing, training=False)
    inputs = kind.input_pipeline(fold_model.preprocessing, config.augment)
    logits = logits_of(fold_model.model, inputs, loader_inputs, config.data.eval_batch_size)
    return FoldEvaluation(fold.name, fold_model.model, inputs, examples, index, dataset.y[index], logits, loader_inputs)


def _prediction_rows(scored: list[FoldEvaluation], dataset: Dataset, group_name: str) -> list[dict[str, object]]:
    names = dataset.class_names
    rows = []
    for fold in scored:
        probs = fold.logits.softmax(dim=1).numpy()
        predicted = probs.argmax(axis=1)
        groups = dataset.groups[fold.index] if dataset.groups is not None else np.zeros(len(fold.index), dtype=int)
        for i, index in enumerate(fold.index.tolist()):
            rows.append(
                {"fold": fold.name, "index": index, group_name: str(groups[i]), "true": names[fold.y[i]],
                 "predicted": names[predicted[i]],
                 **{f"p_{c}": round(float(probs[i, k]), 6) for k, c in enumerate(names)}}
            )  # fmt: skip
    return rows


def evaluate_run(
    run_dir: Path,
    config: RunConfig,
    kind: DataKind,
    dataset: Dataset,
    folds: list[Fold],
    models: list[Any],
    record: RunRecord,
) -> dict[str, Any]:
    """Score each fold's model on its test part; write predictions, metrics and the report."""
    split = "test" if all(fold.test is not None for fold in folds) else "validation"
    scored = [_score_fold(config, kind, dataset, fold, m) for fold, m in zip(folds, models)]
    y = np.concatenate([fold.y for fold in scored])
    logits = torch.cat([fold.logits for fold in scored])
    rows = [
        {"fold": fold.name, "n": len(fold.y), **classification_metrics(fold.y, fold.logits.argmax(dim=1).numpy())}
        for fold in scored
    ]
    metrics: dict[str, Any] = {
        "protocol": record.protocol,
        "split": split,
        **pooled_metrics(y, logits, list(dataset.class_names)),
        "folds": rows,
        "summary": summarize(rows),
    }
    if dataset.groups is not None and len(np.unique(dataset.groups)) > 1:
        groups = np.concatenate([dataset.groups[fold.index] for fold in scored])
        metrics["groups"] = per_group_metrics(y, logits.argmax(dim=1).numpy(), groups)
    metrics.update(kind.extra_metrics(scored, record.to_dict()))
    atomic_write_text(run_dir / "metrics.json", json.dumps(metrics, indent=2))
    write_csv(_prediction_rows(scored, dataset, kind.group_name()), run_dir / "predictions.csv")
    spread = ""
    if len(folds) > 1:
        summary = metrics["summary"]["accuracy"]
        spread = f"; {len(folds)} folds, per fold {summary['mean']:.2%} ± {summary['std']:.2%}"
    print(
        f"{split} accuracy {metrics['accuracy']:.2%}  balanced {metrics['balanced_accuracy']:.2%}  "
        f"({metrics['n']} examples{spread})"
    )
    if config.output.report:
        path = write_report(run_dir, record, metrics, kind, scored, config.output.report_thumbnails)
        print(f"report: {path}")
    return metrics
