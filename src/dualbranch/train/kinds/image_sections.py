"""The image kind's config sections: ``data`` (where the images are, their size and channels, how they are
read and normalised) and ``augment`` (DeiT's augmentations, each off unless asked for or chosen by the recipe)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field

from ..sections import AugmentSection, DataSection, NonNegative, Positive, Probability

__all__ = ["ImageAugmentSection", "ImageDataSection"]


def _ordered_shares(shares: tuple[float, float]) -> tuple[float, float]:
    if not 0 < shares[0] <= shares[1] <= 1:
        raise ValueError("not 0 < low <= high <= 1")
    return shares


@dataclass
class ImageDataSection(DataSection):
    """``data`` of an image run: fashion_mnist | digits | image_folder | npz | image_shards."""

    val_path: str | None = None  # a separate validation folder / file (else split off by val_ratio)
    # in memory: resize to (H, W) (default: the data's own size); streamed: the crop size (default: the recipe's)
    img_size: Annotated[
        tuple[Positive, Positive] | None, Field(description="two positive integers [H, W], or null")
    ] = None
    channels: Literal[1, 3] | None = None  # 1 or 3; default: the data's own
    on_corrupt: Literal["error", "skip"] = "error"  # for unreadable image files
    # image folders: held in memory, or decoded as they are read; auto: from the files (train/kinds/image_choices.py)
    pipeline: Literal["auto", "memory", "stream"] = "auto"
    # streamed: centre crop / resized side
    crop_pct: Annotated[float, Field(gt=0, le=1, description="in (0, 1]")] = 0.875
    # above it, images stream
    memory_budget_gb: Annotated[float, Field(gt=0, description="a positive number of GB")] = 4.0
    # image_shards on object storage: fsspec's options, e.g. {endpoint_url: http://127.0.0.1:9000, anon: false}
    storage_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    # normalisation (one value per channel, in [0, 1] units); null: the training images' own. A fine-tuning
    # run (model.checkpoint) takes its checkpoint's, as the recipe prints
    mean: Annotated[
        list[Annotated[float, Field(ge=0, le=1)]] | None,
        Field(description="values in [0, 1], one per channel, or null"),
    ] = None
    std: Annotated[
        list[Annotated[float, Field(gt=0)]] | None, Field(description="positive values, one per channel, or null")
    ] = None


@dataclass
class ImageAugmentSection(AugmentSection):
    """``augment`` of an image run: DeiT's parts, each off (0) unless asked for or chosen by the recipe
    (:meth:`ImageKind.recipe`). Small images get flips only where mirror images keep their class (they
    turn handwriting and digits into something else); streamed photos get random-resized crops, flips
    and TrivialAugment."""

    mixup_alpha: NonNegative = 0.0  # 0 turns mixup off (DeiT: 0.8)
    cutmix_alpha: NonNegative = 0.0  # 0 turns cutmix off (DeiT: 1.0)
    mix_prob: Probability = 1.0  # probability a batch is mixed at all
    switch_prob: Probability = 0.5  # cutmix instead of mixup when both are on
    translate: Annotated[int, Field(ge=0, description="0 or more pixels")] = 0  # shifts of whole small images
    hflip: Probability = 0.0
    randaug_ops: Annotated[int, Field(ge=0, description="0 or more")] = 0  # RandAugment operations per image (0: off)
    randaug_magnitude: Annotated[float, Field(ge=0, le=10, description="in [0, 10]")] = 9.0
    erase_prob: Probability = 0.0
    # streamed: the random-resized crop's share of the photo's area, and TrivialAugment instead of RandAugment
    crop_scale: Annotated[
        tuple[float, float],
        AfterValidator(_ordered_shares),
        Field(description="two shares [low, high] with 0 < low <= high <= 1"),
    ] = (0.08, 1.0)
    trivial_augment: bool = False
