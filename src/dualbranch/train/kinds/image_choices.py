"""What the image kind decides from the data: the image path, the model and the photo input size.

* **path** (``data.pipeline: auto``): images of one small size (≤ 64 px a side) that fit the memory
  budget are decoded once and held in memory; anything else — photos, mixed sizes, more than the
  budget holds — streams: indexed up front, decoded and augmented in DataLoader workers.
* **model** (``model.name: auto``): small images get the small-image hybrid, larger ones in memory the
  image hybrid; streamed photos the photo hybrid (a strided stem: photos are large), or a published
  CrossViT for collections of ImageNet scale, where a Transformer trained from scratch pays off (DeiT,
  Touvron et al. 2021).
  Up to :data:`GRADIENT_BRANCH_SET` training images, the chosen hybrid's twin with a third branch of
  gradient histograms classified in closed form (:mod:`dualbranch.models.hog_fusion`), fused by weights
  chosen on validation images.
* **input size** of streamed photos (``data.img_size``): about the photos' own shorter side, capped by
  what the training set's size repays, and always a size the model's patches tile exactly (no rows or
  columns left unseen).
* **flips** of images held in memory (and of small images streamed): only where a linear probe on
  thumbnails recognises mirror images as well as the originals (:mod:`dualbranch.data.mirror_check`):
  photos of things that face either way get them; handwriting, digits and sets whose classes face one
  way do not. Streamed photos always get them.
* **augmentation** of streamed photos, by the length of the schedule: a model that sees each photo
  many times needs the photos varied hard (TrivialAugment, random erasing, crops down to 8 % of the
  area: DeiT's recipe, Touvron et al. 2021); in a short schedule the same augmentation only keeps the
  model from fitting the data it has (its training accuracy stays below its validation accuracy), so a
  few passes get flips and milder random-resized crops only (at least 35 % of the photo's area instead of
  8 %: the shorter the training, the less augmentation pays — Steiner et al., "How to train your ViT?",
  TMLR 2022; the lighter short-schedule recipe of Wightman, Touvron, Jégou, "ResNet strikes back", 2021).

Shape legend: none (sizes are (H, W) pairs).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ...data.images import ImageData, open_image
from ...data.mirror_check import MAX_EXAMPLES, check_mirror
from ...data.photos import READ_ERRORS, PhotoFiles, PhotoSurvey
from ...factory import create_model
from ...registry import list_models

__all__ = [
    "GRADIENT_BRANCH_SET",
    "LARGE_PHOTO_SET",
    "PHOTO_MODEL",
    "SHORT_SCHEDULE_CROP",
    "SMALL_IMAGE",
    "SMALL_IMAGE_MODEL",
    "SMALL_IMAGE_MODELS",
    "STRONG_AUGMENT_EPOCHS",
    "choose_flips",
    "choose_image_model",
    "choose_photo_side",
    "choose_pipeline",
    "photo_augmentation",
    "tiles_exactly",
]

SMALL_IMAGE = 64  # px: up to this side, images of one size are held in memory and get the small-image model
SMALL_IMAGE_MODEL = "hybrid_vgg_vit_tiny"
# tried in order: 7-px patches tile Fashion-MNIST's 28 px, 8-px ones CIFAR's 32 and 64
SMALL_IMAGE_MODELS = (SMALL_IMAGE_MODEL, "hybrid_vgg_vit_tiny_patch8")
IMAGE_MODEL = "hybrid_vgg_vit_small"  # larger images held in memory (at most a memory budget of them)
PHOTO_MODEL = "hybrid_vgg_vit_photo"
LARGE_PHOTO_MODEL = "crossvit_9_240"
LARGE_PHOTO_SET = 100_000  # training photos from which a published CrossViT trained from scratch pays off
# the largest photo side worth training at, by training-set size: a few thousand photos learn as much
# at 128 px as at 224 for a fraction of the compute
_SIDE_CAPS = ((10_000, 128), (LARGE_PHOTO_SET, 160))
MIN_PHOTO_SIDE = 32
# up to this many training images a network trained from scratch still lacks what hand-made gradient
# histograms know (measured: benchmarks/results/photo_hog_branch.md)
GRADIENT_BRANCH_SET = 10_000
GRADIENT_BRANCH_SUFFIX = "_hog"
STRONG_AUGMENT_EPOCHS = 30  # from this many passes over the photos on, DeiT's augmentation pays off
SHORT_SCHEDULE_CROP = (0.35, 1.0)  # the random-resized crop's share of the area below those passes


def choose_pipeline(
    requested: str, survey: PhotoSurvey, n_files: int, channels: int, budget_gb: float
) -> tuple[str, str]:
    """("memory" | "stream", why) for an image folder whose sampled headers are ``survey``."""
    if requested != "auto":
        return requested, f"data.pipeline={requested} as configured"
    height, width = survey.common_size
    sizes = len(set(survey.sizes))
    if sizes > 1:
        return "stream", f"{sizes} different sizes among {len(survey.sizes)} files sampled: decoded as they are read"
    if max(height, width) > SMALL_IMAGE:
        return "stream", f"{height}×{width} photos: decoded as they are read, cropped from the original pixels"
    gigabytes = n_files * channels * height * width / 1e9
    if gigabytes > budget_gb:
        return (
            "stream",
            f"{n_files:,} images would take {gigabytes:.1f} GB in memory (data.memory_budget_gb={budget_gb})",
        )
    return (
        "memory",
        f"{n_files:,} images of {height}×{width}: decoded once and held in memory ({gigabytes * 1e3:.0f} MB)",
    )


def choose_image_model(size: tuple[int, int], n_train: int, streamed: bool, channels: int = 3) -> tuple[str, str]:
    """(registered model, why) for (H, W) images (streamed: the median photo's shorter side twice),
    ``n_train`` training images, held in memory or ``streamed``. Small images get the first small-image
    hybrid whose patches cover them exactly; up to :data:`GRADIENT_BRANCH_SET` training images, the
    model's twin with a gradient-histogram branch where one is registered."""
    name, why = _learned_model(size, n_train, streamed, channels)
    twin = f"{name}{GRADIENT_BRANCH_SUFFIX}"
    if n_train <= GRADIENT_BRANCH_SET and twin in list_models():
        return twin, why + f", with a gradient-histogram branch (HOG + RBF kernel ridge) for {n_train:,} images"
    return name, why


def _learned_model(size: tuple[int, int], n_train: int, streamed: bool, channels: int) -> tuple[str, str]:
    side = min(size)
    if side <= SMALL_IMAGE:
        for name in SMALL_IMAGE_MODELS:
            if _fits(name, size, channels):
                return name, f"{size[0]}×{size[1]} images: the small-image hybrid, whose patches cover them"
        return SMALL_IMAGE_MODEL, f"{side}-px images: the small-image hybrid"
    if n_train >= LARGE_PHOTO_SET:
        return LARGE_PHOTO_MODEL, f"{n_train:,} training photos: a published CrossViT, trained from scratch"
    if not streamed:
        return IMAGE_MODEL, f"{n_train:,} {side}-px images: the image hybrid (full-resolution convolutions)"
    return PHOTO_MODEL, f"{n_train:,} training photos: the photo hybrid (convolutions learn from few photos)"


def _tokenizers(model: nn.Module) -> Iterator[nn.Module]:
    for module in model.modules():
        if all(hasattr(module, a) for a in ("img_size", "patch_size", "grid_size")):
            yield module


def tiles_exactly(model: nn.Module) -> bool:
    """Whether every tokenizer of ``model`` covers its whole input (grid × patch = input size)."""
    for tokenizer in _tokenizers(model):
        patch = tokenizer.patch_size
        patch = (patch, patch) if isinstance(patch, int) else tuple(patch)
        if any(g * p != s for g, p, s in zip(tokenizer.grid_size, patch, tokenizer.img_size)):
            return False
    return True


def _fits(model_name: str, size: int | tuple[int, int], channels: int) -> bool:
    size = (size, size) if isinstance(size, int) else tuple(size)
    try:
        # probing sizes: the model's warning about unseen rows is the answer here, not news for the user
        with torch.device("meta"), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            model = create_model(model_name, img_size=size, in_chans=channels)
    except (ValueError, TypeError):  # too small for the model, or a model without these options
        return False
    return tiles_exactly(model)


def choose_photo_side(
    survey: PhotoSurvey, n_train: int, model_name: str, channels: int, model_side: int | None
) -> tuple[int, str]:
    """(side, why): the square input size of streamed photos.

    A model whose default input is a published size (``model_side``, e.g. CrossViT's 240) keeps it;
    otherwise the photos' median shorter side, capped by the training-set size (:data:`_SIDE_CAPS`),
    rounded down to the nearest size the model's patches tile exactly.
    """
    photo_model = model_name.removesuffix(GRADIENT_BRANCH_SUFFIX) == PHOTO_MODEL
    if not photo_model and model_side is not None and _fits(model_name, model_side, channels):
        return model_side, f"{model_name}'s own input size"
    cap = next((side for limit, side in _SIDE_CAPS if n_train < limit), 224)
    target = max(MIN_PHOTO_SIDE, min(survey.median_short_side, cap))
    why = f"median shorter side {survey.median_short_side} px"
    if target < survey.median_short_side:
        why += f", capped at {cap} px for {n_train:,} training photos"
    for side in range(target, MIN_PHOTO_SIDE - 1, -1):
        if _fits(model_name, side, channels):
            if side != target:
                why += f"; {side} px, which {model_name}'s patches tile exactly"
            return side, why
    side = max(MIN_PHOTO_SIDE, 16 * math.ceil(target / 16))
    return side, why + f"; no smaller size suits {model_name}"


def _decoded_sample(files: PhotoFiles, index: np.ndarray, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Up to :data:`MAX_EXAMPLES` of ``files`` (at ``index``) decoded at their common size: (n, C, H, W), (n,)."""
    picked = np.random.default_rng(seed).permutation(index)[:MAX_EXAMPLES]
    mode, size = ("L" if files.channels == 1 else "RGB"), files.survey.common_size  # type: ignore[union-attr]
    images, labels = [], []
    for i in picked.tolist():
        try:
            images.append(torch.tensor(open_image(Path(files.path(i)), mode, size)))
        except READ_ERRORS:  # unreadable files are the loader's to report or skip (data.on_corrupt)
            continue
        labels.append(int(files.labels[i]))
    if not images:
        return torch.zeros(0, files.channels, *size, dtype=torch.uint8), torch.zeros(0, dtype=torch.long)
    return torch.stack(images), torch.tensor(labels)


def choose_flips(examples: ImageData | PhotoFiles, train: np.ndarray, seed: int = 0) -> tuple[float, str]:
    """(probability of a horizontal flip, why) for small images, from the examples at ``train`` (the mirror
    check, :mod:`dualbranch.data.mirror_check`): all but the data's own test split, so under cross-validation
    the folds share one decision, as they share the rest of the recipe."""
    if isinstance(examples, ImageData):
        index = torch.as_tensor(train, dtype=torch.long)
        images, labels = examples.images[index], examples.labels[index]
    else:
        images, labels = _decoded_sample(examples, train, seed)
    if len(images) < 2:
        return 0.0, "no flips: too few images to check whether mirror images keep their class"
    check = check_mirror(images, labels, seed=seed)
    return (0.5 if check.allows_flips else 0.0), check.reason()


def photo_augmentation(epochs: int) -> list[tuple[str, Any, str]]:
    """(key, value, why) of streamed photos' augmentation for a schedule of ``epochs`` passes."""
    if epochs >= STRONG_AUGMENT_EPOCHS:
        why = f"{epochs} passes over the photos"  # at least STRONG_AUGMENT_EPOCHS: always plural
        return [
            ("augment.trivial_augment", True, f"TrivialAugment: one operation at a random strength per photo ({why})"),
            ("augment.erase_prob", 0.25, f"random erasing (DeiT's 0.25; {why})"),
        ]
    passes = f"{epochs} pass" if epochs == 1 else f"{epochs} passes"
    why = f"{passes} over the photos (fewer than {STRONG_AUGMENT_EPOCHS}): random-resized crops and flips only"
    low, high = SHORT_SCHEDULE_CROP
    return [
        ("augment.trivial_augment", False, why),
        ("augment.erase_prob", 0.0, why),
        ("augment.crop_scale", [low, high], f"crops of at least {low:.0%} of the photo ({passes})"),
    ]
