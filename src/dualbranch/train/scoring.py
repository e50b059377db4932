"""Scoring: what "right" means for a kind's predictions, from the training step to the report.

A data kind gives the run pipeline a :class:`Scoring` (:meth:`dualbranch.train.kinds.DataKind.scoring`);
the training task, the trainer's checkpoint choice, the run's ``metrics.json``, ``predictions.csv``,
the report and ``predict`` ask it, never which kind a run is. It says

* the metric logged beside the loss at every epoch (:class:`StepMetric`, e.g. accuracy) and the
  validation loss, and which logged value picks the best checkpoint (``monitor``, ``mode``);
* the run's metrics from every fold's outputs against its targets, the prediction rows, the
  summary line, the report's cards, subtitle and sections;
* for ``predict``: what a model's outputs become (probabilities, forecasts on the original scale)
  and the rows written for them.

:class:`ClassificationScoring` serves the classification kinds (images, signals): accuracy,
balanced accuracy, Cohen's κ, the confusion matrix (:mod:`dualbranch.evaluation.metrics`).

Shape legend: n examples, B batch, K classes.
"""

from __future__ import annotations

import abc
import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torchmetrics import Metric
from torchmetrics.classification import MulticlassAccuracy

from ..evaluation.metrics import classification_metrics, per_group_metrics, pooled_metrics, summarize
from . import figures
from .predictions import prediction_rows

__all__ = ["ACCURACY", "ClassificationScoring", "ScoredFold", "Scoring", "StepMetric"]


@dataclass(frozen=True)
class StepMetric:
    """The metric logged beside the loss every epoch, as ``train_<name>`` and ``val_<name>``.

    ``title`` labels its panel of the report's learning curves, where a value is shown × ``scale``;
    ``fmt`` formats it in the epoch line.
    """

    name: str
    title: str
    scale: float
    fmt: str


ACCURACY = StepMetric("acc", "accuracy (%)", 100.0, "{:.2%}")


class ScoredFold(Protocol):
    """What scoring reads of one fold's evaluation (:class:`dualbranch.train.kinds.FoldEvaluation`)."""

    name: str
    examples: Any  # the scored examples (the kind's container)
    index: np.ndarray  # (n,) their indices in the run's RunData
    y: np.ndarray  # (n, ...) targets: class codes (n,), or what the kind's outputs are scored against
    outputs: torch.Tensor  # (n, ...) the model's outputs: logits (n, K) of a classifier, or the kind's (forecasts)
    groups: np.ndarray | None  # (n,) group (subject) of each example, or None
    preprocessing: Any  # the fold's preprocessing (e.g. a scaler to undo)


class Scoring(abc.ABC):
    """How a kind's outputs are scored; see the module docstring."""

    monitor: str = "val_acc"  # the logged value that picks the best checkpoint
    mode: str = "max"  # "max" or "min"
    step_metric: StepMetric = ACCURACY
    num_classes: int = 0  # K of the soft targets an input pipeline makes (0: a kind without classes)
    unit: str = "examples"  # what one scored item is called ("examples", "windows")
    hidden: tuple[str, ...] = ()  # metrics.json entries too large for the report's metrics text

    @abc.abstractmethod
    def new_metric(self) -> Metric:
        """A fresh :attr:`step_metric`, updated with (outputs (B, ...), targets (B, ...))."""

    @abc.abstractmethod
    def val_loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The validation loss of outputs (B, ...) against targets (B, ...): a scalar."""

    @abc.abstractmethod
    def run_metrics(self, folds: Sequence[ScoredFold]) -> dict[str, Any]:
        """``metrics.json`` entries (after ``protocol`` and ``split``): pooled, per fold, their summary."""

    @abc.abstractmethod
    def prediction_rows(self, folds: Sequence[ScoredFold]) -> list[dict[str, object]]:
        """The rows of ``predictions.csv``."""

    @abc.abstractmethod
    def headline(self, metrics: dict[str, Any], n_folds: int) -> str:
        """One line with the main result, printed after testing."""

    @abc.abstractmethod
    def describe(self) -> str:
        """The task in a few words for the report's subtitle ("10 classes")."""

    @abc.abstractmethod
    def cards(self, metrics: dict[str, Any], several: bool) -> list[tuple[str, str]]:
        """The report's leading summary cards, (value, label) pairs; ``several``: more than one fold."""

    @abc.abstractmethod
    def report_sections(self, metrics: dict[str, Any], several: bool) -> list[str]:
        """HTML sections of the metrics, after the learning curves and before the kind's own."""

    @abc.abstractmethod
    def predictions(self, outputs: torch.Tensor, preprocessing: Any) -> torch.Tensor:
        """What ``predict`` averages over the folds: a fold model's outputs (n, ...) made comparable
        (probabilities (n, K); forecasts on the original scale)."""

    @abc.abstractmethod
    def predict_rows(self, names: list[str], predictions: torch.Tensor, top_k: int) -> list[dict[str, object]]:
        """The rows ``predict`` writes for the inputs ``names`` and their mean ``predictions``."""


_ALL_PROBABILITIES_UP_TO = 20  # classes: up to this many, every class gets a p_<class> column in predict


