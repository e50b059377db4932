"""A signal run's report: one self-contained HTML file, like the image report (same style and figures).

Sections: summary cards, learning curves (mean over folds), a per-fold table (accuracy, balanced
accuracy, Cohen's κ, mean ± std), the confusion matrix summed over folds, per-class accuracy, a
per-subject table when several subjects were tested, and, for models with channel attention
(DBConformer), the weight of each channel as a topomap when electrode positions are known, as bars
otherwise. Signals have no thumbnails.
"""

from __future__ import annotations

import html
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ..signal_plots import has_positions, plot_channel_weights
from .callbacks import read_history
from .report import _confusion, _curves, _per_class, _png, write_page

__all__ = ["write_signal_report"]

_KEYS = ("train_loss", "train_acc", "val_loss", "val_acc", "seconds")


def _mean_history(run_dir: Path, folds: list[str]) -> tuple[list[dict], float]:
    """Epoch rows averaged over the folds' histories, and the total training seconds."""
    histories = [read_history(run_dir if f == "run" else run_dir / "folds" / f) for f in folds]
    histories = [h for h in histories if h]
    seconds = sum(row.get("seconds", 0) for h in histories for row in h)
    if not histories:
        return [], seconds
    rows = []
    for epoch in range(min(len(h) for h in histories)):
        row: dict[str, Any] = {"epoch": epoch + 1}
        for key in _KEYS:
            values = [h[epoch].get(key) for h in histories]
            row[key] = None if any(v is None for v in values) else float(np.mean(values))
        rows.append(row)
    return rows, seconds


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _fold_table(metrics: dict[str, Any]) -> str:
    rows = [
        [html.escape(r["fold"]), str(r["n_test"]), f"{r['accuracy']:.2%}", f"{r['balanced_accuracy']:.2%}",
         f"{r['kappa']:.3f}"]
        for r in metrics["folds"]
    ]  # fmt: skip
    s = metrics["summary"]
    rows.append(
        ["<b>mean ± std</b>", str(metrics["n"]),
         *(f"<b>{s[k]['mean']:.2%} ± {s[k]['std']:.2%}</b>" for k in ("accuracy", "balanced_accuracy")),
         f"<b>{s['kappa']['mean']:.3f} ± {s['kappa']['std']:.3f}</b>"]
    )  # fmt: skip
    return _table(["fold", "test examples", "accuracy", "balanced accuracy", "Cohen's κ"], rows)


def _subject_table(subjects: dict[str, dict[str, float]]) -> str:
    rows = [
        [html.escape(s), f"{m['accuracy']:.2%}", f"{m['balanced_accuracy']:.2%}", f"{m['kappa']:.3f}"]
        for s, m in subjects.items()
    ]
    return _table(["subject", "accuracy", "balanced accuracy", "Cohen's κ"], rows)


def _channel_attention(weights: dict[str, float], chs_info: list[dict] | None) -> str:
    import matplotlib.pyplot as plt

    values = np.asarray(list(weights.values()))
    kind = "topomap" if has_positions(chs_info) else "bar"
    fig, ax = plt.subplots(figsize=(4.5, 4.5) if kind == "topomap" else (max(5, 0.3 * len(values)), 3.2))
    title = "channel attention (mean over test examples and folds)"
    # the colour range is the weights' own: near-uniform attention would otherwise be one flat colour
    vlim = (float(values.min()), float(values.max()))
    plot_channel_weights(values, chs_info, list(weights), ax=ax, title=title, kind=kind, vlim=vlim)
    return _png(fig)


def _augmented(run_dir: Path) -> bool:
    """Whether the run's config turned on a signal augmentation (its training accuracy is then on
    augmented series)."""
    path = run_dir / "config.yaml"
    augment = (yaml.safe_load(path.read_text()) or {}).get("augment", {}) if path.is_file() else {}
    return any(augment.get(f"signal_{name}", 0) for name in ("shift", "scale", "jitter", "mixup"))


def write_signal_report(run_dir: Path, info: dict[str, Any], metrics: dict[str, Any]) -> Path:
    """Write ``report.html`` in a signal run folder from its ``run.json`` and metrics; return its path."""
    run_dir = Path(run_dir)
    folds = info["folds"]
    history, seconds = _mean_history(run_dir, folds)
    summary = metrics["summary"]
    cards = [
        (f"{summary['accuracy']['mean']:.2%} ± {summary['accuracy']['std']:.1%}", f"{metrics['split']} accuracy"),
        (f"{metrics['balanced_accuracy']:.2%}", "balanced accuracy (pooled)"),
        (f"{summary['kappa']['mean']:.3f}", "Cohen's κ (mean)"),
        (str(len(folds)), "folds" if len(folds) > 1 else "model"),
        (str(len(history)), "epochs"),
        (f"{seconds / 60:.1f} min", "training time"),
    ]
    protocol = metrics["protocol"]
    shape = "×".join(map(str, info["input_shape"]))
    sfreq = f" at {info['sfreq']:g} Hz" if info.get("sfreq") else ""
    sections = [
        f"<h1>{html.escape(info['model_name'])}</h1>",
        f'<p class="sub">{html.escape(run_dir.name)} · {len(info["class_names"])} classes · channels × samples '
        f"{shape}{sfreq} · protocol {html.escape(protocol)} · {metrics['n']} {metrics['split']} examples · "
        f"{time.strftime('%Y-%m-%d %H:%M')}</p>",
        '<div class="cards">'
        + "".join(f"<div class=card><b>{v}</b><span>{k}</span></div>" for v, k in cards)
        + "</div>",
        "<h2>Learning curves</h2>",
        f'<p class="note">Mean over {len(folds)} folds.</p>' if len(folds) > 1 else "",
        _curves(history, train_label="train (augmented)" if _augmented(run_dir) else "train"),
        "<h2>Per-fold results</h2>",
        '<p class="note">Each fold is scored by its own model on its held-out examples; std is over folds.</p>',
        _fold_table(metrics),
        "<h2>Confusion matrix</h2>",
        '<p class="note">Summed over folds.</p>' if len(folds) > 1 else "",
        _confusion(metrics["confusion_matrix"], info["class_names"]),
        "<h2>Per-class accuracy</h2>",
        _per_class(metrics["per_class_accuracy"]),
    ]
    if len(metrics.get("subjects", {})) > 1:
        sections += ["<h2>Per-subject results</h2>", _subject_table(metrics["subjects"])]
    if metrics.get("channel_attention"):
        sections += [
            "<h2>Channel attention</h2>",
            '<p class="note">The weight each channel gets when the spatial branch pools its channel tokens '
            "(rows sum to 1; uniform is 1 / channels).</p>",
            _channel_attention(metrics["channel_attention"], info["model_args"].get("chs_info")),
        ]
    shown = {k: v for k, v in metrics.items() if k not in ("confusion_matrix", "channel_attention")}
    return write_page(run_dir, sections, shown)
