"""A run's report: one self-contained HTML file (figures embedded as PNG), readable offline.

The same shell for every data kind: summary cards, learning curves (the mean over folds), the
sections of the kind's scoring (:mod:`.scoring`; for classes: a per-fold table with several folds,
the confusion matrix summed over folds, per-class accuracy, a per-group table with several groups,
e.g. subjects), then the data kind's own sections (hardest mistakes and cross-attention maps for
images, channel attention for signals, forecasts for series), the configuration and the metrics.
"""

from __future__ import annotations

import html
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ..safe_io import atomic_write_text, strict_json
from . import figures
from .callbacks import read_history
from .kinds import DataKind, FoldEvaluation
from .run_folder import RunRecord, fold_dir
from .scoring import Scoring

__all__ = ["mean_history", "write_report"]

_NOT_AVERAGED = ("epoch", "step", "lr")  # history entries that are not measurements


def mean_history(run_dir: Path, folds: list[str]) -> tuple[list[dict], float]:
    """Epoch rows averaged over the folds' histories (every measurement they record: losses, the
    kind's metric, seconds), and the total training seconds."""
    histories = [h for h in (read_history(fold_dir(run_dir, f)) for f in folds) if h]
    seconds = sum(row.get("seconds", 0) for h in histories for row in h)
    keys = [k for k in histories[0][0] if k not in _NOT_AVERAGED] if histories else []
    rows = []
    for epoch in range(min((len(h) for h in histories), default=0)):
        row: dict[str, Any] = {"epoch": epoch + 1}
        for key in keys:
            values = [h[epoch].get(key) for h in histories]
            row[key] = None if any(v is None for v in values) else float(np.mean(values))
        rows.append(row)
    return rows, seconds


def _augmented(run_dir: Path) -> bool:
    """Whether the run's training accuracy was measured on augmented inputs (any augment option on)."""
    path = run_dir / "config.yaml"
    augment = (yaml.safe_load(path.read_text()) or {}).get("augment", {}) if path.is_file() else {}
    return any(v for k, v in augment.items() if k != "label_smoothing" and not isinstance(v, bool))


def _metric(scoring: Scoring) -> tuple[str, str, float]:
    """The learning curves' second panel: the scoring's step metric (name, title, scale)."""
    metric = scoring.step_metric
    return metric.name, metric.title, metric.scale


def _kept_note(kept: dict[str, Any] | None) -> str:
    """Which epoch's weights the run kept, by which rule and why (metrics.json's ``kept``)."""
    if not kept:
        return ""
    if "folds" in kept:
        each = "; ".join(f"{f['fold']}: epoch {f['epoch']} of {f['of']} ({f['why']})" for f in kept["folds"])
        return f'<p class="note">Kept weights: {html.escape(kept["rule"])} — {html.escape(each)}.</p>'
    return (
        f'<p class="note">Kept weights: epoch {kept["epoch"]} of {kept["of"]}, by {html.escape(kept["rule"])} '
        f"({html.escape(kept['why'])}).</p>"
    )


def write_report(
    run_dir: Path,
    record: RunRecord,
    metrics: dict[str, Any],
    kind: DataKind,
    folds: list[FoldEvaluation],
    thumbnails: int,
    scoring: Scoring,
) -> Path:
    """Write ``report.html`` in the run folder and return its path."""
    run_dir = Path(run_dir)
    history, seconds = mean_history(run_dir, record.folds)
    params = sum(p.numel() for p in folds[0].model.parameters())
    several = len(record.folds) > 1
    kept = metrics.get("kept")
    epochs = (f"{kept['epoch']} of {kept['of']}", "epoch kept") if kept and not several else None
    cards = [
        *scoring.cards(metrics, several),
        (f"{params / 1e6:.2f} M", "parameters"),
        epochs or ((str(len(record.folds)), "folds") if several else (str(len(history)), "epochs")),
        (f"{seconds / 60:.1f} min", "training time"),
    ]
    shape = "×".join(map(str, record.input_shape))
    sections = [
        f"<h1>{html.escape(record.model_name)}</h1>",
        f'<p class="sub">{html.escape(run_dir.name)} · {html.escape(scoring.describe())} · input {shape} · '
        f"protocol {html.escape(record.protocol)} · {metrics['n']} {metrics['split']} {scoring.unit} · "
        f"{time.strftime('%Y-%m-%d %H:%M')}</p>",
        figures.cards(cards),
        "<h2>Learning curves</h2>",
        f'<p class="note">Mean over {len(record.folds)} folds.</p>' if several else "",
        figures.curves(history, "train (augmented)" if _augmented(run_dir) else "train", *_metric(scoring)),
        _kept_note(kept),
        *scoring.report_sections(metrics, several),
        *kind.report_sections(folds, record.to_dict(), metrics, thumbnails),
    ]
    shown = {k: v for k, v in metrics.items() if k not in (*scoring.hidden, "channel_attention")}
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
        f"<pre>{html.escape(strict_json(metrics, indent=2))}</pre>",
    ]
    page = (
        f"<!doctype html><html><head><meta charset=utf-8><title>{html.escape(run_dir.name)} · dualbranch</title>"
        f"<style>{figures.STYLE}</style></head><body>{''.join(sections)}</body></html>"
    )
    return atomic_write_text(run_dir / "report.html", page)
