"""The image kind's preprocessing (what a fold's training images decided, saved as JSON) and its input
pipeline (a loader batch -> model input).

Two image paths share them:

* **memory** — images of one small size, decoded once and held as uint8 (n, C, H, W); a batch is
  augmented as a whole (translation, flips, RandAugment, erasing: :mod:`dualbranch.data.augment`);
* **stream** — photos decoded in DataLoader workers, each cropped and augmented there from its original
  pixels (:mod:`dualbranch.data.photo_transforms`); the batch gets what needs the whole batch (erasing,
  Mixup / CutMix). The preprocessing also records how an unseen photo is made model input (the size,
  ``crop_pct`` of the centre crop, the interpolation), so ``predict`` feeds it as training evaluated.

Both normalise by the per-channel mean and std of the fold's training images.

Shape legend: n examples, B batch, C channels, H×W image, K classes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from ...data.augment import AugmentConfig, augment_batch
from ...data.photo_dataset import PhotoDataset
from ...data.photo_transforms import EvalTransform
from ...data.photos import PhotoFiles
from ...errors import DataError
from ..mixup import mix_batch
from .base import InputPipeline

__all__ = ["NORMALIZATION_SAMPLE", "ImageInputs", "ImagePreprocessing"]

NORMALIZATION_SAMPLE = 512  # photos decoded to estimate the mean and std (a seeded random sample)


@dataclass
class ImagePreprocessing:
    """How an image becomes model input: the per-channel ``mean`` and ``std`` (C,) in [0, 1] units (of the
    fold's training images, or a checkpoint's), the input ``img_size`` (H, W), and for streamed photos the
    centre crop's share of the resized shorter side (``crop_pct``) and the ``interpolation``.
    ``pipeline``: "memory" (images held at their size) or "stream" (decoded from files)."""

    mean: list[float]
    std: list[float]
    img_size: list[int] | None = None
    crop_pct: float | None = None
    interpolation: str | None = None
    pipeline: str = "memory"

    @property
    def streams(self) -> bool:
        """Whether images are decoded from files on demand (the stream path)."""
        return self.pipeline == "stream"

    @classmethod
    def fit(cls, images: torch.Tensor) -> ImagePreprocessing:
        """From uint8 images in memory (n, C, H, W)."""
        x = images.float().div_(255)
        mean = x.mean(dim=(0, 2, 3))
        std = x.std(dim=(0, 2, 3)).clamp_min(1e-3)  # a constant channel must not divide by zero
        size = list(images.shape[-2:])
        return cls([round(v, 6) for v in mean.tolist()], [round(v, 6) for v in std.tolist()], size)

    @classmethod
    def fit_photos(cls, files: PhotoFiles, size: tuple[int, int], crop_pct: float, seed: int = 0) -> ImagePreprocessing:
        """From a seeded sample of up to :data:`NORMALIZATION_SAMPLE` photos, as evaluation sees them."""
        picked = np.random.default_rng(seed).choice(len(files), min(len(files), NORMALIZATION_SAMPLE), replace=False)
        photos = PhotoDataset(files.subset(np.sort(picked)), EvalTransform(size, crop_pct), on_corrupt="skip")
        return cls.fit_sample((photos[i] for i in range(len(photos))), size, crop_pct)

    @classmethod
    def fit_sample(cls, photos: Iterable[torch.Tensor], size: tuple[int, int], crop_pct: float) -> ImagePreprocessing:
        """From photos uint8 (C, H, W) as evaluation sees them, one at a time."""
        # exact integer sums photo by photo: memory for one photo, not for the whole sample
        total = squares = None
        count = 0
        for photo in photos:
            x = photo.flatten(1).to(torch.int32)  # (C, H·W) in 0..255
            total = x.sum(dim=1).long() + (0 if total is None else total)
            squares = (x * x).sum(dim=1).long() + (0 if squares is None else squares)
            count += x.shape[1]
        if total is None or squares is None:
            raise DataError("No photo could be read to measure the mean and standard deviation.")
        mean = total.double() / count / 255
        variance = (squares.double() / 255**2 - count * mean.square()) / max(count - 1, 1)
        std = variance.clamp_min(0).sqrt().clamp_min(1e-3)
        return cls(
            [round(v, 6) for v in mean.tolist()], [round(v, 6) for v in std.tolist()], list(size), crop_pct, "bicubic",
            "stream",
        )  # fmt: skip

    @classmethod
    def from_json(cls, values: dict[str, Any]) -> ImagePreprocessing:
        fields = ("mean", "std", "img_size", "crop_pct", "interpolation", "pipeline")
        return cls(**{k: values[k] for k in fields if k in values})

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


class ImageInputs(InputPipeline):
    """uint8 images (B, C, H, W) -> augmented (training) -> normalised float.

    Images held in memory get their geometric and colour augmentation here, batch by batch; streamed
    photos had theirs in the loader's workers, so only erasing and Mixup / CutMix run here.
    """

    # CPU convolution kernels prefer channels-last (both layouts timed: docs/recipes.md, benchmarks/train_step_speed.py)
    memory_format = torch.channels_last

    def __init__(self, preprocessing: ImagePreprocessing, augment: Any) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(preprocessing.mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(preprocessing.std).view(1, -1, 1, 1), persistent=False)
        self.section = augment
        if preprocessing.streams:
            self.augment = AugmentConfig(erase_prob=augment.erase_prob)
        else:
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
