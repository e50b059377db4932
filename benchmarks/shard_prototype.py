"""Prototype: exactly-once over (rank, worker) and mid-epoch resume with Hugging Face ``datasets`` shards.

    PYTHONPATH=src python benchmarks/shard_prototype.py PHOTOS [--n 803] [--stop-after 7] [--batch 8]

The way ``dualbranch data pack`` + streaming ``fit`` could work with the library that
``shard_formats.py`` chose, tried with 2 DDP ranks (gloo on 127.0.0.1) x 2 DataLoader workers each:

- pack ``--n`` photos of ``PHOTOS/train`` as parquet shards (``Dataset.to_parquet``, one row group of
  ~100 rows per ~1 MB here), so that there are many more row groups than ranks x workers;
- stream: ``load_dataset("parquet", streaming=True)`` -> ``reshard()`` (one shard per row group) ->
  ``shuffle(seed, buffer_size)`` (shard order + buffer; the same seed on every rank) ->
  ``split_dataset_by_node(rank, world_size)`` (whole row groups per rank: no sample read twice) ->
  ``set_epoch(epoch)`` -> torchdata's ``StatefulDataLoader`` (splits the rank's row groups over workers
  and carries each worker's position in ``state_dict()``);
- equal steps: ranks get different sample counts (no shard count divides evenly), and a DDP step
  on one rank waits for the others, so :class:`EvenSteps` all-reduces "have a batch?" once per step
  and lets a finished rank send empty (fully masked) batches until every rank is done;
- resume: each rank stops after ``--stop-after`` steps and writes ``{"loader": state_dict(), "steps"}``;
  fresh processes rebuild the pipeline, ``load_state_dict`` and read on.

Checks, for two epochs and for the stop/resume: every sample id read exactly once across ranks and
workers, equal steps per rank, the resumed run yields exactly the samples the uninterrupted one had
left and in the same order. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import pickle
import socket
import sys
import tempfile
from pathlib import Path

import torch
import torch.distributed as dist

import shard_libs as libs

SEED, BUFFER = 1234, 256


def stream(files: list[str], rank: int, world_size: int, epoch: int, batch: int):
    """(dataset, loader) for one rank: the pipeline described in the module docstring."""
    import datasets
    from datasets.distributed import split_dataset_by_node
    from torchdata.stateful_dataloader import StatefulDataLoader

    dataset = datasets.load_dataset("parquet", data_files={"train": files}, split="train", streaming=True)
    dataset = dataset.cast_column("image", datasets.Image(decode=False)).reshard()
    dataset = dataset.shuffle(seed=SEED, buffer_size=BUFFER)
    dataset = split_dataset_by_node(dataset, rank=rank, world_size=world_size)
    dataset.set_epoch(epoch)
    loader = StatefulDataLoader(dataset, batch_size=batch, num_workers=2, collate_fn=collate)
    return dataset, loader


def collate(rows: list[dict]) -> dict:
    """Ids and labels only (a real collate decodes and augments ``row["image"]["bytes"]`` here)."""
    return {"id": torch.tensor([r["id"] for r in rows]), "label": torch.tensor([r["label"] for r in rows])}


class EvenSteps:
    """Iterate a rank's loader in lock-step with the other ranks; a rank that has run out yields empty
    batches (``None``: a real step would run with an all-zero loss mask) until every rank has."""

    def __init__(self, loader, steps_done: int = 0):
        self.loader, self.steps = loader, steps_done

    def __iter__(self):
        batches = iter(self.loader)
        while True:
            batch = next(batches, None)
            have = torch.tensor([0 if batch is None else 1])
            dist.all_reduce(have, op=dist.ReduceOp.MAX)
            if have.item() == 0:
                return
            self.steps += 1
            yield batch


def _rank(rank: int, port: int, files: list[str], out: str, mode: str, stop_after: int, batch: int) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        record: dict = {"epochs": []}
        if mode == "epochs":
            for epoch in range(2):
                _, loader = stream(files, rank, 2, epoch, batch)
                ids = [b["id"].tolist() if b is not None else [] for b in EvenSteps(loader)]
                padded = sum(1 for b in ids if not b)
                record["epochs"].append({"ids": [i for b in ids for i in b], "steps": len(ids), "padded": padded})
        elif mode == "stop":
            _, loader = stream(files, rank, 2, 0, batch)
            even, ids = EvenSteps(loader), []
            for b in even:
                ids += b["id"].tolist() if b is not None else []
                if even.steps == stop_after:
                    break
            state = {"loader": loader.state_dict(), "steps": even.steps}
            Path(out, f"state{rank}.pkl").write_bytes(pickle.dumps(state))
            record["ids"], record["steps"] = ids, even.steps
        else:  # resume
            state = pickle.loads(Path(out, f"state{rank}.pkl").read_bytes())
            _, loader = stream(files, rank, 2, 0, batch)
            loader.load_state_dict(state["loader"])
            even = EvenSteps(loader, steps_done=state["steps"])
            record["ids"] = [i for b in even if b is not None for i in b["id"].tolist()]
            record["steps"] = even.steps
        Path(out, f"{mode}{rank}.json").write_text(json.dumps(record))
    finally:
        dist.destroy_process_group()


def run_ranks(files: list[str], out: str, mode: str, stop_after: int, batch: int) -> list[dict]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    torch.multiprocessing.spawn(_rank, args=(port, files, out, mode, stop_after, batch), nprocs=2, join=True)
    return [json.loads(Path(out, f"{mode}{r}.json").read_text()) for r in range(2)]


def once(ids: list[int], n: int) -> dict:
    return {"read": len(ids), "read_twice": len(ids) - len(set(ids)), "never_read": n - len(set(ids))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photos", type=Path)
    parser.add_argument("--n", type=int, default=803)
    parser.add_argument("--stop-after", type=int, default=7, help="steps before the simulated kill")
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="shard-prototype-") as work:
        items = libs.list_folder(args.photos / "train", args.n)
        libs.pack("hf_parquet", items, Path(work, "shards"), 1_000_000)
        files = sorted(str(p) for p in Path(work, "shards").glob("*.parquet"))
        n = len(items)
        result: dict = {"samples": n, "parquet_files": len(files), "ranks": 2, "workers_per_rank": 2}
        ranks = run_ranks(files, work, "epochs", args.stop_after, args.batch)
        for epoch in range(2):
            ids = [i for r in ranks for i in r["epochs"][epoch]["ids"]]
            result[f"epoch{epoch}"] = once(ids, n) | {
                "per_rank_samples": [len(r["epochs"][epoch]["ids"]) for r in ranks],
                "per_rank_steps": [r["epochs"][epoch]["steps"] for r in ranks],
                "per_rank_empty_steps": [r["epochs"][epoch]["padded"] for r in ranks],
            }
        orders = [[r["epochs"][e]["ids"] for r in ranks] for e in range(2)]
        result["epoch1_order_differs"] = orders[0] != orders[1]
        stopped = run_ranks(files, work, "stop", args.stop_after, args.batch)
        resumed = run_ranks(files, work, "resume", args.stop_after, args.batch)
        together = [i for s, r in zip(stopped, resumed) for i in s["ids"] + r["ids"]]
        result["resume"] = once(together, n) | {
            "stopped_after_steps": [s["steps"] for s in stopped],
            "read_before_stop": sum(len(s["ids"]) for s in stopped),
            "steps_at_end": [r["steps"] for r in resumed],
            "each_rank_same_order_as_uninterrupted": [
                s["ids"] + r["ids"] == orders[0][k] for k, (s, r) in enumerate(zip(stopped, resumed))
            ],
        }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
