"""Adapters that give litdata, webdataset and Hugging Face ``datasets`` one interface (issue 22's shard choice).

Not a benchmark itself: ``shard_formats.py`` (pack and read speed) and ``shard_features.py`` (shuffle,
exactly-once split, resume) import it. Every format stores each photo's JPEG bytes unchanged with its
label and an integer ``id`` (the sample's index in the sorted folder listing, so a reader can be
checked for samples read twice or never). The formats:

- ``litdata``: ``litdata.optimize`` chunks + ``index.json``, read by ``StreamingDataset``;
- ``webdataset``: POSIX tars (``<id>.jpg``, ``<id>.cls``) from ``ShardWriter``, read by ``WebDataset``;
- ``hf_parquet``: parquet files written by ``datasets`` (``Dataset.to_parquet``), streamed with
  ``load_dataset("parquet", streaming=True)`` (an ``IterableDataset``);
- ``hf_arrow``: ``Dataset.save_to_disk`` folders (arrow shards), opened with ``load_from_disk``:
  memory-mapped and map-style (random access), shuffled by a sampler.

Object storage: ``s3://bucket/prefix`` locations with a custom endpoint (``S3`` below), which is how
these scripts reach a moto server on 127.0.0.1.
"""

from __future__ import annotations

import dataclasses
import io
import itertools
import math
import os
import shutil
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import torch
from PIL import Image

# litdata asks PyPI for a newer version of itself whenever a StreamingDataset is made (a 30 s timeout where
# there is no network); huggingface_hub may try the Hub. Neither is wanted in a data loader.
os.environ.setdefault("LITDATA_DISABLE_VERSION_CHECK", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

FORMATS = ("litdata", "webdataset", "hf_parquet", "hf_arrow")
Sample = tuple[int, Any, int]  # (id, JPEG bytes or decoded (width, height), label)


@dataclasses.dataclass(frozen=True)
class S3:
    """An S3-compatible server: endpoint URL and credentials (moto accepts any)."""

    endpoint: str
    key: str = "testing"
    secret: str = "testing"
    region: str = "us-east-1"

    def boto3_client(self):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.key,
            aws_secret_access_key=self.secret,
            region_name=self.region,
        )

    def fsspec_options(self) -> dict:
        """``storage_options`` for fsspec/s3fs (what ``datasets`` passes on)."""
        return {"key": self.key, "secret": self.secret, "client_kwargs": {"endpoint_url": self.endpoint}}

    def litdata_options(self) -> dict:
        """``storage_options`` for litdata (given to its boto3 client)."""
        return {
            "endpoint_url": self.endpoint,
            "aws_access_key_id": self.key,
            "aws_secret_access_key": self.secret,
            "region_name": self.region,
        }


