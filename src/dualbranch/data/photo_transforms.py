"""What one photo becomes before batching: a random-resized crop and an augmentation policy for
training, an aspect-preserving resize and a centre crop for evaluation.

Built on albumentations (OpenCV underneath), which augments one image at a time in a loader worker
without a tensor round trip; the images per second per worker against timm's loader on the same folder
are in docs/guides/photos.md (benchmarks/photo_input_speed.py).

* **Training** (the ImageNet recipe of every CrossViT / DeiT run): ``RandomResizedCrop`` (a random
  8–100 % of the area, aspect 3/4–4/3, by default; Szegedy et al., CVPR 2015), a horizontal flip with
  probability ``hflip``, then a policy: ``trivialaugment`` (one operation at a random strength;
  Müller & Hutter, ICCV 2021, the "wide" ranges) or ``randaugment`` (``ops`` operations at strength
  ``magnitude`` out of 10 with a little noise; Cubuk et al., NeurIPS 2020, as timm's ``rand-m9-mstd0.5``
  configures it), or none.
* **Evaluation**: the shorter side resized to ``size / crop_pct``, then the centre ``size`` crop (timm's
  pretrained-model convention; ``crop_pct`` 0.875 is ImageNet's 224 of 256).

Randomness is a pure function of (seed, epoch, example index), not of a worker's state, so the same
example gets the same crop in any worker, with any number of workers, and after a resume.

Shape legend: H×W photo, S_h×S_w output size, C channels. Arrays are uint8 (H, W, C).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import cv2
import numpy as np

# albumentations asks PyPI for a newer version at import unless told not to: a library must not
# phone home (and this machine class has no internet, where the check only costs time)
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
import albumentations as A

# One OpenCV thread, set before OpenCV starts any: the DataLoader workers are the parallelism, and a
# thread pool made in the trainer process would be inherited half-alive by every forked worker, where
# the next OpenCV call that touches it waits forever.
cv2.setNumThreads(1)

__all__ = ["POLICIES", "EvalTransform", "TrainTransform", "TrainTransformConfig", "decode_size_for"]

POLICIES = ("none", "trivialaugment", "randaugment")


@dataclass(frozen=True)
class TrainTransformConfig:
    """The training-time transform of one photo.

    Attributes:
        size: (S_h, S_w) output.
        scale: RandomResizedCrop's range of the crop's share of the photo's area; (1, 1): no crop, the
            whole image resized to ``size``.
        translate: shifts of up to this many pixels (filled with black) after the crop, as the in-memory
            path makes them (for small images, which are used whole).
        hflip: probability of a horizontal flip.
        policy: one of :data:`POLICIES`.
        ops, magnitude: RandAugment's operations per image and strength (0..10).
        channels: 1 or 3 (colour operations are left out for grayscale).
    """

    size: tuple[int, int]
    scale: tuple[float, float] = (0.08, 1.0)
    translate: int = 0
    hflip: float = 0.5
    policy: str = "trivialaugment"
    ops: int = 2
    magnitude: float = 9.0
    channels: int = 3


def decode_size_for(size: tuple[int, int]) -> tuple[int, int]:
    """The smallest decoded size (h, w) a JPEG may be reduced to for crops of output ``size``: twice the
    output, so a crop of a quarter of the photo's area still comes from full-resolution pixels."""
    return 2 * size[0], 2 * size[1]


def _trivial_augment(config: TrainTransformConfig) -> A.BasicTransform:
    """One operation drawn uniformly, at a strength drawn uniformly over the "wide" ranges."""
    side = min(config.size)
    shift = round(32 * side / 224)  # TrivialAugmentWide translates up to 32 px of a 224-px image
    operations = [
        A.NoOp(),
        A.Affine(shear={"x": (-44.7, 44.7), "y": 0}, p=1.0),  # shear factor 0.99 = 44.7°
        A.Affine(shear={"x": 0, "y": (-44.7, 44.7)}, p=1.0),
        A.Affine(translate_px={"x": (-shift, shift), "y": 0}, p=1.0),
        A.Affine(translate_px={"x": 0, "y": (-shift, shift)}, p=1.0),
        A.Affine(rotate=(-135, 135), p=1.0),
        A.ColorJitter(brightness=(0.01, 1.99), contrast=0, saturation=0, hue=0, p=1.0),
        A.ColorJitter(brightness=0, contrast=(0.01, 1.99), saturation=0, hue=0, p=1.0),
        A.Sharpen(alpha=(0.0, 1.0), lightness=(1.0, 1.0), p=1.0),
        A.Posterize(num_bits=(2, 8), p=1.0),
        A.Solarize(threshold_range=(0.0, 1.0), p=1.0),
        A.AutoContrast(p=1.0),
        A.Equalize(p=1.0),
    ]
    if config.channels == 3:
        operations.append(A.ColorJitter(brightness=0, contrast=0, saturation=(0.01, 1.99), hue=0, p=1.0))
    return A.OneOf(operations, p=1.0)


