"""Photos decoded on demand: a map-style torch Dataset over a :class:`~.photos.PhotoFiles` index.

Item ``i`` (evaluation) or ``(i, epoch)`` (training: the loader's sampler says which epoch it is, so
a worker process needs no state of its own) is the ``i``-th photo decoded and transformed, uint8
(C, S_h, S_w). DataLoader workers do the decoding, so the training step never waits on it when there
are enough of them. A photo that cannot be read stops the run naming the file (``on_corrupt="error"``),
or is replaced by the next photo of the same class, with a warning (``"skip"``).

Shape legend: C channels, S_h×S_w output size.
"""

from __future__ import annotations

import logging

import numpy as np
import torch
from torch.utils.data import Dataset

from .photo_transforms import EvalTransform, TrainTransform, decode_size_for
from .photos import PhotoFiles, UnreadableImageError, decode

__all__ = ["PhotoDataset", "example_seed"]

log = logging.getLogger(__name__)


def example_seed(seed: int, epoch: int, index: int) -> int:
    """The random seed of one example's augmentation in one epoch: a hash of the three numbers."""
    return int(np.random.SeedSequence([seed, epoch, index]).generate_state(1)[0])


class PhotoDataset(Dataset):
    """Photos of ``files`` through ``transform`` (a :class:`TrainTransform` or an :class:`EvalTransform`).

    Args:
        files: the index.
        transform: what a decoded photo becomes.
        seed: the run's seed (training randomness is a function of seed, epoch and index only).
        on_corrupt: "error" or "skip" (use the next readable photo of the same class).
    """

    takes_epoch = True  # the training sampler may give (index, epoch) keys

    def __init__(
        self, files: PhotoFiles, transform: TrainTransform | EvalTransform, seed: int = 0, on_corrupt: str = "error"
    ) -> None:
        self.files, self.transform, self.seed, self.on_corrupt = files, transform, seed, on_corrupt
        size = transform.config.size if isinstance(transform, TrainTransform) else transform.size
        if isinstance(transform, TrainTransform):
            self.decode_size = decode_size_for(size)
        else:
            self.decode_size = tuple(int(np.ceil(s / transform.crop_pct)) for s in size)
        self.size = size

    def __len__(self) -> int:
        return len(self.files)

    def _decoded(self, index: int) -> np.ndarray:
        return decode(self.files.path(index), self.files.channels, self.decode_size)  # type: ignore[arg-type]

    def _readable(self, index: int) -> tuple[int, np.ndarray]:
        """(index, pixels) of photo ``index``, or with ``on_corrupt="skip"`` of the next readable one of its class."""
        try:
            return index, self._decoded(index)
        except UnreadableImageError as err:
            if self.on_corrupt != "skip":
                raise
            log.warning("%s; using another image of its class instead", err)
        labels = self.files.labels
        same = torch.nonzero(labels == labels[index]).flatten().tolist()
        start = same.index(index)
        for other in same[start + 1 :] + same[:start]:
            try:
                return other, self._decoded(other)
            except UnreadableImageError:
                continue
        raise UnreadableImageError.of(self.files.path(index), "no readable image left in its class", "Fix the files.")

    def __getitem__(self, key: int | tuple[int, int]) -> torch.Tensor:
        index, epoch = key if isinstance(key, tuple) else (key, 0)
        index, pixels = self._readable(int(index))
        if isinstance(self.transform, TrainTransform):
            pixels = self.transform(pixels, example_seed(self.seed, epoch, index))
        else:
            pixels = self.transform(pixels)
        return torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1)))  # (H, W, C) -> (C, H, W)
