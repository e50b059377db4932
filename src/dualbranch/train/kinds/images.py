"""The image kind: Fashion-MNIST, scikit-learn's digits, image folders and ``.npz`` arrays.

Images stay uint8 (n, C, H, W) in memory; the input pipeline turns a batch into floats, augments it
at training time (translation, flips, RandAugment, erasing, then Mixup/CutMix) and normalises it by
the per-channel mean and std of the fold's training images (the kind's preprocessing, saved as JSON).

Shape legend: n examples, B batch, C channels, H×W image, K classes.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...data.augment import AugmentConfig, augment_batch
from ...data.images import (
    FASHION_MNIST_DIR,
    IMAGE_SUFFIXES,
    ImageData,
    load_digits,
    load_fashion_mnist,
    load_image_folder,
    load_npz,
    open_image,
)
from ...errors import ConfigError, DataError, MissingFileError
from .. import figures
from ..mixup import mix_batch
from ..sections import AugmentSection, DataSection, non_negative, one_of, option, probability
from .base import DataKind, Dataset, FoldEvaluation, InputPipeline, register_kind

__all__ = ["ImageAugmentSection", "ImageDataSection", "ImageInputs", "ImageKind", "ImageNormalization"]

log = logging.getLogger(__name__)

SMALL_IMAGE = 64  # px: up to this side, images get the small-image model
SMALL_IMAGE_MODEL = "hybrid_vgg_vit_tiny"
LARGE_IMAGE_MODEL = "crossvit_9_240"


@dataclass
class ImageDataSection(DataSection):
    """``data`` of an image run: fashion_mnist | digits | image_folder | npz."""

    val_path: str | None = None  # a separate validation folder / file (else split off by val_ratio)
    img_size: tuple[int, int] | None = option(
        None, lambda v: v is None or min(v) >= 1, "two positive integers [H, W], or null"
    )  # resize to (H, W); default: the data's own size
    channels: int | None = option(None, *one_of(None, 1, 3))  # 1 or 3; default: the data's own
    on_corrupt: str = option("error", *one_of("error", "skip"))  # for unreadable image files


@dataclass
class ImageAugmentSection(AugmentSection):
    """``augment`` of an image run: DeiT's parts, each off (0) unless asked for or chosen by the recipe
    (translation, erasing and RandAugment by image size: :meth:`ImageKind.recipe`). Flips are never
    chosen for you: they turn handwriting, digits and many other classes into something else."""

    mixup_alpha: float = option(0.0, *non_negative)  # 0 turns mixup off (DeiT: 0.8)
    cutmix_alpha: float = option(0.0, *non_negative)  # 0 turns cutmix off (DeiT: 1.0)
    mix_prob: float = option(1.0, *probability)  # probability a batch is mixed at all
    switch_prob: float = option(0.5, *probability)  # cutmix instead of mixup when both are on
    translate: int = option(0, lambda v: v >= 0, "0 or more pixels")
    hflip: float = option(0.0, *probability)
    randaug_ops: int = option(0, *non_negative)
    randaug_magnitude: float = 9.0
    erase_prob: float = option(0.0, *probability)


@dataclass
class ImageNormalization:
    """Per-channel mean and std (C,) of a fold's training images, in [0, 1] units."""

    mean: list[float]
    std: list[float]

    @classmethod
    def fit(cls, images: torch.Tensor) -> ImageNormalization:
        """From uint8 images (n, C, H, W)."""
        x = images.float().div_(255)
        mean = x.mean(dim=(0, 2, 3))
        std = x.std(dim=(0, 2, 3)).clamp_min(1e-3)  # a constant channel must not divide by zero
        return cls([round(v, 6) for v in mean.tolist()], [round(v, 6) for v in std.tolist()])

    def to_json(self) -> dict[str, Any]:
        return {"mean": self.mean, "std": self.std}


