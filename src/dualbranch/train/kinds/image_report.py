"""The image kind's report sections: the most confident mistakes and the cross-attention maps.

Thumbnails show each image as the model saw it at evaluation (the loader's input: the image in
memory, or a photo resized and centre-cropped).

Shape legend: S samples, C channels, H×W image.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

from .. import figures
from .base import FoldEvaluation, stack_items

__all__ = ["attention_maps", "mistakes"]


def mistakes(folds: list[FoldEvaluation], class_names: list[str], count: int) -> str:
    """The most confident wrong answers over every fold, as thumbnails."""
    wrong = []  # (confidence, fold, example, true, predicted)
    for fold in folds:
        probs = fold.outputs.softmax(dim=1)
        confidence, predicted = probs.max(dim=1)
        for i in torch.nonzero(predicted != torch.from_numpy(fold.y)).flatten().tolist():
            wrong.append((float(confidence[i]), fold, i, int(fold.y[i]), int(predicted[i])))
    if not wrong:
        return '<p class="note">No mistakes on this split.</p>'
    # only the shown images are read: a streamed photo is decoded again to be shown
    chosen = [
        (confidence, stack_items(fold.loader_inputs, [i])[0], true, predicted)
        for confidence, fold, i, true, predicted in sorted(wrong, key=lambda w: -w[0])[:count]
    ]
    columns = 8
    rows = -(-len(chosen) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 1.45, rows * 1.75), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (confidence, image, true, predicted) in zip(axes.flat, chosen):
        ax.axis("on")
        figures.thumbnail(ax, image)
        ax.set_title(f"{class_names[true][:12]}\n→ {class_names[predicted][:12]} {confidence:.0%}", fontsize=7)
    fig.suptitle("true → predicted (confidence)", fontsize=9)
    return figures.png(fig)


def attention_maps(fold: FoldEvaluation, samples: int = 6) -> str | None:
    """Where each branch's CLS query looks in the other branch, on a few test images."""
    model: nn.Module = fold.model
    fusion = getattr(getattr(model, "config", None), "fusion", None)
    if not hasattr(model, "cross_attention_maps") or fusion not in (None, "cross_attention"):
        return None
    index = torch.linspace(0, len(fold.y) - 1, min(samples, len(fold.y))).long()
    images = stack_items(fold.loader_inputs, index)  # uint8 (S, C, H, W), as the model saw them
    maps = model.cross_attention_maps(fold.model_input(index))  # per branch: (S, heads, h, w)
    branches = len(maps)
    fig, axes = plt.subplots(len(index), 1 + branches, figsize=(2.0 * (1 + branches), 2.0 * len(index)), squeeze=False)
    size = images.shape[-2:]
    for row in range(len(index)):
        figures.thumbnail(axes[row, 0], images[row])
        for b, attention in enumerate(maps):
            heat = F.interpolate(attention[row : row + 1].mean(dim=1, keepdim=True), size=size, mode="bilinear")[0, 0]
            ax = axes[row, 1 + b]
            figures.thumbnail(ax, images[row])
            ax.imshow(heat, cmap="inferno", alpha=0.55)
            if row == 0:
                ax.set_title(f"branch {b} CLS → branch {(b + 1) % branches}", fontsize=8)
    axes[0, 0].set_title("image", fontsize=8)
    return figures.png(fig)