def list_folder(root: Path, n: int | None = None) -> list[tuple[int, str, int]]:
    """(id, path, label) of the JPEGs under ``root/<class>/``, classes and files in sorted order.

    With ``n``, ``n`` of them spread evenly over the listing (so every class is there), ids 0..n-1.
    """
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    files = [(str(f), label) for label, name in enumerate(classes) for f in sorted((root / name).glob("*.jpg"))]
    if n is not None and n < len(files):
        files = [files[i * len(files) // n] for i in range(n)]
    return [(i, path, label) for i, (path, label) in enumerate(files)]


def folder_bytes(folder: Path) -> tuple[int, int]:
    """(number of files, total bytes) under ``folder``."""
    files = [p for p in folder.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


# ---------------------------------------------------------------------------------------------- packing
def _litdata_sample(item: tuple[int, str, int]) -> dict:
    index, path, label = item
    return {"id": index, "jpg": Path(path).read_bytes(), "label": label}


def _hf_rows(items: list[tuple[int, str, int]]) -> Iterator[dict]:
    for index, path, label in items:
        yield {"id": index, "image": {"bytes": Path(path).read_bytes(), "path": None}, "label": label}


def _hf_dataset(items: list[tuple[int, str, int]], cache: Path):
    import datasets

    features = datasets.Features(
        {"id": datasets.Value("int64"), "image": datasets.Image(), "label": datasets.Value("int64")}
    )
    return datasets.Dataset.from_generator(
        _hf_rows, features=features, gen_kwargs={"items": items}, cache_dir=str(cache), keep_in_memory=False
    )


def pack(fmt: str, items: list[tuple[int, str, int]], out: Path, shard_bytes: int) -> dict:
    """Write ``items`` to ``out`` in ``fmt`` with shards of about ``shard_bytes``; returns files, bytes, seconds."""
    if out.exists():
        raise FileExistsError(f"{out} exists; pack writes a new folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    if fmt == "webdataset":
        import webdataset as wds

        out.mkdir()
        with wds.ShardWriter(str(out / "shard-%05d.tar"), maxsize=shard_bytes, maxcount=10**9, verbose=0) as sink:
            for index, path, label in items:
                sink.write({"__key__": f"{index:08d}", "jpg": Path(path).read_bytes(), "cls": label})
    elif fmt == "litdata":
        from litdata import optimize

        optimize(
            fn=_litdata_sample,
            inputs=items,
            output_dir=str(out),
            chunk_bytes=shard_bytes,
            num_workers=1,
            reorder_files=False,
            verbose=False,
        )
    elif fmt in ("hf_parquet", "hf_arrow"):
        cache = out.parent / f".{out.name}-cache"
        dataset = _hf_dataset(items, cache)
        total = sum(Path(path).stat().st_size for _, path, _ in items)
        if fmt == "hf_arrow":
            dataset.save_to_disk(str(out), max_shard_size=shard_bytes)
        else:
            shards = max(1, math.ceil(total / shard_bytes))
            for i in range(shards):
                part = dataset.shard(shards, i, contiguous=True)
                part.to_parquet(str(out / f"train-{i:05d}-of-{shards:05d}.parquet"))
        shutil.rmtree(cache, ignore_errors=True)
    else:
        raise ValueError(f"unknown format {fmt!r}; one of {FORMATS}")
    seconds = time.perf_counter() - start
    files, size = folder_bytes(out)
    return {"seconds": seconds, "files": files, "bytes": size}


def upload(folder: Path, s3: S3, bucket: str, prefix: str) -> str:
    """Copy ``folder`` to ``s3://bucket/prefix/`` (creating the bucket); returns the URL."""
    client = s3.boto3_client()
    if bucket not in {b["Name"] for b in client.list_buckets().get("Buckets", [])}:
        client.create_bucket(Bucket=bucket)
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        client.upload_file(str(path), bucket, f"{prefix}/{path.relative_to(folder).as_posix()}")
    return f"s3://{bucket}/{prefix}"


def list_location(location: str, suffix: str, s3: S3 | None) -> list[str]:
    """Sorted files ending in ``suffix`` at a local folder or ``s3://`` prefix (as paths or URLs)."""
    if not location.startswith("s3://"):
        return sorted(str(p) for p in Path(location).rglob(f"*{suffix}"))
    assert s3 is not None, "an s3:// location needs an S3 endpoint"
    bucket, _, prefix = location[5:].partition("/")
    pages = s3.boto3_client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    keys = [o["Key"] for page in pages for o in page.get("Contents", [])]
    return sorted(f"s3://{bucket}/{k}" for k in keys if k.endswith(suffix))


# ---------------------------------------------------------------------------------------------- reading
def decode_size(data: bytes) -> tuple[int, int]:
    """Decode a JPEG fully (as a training pipeline must) and return its (width, height).

    Returning the size rather than the pixels keeps worker-to-main-process copies out of the figure.
    """
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB").size


def _payload(data: bytes, decode: bool) -> Any:
    return decode_size(data) if decode else data


def _from_litdata(sample: dict, decode: bool) -> Sample:
    return int(sample["id"]), _payload(sample["jpg"], decode), int(sample["label"])


def _from_wds(sample: dict, decode: bool) -> Sample:
    return int(sample["__key__"]), _payload(sample["jpg"], decode), int(sample["cls"])


def _from_hf(row: dict, decode: bool) -> Sample:
    return int(row["id"]), _payload(row["image"]["bytes"], decode), int(row["label"])


_S3_FOR_WDS: S3 | None = None
_LITDATA_OBSTORE: bool | None = None


def _wds_open_s3(url: str, mode: str = "rb", bufsize: int = 8192, **kw):
    """webdataset has no s3:// opener; this one streams an object's body through boto3."""
    assert _S3_FOR_WDS is not None and mode == "rb"
    bucket, _, key = url[5:].partition("/")
    return _S3_FOR_WDS.boto3_client().get_object(Bucket=bucket, Key=key)["Body"]


def _split_by_rank(urls, rank: int, world_size: int):
    """webdataset node splitter with the rank fixed when the dataset is made (in the training process).

    webdataset's own ``split_by_node`` asks for the rank inside each DataLoader worker (RANK/WORLD_SIZE
    variables or torch.distributed); a spawned worker has neither unless the launcher set the variables.
    """
    yield from itertools.islice(urls, rank, None, world_size)


def open_reader(
    fmt: str,
    location: str,
    *,
    shuffle: bool = False,
    seed: int = 0,
    rank: int = 0,
    world_size: int = 1,
    s3: S3 | None = None,
    cache_dir: str | None = None,
    buffer: int = 1000,
    drop_last: bool | None = None,
    wds_rank_in_worker: bool = False,
    litdata_obstore: bool = False,
) -> torch.utils.data.Dataset:
    """The library's own dataset over a packed location (its rows become :data:`Sample` in :func:`loader`).

    Iterable formats split their work over ranks (each library's own way: litdata and webdataset find
    the rank from torch.distributed, ``datasets`` is told ``rank``/``world_size``) and over DataLoader
    workers; ``hf_arrow`` is map-style, split and shuffled by the loader's sampler.
    """
    import_s3 = location.startswith("s3://")
    if fmt == "litdata":
        import litdata.streaming.downloader
        from litdata import StreamingDataset

        global _LITDATA_OBSTORE
        if _LITDATA_OBSTORE is None:
            _LITDATA_OBSTORE = bool(litdata.streaming.downloader._OBSTORE_AVAILABLE)
        # With obstore installed litdata fetches chunks through it, and obstore refuses plain-http
        # endpoints (reqwest BadScheme; litdata passes no allow_http). Its boto3 path works. The flag is
        # a module global, so DataLoader workers see it only when forked.
        plain_http = import_s3 and s3 is not None and s3.endpoint.startswith("http://")
        litdata.streaming.downloader._OBSTORE_AVAILABLE = _LITDATA_OBSTORE and (litdata_obstore or not plain_http)
        return StreamingDataset(
            location,
            shuffle=shuffle,
            seed=seed,
            cache_dir=cache_dir,
            storage_options=s3.litdata_options() if import_s3 and s3 else None,
            max_cache_size="2GB",
            drop_last=drop_last,
        )
    if fmt == "webdataset":
        import webdataset as wds

        if import_s3:
            global _S3_FOR_WDS
            _S3_FOR_WDS = s3
            wds.gopen_schemes["s3"] = _wds_open_s3
        urls = list_location(location, ".tar", s3)
        dataset = wds.WebDataset(
            urls,
            shardshuffle=len(urls) if shuffle else False,
            nodesplitter=(
                wds.split_by_node if wds_rank_in_worker else partial(_split_by_rank, rank=rank, world_size=world_size)
            ),
            workersplitter=wds.split_by_worker,
            empty_check=False,
            seed=seed,
        )
        if shuffle:
            dataset = dataset.shuffle(buffer, seed=seed)
        return dataset
    if fmt == "hf_parquet":
        import datasets
        from datasets.distributed import split_dataset_by_node

        files = list_location(location, ".parquet", s3)
        options = s3.fsspec_options() if import_s3 and s3 else None
        dataset = datasets.load_dataset(
            "parquet", data_files={"train": files}, split="train", streaming=True, storage_options=options
        )
        dataset = dataset.cast_column("image", datasets.Image(decode=False)).reshard()  # a shard per row group
        if shuffle:
            dataset = dataset.shuffle(seed=seed, buffer_size=buffer)
        if world_size > 1:
            dataset = split_dataset_by_node(dataset, rank=rank, world_size=world_size)
        return dataset
    if fmt == "hf_arrow":
        import datasets

        options = s3.fsspec_options() if import_s3 and s3 else None
        dataset = datasets.load_from_disk(location, storage_options=options)
        return dataset.cast_column("image", datasets.Image(decode=False))
    raise ValueError(f"unknown format {fmt!r}; one of {FORMATS}")


CONVERTERS = {"litdata": _from_litdata, "webdataset": _from_wds, "hf_parquet": _from_hf, "hf_arrow": _from_hf}


def _collate(batch: list, convert: Callable[[Any, bool], Sample], decode: bool) -> list[Sample]:
    return [convert(row, decode) for row in batch]


def loader(
    fmt: str,
    dataset: torch.utils.data.Dataset,
    workers: int,
    decode: bool = False,
    batch_size: int = 64,
    shuffle: bool = False,
    seed: int = 0,
    rank: int = 0,
    world_size: int = 1,
    loader_cls: Callable | None = None,
) -> torch.utils.data.DataLoader:
    """A DataLoader whose batches are lists of :data:`Sample` (rows converted, and decoded with ``decode``,
    in the worker; no tensor collation). litdata gets its StreamingDataLoader (which carries the state
    for resuming) unless ``loader_cls`` says otherwise. Map-style datasets get a DistributedSampler
    (which also shuffles); iterable ones split themselves.
    """
    sampler = None
    if not isinstance(dataset, torch.utils.data.IterableDataset):
        sampler = torch.utils.data.DistributedSampler(
            dataset, num_replicas=world_size, rank=rank, shuffle=shuffle, seed=seed, drop_last=False
        )
    if loader_cls is None and fmt == "litdata":
        from litdata import StreamingDataLoader as loader_cls
    make = loader_cls or torch.utils.data.DataLoader
    return make(
        dataset,
        batch_size=batch_size,
        num_workers=workers,
        sampler=sampler,
        collate_fn=partial(_collate, convert=CONVERTERS[fmt], decode=decode),
        persistent_workers=False,
    )