class ImageInputs(InputPipeline):
    """uint8 or [0, 1] images (B, C, H, W) -> augmented (training) -> normalised float."""

    # channels-last convolutions train ~1.15–1.2× faster on a CPU (hybrid_vgg_vit_tiny, 2 cores)
    memory_format = torch.channels_last

    def __init__(self, normalization: ImageNormalization, augment: ImageAugmentSection) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(normalization.mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(normalization.std).view(1, -1, 1, 1), persistent=False)
        self.section = augment
        self.augment = AugmentConfig(
            augment.translate, augment.hflip, augment.randaug_ops, augment.randaug_magnitude, augment.erase_prob
        )

    def prepare(self, batch: torch.Tensor) -> torch.Tensor:
        x = batch.float() / 255 if batch.dtype == torch.uint8 else batch
        return (x - self.mean) / self.std

    def train_batch(
        self, batch: torch.Tensor, labels: torch.Tensor, num_classes: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        x = augment_batch(batch.float() / 255, self.augment, generator)
        aug = self.section
        x, targets = mix_batch(
            x, labels, num_classes, aug.label_smoothing, aug.mixup_alpha, aug.cutmix_alpha,
            aug.mix_prob, aug.switch_prob, generator,
        )  # fmt: skip
        return self.prepare(x).contiguous(memory_format=self.memory_format), targets


def _concat(parts: list[ImageData]) -> ImageData:
    """One ImageData of ``parts`` (same classes); its channel count must agree."""
    channels = {part.shape[0] for part in parts}
    if len(channels) > 1:
        raise DataError(f"The training, validation and test images have different channel counts {sorted(channels)}.")
    sources = None
    if all(part.sources for part in parts):
        sources = tuple(s for part in parts for s in part.sources)  # type: ignore[union-attr]
    images = torch.cat([part.images for part in parts])
    return ImageData(images, torch.cat([part.labels for part in parts]), parts[0].class_names, sources)


def _collect(inputs: Sequence[str]) -> list[Path]:
    files: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        elif path.is_file():
            files.append(path)
        else:
            raise MissingFileError(f"{path} does not exist.")
    if not files:
        raise DataError(f"No images found in {', '.join(inputs)} ({', '.join(sorted(IMAGE_SUFFIXES))}).")
    return files


@register_kind
class ImageKind(DataKind):
    name = "images"
    datasets = ("fashion_mnist", "digits", "image_folder", "npz")
    data_section = ImageDataSection
    augment_section = ImageAugmentSection

    def _load_one(
        self, data: ImageDataSection, path: str | None, split: str, classes: tuple | None, progress: bool
    ) -> ImageData:
        if data.name == "fashion_mnist":
            return load_fashion_mnist(split, path or FASHION_MNIST_DIR)
        if data.name == "digits":
            return load_digits(split)
        if path is None:
            raise ConfigError(f"data.name={data.name} needs data.path (a folder or file).")
        if data.name == "image_folder":
            return load_image_folder(path, data.img_size, data.channels, data.on_corrupt, classes, progress)
        return load_npz(path, classes)

    def load(self, data: ImageDataSection, seed: int, progress: bool = True) -> Dataset:
        installed = (FASHION_MNIST_DIR / "t10k-images-idx3-ubyte.gz").is_file()
        if data.name == "fashion_mnist" and data.path is None and not installed:
            log.warning(
                "Fashion-MNIST is not installed at %s (apt-get install dataset-fashion-mnist); "
                "using scikit-learn's digits instead.",
                FASHION_MNIST_DIR,
            )
            data = dataclasses.replace(data, name="digits")
        train = self._load_one(data, data.path, "train", None, progress)
        parts, own_val, own_test = [train], None, None
        if data.val_path:
            parts.append(self._load_one(data, data.val_path, "val", train.class_names, progress))
            own_val = np.arange(len(train), len(train) + len(parts[-1]))
        test_path = data.test_path
        if test_path or data.name in ("fashion_mnist", "digits"):
            parts.append(self._load_one(data, test_path or data.path, "test", train.class_names, progress))
            start = sum(len(p) for p in parts[:-1])
            own_test = np.arange(start, start + len(parts[-1]))
        examples = _concat(parts) if len(parts) > 1 else train
        return Dataset(examples, examples.labels.numpy(), examples.class_names, None, own_test, own_val)

    def default_model(self, dataset: Dataset) -> tuple[str, str]:
        _, height, width = dataset.examples.shape  # type: ignore[attr-defined]
        if min(height, width) <= SMALL_IMAGE:
            return SMALL_IMAGE_MODEL, f"{height}×{width} images: the small-image model"
        return LARGE_IMAGE_MODEL, f"{height}×{width} images: a published CrossViT, adapted to this size"

    def recipe(self, dataset: Dataset, n_train: int) -> list[tuple[str, Any, str]]:
        _, height, width = dataset.examples.shape  # type: ignore[attr-defined]
        side = min(height, width)
        choices: list[tuple[str, Any, str]] = [
            ("augment.translate", side // 12, f"shifts of up to 1/12 of a {side}-px side"),
            (
                "augment.erase_prob",
                0.1 if side >= 24 else 0.0,
                "random erasing" if side >= 24 else "no erasing below 24 px",
            ),
        ]
        if side >= 64:
            choices.append(("augment.randaug_ops", 1, f"one RandAugment operation at {side} px"))
        return choices

    def model_args(self, dataset: Dataset, model_fields: set[str], model_name: str) -> dict[str, Any]:
        if "img_size" not in model_fields:
            raise ConfigError(
                f"model.name={model_name} does not read images; pick an image model (`dualbranch models`)."
            )
        shape = dataset.examples.shape  # type: ignore[attr-defined]
        derived = {"num_classes": len(dataset.class_names), "in_chans": shape[0], "img_size": list(shape[1:])}
        return {k: v for k, v in derived.items() if k in model_fields}

    def describe(self, dataset: Dataset, data: ImageDataSection) -> dict[str, Any]:
        return {"input_shape": list(dataset.examples.shape)}  # type: ignore[attr-defined]

    def fit_preprocessing(self, train: ImageData, data: ImageDataSection) -> ImageNormalization:  # type: ignore[override]
        return ImageNormalization.fit(train.images)

    def read_preprocessing(self, values: dict[str, Any] | None, record: dict[str, Any]) -> ImageNormalization:
        values = values if values is not None else record["data"]  # format 1 kept them in run.json
        return ImageNormalization(list(values["mean"]), list(values["std"]))

    def to_tensor(self, examples: ImageData, preprocessing: Any, training: bool) -> torch.Tensor:  # type: ignore[override]
        return examples.images  # uint8: normalised batch by batch in the input pipeline

    def input_pipeline(self, preprocessing: ImageNormalization, augment: ImageAugmentSection) -> ImageInputs:  # type: ignore[override]
        return ImageInputs(preprocessing, augment)

    def read_inputs(self, paths: Sequence[str], record: dict[str, Any]) -> tuple[list[str], ImageData]:
        channels, height, width = record["input_shape"]
        classes = tuple(record["class_names"])
        if len(paths) == 1 and paths[0].endswith(".npz"):
            data = load_npz(paths[0], classes, labels_required=False)
            names = [f"{paths[0]}[{i}]" for i in range(len(data))]
            if tuple(data.shape) != (channels, height, width):
                raise DataError(
                    f"{paths[0]}: images are {tuple(data.shape)}, the model needs {tuple(record['input_shape'])}."
                )
            return names, data
        files = _collect(paths)
        mode = "L" if channels == 1 else "RGB"
        arrays = []
        for path in files:
            try:
                arrays.append(open_image(path, mode, (height, width)))
            except OSError as err:
                raise DataError(f"Unreadable image {path} ({err}).") from err
        images = torch.from_numpy(np.stack(arrays))
        return [str(p) for p in files], ImageData(images, torch.zeros(len(images), dtype=torch.long), classes)

    def report_sections(
        self, folds: list[FoldEvaluation], record: dict[str, Any], metrics: dict[str, Any], thumbnails: int
    ) -> list[str]:
        sections = ["<h2>Hardest mistakes</h2>", _mistakes(folds, record["class_names"], thumbnails)]
        attention = _attention(folds[0])
        if attention:
            sections += [
                "<h2>Cross-attention</h2>",
                "<p class=\"note\">Where each branch's CLS token looks in the other branch's patches (last stage, "
                "mean over heads; brighter = more attention).</p>",
                attention,
            ]
        return sections

    def migrate_config(self, values: dict[str, Any]) -> dict[str, Any]:
        values = {k: v for k, v in values.items() if k != "signal"}  # format 1 dumped it at its defaults
        augment = values.get("augment") or {}
        values["augment"] = {k: v for k, v in augment.items() if not k.startswith("signal_")}
        return values

    def migrate_record(self, record: dict[str, Any]) -> dict[str, Any]:
        mean, std = record.pop("mean"), record.pop("std")
        return {**record, "kind": self.name, "protocol": "none", "folds": ["run"], "data": {"mean": mean, "std": std}}


def _mistakes(folds: list[FoldEvaluation], class_names: list[str], count: int) -> str:
    """The most confident wrong answers over every fold, as thumbnails."""
    wrong = []  # (confidence, image, true, predicted)
    for fold in folds:
        probs = fold.logits.softmax(dim=1)
        confidence, predicted = probs.max(dim=1)
        for i in torch.nonzero(predicted != torch.from_numpy(fold.y)).flatten().tolist():
            wrong.append((float(confidence[i]), fold.examples.images[i], int(fold.y[i]), int(predicted[i])))  # type: ignore[attr-defined]
    if not wrong:
        return '<p class="note">No mistakes on this split.</p>'
    chosen = sorted(wrong, key=lambda w: -w[0])[:count]
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


def _attention(fold: FoldEvaluation, samples: int = 6) -> str | None:
    """Where each branch's CLS query looks in the other branch, on a few test images."""
    model: nn.Module = fold.model
    fusion = getattr(getattr(model, "config", None), "fusion", None)
    if not hasattr(model, "cross_attention_maps") or fusion not in (None, "cross_attention"):
        return None
    index = torch.linspace(0, len(fold.y) - 1, min(samples, len(fold.y))).long()
    images = fold.examples.images[index]  # type: ignore[attr-defined]
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
