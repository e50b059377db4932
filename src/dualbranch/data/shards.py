"""Image shards as a run's examples, and the stream that trains and evaluates on them.

:class:`ImageShards` is the image kind's container for shards (:mod:`.shard_sources`): the splits'
sources, every example's label, the channels to decode to. :class:`ShardStream` reads them as an
:class:`~.streams.ExampleStream`, a unit (Parquet row group, tar, ...) at a time, in DataLoader
workers that decode and transform each photo as the photo-folder path does
(:mod:`.photo_transforms`):

* **training** (``shuffle``): each epoch the units are put in a new order (from seed and epoch); every
  (rank, worker) slot takes a contiguous share of that order's examples (:mod:`.sampling`: each
  example once, the same number of batches in every slot), shuffled within windows of about
  :data:`WINDOW` examples, so a batch mixes many units; a photo's augmentation is a function of
  (seed, epoch, example). The rank's batches are its workers' slots' in turn, the order a DataLoader
  serves them in; a resumed epoch makes those not yet served, reading no photo of the others.
* **evaluation**: the examples in their order, each rank a contiguous share, the worker of batch j
  being j mod workers, so batches come back in order.

Memory does not grow with the data: a worker holds one unit's encoded bytes at a time.

Shape legend: B batch, C channels, S_h×S_w output size.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from ..errors import ConfigError
from .photo_dataset import example_seed
from .photo_transforms import EvalTransform, TrainTransform, decode_size_for
from .photos import PhotoSurvey, UnreadableImageError, decode_bytes
from .sampling import batch_bounds, batches_per_slot, epoch_order, slot_share
from .shard_sources import ShardSource
from .streams import ExampleStream

__all__ = ["WINDOW", "ImageShards", "ShardStream"]

log = logging.getLogger(__name__)

WINDOW = 2048  # examples shuffled together in a training slot (the reading order's mixing)


@dataclass(frozen=True)
class ImageShards:
    """The shards of a run's splits (in order: training, then validation / test), indexed.

    Attributes:
        parts: one source per split.
        labels: (n,) int64 class codes of every example, the parts' in order.
        class_names: the K class names.
        channels: 1 or 3, what every photo is decoded to.
        on_corrupt: "error" (stop, naming the example) or "skip" (leave it out of its batch).
        survey: the sizes of a sample of the photos.
    """

    parts: tuple[ShardSource, ...]
    labels: torch.Tensor
    class_names: tuple[str, ...]
    channels: int = 3
    on_corrupt: str = "error"
    survey: PhotoSurvey | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index: np.ndarray | torch.Tensor) -> ImageShards:
        """The splits ``index`` covers: shards are read in their own pieces, so a subset is whole splits."""
        index = np.asarray(index, dtype=np.int64)
        bounds = np.cumsum([0, *(len(p) for p in self.parts)])
        chosen = [k for k in range(len(self.parts)) if bounds[k] < bounds[k + 1] and bounds[k] in set(index.tolist())]
        expected = np.concatenate([np.arange(bounds[k], bounds[k + 1]) for k in chosen]) if chosen else np.empty(0)
        if not np.array_equal(np.sort(index), expected):
            raise ConfigError(
                "Image shards are read split by split: give the validation and test splits their own shards "
                "(data.val_path, data.test_path) instead of data.val_ratio / data.limit_train / data.limit_eval, "
                "or a protocol other than none."
            )
        labels = torch.cat([self.labels[bounds[k] : bounds[k + 1]] for k in chosen])
        return replace(self, parts=tuple(self.parts[k] for k in chosen), labels=labels)


class ShardStream(ExampleStream):
    """Batches of (uint8 photos (B, C, S_h, S_w), labels (B,)) read from ``shards`` (see the module docstring)."""

    def __init__(self, shards: ImageShards, transform: TrainTransform | EvalTransform, seed: int = 0) -> None:
        self.shards, self.transform, self.seed = shards, transform, seed
        training = isinstance(transform, TrainTransform)
        size = transform.config.size if training else transform.size  # type: ignore[union-attr]
        crop_pct = 1.0 if training else transform.crop_pct  # type: ignore[union-attr]
        self.decode_size = decode_size_for(size) if training else tuple(int(np.ceil(s / crop_pct)) for s in size)
        # (part, unit, its first example) of every unit, in the parts' order
        self.units: list[tuple[int, int, int]] = []
        first = 0
        for p, part in enumerate(shards.parts):
            for u, rows in enumerate(part.rows):
                self.units.append((p, u, first))
                first += rows
        self.rows = [rows for part in shards.parts for rows in part.rows]
        self._cached: tuple[int, list[tuple[bytes, str]]] | None = None

    def __len__(self) -> int:
        """This rank's batches per epoch (the same on every rank)."""
        if not self.shuffle:
            return batches_per_slot(len(self.shards), self.world, self.batch_size)
        workers = max(1, self.workers)
        return batches_per_slot(len(self.shards), self.world * workers, self.batch_size) * workers

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_cached": None}

    # ------------------------------------------------------------------ reading
    def _unit(self, unit: int) -> list[tuple[bytes, str]]:
        if self._cached is None or self._cached[0] != unit:
            part, index, _ = self.units[unit]
            self._cached = (unit, self.shards.parts[part].read(index))
        return self._cached[1]

    def _photo(self, example: int, unit: int, epoch: int) -> torch.Tensor | None:
        """Example ``example`` (in ``unit``) decoded and transformed, uint8 (C, S_h, S_w); None if unreadable
        and ``on_corrupt`` is "skip"."""
        data, name = self._unit(unit)[example - self.units[unit][2]]
        try:
            pixels = decode_bytes(data, name, self.shards.channels, self.decode_size)  # type: ignore[arg-type]
        except UnreadableImageError as err:
            if self.shards.on_corrupt != "skip":
                raise
            log.warning("%s; left out of its batch", err)
            return None
        if isinstance(self.transform, TrainTransform):
            pixels = self.transform(pixels, example_seed(self.seed, epoch, example))
        else:
            pixels = self.transform(pixels)
        return torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1)))  # (H, W, C) -> (C, H, W)

    def _batch(self, examples: list[tuple[int, int]], epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(photos (B, C, S_h, S_w), labels (B,)) of ``examples``: (example, unit) pairs, read unit by unit."""
        made = sorted(((unit, example, i) for i, (example, unit) in enumerate(examples)))
        photos: dict[int, torch.Tensor] = {}
        for unit, example, i in made:
            photo = self._photo(example, unit, epoch)
            if photo is not None:
                photos[i] = photo
        kept = sorted(photos)
        if not kept:
            raise UnreadableImageError(f"No photo of a batch of {len(examples)} could be read; fix the shards.")
        labels = self.shards.labels[[examples[i][0] for i in kept]]
        return torch.stack([photos[i] for i in kept]), labels

    def __getitem__(self, example: int) -> torch.Tensor:
        """One example as evaluation sees it (for a report's thumbnails)."""
        unit = next(u for u, (_, _, first) in enumerate(self.units) if first + self.rows[u] > example)
        photo = self._photo(example, unit, 0)
        if photo is None:
            raise UnreadableImageError(f"Example {example} of the shards cannot be read.")
        return photo

    # ------------------------------------------------------------------ epochs
    def _order(self) -> list[tuple[int, int]]:
        """(example, unit) of every example in this epoch's reading order."""
        units = epoch_order(len(self.units), self.seed, self.epoch, self.shuffle)
        return [(self.units[u][2] + r, u) for u in units for r in range(self.rows[u])]

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        info = torch.utils.data.get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        batches = self._training_batches(workers) if self.shuffle else self._ordered_batches()
        # a DataLoader takes its workers' batches in turn, from worker 0: so that the rank's batches come out
        # in their order, worker w makes those at w, w + workers, ... counted from the first one not served
        for j in range(self.served + worker, len(batches), workers):
            yield self._batch(batches[j], self.epoch)

    def _training_batches(self, workers: int) -> _Batches:
        """The rank's batches of the epoch: its workers' slots' batches in turn (slot of worker w: rank·workers + w)."""
        slots = self.world * workers
        order = self._order()
        per_slot = batches_per_slot(len(order), slots, self.batch_size)
        made: dict[int, list[list[tuple[int, int]]]] = {}  # slot -> its batches, made when first asked for

        def batch(j: int) -> list[tuple[int, int]]:
            slot = self.rank * workers + j % workers
            if slot not in made:
                made[slot] = self._slot_batches(order, slot, slots)
            return made[slot][j // workers]

        return _Batches(batch, per_slot * workers)

    def _slot_batches(self, order: list[tuple[int, int]], slot: int, slots: int) -> list[list[tuple[int, int]]]:
        """The (example, unit) pairs of each batch of slot ``slot``: its contiguous share of ``order``, shuffled
        within windows of :data:`WINDOW` examples."""
        start, stop = slot_share(len(order), slot, slots)
        share = order[start:stop]
        bounds = batch_bounds(len(share), self.batch_size, batches_per_slot(len(order), slots, self.batch_size))
        per_window = max(1, WINDOW // self.batch_size)
        generator = np.random.default_rng([self.seed, self.epoch, slot])
        batches = []
        for first_batch in range(0, len(bounds), per_window):
            window = bounds[first_batch : first_batch + per_window]
            low_end, high_end = window[0][0], window[-1][1]
            mixed = [share[i] for i in generator.permutation(high_end - low_end) + low_end]
            batches += [mixed[low - low_end : high - low_end] for low, high in window]
        return batches

    def _ordered_batches(self) -> list[list[tuple[int, int]]]:
        """The rank's batches for evaluation: its contiguous share of the examples, in order."""
        order = self._order()
        start, stop = slot_share(len(order), self.rank, self.world)
        bounds = batch_bounds(stop - start, self.batch_size, batches_per_slot(len(order), self.world, self.batch_size))
        return [order[start + low : start + high] for low, high in bounds]


class _Batches:
    """A sequence of batches made on demand (``get(j)``), ``length`` long."""

    def __init__(self, get: Callable[[int], list[tuple[int, int]]], length: int) -> None:
        self.get, self.length = get, length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, j: int) -> list[tuple[int, int]]:
        return self.get(j)
