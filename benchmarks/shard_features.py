"""What each shard library does, by test: shuffle, exactly-once split over ranks x workers, resume, S3.

    PYTHONPATH=src python benchmarks/shard_features.py PHOTOS --format litdata [--endpoint http://127.0.0.1:PORT]
        [--n 803] [--shard-kb 1000] [--work DIR]

Run by ``shard_formats.py`` for each contender (it passes its moto endpoint); by hand it needs a moto
server for the S3 check (without ``--endpoint`` that check is skipped). Packs the first ``--n`` photos
of ``PHOTOS/train`` in small shards (so that there are many more shards than ranks x workers; 803 is
no multiple of ranks x workers x batch, so that remainders show), then:

- ``shuffle``: one shuffled epoch in one process; Spearman correlation of read position with the
  packing order (0: no trace of it) and mean displacement as a fraction of the epoch (1/3 for a uniform
  permutation); whether the next epoch's order differs;
- ``split``: 2 DDP ranks (gloo on 127.0.0.1) x 2 DataLoader workers, two epochs: samples read, read
  twice, never read, per rank (ranks that differ in batches hang a DDP step);
- ``resume``: with 2 workers, stop after 10 batches, save the loader's ``state_dict``, build a new
  dataset and loader, load it and read the rest: together exactly the epoch, and in the same order?
  (litdata's ``StreamingDataLoader``; torchdata's ``StatefulDataLoader`` for the others);
- ``random_access``: ``len(dataset)`` and ``dataset[i]`` without reading the stream;
- ``s3``: the samples read from ``s3://`` with the custom endpoint, 0 and 1 workers;
- ``package``: version, licence, declared requirements, and the installed size of the package and the
  requirements it pulls (torch excluded), as found in this interpreter.

Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import pickle
import re
import socket
import statistics
import sys
import tempfile
from importlib import metadata
from pathlib import Path

import torch
import torch.distributed as dist

import shard_libs as libs

BATCH, STOP_AFTER = 8, 10


def read_ids(loader) -> list[int]:
    return [sample[0] for batch in loader for sample in batch]


def read_ids_labels(loader) -> tuple[list[int], list[int]]:
    pairs = [(sample[0], sample[2]) for batch in loader for sample in batch]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def make_loader(fmt: str, location: str, workers: int, *, rank=0, world=1, stateful=False, seed=0, **kw):
    dataset = libs.open_reader(fmt, location, shuffle=True, seed=seed, rank=rank, world_size=world, **kw)
    cls = None
    if stateful and fmt != "litdata":  # litdata's own StreamingDataLoader carries its state
        from torchdata.stateful_dataloader import StatefulDataLoader as cls
    loader = libs.loader(
        fmt, dataset, workers, batch_size=BATCH, shuffle=True, seed=seed, rank=rank, world_size=world, loader_cls=cls
    )
    return dataset, loader


def next_epoch(fmt: str, dataset, loader, epoch: int) -> None:
    """What a training loop calls between epochs (litdata's loader counts epochs itself)."""
    if fmt == "hf_arrow":
        loader.sampler.set_epoch(epoch)
    elif fmt == "hf_parquet":
        dataset.set_epoch(epoch)


def spearman(order: list[int]) -> float:
    ranks = {v: i for i, v in enumerate(sorted(order))}
    x, y = list(range(len(order))), [ranks[v] for v in order]
    return statistics.correlation(x, y) if len(order) > 2 else 0.0


def check_shuffle(fmt: str, location: str, n: int) -> dict:
    dataset, loader = make_loader(fmt, location, 0)
    first, labels = read_ids_labels(loader)
    next_epoch(fmt, dataset, loader, 1)
    second = read_ids(loader)
    sorted_pos = {v: i for i, v in enumerate(sorted(first))}
    displacement = statistics.mean(abs(i - sorted_pos[v]) for i, v in enumerate(first)) / max(len(first), 1)
    return {
        "samples": len(first),
        "spearman_vs_packing_order": round(spearman(first), 3),
        "mean_displacement": round(displacement, 3),
        "first_12": first[:12],
        # the photos were packed class by class (folder order): how mixed is a batch of 64?
        "classes_per_64": round(statistics.mean(len(set(labels[i : i + 64])) for i in range(0, len(labels), 64)), 2),
        "classes": len(set(labels)),
        "next_epoch_differs": first != second,
        "next_epoch_same_samples": sorted(first) == sorted(second),
    }


def _rank_main(rank: int, fmt: str, location: str, port: int, out: str, options: dict) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        dataset, loader = make_loader(fmt, location, 2, rank=rank, world=2, **options)
        epochs = []
        for epoch in range(2):
            next_epoch(fmt, dataset, loader, epoch)
            batches = list(loader)
            epochs.append({"ids": [s[0] for b in batches for s in b], "batches": len(batches)})
        Path(out, f"rank{rank}.json").write_text(json.dumps(epochs))
    finally:
        dist.destroy_process_group()


def check_split(fmt: str, location: str, n: int, options: dict) -> dict:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with tempfile.TemporaryDirectory() as out:
        torch.multiprocessing.spawn(_rank_main, args=(fmt, location, port, out, options), nprocs=2, join=True)
        ranks = [json.loads(Path(out, f"rank{r}.json").read_text()) for r in range(2)]
    result = {"options": options}
    for epoch in range(2):
        ids = [i for rank in ranks for i in rank[epoch]["ids"]]
        result[f"epoch{epoch}"] = {
            "read": len(ids),
            "read_twice": len(ids) - len(set(ids)),
            "never_read": n - len(set(ids)),
            "per_rank_samples": [len(rank[epoch]["ids"]) for rank in ranks],
            "per_rank_batches": [rank[epoch]["batches"] for rank in ranks],
        }
    epochs = [result[f"epoch{e}"] for e in range(2)]
    result["exactly_once"] = all(e["read_twice"] == 0 and e["never_read"] == 0 for e in epochs)
    result["same_batches_per_rank"] = all(len(set(e["per_rank_batches"])) == 1 for e in epochs)
    return result


def check_resume(fmt: str, location: str, workers: int) -> dict:
    _, loader = make_loader(fmt, location, workers, stateful=True)
    full = read_ids(loader)
    _, loader = make_loader(fmt, location, workers, stateful=True)
    head: list[int] = []
    for i, batch in enumerate(loader):
        head += [s[0] for s in batch]
        if i + 1 == STOP_AFTER:
            break
    state = pickle.loads(pickle.dumps(loader.state_dict()))  # as it would go through a checkpoint file
    del loader
    _, loader = make_loader(fmt, location, workers, stateful=True)
    loader.load_state_dict(state)
    rest = read_ids(loader)
    together = head + rest
    return {
        "workers": workers,
        "read_before_stop": len(head),
        "read_after_resume": len(rest),
        "epoch": len(full),
        "exactly_the_epoch": sorted(together) == sorted(full) and len(together) == len(set(together)),
        "same_order_as_uninterrupted": together == full,
        "read_twice": len(together) - len(set(together)),
        "missed": len(set(full) - set(together)),
    }


def check_random_access(fmt: str, location: str) -> dict:
    dataset = libs.open_reader(fmt, location, shuffle=False)
    out: dict = {}
    try:
        out["len"] = len(dataset)
    except TypeError as error:
        out["len"] = f"no: {error}"
    try:
        row = dataset[17]
        out["getitem_17_id"] = int(row["id"] if "id" in row else row["__key__"])
    except Exception as error:
        out["getitem_17_id"] = f"no: {type(error).__name__}: {str(error)[:120]}"
    return out


def check_s3(fmt: str, local: str, endpoint: str, **options) -> dict:
    s3 = libs.S3(endpoint)
    url = libs.upload(Path(local), s3, "features", f"{fmt}-{os.getpid()}")
    expected = sorted(read_ids(libs.loader(fmt, libs.open_reader(fmt, local), 0)))
    out = {"url": url}
    for workers in (0, 1):
        with tempfile.TemporaryDirectory() as cache:
            try:
                dataset = libs.open_reader(fmt, url, s3=s3, cache_dir=cache, **options)
                ids = sorted(read_ids(libs.loader(fmt, dataset, workers)))
                out[f"w{workers}"] = "all samples, once" if ids == expected else f"{len(ids)} of {len(expected)}"
            except Exception as error:
                out[f"w{workers}"] = f"fails: {type(error).__name__}: {str(error)[-240:]}"
    return out


PACKAGES = {"litdata": "litdata", "webdataset": "webdataset", "hf_parquet": "datasets", "hf_arrow": "datasets"}


def _requirements(dist_: metadata.Distribution) -> list[str]:
    names = []
    for req in dist_.requires or []:
        if "extra ==" in req:
            continue
        names.append(re.split(r"[\s<>=!~;\[(]", req, maxsplit=1)[0].lower().replace("_", "-"))
    return names


def _closure(name: str, skip: set[str]) -> tuple[set[str], list[str], int]:
    """(installed names, declared but missing names, installed bytes) of ``name`` and what it requires."""
    seen: set[str] = set()
    missing, size, queue = [], 0, [name]
    while queue:
        name = queue.pop()
        if name in seen or name in skip:
            continue
        seen.add(name)
        try:
            found = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            missing.append(name)
            continue
        size += sum((f.size or 0) for f in found.files or [])
        queue += _requirements(found)
    return seen, missing, size


def package_info(fmt: str) -> dict:
    """Version, licence, requirements and the installed size of what it adds to dualbranch's own
    requirements (torch and what torch pulls, numpy, pyyaml, pillow are there anyway)."""
    top = metadata.distribution(PACKAGES[fmt])
    have, _, _ = _closure("torch", set())
    seen, missing, size = _closure(PACKAGES[fmt], have | {"numpy", "pyyaml", "pillow", "pip", "setuptools"})
    classifiers = [c.split("::")[-1].strip() for c in top.metadata.get_all("Classifier") or [] if "License" in c]
    return {
        "version": top.version,
        "license": top.metadata.get("License-Expression") or top.metadata.get("License") or classifiers,
        "requires": _requirements(top),
        "adds_packages": sorted(seen),
        "adds_installed_mb": round(size / 1e6, 1),
        "declared_but_not_installed": missing,
        "torch": torch.__version__,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photos", type=Path)
    parser.add_argument("--format", required=True, choices=libs.FORMATS)
    parser.add_argument("--endpoint", default=None)
    parser.add_argument("--n", type=int, default=803)
    parser.add_argument("--shard-kb", type=float, default=1000)
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args(argv)
    fmt = args.format
    work = args.work or Path(tempfile.mkdtemp(prefix="shard-features-"))
    items = libs.list_folder(args.photos / "train", args.n)
    packed = libs.pack(fmt, items, work / fmt, int(args.shard_kb * 1000))
    location = str(work / fmt)
    result: dict = {"format": fmt, "samples": len(items), "shard_files": packed["files"]}
    # litdata.optimize switches this process to the spawn start method; the checks below are about
    # reading, so DataLoader workers are forked again as in a training process that did not pack
    result["start_method_after_pack"] = multiprocessing.get_start_method()
    multiprocessing.set_start_method("fork", force=True)
    checks = {
        "package": lambda: package_info(fmt),
        "shuffle": lambda: check_shuffle(fmt, location, len(items)),
        "split": lambda: check_split(fmt, location, len(items), {}),
        "resume_w2": lambda: check_resume(fmt, location, 2),
        "resume_w0": lambda: check_resume(fmt, location, 0),
        "random_access": lambda: check_random_access(fmt, location),
    }
    if fmt == "litdata":  # its default drops samples in DDP to even the ranks; the other choice:
        checks["split_keep_last"] = lambda: check_split(fmt, location, len(items), {"drop_last": False})
    if fmt == "webdataset":  # its own split_by_node, which looks for the rank inside each worker
        checks["split_rank_in_worker"] = lambda: check_split(fmt, location, len(items), {"wds_rank_in_worker": True})
    if args.endpoint:
        checks["s3"] = lambda: check_s3(fmt, location, args.endpoint)
        if fmt == "litdata":  # run last: once obstore has started in a process, litdata avoids it there
            checks["s3_with_obstore"] = lambda: check_s3(fmt, location, args.endpoint, litdata_obstore=True)
    for name, check in checks.items():
        try:
            result[name] = check()
        except Exception as error:  # a library without the feature: recorded, the other checks still run
            result[name] = {"error": f"{type(error).__name__}: {str(error)[:300]}"}
        print(f"{fmt} {name}: {result[name]}", file=sys.stderr, flush=True)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
