"""Batches across processes and workers: every example once per epoch, the same number of batches on
every rank, the same global batches as one process, and a resumed epoch that continues where it stopped."""

from __future__ import annotations

import pytest
import torch

from dualbranch.data.sampling import ExactBatchSampler, batches_per_slot, slot_share
from dualbranch.errors import ConfigError
from dualbranch.train.datamodule import ResumableLoader, loader_for


@pytest.mark.parametrize(("n", "world", "batch"), [(10, 1, 3), (803, 2, 8), (801, 4, 25), (64, 2, 32), (7, 3, 2)])
def test_every_example_once_and_the_same_batches_on_every_rank(n, world, batch):
    ranks = [ExactBatchSampler(n, batch, rank, world, shuffle=True, seed=3) for rank in range(world)]
    for sampler in ranks:
        sampler.start(epoch=2)
    batches = [list(sampler) for sampler in ranks]
    assert {len(b) for b in batches} == {batches_per_slot(n, world, batch)}  # no rank waits for another
    seen = [index for rank in batches for b in rank for index, epoch in b]
    assert sorted(seen) == list(range(n))  # none twice, none left out
    assert all(len(b) <= batch + 1 for rank in batches for b in rank)


def test_ddp_steps_hold_the_global_batch_of_one_process():
    single = list(ExactBatchSampler(96, 32, shuffle=True, seed=1))
    ranks = [list(ExactBatchSampler(96, 16, rank, 2, shuffle=True, seed=1)) for rank in range(2)]
    assert len(ranks[0]) == len(ranks[1]) == len(single) == 3  # zip below would hide a rank with fewer steps
    for step, together in enumerate(zip(*ranks, strict=True)):
        assert sorted(i for b in together for i, _ in b) == sorted(i for i, _ in single[step])


def test_an_epoch_is_a_new_order_and_a_resume_continues_it():
    sampler = ExactBatchSampler(50, 8, shuffle=True, seed=0)
    sampler.start(0)
    first = list(sampler)
    sampler.start(1)
    assert list(sampler) != first and all(e == 1 for b in list(sampler) for _, e in b)
    sampler.start(0, skip=4)
    assert list(sampler) == first[4:]


def test_slots_share_contiguously_and_too_few_examples_is_an_error():
    shares = [slot_share(10, slot, 4) for slot in range(4)]
    assert shares == [(0, 3), (3, 6), (6, 8), (8, 10)]
    with pytest.raises(ConfigError, match="3 examples cannot be shared by 4 processes and workers"):
        slot_share(3, 0, 4)


class _Items(torch.utils.data.Dataset):
    takes_epoch = True

    def __len__(self) -> int:
        return 40

    def __getitem__(self, key: tuple[int, int]) -> torch.Tensor:
        index, epoch = key
        return torch.tensor([index, epoch])


@pytest.mark.parametrize("workers", [0, 2])
def test_a_resumable_loader_stopped_mid_epoch_serves_the_rest(workers):
    epoch = [1]
    labels = torch.arange(40)

    def loader() -> ResumableLoader:
        made = loader_for(_Items(), labels, 6, workers, shuffle=True, training=True, seed=5, epoch_of=lambda: epoch[0])
        assert isinstance(made, ResumableLoader)
        return made

    whole = [x for x, _ in loader()]
    first = loader()
    batches = iter(first)
    before = [next(batches)[0] for _ in range(3)]
    state = first.state_dict()
    assert state == {"epoch": 1, "batches": 3}
    resumed = loader()
    resumed.load_state_dict(state)
    after = [x for x, _ in resumed]
    assert [b.tolist() for b in before + after] == [b.tolist() for b in whole]
    epoch[0] = 2  # the next epoch starts from its first batch
    assert len(list(resumed)) == len(whole)
