"""``dualbranch data pack``: a photo folder (or a CSV of paths and labels) written as image shards.

The shards are Parquet files in Hugging Face ``datasets``' layout (an ``image`` column of the files'
own bytes, never re-encoded, with their names; a ``label`` ClassLabel column whose names travel in the
schema), one folder per split: ``OUT/<split>/part-00000.parquet``, ... Each file holds about
``shard_mb`` MB in row groups of about :data:`ROW_GROUP_MB`, the unit a stream reads at a time
(:mod:`.shards`); examples are written in a seeded random order, so any run of a shard mixes the
classes. ``datasets.load_dataset("parquet", data_dir=OUT)`` reads the result too, and so does any
tool that reads Parquet; copy the folder to object storage (``aws s3 sync OUT s3://bucket/name``) and
``fit`` streams it from there.
"""

from __future__ import annotations

import csv
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError, MissingFileError, OutputExistsError
from .photos import READ_ERRORS, index_image_folder

__all__ = ["ROW_GROUP_MB", "pack_images"]

ROW_GROUP_MB = 8  # a stream's reading unit: a few hundred photos, small enough to hold in a worker


def _splits(source: Path) -> dict[str, tuple[list[str], list[int], tuple[str, ...]]]:
    """split -> (paths, labels, class names) of a photo folder, a folder of split folders, or a CSV."""
    if source.is_file() and source.suffix.lower() == ".csv":
        with source.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        if not rows or not {"path", "label"} <= set(rows[0]):
            raise DataError(f"{source}: a CSV to pack needs the columns path and label (one row per photo).")
        names = tuple(sorted({r["label"] for r in rows}))
        base = source.parent
        paths = [str(base / r["path"]) if not os.path.isabs(r["path"]) else r["path"] for r in rows]
        return {"train": (paths, [names.index(r["label"]) for r in rows], names)}
    if not source.is_dir():
        raise MissingFileError(f"{source} does not exist; give a photo folder or a CSV of path,label rows.")
    subfolders = sorted(p.name for p in source.iterdir() if p.is_dir())
    split_names = [s for s in subfolders if s in ("train", "val", "validation", "test")]
    if "train" not in split_names:
        files = index_image_folder(source)
        return {"train": (list(files.sources), files.labels.tolist(), files.class_names)}
    train = index_image_folder(source / "train")
    found = {"train": (list(train.sources), train.labels.tolist(), train.class_names)}
    for split in split_names:
        if split != "train":
            part = index_image_folder(source / split, train.class_names)
            found[split] = (list(part.sources), part.labels.tolist(), train.class_names)
    return found


def _check(path: str) -> str | None:
    """Why the file at ``path`` is not a readable image, or None."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.verify()
    except READ_ERRORS as err:
        return str(err) or type(err).__name__
    return None


def _write_split(
    paths: list[str], labels: list[int], names: tuple[str, ...], folder: Path, shard_mb: float, seed: int
) -> dict[str, Any]:
    import datasets
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = datasets.Features({"image": datasets.Image(decode=False), "label": datasets.ClassLabel(names=list(names))})
    arrow_schema = schema.arrow_schema
    order = np.random.default_rng(seed).permutation(len(paths))
    folder.mkdir(parents=True)
    files, written, writer, group, group_bytes, file_bytes = [], 0, None, [], 0, 0

    def flush() -> None:
        nonlocal group, group_bytes
        if group:
            table = pa.Table.from_pylist(group, schema=arrow_schema)
            writer.write_table(table, row_group_size=len(group))  # type: ignore[union-attr]
            group, group_bytes = [], 0

    for i in order.tolist():
        if writer is None or file_bytes >= shard_mb * 1e6:
            flush()
            if writer is not None:
                writer.close()
            files.append(folder / f"part-{len(files):05d}.parquet")
            writer, file_bytes = pq.ParquetWriter(files[-1], arrow_schema), 0
        data = Path(paths[i]).read_bytes()
        group.append({"image": {"bytes": data, "path": os.path.basename(paths[i])}, "label": labels[i]})
        group_bytes, file_bytes, written = group_bytes + len(data), file_bytes + len(data), written + 1
        if group_bytes >= ROW_GROUP_MB * 1e6:
            flush()
    flush()
    if writer is not None:
        writer.close()
    return {"examples": written, "files": len(files), "bytes": sum(f.stat().st_size for f in files)}


def pack_images(
    source: str | os.PathLike[str], out: str | os.PathLike[str], shard_mb: float = 256, on_corrupt: str = "error",
    seed: int = 0,
) -> dict[str, Any]:  # fmt: skip
    """Write the photos of ``source`` as shards in ``out`` (see the module docstring); returns a summary."""
    source, out = Path(source), Path(out)
    if out.exists() and any(out.iterdir()):
        raise OutputExistsError(f"{out} is not empty; nothing was written. Give a new folder for the shards.")
    started = time.perf_counter()
    splits = _splits(source)
    unreadable = [(path, why) for paths, _, _ in splits.values() for path in paths if (why := _check(path))]
    if unreadable and on_corrupt == "error":
        listed = "; ".join(f"{p} ({w})" for p, w in unreadable[:5])
        more = f" and {len(unreadable) - 5} more" if len(unreadable) > 5 else ""
        raise DataError(
            f"{len(unreadable)} unreadable image(s): {listed}{more}. Fix or remove them, or pass --on-corrupt skip."
        )
    bad = {path for path, _ in unreadable}
    summary: dict[str, Any] = {"source": str(source), "out": str(out), "splits": {}}
    summary["skipped"] = [path for path, _ in unreadable]
    for split, (paths, labels, names) in splits.items():
        keep = [i for i, p in enumerate(paths) if p not in bad]
        summary["splits"][split] = _write_split(
            [paths[i] for i in keep], [labels[i] for i in keep], names, out / split, shard_mb, seed
        )
    summary["classes"] = len(next(iter(splits.values()))[2])
    summary["seconds"] = round(time.perf_counter() - started, 2)
    (out / "dualbranch_pack.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
