"""Example streams: datasets that read their examples in large sequential pieces (shards on a disk or in
object storage) and so make whole batches themselves, shared out over processes and workers.

A stream is a torch IterableDataset of ``(inputs (B, ...), labels (B,))`` batches whose ``len()`` is
this rank's batches per epoch. Before a loader iterates it, :meth:`ExampleStream.plan` says the batch
size, this process's rank among ``world``, the loader's worker count and whether to shuffle (train)
or keep the examples' order (evaluate); :meth:`ExampleStream.start` says the epoch and how many of
the rank's batches were already served (a resumed epoch). Each worker then makes the batches of its
own share (:mod:`.sampling`): every example once per epoch, the same number of batches on every rank.
The epoch and the batches served live in shared memory, so a loader's persistent workers, started
once, read each new epoch's from :meth:`ExampleStream.start` when the loader asks them for it.

Shape legend: B batch.
"""

from __future__ import annotations

import copy

import torch
from torch.utils.data import IterableDataset

__all__ = ["ExampleStream"]


class ExampleStream(IterableDataset):
    """Planning state of a stream; subclasses make the batches (``__iter__``) and count them (``__len__``)."""

    batch_size, rank, world, workers, shuffle, seed = 1, 0, 1, 0, False, 0
    _position: torch.Tensor | None = None  # (2,) int64: the epoch, the batches of it served

    def plan(self, batch_size: int, rank: int, world: int, workers: int, shuffle: bool, seed: int) -> ExampleStream:
        """A copy of this stream planned for one loader (see the module docstring)."""
        planned = copy.copy(self)
        planned.batch_size, planned.rank, planned.world = batch_size, rank, world
        planned.workers, planned.shuffle, planned.seed = workers, shuffle, seed
        planned._position = torch.zeros(2, dtype=torch.int64).share_memory_()
        return planned

    def start(self, epoch: int, served: int = 0) -> None:
        """The epoch to make next, and how many of this rank's batches of it were served already."""
        if self._position is None:
            self._position = torch.zeros(2, dtype=torch.int64)
        self._position[0], self._position[1] = epoch, served

    @property
    def epoch(self) -> int:
        return 0 if self._position is None else int(self._position[0])

    @property
    def served(self) -> int:
        return 0 if self._position is None else int(self._position[1])
