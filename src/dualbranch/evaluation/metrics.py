"""Classification metrics, one vocabulary for every kind of data and every report.

Per split: ``accuracy``, ``balanced_accuracy`` (the mean of the per-class recalls of the classes
present) and ``kappa`` (Cohen's κ, what BCI competitions report: chance = 0 whatever the number of
classes); pooled over a run's test predictions, also ``n``, ``loss`` (mean cross-entropy),
``per_class_accuracy`` and ``confusion_matrix`` (rows: true class, columns: predicted). Across folds:
mean ± std of each (:func:`summarize`), and per group (subject) over all its predictions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import DataError

__all__ = ["METRICS", "classification_metrics", "per_group_metrics", "pooled_metrics", "summarize"]

METRICS = ("accuracy", "balanced_accuracy", "kappa")


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """accuracy, balanced_accuracy and kappa of predicted class codes."""
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, cohen_kappa_score

    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape or y_true.ndim != 1 or len(y_true) == 0:
        raise DataError(f"Need equal-length, non-empty 1-D labels; got {y_true.shape} and {y_pred.shape}.")
    # kappa is undefined (nan) when only one class occurs in both; report 0 (no agreement beyond chance)
    single = len(np.union1d(y_true, y_pred)) == 1
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred)),
        "kappa": 0.0 if single else float(cohen_kappa_score(y_true, y_pred)),
    }


def per_group_metrics(y_true: np.ndarray, y_pred: np.ndarray, groups: np.ndarray) -> dict[str, dict[str, float]]:
    """Metrics of each group (subject), over all its test predictions: {str(group): metrics}."""
    groups = np.asarray(groups)
    return {
        str(g): classification_metrics(np.asarray(y_true)[groups == g], np.asarray(y_pred)[groups == g])
        for g in np.unique(groups)
    }


def summarize(rows: Sequence[dict[str, Any]], keys: Sequence[str] = METRICS) -> dict[str, dict[str, float]]:
    """{metric: {"mean", "std"}} over rows (population std, ddof=0; 0 for a single row)."""
    return {
        key: {"mean": float(np.mean([r[key] for r in rows])), "std": float(np.std([r[key] for r in rows]))}
        for key in keys
        if rows and all(key in r for r in rows)
    }


def pooled_metrics(y_true: np.ndarray, logits: torch.Tensor, class_names: list[str]) -> dict[str, Any]:
    """Every metric of a run's predictions: logits (n, K) against class codes ``y_true`` (n,)."""
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = logits.argmax(dim=1).numpy()
    k = len(class_names)
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (y_true, y_pred), 1)
    recall = confusion.diagonal() / confusion.sum(axis=1).clip(min=1)
    return {
        "n": len(y_true),
        **classification_metrics(y_true, y_pred),
        "loss": float(F.cross_entropy(logits.float(), torch.from_numpy(y_true))),
        "per_class_accuracy": dict(zip(class_names, recall.tolist())),
        "confusion_matrix": confusion.tolist(),
    }
