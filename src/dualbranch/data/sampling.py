"""Which examples each process's batches hold in an epoch: every example exactly once, the same number
of batches on every process, reproducible from (seed, epoch), resumable from any batch.

An epoch's order is a permutation of the n examples drawn from ``seed + epoch`` (the order a
DistributedSampler draws). Of ``world`` processes (DDP ranks), rank r takes every ``world``-th of
them from the r-th on (so the ranks' j-th batches together are the j-th batch of one process with
the global batch), ``n // world`` examples, one more for the first ``n % world`` ranks. Every rank
makes the same number of batches, ``ceil((n // world) / batch)``: a rank with the extra example puts
it in its last batch (which may then hold ``batch + 1``). So no example is repeated to even the ranks
out (what DistributedSampler does) or left out (``drop_last``), and no rank waits for another at the
end of an epoch. :func:`slot_share` applies the same rule one level down, as contiguous shares (what
reading shards in order wants), to the DataLoader workers of a rank that streams its examples itself
(:mod:`dualbranch.data.shards`).

A resumed epoch starts at batch ``skip``: the batches before it are not made again.

Shape legend: n examples; indices are plain integers.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch.utils.data import Sampler

from ..errors import ConfigError

__all__ = ["ExactBatchSampler", "batch_bounds", "batches_per_slot", "epoch_order", "slot_share"]


def epoch_order(n: int, seed: int, epoch: int, shuffle: bool) -> list[int]:
    """The epoch's order of the n examples: a permutation from ``seed + epoch``, or 0..n-1."""
    if not shuffle:
        return list(range(n))
    generator = torch.Generator().manual_seed(seed + epoch)
    return torch.randperm(n, generator=generator).tolist()


def slot_share(n: int, slot: int, slots: int) -> tuple[int, int]:
    """[start, stop) of slot ``slot``'s contiguous share of n examples: n // slots each, one more for the
    first n % slots slots."""
    if n < slots:
        raise ConfigError(
            f"{n} examples cannot be shared by {slots} processes and workers, each needing at least one; use fewer "
            "devices or data.num_workers, or more data."
        )
    share, extra = divmod(n, slots)
    start = slot * share + min(slot, extra)
    return start, start + share + (1 if slot < extra else 0)


def batch_bounds(count: int, batch_size: int, batches: int) -> list[tuple[int, int]]:
    """[start, stop) of each of ``batches`` batches of a share of ``count`` examples: full batches, the
    last one taking the rest (up to ``batch_size + 1`` when the share holds one extra example)."""
    bounds = [(j * batch_size, (j + 1) * batch_size) for j in range(batches - 1)]
    return [*bounds, ((batches - 1) * batch_size, count)] if batches else []


def batches_per_slot(n: int, slots: int, batch_size: int) -> int:
    """The batches every slot makes: ``ceil((n // slots) / batch_size)``."""
    return math.ceil((n // slots) / batch_size)


class ExactBatchSampler(Sampler[list[tuple[int, int]]]):
    """Batches of ``(index, epoch)`` keys for rank ``rank`` of ``world`` (see the module docstring).

    :meth:`start` sets the epoch and the first batch (a resumed epoch) before the loader iterates.
    """

    def __init__(self, n: int, batch_size: int, rank: int = 0, world: int = 1, shuffle: bool = True, seed: int = 0):
        super().__init__()
        self.n, self.batch_size, self.rank, self.world = n, batch_size, rank, world
        self.shuffle, self.seed = shuffle, seed
        self.epoch, self.skip = 0, 0
        slot_share(n, rank, world)  # too few examples for the ranks: said now, not mid-epoch

    def start(self, epoch: int, skip: int = 0) -> None:
        self.epoch, self.skip = epoch, skip

    def __len__(self) -> int:
        return batches_per_slot(self.n, self.world, self.batch_size)

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        # every world-th example from the rank's own: step j of W ranks × B is the batch j of one process × W·B
        share = epoch_order(self.n, self.seed, self.epoch, self.shuffle)[self.rank :: self.world]
        for first, last in batch_bounds(len(share), self.batch_size, len(self))[self.skip :]:
            yield [(index, self.epoch) for index in share[first:last]]
