"""Loaders of what every fold of every run trains and validates on.

A data kind serves a fold's examples as *loader inputs* (:meth:`~.kinds.DataKind.loader_inputs`):
either one in-memory tensor (n, ...) — images that fit in memory, signals, series windows — or a
map-style torch Dataset whose item ``i`` is example ``i``'s tensor, made on demand in DataLoader
worker processes (photos decoded from their files). Both are served the same way here, beside the
labels (n,).

The training sampler shards by rank itself, so one process and several see the same global batches
(the order depends on the seed and epoch only), and it hands a lazy dataset ``(index, epoch)`` keys,
so a worker's random augmentation is a function of the example and the epoch, whichever worker makes
it and however many there are.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from .kinds.base import LoaderInputs
from .sections import DataSection

__all__ = ["MAX_AUTO_WORKERS", "EpochSampler", "ExamplesDataModule", "auto_workers", "is_lazy", "loader_for"]

MAX_AUTO_WORKERS = 12  # decoding workers by default: enough to feed a GPU, not a whole many-core node


def is_lazy(inputs: LoaderInputs) -> bool:
    """Whether ``inputs`` makes its examples on demand (a Dataset) rather than holding them (a tensor)."""
    return not isinstance(inputs, torch.Tensor)


def auto_workers(inputs: LoaderInputs, requested: int | None) -> int:
    """DataLoader workers: as requested, else none for tensors in memory (indexing them is cheaper than
    sending them between processes) and one per available CPU core, at most :data:`MAX_AUTO_WORKERS`,
    for examples made on demand."""
    if requested is not None:
        return requested
    if not is_lazy(inputs):
        return 0
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cores, MAX_AUTO_WORKERS))


class _Pairs(Dataset):
    """(input, label) pairs of loader inputs (n, ...) and labels (n,); keys may be ``(index, epoch)``."""

    def __init__(self, inputs: LoaderInputs, labels: torch.Tensor) -> None:
        self.inputs, self.labels = inputs, labels
        self.takes_epoch = getattr(inputs, "takes_epoch", False)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        index = key[0] if isinstance(key, tuple) else key
        return self.inputs[key if self.takes_epoch else index], self.labels[index]


class EpochSampler(DistributedSampler):
    """A DistributedSampler whose indices carry the epoch: ``(index, epoch)``."""

    def __iter__(self) -> Iterator[tuple[int, int]]:  # type: ignore[override]
        epoch = self.epoch
        return ((index, epoch) for index in super().__iter__())


def loader_for(
    inputs: LoaderInputs,
    labels: torch.Tensor,
    batch_size: int,
    workers: int | None = None,
    shuffle: bool = False,
    training: bool = False,
    seed: int = 0,
    world: int = 1,
    rank: int = 0,
    pin_memory: bool = False,
) -> DataLoader:
    """A loader of (inputs (B, ...), labels (B,)) batches over ``inputs`` (see the module docstring)."""
    dataset = _Pairs(inputs, labels)
    sampler = EpochSampler(dataset, num_replicas=world, rank=rank, shuffle=shuffle, seed=seed)
    workers = auto_workers(inputs, workers)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=workers,
        persistent_workers=workers > 0 and training,  # a training loader is iterated every epoch
        prefetch_factor=4 if workers > 0 else None,
        pin_memory=pin_memory,
    )


class ExamplesDataModule(L.LightningDataModule):
    """Training and validation loaders of one fold: ``train`` and ``val`` are (loader inputs, labels (n,));
    ``val`` may be None (no validation)."""

    def __init__(
        self,
        train: tuple[LoaderInputs, torch.Tensor],
        val: tuple[LoaderInputs, torch.Tensor] | None,
        section: DataSection,
        seed: int,
    ) -> None:
        super().__init__()
        self.train_data, self.val_data, self.section, self.seed = train, val, section, seed

    def _loader(self, data: tuple[LoaderInputs, torch.Tensor], batch_size: int, training: bool) -> DataLoader:
        trainer = self.trainer
        return loader_for(
            *data, batch_size, self.section.num_workers, shuffle=training and self.section.shuffle,
            training=training, seed=self.seed,
            world=trainer.world_size if trainer else 1, rank=trainer.global_rank if trainer else 0,
            pin_memory=bool(trainer and trainer.strategy.root_device.type == "cuda"),
        )  # fmt: skip

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_data, self.section.batch_size, True)

    def val_dataloader(self) -> DataLoader | list:
        return [] if self.val_data is None else self._loader(self.val_data, self.section.eval_batch_size, False)