def _rand_augment(config: TrainTransformConfig) -> A.BasicTransform:
    """``ops`` operations drawn from the list, each at strength ``magnitude``/10 ± 1/10 and a random sign."""
    low, high = max(0.0, config.magnitude - 1) / 10, min(10.0, config.magnitude + 1) / 10
    size_h, size_w = config.size

    def span(limit: float) -> tuple[float, float]:
        return (-limit * high, limit * high)

    def factor(limit: float) -> tuple[float, float]:  # an enhancement factor 1 ± limit·strength
        return (1 - limit * high, 1 + limit * high)

    operations = [
        A.AutoContrast(p=1.0),
        A.Equalize(p=1.0),
        A.InvertImg(p=1.0),
        A.Affine(rotate=span(30), p=1.0),
        A.Posterize(num_bits=(int(8 - 4 * high), int(8 - 4 * low)), p=1.0),
        A.Solarize(threshold_range=(1 - high, 1 - low), p=1.0),
        A.ColorJitter(brightness=factor(0.9), contrast=0, saturation=0, hue=0, p=1.0),
        A.ColorJitter(brightness=0, contrast=factor(0.9), saturation=0, hue=0, p=1.0),
        A.Sharpen(alpha=(0.0, high), lightness=(1.0, 1.0), p=1.0),
        A.Affine(shear={"x": span(16.7), "y": 0}, p=1.0),  # shear factor 0.3 = 16.7°
        A.Affine(shear={"x": 0, "y": span(16.7)}, p=1.0),
        A.Affine(translate_px={"x": span(0.45 * size_w), "y": 0}, p=1.0),
        A.Affine(translate_px={"x": 0, "y": span(0.45 * size_h)}, p=1.0),
    ]
    if config.channels == 3:
        operations.append(A.ColorJitter(brightness=0, contrast=0, saturation=factor(0.9), hue=0, p=1.0))
    # each chosen operation is applied with probability 0.5, as timm's RandAugment does
    for operation in operations:
        operation.p = 0.5
    return A.SomeOf(operations, n=config.ops, replace=False, p=1.0)


class TrainTransform:
    """Photo (H, W, C) uint8 -> augmented (S_h, S_w, C) uint8, reproducible from ``seed``."""

    def __init__(self, config: TrainTransformConfig) -> None:
        if config.policy not in POLICIES:
            raise ValueError(f"policy must be one of {POLICIES}, got {config.policy!r}.")
        low, high = config.scale
        if (low, high) == (1.0, 1.0):
            resize: A.BasicTransform = A.Resize(*config.size, interpolation=cv2.INTER_CUBIC, area_for_downscale="image")
        else:
            resize = A.RandomResizedCrop(
                size=config.size,
                scale=(low, high),
                ratio=(3 / 4, 4 / 3),
                interpolation=cv2.INTER_CUBIC,
                area_for_downscale="image",
            )
        steps = [resize]
        if config.translate > 0:
            shift = (-config.translate, config.translate)
            steps.append(A.Affine(translate_px={"x": shift, "y": shift}, border_mode=cv2.BORDER_CONSTANT, p=1.0))
        if config.hflip > 0:
            steps.append(A.HorizontalFlip(p=config.hflip))
        if config.policy == "trivialaugment":
            steps.append(_trivial_augment(config))
        elif config.policy == "randaugment" and config.ops > 0:
            steps.append(_rand_augment(config))
        self.config = config
        self.compose = A.Compose(steps, seed=0)

    def __call__(self, image: np.ndarray, seed: int) -> np.ndarray:
        self.compose.set_random_seed(seed)
        out = self.compose(image=image)["image"]
        return out if out.ndim == 3 else out[:, :, None]


class EvalTransform:
    """Photo (H, W, C) uint8 -> (S_h, S_w, C) uint8: the shorter side to ``size / crop_pct``, centre crop.

    Resizing keeps the aspect ratio; downscaling averages pixel areas (no aliasing), upscaling is bicubic.
    """

    def __init__(self, size: tuple[int, int], crop_pct: float = 0.875) -> None:
        if not 0 < crop_pct <= 1:
            raise ValueError(f"crop_pct must be in (0, 1], got {crop_pct}.")
        self.size, self.crop_pct = size, crop_pct

    def resized_shape(self, height: int, width: int) -> tuple[int, int]:
        """(h, w) the photo is resized to before the centre crop."""
        scale = max(self.size[0] / height, self.size[1] / width) / self.crop_pct
        return max(self.size[0], math.floor(height * scale + 0.5)), max(self.size[1], math.floor(width * scale + 0.5))

    def __call__(self, image: np.ndarray) -> np.ndarray:
        height, width = image.shape[:2]
        new_h, new_w = self.resized_shape(height, width)
        if (new_h, new_w) != (height, width):
            shrink = new_h * new_w < height * width
            image = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
            image = image if image.ndim == 3 else image[:, :, None]
        top, left = (new_h - self.size[0]) // 2, (new_w - self.size[1]) // 2
        return np.ascontiguousarray(image[top : top + self.size[0], left : left + self.size[1]])
