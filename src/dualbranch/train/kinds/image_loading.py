"""Loading the image kind's examples that take more than one call: the folders of an image-folder run
decoded into memory, and image shards (:mod:`dualbranch.data.shards`) opened and surveyed.

Shape legend: none (these functions load and index; tensors are uint8 (n, C, H, W) where made).
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import torch
from PIL import Image

from ...data.images import ImageData, load_image_folder
from ...data.photos import GRAY_MODES, READ_ERRORS, PhotoSurvey
from ...data.shard_sources import ShardSource, open_source
from ...data.shards import ImageShards
from ...errors import ConfigError, DataError

__all__ = ["SURVEY_PHOTOS", "load_shards", "memory_parts"]

SURVEY_PHOTOS = 64  # photos of the first shard piece whose headers tell the sizes


def memory_parts(data: Any, progress: bool) -> list[ImageData]:
    """Every folder of an image-folder run decoded into memory, all at the training folder's size."""
    paths = [data.path, data.val_path, data.test_path]
    train = load_image_folder(paths[0], data.img_size, data.channels, data.on_corrupt, None, progress)
    size = tuple(train.shape[1:])
    others = [p for p in paths[1:] if p]
    return [train] + [
        load_image_folder(p, size, train.shape[0], data.on_corrupt, train.class_names, progress) for p in others
    ]


def _survey(source: ShardSource) -> PhotoSurvey:
    """Sizes and modes of up to :data:`SURVEY_PHOTOS` photos of the source's first pieces (from their headers)."""
    sizes, modes = [], set()
    for unit in range(len(source.rows)):
        for data, _ in source.read(unit):
            try:
                with Image.open(io.BytesIO(data)) as image:
                    sizes.append((image.height, image.width))
                    modes.add(image.mode)
            except READ_ERRORS:
                continue
            if len(sizes) >= SURVEY_PHOTOS:
                return PhotoSurvey(tuple(sizes), modes <= GRAY_MODES)
    if not sizes:
        raise DataError(f"{source.location}: none of its photos could be read.")
    return PhotoSurvey(tuple(sizes), modes <= GRAY_MODES)


def load_shards(data: Any, seed: int) -> tuple[ImageShards, list[int], list[tuple[str, Any, str]]]:
    """The shards of ``data.path`` (and ``data.val_path`` / ``data.test_path``), the size of each, and why
    they stream."""
    if data.path is None:
        raise ConfigError("data.name=image_shards needs data.path: a folder or URL of shards (`dualbranch data pack`).")
    parts = [open_source(path, data.storage_options) for path in (data.path, data.val_path, data.test_path) if path]
    names = parts[0].class_names
    for part in parts[1:]:
        if len(part.class_names) > len(names) or tuple(part.class_names) != tuple(names)[: len(part.class_names)]:
            raise DataError(
                f"{part.location} has the classes {list(part.class_names)}, the training shards {list(names)}."
            )
    labels = torch.from_numpy(np.concatenate([part.labels for part in parts]))
    surveyed = _survey(parts[0])
    channels = data.channels or (1 if surveyed.grayscale else 3)
    shards = ImageShards(tuple(parts), labels, tuple(names), channels, data.on_corrupt, surveyed)
    data.pipeline = "stream"  # shards are always read as they stream
    pieces = sum(len(part.rows) for part in parts)
    why = f"image shards: {len(labels):,} photos in {pieces} pieces, read a piece at a time"
    return shards, [len(part) for part in parts], [("data.pipeline", "stream", why)]
