"""Loaders over in-memory tensors: what every fold of every run trains and validates on."""

from __future__ import annotations

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from .sections import DataSection

__all__ = ["TensorDataModule"]


class _Tensors(Dataset):
    def __init__(self, inputs: torch.Tensor, labels: torch.Tensor) -> None:
        self.inputs, self.labels = inputs, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.inputs[index], self.labels[index]


class TensorDataModule(L.LightningDataModule):
    """Loaders over in-memory (inputs (N, ...), labels (N,)) tensors, images or signals alike.

    Shards by rank itself, so one process and several see the same global batches (the sampler's
    order depends on the seed and epoch only). ``val`` may be None: no validation.
    """

    def __init__(
        self,
        train: tuple[torch.Tensor, torch.Tensor],
        val: tuple[torch.Tensor, torch.Tensor] | None,
        section: DataSection,
        seed: int,
    ) -> None:
        super().__init__()
        self.train_data, self.val_data, self.section, self.seed = train, val, section, seed

    def _loader(self, data: tuple[torch.Tensor, torch.Tensor], batch_size: int, shuffle: bool) -> DataLoader:
        world = self.trainer.world_size if self.trainer else 1
        rank = self.trainer.global_rank if self.trainer else 0
        dataset = _Tensors(*data)
        sampler = DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=shuffle, seed=self.seed)
        return DataLoader(
            dataset,
            batch_size=batch_size,
            sampler=sampler,
            num_workers=self.section.num_workers,
            persistent_workers=self.section.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_data, self.section.batch_size, self.section.shuffle)

    def val_dataloader(self) -> DataLoader | list:
        return [] if self.val_data is None else self._loader(self.val_data, self.section.eval_batch_size, False)
