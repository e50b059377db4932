"""A run's report: one self-contained HTML file (figures embedded as PNG), readable offline.

Sections: summary, learning curves, confusion matrix, per-class accuracy, the hardest mistakes as
thumbnails, and, for models with cross-attention fusion, where each branch's CLS query looks in the
other branch, overlaid on sample images.
"""

from __future__ import annotations

import base64
import html
import io
import json
import time
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: the report is written on servers and in CI
import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from matplotlib.ticker import MaxNLocator
from torch import nn

from ..data.images import ImageData
from ..safe_io import atomic_write_text
from .callbacks import read_history

__all__ = ["write_report"]

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;color:#1d2330;
padding:0 1em;line-height:1.45}
h1{margin-bottom:.2em}h2{margin-top:2em;border-bottom:1px solid #dde;padding-bottom:.2em}
.sub{color:#667;margin-top:0}.cards{display:flex;gap:1em;flex-wrap:wrap;margin:1.2em 0}
.card{background:#f4f6fb;border-radius:8px;padding:.8em 1.2em;min-width:140px}
.card b{display:block;font-size:1.6em}.card span{color:#667;font-size:.9em}
img{max-width:100%}table{border-collapse:collapse}td,th{padding:.25em .8em;border-bottom:1px solid #eef;text-align:left}
.note{color:#667;font-size:.9em}
"""


def _png(fig: plt.Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return '<img src="data:image/png;base64,' + base64.b64encode(buffer.getvalue()).decode() + '">'


def _curves(history: list[dict], train_label: str = "train (augmented)") -> str:
    if not history:
        return '<p class="note">No epoch history (the run was not trained here).</p>'
    epochs = [row["epoch"] for row in history]
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(11, 3.6))
    for key, label in (("train_loss", "train"), ("val_loss", "validation")):
        values = [row.get(key) for row in history]
        if any(v is not None for v in values):
            loss_ax.plot(epochs, values, marker="o", ms=3, label=label)
    for key, label in (("train_acc", train_label), ("val_acc", "validation")):
        values = [None if row.get(key) is None else 100 * row[key] for row in history]
        if any(v is not None for v in values):
            acc_ax.plot(epochs, values, marker="o", ms=3, label=label)
    loss_ax.set(title="loss", xlabel="epoch")
    acc_ax.set(title="accuracy (%)", xlabel="epoch")
    for ax in (loss_ax, acc_ax):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend()
    return _png(fig)


def _confusion(confusion: list[list[int]], class_names: list[str]) -> str:
    matrix = torch.tensor(confusion, dtype=torch.float)
    rates = matrix / matrix.sum(dim=1, keepdim=True).clamp_min(1)
    k = len(class_names)
    size = max(4.5, 0.55 * k + 2)
    fig, ax = plt.subplots(figsize=(size, size * 0.85))
    ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    if k <= 20:
        for i in range(k):
            for j in range(k):
                if matrix[i, j] > 0:
                    color = "white" if rates[i, j] > 0.6 else "#1d2330"
                    ax.text(j, i, int(matrix[i, j]), ha="center", va="center", fontsize=8, color=color)
    ticks = range(k)
    ax.set_xticks(ticks, class_names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(ticks, class_names, fontsize=8)
    ax.set(xlabel="predicted", ylabel="true", title="confusion matrix (colour: share of the true class)")
    return _png(fig)


def _per_class(per_class: dict[str, float]) -> str:
    names = list(per_class)
    values = [100 * per_class[n] for n in names]
    fig, ax = plt.subplots(figsize=(7, 0.32 * len(names) + 1))
    bars = ax.barh(names[::-1], values[::-1], color="#4c72b0")
    ax.bar_label(bars, fmt="%.1f", fontsize=8, padding=2)
    ax.set(xlim=(0, 105), xlabel="accuracy (%)", title="per-class accuracy")
    return _png(fig)


def _thumbnail(ax: plt.Axes, image: torch.Tensor) -> None:
    if image.shape[0] == 1:
        ax.imshow(image[0], cmap="gray", vmin=0, vmax=255)
    else:
        ax.imshow(image[:3].permute(1, 2, 0).to(torch.uint8))
    ax.set_xticks([])
    ax.set_yticks([])


def _mistakes(data: ImageData, logits: torch.Tensor, class_names: list[str], count: int) -> str:
    probs = logits.softmax(dim=1)
    wrong = torch.nonzero(probs.argmax(dim=1) != data.labels).flatten()
    if len(wrong) == 0:
        return '<p class="note">No mistakes on this split.</p>'
    # hardest: the most confident wrong answers
    confidence = probs[wrong].max(dim=1).values
    chosen = wrong[confidence.argsort(descending=True)[:count]]
    columns = 8
    rows = -(-len(chosen) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 1.45, rows * 1.75), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, index in zip(axes.flat, chosen.tolist()):
        ax.axis("on")
        _thumbnail(ax, data.images[index])
        predicted = int(probs[index].argmax())
        true_name, predicted_name = class_names[int(data.labels[index])][:12], class_names[predicted][:12]
        ax.set_title(f"{true_name}\n→ {predicted_name} {probs[index, predicted]:.0%}", fontsize=7)
    fig.suptitle("true → predicted (confidence)", fontsize=9)
    return _png(fig)


def _attention(model: nn.Module, info: Any, data: ImageData, samples: int = 6) -> str | None:
    fusion = getattr(getattr(model, "config", None), "fusion", None)
    if not hasattr(model, "cross_attention_maps") or fusion not in (None, "cross_attention"):
        return None
    index = torch.linspace(0, len(data) - 1, samples).long()
    images = data.images[index]
    mean = torch.tensor(info.mean).view(1, -1, 1, 1)
    std = torch.tensor(info.std).view(1, -1, 1, 1)
    maps = model.cross_attention_maps((images.float() / 255 - mean) / std)  # per branch: (S, heads, h, w)
    branches = len(maps)
    fig, axes = plt.subplots(samples, 1 + branches, figsize=(2.0 * (1 + branches), 2.0 * samples), squeeze=False)
    size = images.shape[-2:]
    for row in range(samples):
        _thumbnail(axes[row, 0], images[row])
        for b, attention in enumerate(maps):
            heat = F.interpolate(attention[row : row + 1].mean(dim=1, keepdim=True), size=size, mode="bilinear")[0, 0]
            ax = axes[row, 1 + b]
            _thumbnail(ax, images[row])
            ax.imshow(heat, cmap="inferno", alpha=0.55)
            if row == 0:
                ax.set_title(f"branch {b} CLS → branch {(b + 1) % branches}", fontsize=8)
    axes[0, 0].set_title("image", fontsize=8)
    return _png(fig)


def write_report(
    run_dir: Path,
    model: nn.Module,
    info: Any,
    data: ImageData,
    logits: torch.Tensor,
    metrics: dict[str, Any],
    thumbnails: int = 16,
) -> Path:
    """Write ``report.html`` in the run folder and return its path."""
    run_dir = Path(run_dir)
    history = read_history(run_dir)
    params = sum(p.numel() for p in model.parameters())
    seconds = sum(row.get("seconds", 0) for row in history)
    cards = [
        (f"{metrics['accuracy']:.2%}", f"{metrics['split']} accuracy"),
        (f"{metrics['balanced_accuracy']:.2%}", "balanced accuracy"),
        (f"{metrics['cohen_kappa']:.3f}", "Cohen's κ"),
        (f"{params / 1e6:.2f} M", "parameters"),
        (str(len(history)), "epochs"),
        (f"{seconds / 60:.1f} min", "training time"),
    ]
    attention = _attention(model, info, data)
    sections = [
        f"<h1>{html.escape(info.model_name)}</h1>",
        f'<p class="sub">{html.escape(run_dir.name)} · {len(info.class_names)} classes · input '
        f"{'×'.join(map(str, info.input_shape))} · {metrics['n']} {metrics['split']} samples · "
        f"{time.strftime('%Y-%m-%d %H:%M')}</p>",
        '<div class="cards">'
        + "".join(f"<div class=card><b>{v}</b><span>{k}</span></div>" for v, k in cards)
        + "</div>",
        "<h2>Learning curves</h2>",
        _curves(history),
        "<h2>Confusion matrix</h2>",
        _confusion(metrics["confusion_matrix"], info.class_names),
        "<h2>Per-class accuracy</h2>",
        _per_class(metrics["per_class_accuracy"]),
        "<h2>Hardest mistakes</h2>",
        '<p class="note">The most confident wrong predictions.</p>',
        _mistakes(data, logits, info.class_names, thumbnails),
    ]
    if attention:
        sections += [
            "<h2>Cross-attention</h2>",
            "<p class=\"note\">Where each branch's CLS token looks in the other branch's patches (last stage, "
            "mean over heads; brighter = more attention).</p>",
            attention,
        ]
    summary = {k: v for k, v in metrics.items() if k != "confusion_matrix"}
    return write_page(run_dir, sections, summary)


def write_page(run_dir: Path, sections: list[str], metrics: dict[str, Any]) -> Path:
    """``report.html`` in ``run_dir``: the ``sections``, then the run's config.yaml and ``metrics`` as
    text; one self-contained file, written atomically. Shared by image and signal reports."""
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
        f"<style>{_STYLE}</style></head><body>{''.join(sections)}</body></html>"
    )
    return atomic_write_text(run_dir / "report.html", page)