class ClassificationScoring(Scoring):
    """Classes: accuracy per epoch (best checkpoint by validation accuracy), cross-entropy validation loss,
    accuracy / balanced accuracy / κ / confusion matrix per run, one prediction row per example."""

    monitor, mode, step_metric, hidden = "val_acc", "max", ACCURACY, ("confusion_matrix",)

    def __init__(self, class_names: Sequence[str], group_name: str = "group") -> None:
        self.class_names = list(class_names)
        self.num_classes = len(self.class_names)
        self.group_name = group_name

    def new_metric(self) -> Metric:
        return MulticlassAccuracy(self.num_classes, average="micro")

    def val_loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(outputs, targets)

    def run_metrics(self, folds: Sequence[ScoredFold]) -> dict[str, Any]:
        y = np.concatenate([fold.y for fold in folds])
        logits = torch.cat([fold.outputs for fold in folds])
        rows = [
            {"fold": fold.name, "n": len(fold.y), **classification_metrics(fold.y, fold.outputs.argmax(dim=1).numpy())}
            for fold in folds
        ]
        metrics: dict[str, Any] = {
            **pooled_metrics(y, logits, self.class_names),
            "folds": rows,
            "summary": summarize(rows),
        }
        if all(fold.groups is not None for fold in folds):
            groups = np.concatenate([fold.groups for fold in folds])  # type: ignore[misc]
            if len(np.unique(groups)) > 1:
                metrics["groups"] = per_group_metrics(y, logits.argmax(dim=1).numpy(), groups)
        return metrics

    def prediction_rows(self, folds: Sequence[ScoredFold]) -> list[dict[str, object]]:
        names = self.class_names
        rows = []
        for fold in folds:
            probs = fold.outputs.softmax(dim=1).numpy()
            predicted = probs.argmax(axis=1)
            groups = fold.groups if fold.groups is not None else np.zeros(len(fold.index), dtype=int)
            for i, index in enumerate(fold.index.tolist()):
                rows.append(
                    {"fold": fold.name, "index": index, self.group_name: str(groups[i]), "true": names[fold.y[i]],
                     "predicted": names[predicted[i]],
                     **{f"p_{c}": round(float(probs[i, k]), 6) for k, c in enumerate(names)}}
                )  # fmt: skip
        return rows

    def headline(self, metrics: dict[str, Any], n_folds: int) -> str:
        spread = ""
        if n_folds > 1:
            summary = metrics["summary"]["accuracy"]
            spread = f"; {n_folds} folds, per fold {summary['mean']:.2%} ± {summary['std']:.2%}"
        return (
            f"{metrics['split']} accuracy {metrics['accuracy']:.2%}  balanced {metrics['balanced_accuracy']:.2%}  "
            f"({metrics['n']} examples{spread})"
        )

    def describe(self) -> str:
        return f"{self.num_classes} classes"

    def cards(self, metrics: dict[str, Any], several: bool) -> list[tuple[str, str]]:
        accuracy = f"{metrics['accuracy']:.2%}"
        if several:
            accuracy = f"{metrics['summary']['accuracy']['mean']:.2%} ± {metrics['summary']['accuracy']['std']:.1%}"
        return [
            (accuracy, f"{metrics['split']} accuracy"),
            (f"{metrics['balanced_accuracy']:.2%}", "balanced accuracy"),
            (f"{metrics['kappa']:.3f}", "Cohen's κ"),
        ]

    def report_sections(self, metrics: dict[str, Any], several: bool) -> list[str]:
        sections = []
        if several:
            sections += [
                "<h2>Per-fold results</h2>",
                '<p class="note">Each fold is scored by its own model on its held-out examples; std is over folds.</p>',
                _fold_table(metrics),
            ]
        sections += [
            "<h2>Confusion matrix</h2>",
            '<p class="note">Summed over folds.</p>' if several else "",
            figures.confusion(metrics["confusion_matrix"], self.class_names),
            "<h2>Per-class accuracy</h2>",
            figures.per_class(metrics["per_class_accuracy"]),
        ]
        if metrics.get("groups"):
            sections += [f"<h2>Per-{self.group_name} results</h2>", _group_table(metrics["groups"], self.group_name)]
        return sections

    def predictions(self, outputs: torch.Tensor, preprocessing: Any) -> torch.Tensor:
        return outputs.softmax(dim=1)

    def predict_rows(self, names: list[str], predictions: torch.Tensor, top_k: int) -> list[dict[str, object]]:
        many = self.num_classes <= _ALL_PROBABILITIES_UP_TO
        return prediction_rows(names, predictions, self.class_names, top_k, all_probabilities=many)


def _fold_table(metrics: dict[str, Any]) -> str:
    rows = [
        [
            html.escape(r["fold"]),
            str(r["n"]),
            f"{r['accuracy']:.2%}",
            f"{r['balanced_accuracy']:.2%}",
            f"{r['kappa']:.3f}",
        ]
        for r in metrics["folds"]
    ]
    s = metrics["summary"]
    rows.append(
        ["<b>mean ± std</b>", str(metrics["n"]),
         *(f"<b>{s[k]['mean']:.2%} ± {s[k]['std']:.2%}</b>" for k in ("accuracy", "balanced_accuracy")),
         f"<b>{s['kappa']['mean']:.3f} ± {s['kappa']['std']:.3f}</b>"]
    )  # fmt: skip
    return figures.table(["fold", "test examples", "accuracy", "balanced accuracy", "Cohen's κ"], rows)


def _group_table(groups: dict[str, dict[str, float]], name: str) -> str:
    rows = [
        [html.escape(g), f"{m['accuracy']:.2%}", f"{m['balanced_accuracy']:.2%}", f"{m['kappa']:.3f}"]
        for g, m in groups.items()
    ]
    return figures.table([name, "accuracy", "balanced accuracy", "Cohen's κ"], rows)
