"""A run's report: one self-contained HTML file (figures embedded as PNG), readable offline.

The same shell for every data kind: summary cards, learning curves (the mean over folds), a per-fold
table (with several folds), the confusion matrix (summed over folds), per-class accuracy, a per-group
table (with several groups, e.g. subjects), then the data kind's own sections (hardest mistakes and
cross-attention maps for images, channel attention for signals), the configuration and the metrics.
"""

from __future__ import annotations

import html
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ..safe_io import atomic_write_text
from . import figures
from .callbacks import read_history
from .kinds import DataKind, FoldEvaluation
from .run_folder import RunRecord, fold_dir

__all__ = ["mean_history", "write_report"]

_HISTORY_KEYS = ("train_loss", "train_acc", "val_loss", "val_acc", "seconds")


def mean_history(run_dir: Path, folds: list[str]) -> tuple[list[dict], float]:
    """Epoch rows averaged over the folds' histories, and the total training seconds."""
    histories = [h for h in (read_history(fold_dir(run_dir, f)) for f in folds) if h]
    seconds = sum(row.get("seconds", 0) for h in histories for row in h)
    rows = []
    for epoch in range(min((len(h) for h in histories), default=0)):
        row: dict[str, Any] = {"epoch": epoch + 1}
        for key in _HISTORY_KEYS:
            values = [h[epoch].get(key) for h in histories]
            row[key] = None if any(v is None for v in values) else float(np.mean(values))
        rows.append(row)
    return rows, seconds


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


def _augmented(run_dir: Path) -> bool:
    """Whether the run's training accuracy was measured on augmented inputs (any augment option on)."""
    path = run_dir / "config.yaml"
    augment = (yaml.safe_load(path.read_text()) or {}).get("augment", {}) if path.is_file() else {}
    return any(v for k, v in augment.items() if k != "label_smoothing" and not isinstance(v, bool))


def write_report(
    run_dir: Path,
    record: RunRecord,
    metrics: dict[str, Any],
    kind: DataKind,
    folds: list[FoldEvaluation],
    thumbnails: int = 16,
) -> Path:
    """Write ``report.html`` in the run folder and return its path."""
    run_dir = Path(run_dir)
    history, seconds = mean_history(run_dir, record.folds)
    params = sum(p.numel() for p in folds[0].model.parameters())
    several = len(record.folds) > 1
    accuracy = f"{metrics['accuracy']:.2%}"
    if several:
        accuracy = f"{metrics['summary']['accuracy']['mean']:.2%} ± {metrics['summary']['accuracy']['std']:.1%}"
    cards = [
        (accuracy, f"{metrics['split']} accuracy"),
        (f"{metrics['balanced_accuracy']:.2%}", "balanced accuracy"),
        (f"{metrics['kappa']:.3f}", "Cohen's κ"),
        (f"{params / 1e6:.2f} M", "parameters"),
        (str(len(record.folds)) if several else str(len(history)), "folds" if several else "epochs"),
        (f"{seconds / 60:.1f} min", "training time"),
    ]
    shape = "×".join(map(str, record.input_shape))
    sections = [
        f"<h1>{html.escape(record.model_name)}</h1>",
        f'<p class="sub">{html.escape(run_dir.name)} · {len(record.class_names)} classes · input {shape} · '
        f"protocol {html.escape(record.protocol)} · {metrics['n']} {metrics['split']} examples · "
        f"{time.strftime('%Y-%m-%d %H:%M')}</p>",
        figures.cards(cards),
        "<h2>Learning curves</h2>",
        f'<p class="note">Mean over {len(record.folds)} folds.</p>' if several else "",
        figures.curves(history, train_label="train (augmented)" if _augmented(run_dir) else "train"),
    ]
    if several:
        sections += [
            "<h2>Per-fold results</h2>",
            '<p class="note">Each fold is scored by its own model on its held-out examples; std is over folds.</p>',
            _fold_table(metrics),
        ]
    sections += [
        "<h2>Confusion matrix</h2>",
        '<p class="note">Summed over folds.</p>' if several else "",
        figures.confusion(metrics["confusion_matrix"], record.class_names),
        "<h2>Per-class accuracy</h2>",
        figures.per_class(metrics["per_class_accuracy"]),
    ]
    if metrics.get("groups"):
        name = kind.group_name()
        sections += [f"<h2>Per-{name} results</h2>", _group_table(metrics["groups"], name)]
    sections += kind.report_sections(folds, record.to_dict(), metrics, thumbnails)
    shown = {k: v for k, v in metrics.items() if k not in ("confusion_matrix", "channel_attention")}
    return write_page(run_dir, sections, shown)


def write_page(run_dir: Path, sections: list[str], metrics: dict[str, Any]) -> Path:
    """``report.html`` in ``run_dir``: the ``sections``, then the run's config.yaml and ``metrics`` as
    text; one self-contained file, written atomically."""
    config_text = (run_dir / "config.yaml").read_text() if (run_dir / "config.yaml").is_file() else ""
    sections = [
        *sections,
        "<h2>Configuration</h2>",
        f"<pre>{html.escape(config_text)}</pre>",
        "<h2>Metrics</h2>",
        f"<pre>{html.escape(json.dumps(metrics, indent=2))}</pre>",
    ]
    page = (
        f"<!doctype html><html><head><meta charset=utf-8><title>{html.escape(run_dir.name)} · dualbranch</title>"
        f"<style>{figures.STYLE}</style></head><body>{''.join(sections)}</body></html>"
    )
    return atomic_write_text(run_dir / "report.html", page)
