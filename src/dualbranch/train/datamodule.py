"""Loaders of what every fold of every run trains and validates on.

A data kind serves a fold's examples as *loader inputs* (:meth:`~.kinds.DataKind.loader_inputs`):
either one in-memory tensor (n, ...) — images that fit in memory, signals, series windows — or a
map-style torch Dataset whose item ``i`` is example ``i``'s tensor, made on demand in DataLoader
worker processes (photos decoded from their files). Both are served the same way here, beside the
labels (n,).

Batches follow :mod:`dualbranch.data.sampling`: every example once per epoch, the same number of
batches on every DDP rank, in an order that depends on the seed and epoch only. A lazy dataset gets
``(index, epoch)`` keys, so a worker's random augmentation is a function of the example and the
epoch, whichever worker makes it and however many there are. A third kind of loader input, an
:class:`~dualbranch.data.streams.ExampleStream` (image shards), makes whole batches itself and shares
them out over ranks and workers by the same rule. The training loader is resumable mid-epoch
(:class:`ResumableLoader`): a run stopped within an epoch continues at the batch it stopped at.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

from ..data.sampling import ExactBatchSampler, batches_per_slot
from ..data.streams import ExampleStream
from .kinds.base import LoaderInputs
from .sections import DataSection

__all__ = [
    "MAX_AUTO_WORKERS",
    "ExamplesDataModule",
    "ResumableLoader",
    "auto_workers",
    "batches_of",
    "is_lazy",
    "loader_for",
]

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


def _leave_stop_signals_to_the_trainer(worker: int) -> None:
    """In a DataLoader worker: ignore Ctrl-C and SIGTERM sent to the whole process group. The trainer
    process handles them (it finishes the step, saves where the run stands) and then stops its workers;
    a worker that died first would abort that save."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)


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


class ResumableLoader(DataLoader):
    """A training loader whose state Lightning checkpoints mid-epoch: the epoch and the batches trained.

    Before each pass it tells its batch plan (an :class:`~dualbranch.data.sampling.ExactBatchSampler`, or
    the :class:`~dualbranch.data.streams.ExampleStream` it loads) the epoch — ``epoch_of()``, the
    trainer's — and, in the epoch a resumed run stopped in, the batches already trained, which are
    then not made again. ``trained_of()`` counts those (the trainer's, which lags the batches this
    loader has handed out by the ones Lightning fetched ahead); without it, the batches handed out.
    """

    def __init__(
        self, *args: Any, plan: Any, epoch_of: Callable[[], int], trained_of: Callable[[], int] | None = None,
        **kwargs: Any,
    ) -> None:  # fmt: skip
        super().__init__(*args, **kwargs)
        self.plan, self.epoch_of, self.trained_of = plan, epoch_of, trained_of
        self._epoch, self._served, self._resume = 0, 0, None

    def state_dict(self) -> dict[str, int]:
        trained = self.trained_of() if self.trained_of is not None else self._served
        return {"epoch": self._epoch, "batches": trained}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self._resume = state

    def __iter__(self) -> Iterator[Any]:  # type: ignore[override]
        epoch = self.epoch_of()
        resume, self._resume = self._resume, None
        served = resume["batches"] if resume is not None and resume["epoch"] == epoch else 0
        self.plan.start(epoch, served)
        self._epoch, self._served = epoch, served
        for batch in super().__iter__():
            self._served += 1
            yield batch


def loader_for(
    inputs: LoaderInputs,
    labels: torch.Tensor,
    batch_size: int,
    workers: int | None = None,
    shuffle: bool = False,
    training: bool = False,
    repeated: bool = False,
    seed: int = 0,
    world: int = 1,
    rank: int = 0,
    pin_memory: bool = False,
    epoch_of: Callable[[], int] | None = None,
    trained_of: Callable[[], int] | None = None,
) -> DataLoader:
    """A loader of (inputs (B, ...), labels (B,)) batches over ``inputs`` (see the module docstring): each
    example once per epoch across ``world`` ranks (:mod:`dualbranch.data.sampling`); with ``epoch_of``
    (the trainer's current epoch) a :class:`ResumableLoader`, which counts the batches trained of the epoch
    with ``trained_of``. A ``repeated`` loader (one the trainer iterates every epoch) keeps its workers:
    they are started once, not forked anew each epoch from a process that by then runs other threads
    (DDP's, the math libraries'), which is where a forked child can inherit a lock held forever."""
    workers = auto_workers(inputs, workers)
    common: dict[str, Any] = {"num_workers": workers, "pin_memory": pin_memory}
    if workers > 0:
        common.update(prefetch_factor=4, persistent_workers=repeated, worker_init_fn=_leave_stop_signals_to_the_trainer)
    if isinstance(inputs, ExampleStream):  # makes its own batches, shared out over ranks and workers
        plan: Any = inputs.plan(batch_size, rank, world, workers, shuffle, seed)
        dataset: Dataset = plan
        common["batch_size"] = None
    else:
        plan = ExactBatchSampler(len(labels), batch_size, rank, world, shuffle, seed)
        dataset = _Pairs(inputs, labels)
        common["batch_sampler"] = plan
    if epoch_of is not None:
        return ResumableLoader(dataset, plan=plan, epoch_of=epoch_of, trained_of=trained_of, **common)
    plan.start(0)
    return DataLoader(dataset, **common)


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
            training=training, repeated=True, seed=self.seed,
            world=trainer.world_size if trainer else 1, rank=trainer.global_rank if trainer else 0,
            pin_memory=bool(trainer and trainer.strategy.root_device.type == "cuda"),
            epoch_of=(lambda: trainer.current_epoch) if training and trainer else None,
            trained_of=(lambda: trainer.fit_loop.epoch_loop.batch_progress.current.processed) if trainer else None,
        )  # fmt: skip

    def train_batches(self, world: int) -> int:
        """The batches each of ``world`` ranks trains on per epoch (what the training loader will make)."""
        inputs, labels = self.train_data
        batch_size = self.section.batch_size
        if isinstance(inputs, ExampleStream):
            workers = auto_workers(inputs, self.section.num_workers)
            return len(inputs.plan(batch_size, 0, world, workers, self.section.shuffle, self.seed))
        return batches_per_slot(len(labels), world, batch_size)

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_data, self.section.batch_size, True)

    def val_dataloader(self) -> DataLoader | list:
        return [] if self.val_data is None else self._loader(self.val_data, self.section.eval_batch_size, False)


def batches_of(
    loader_inputs: LoaderInputs, labels: torch.Tensor, batch_size: int, workers: int | None = None
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(inputs (B, ...), labels (B,)) batches in order: slices of a tensor, or a loader's batches of a
    Dataset made on demand (decoded in ``workers`` worker processes; None: automatic)."""
    if not is_lazy(loader_inputs):
        for start in range(0, len(labels), batch_size):
            yield loader_inputs[start : start + batch_size], labels[start : start + batch_size]  # type: ignore[index]
        return
    yield from loader_for(loader_inputs, labels, batch_size, workers)
