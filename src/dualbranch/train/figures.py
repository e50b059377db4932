"""Figures and HTML pieces of a run's report, each returned as an HTML string (figures embedded as PNG).

Used by the report shell (:mod:`.report`) and by the data kinds' own report sections.
"""

from __future__ import annotations

import base64
import html
import io

import matplotlib

matplotlib.use("Agg")  # headless: the report is written on servers and in CI
import matplotlib.pyplot as plt
import torch
from matplotlib.ticker import MaxNLocator

__all__ = ["STYLE", "cards", "confusion", "curves", "per_class", "png", "table", "thumbnail"]

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;color:#1d2330;
padding:0 1em;line-height:1.45}
h1{margin-bottom:.2em}h2{margin-top:2em;border-bottom:1px solid #dde;padding-bottom:.2em}
.sub{color:#667;margin-top:0}.cards{display:flex;gap:1em;flex-wrap:wrap;margin:1.2em 0}
.card{background:#f4f6fb;border-radius:8px;padding:.8em 1.2em;min-width:140px}
.card b{display:block;font-size:1.6em}.card span{color:#667;font-size:.9em}
img{max-width:100%}table{border-collapse:collapse}td,th{padding:.25em .8em;border-bottom:1px solid #eef;text-align:left}
.note{color:#667;font-size:.9em}
"""


def png(fig: plt.Figure) -> str:
    """The figure as an embedded PNG ``<img>`` (the figure is closed)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return '<img src="data:image/png;base64,' + base64.b64encode(buffer.getvalue()).decode() + '">'


def curves(
    history: list[dict],
    train_label: str = "train (augmented)",
    metric: str = "acc",
    title: str = "accuracy (%)",
    scale: float = 100.0,
) -> str:
    """Loss and a metric (``train_<metric>``, ``val_<metric>``, shown × ``scale``; accuracy in % by
    default) per epoch, training and validation, from ``history.jsonl`` rows."""
    if not history:
        return '<p class="note">No epoch history (the run was not trained here).</p>'
    epochs = [row["epoch"] for row in history]
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(11, 3.6))
    for key, label in (("train_loss", "train"), ("val_loss", "validation")):
        values = [row.get(key) for row in history]
        if any(v is not None for v in values):
            loss_ax.plot(epochs, values, marker="o", ms=3, label=label)
    for key, label in ((f"train_{metric}", train_label), (f"val_{metric}", "validation")):
        values = [None if row.get(key) is None else scale * row[key] for row in history]
        if any(v is not None for v in values):
            acc_ax.plot(epochs, values, marker="o", ms=3, label=label)
    loss_ax.set(title="loss", xlabel="epoch")
    acc_ax.set(title=title, xlabel="epoch")
    for ax in (loss_ax, acc_ax):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend()
    return png(fig)


def confusion(counts: list[list[int]], class_names: list[str]) -> str:
    """The confusion matrix (K, K) of counts, coloured by the share of each true class."""
    matrix = torch.tensor(counts, dtype=torch.float)
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
    return png(fig)


def per_class(rates: dict[str, float]) -> str:
    """Horizontal bars of each class's accuracy."""
    names = list(rates)
    values = [100 * rates[n] for n in names]
    fig, ax = plt.subplots(figsize=(7, 0.32 * len(names) + 1))
    bars = ax.barh(names[::-1], values[::-1], color="#4c72b0")
    ax.bar_label(bars, fmt="%.1f", fontsize=8, padding=2)
    ax.set(xlim=(0, 105), xlabel="accuracy (%)", title="per-class accuracy")
    return png(fig)


def thumbnail(ax: plt.Axes, image: torch.Tensor) -> None:
    """Draw a uint8 image (C, H, W) without ticks."""
    if image.shape[0] == 1:
        ax.imshow(image[0], cmap="gray", vmin=0, vmax=255)
    else:
        ax.imshow(image[:3].permute(1, 2, 0).to(torch.uint8))
    ax.set_xticks([])
    ax.set_yticks([])


def table(header: list[str], rows: list[list[str]]) -> str:
    """An HTML table; ``rows`` hold HTML already escaped by the caller."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def cards(items: list[tuple[str, str]]) -> str:
    """Summary cards: (big value, label) pairs."""
    return (
        '<div class="cards">'
        + "".join(f"<div class=card><b>{v}</b><span>{k}</span></div>" for v, k in items)
        + "</div>"
    )
