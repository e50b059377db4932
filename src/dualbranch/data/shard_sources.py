"""Where image shards are read from: Parquet files (what ``dualbranch data pack`` writes, and any Hugging
Face dataset in Parquet), saved Hugging Face dataset folders (``Dataset.save_to_disk``), and
webdataset tars (``<key>.jpg`` + ``<key>.cls``, as timm reads them), on a local disk or in object
storage (``s3://``, ``gs://``, ... through fsspec; ``data.storage_options`` such as an endpoint URL).

A source is a list of *units* — a Parquet row group, a slice of a saved dataset, a tar — each holding
a known number of examples, with every example's label known up front (a column read, or a tar's
headers). Streams (:mod:`.shards`) read units whole, in an order of their own.

Hugging Face ``datasets`` (Lhoest et al., EMNLP 2021 demos) defines the Parquet layout and reads the
saved folders; Apache Arrow reads the Parquet files; fsspec reaches object storage.
"""

from __future__ import annotations

import abc
import json
import os
import tarfile
from functools import cached_property
from typing import Any

import numpy as np

from ..errors import DataError, MissingDependencyError, MissingFileError

__all__ = ["IMAGE_EXTENSIONS", "ShardSource", "open_source"]

IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "webp", "bmp")  # a webdataset sample's image member
SAVED_UNIT = 256  # rows of a saved Hugging Face dataset read at once


def _filesystem(location: str, storage_options: dict[str, Any]) -> tuple[Any, str]:
    import fsspec

    return fsspec.core.url_to_fs(location, **storage_options)


class ShardSource(abc.ABC):
    """The units of one split: ``rows`` (per unit), ``labels`` (n,) and ``class_names``."""

    location: str
    rows: list[int]
    labels: np.ndarray
    class_names: tuple[str, ...]

    @abc.abstractmethod
    def read(self, unit: int) -> list[tuple[bytes, str]]:
        """Every example of ``unit``: (encoded image bytes, a name for messages and reports)."""

    def __len__(self) -> int:
        return int(sum(self.rows))

    @property
    def _fs(self) -> Any:
        """This process's filesystem handle: a DataLoader worker forked from the process that opened the
        source makes its own (an object-storage client's connections and event loop do not survive a fork)."""
        if getattr(self, "_fs_pid", None) != os.getpid():
            self._fs_handle, self._fs_pid = _filesystem(self.location, self.storage_options)[0], os.getpid()
        return self._fs_handle

    def __getstate__(self) -> dict[str, Any]:  # sent to DataLoader workers without open handles or caches
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}


def _class_names(schema: Any, label: str, labels: np.ndarray) -> tuple[str, ...]:
    """The ClassLabel names Hugging Face keeps in the schema's metadata, else the label values."""
    meta = (schema.metadata or {}).get(b"huggingface")
    if meta:
        feature = json.loads(meta).get("info", {}).get("features", {}).get(label, {})
        if feature.get("_type") == "ClassLabel" and feature.get("names"):
            return tuple(feature["names"])
    return tuple(str(i) for i in range(int(labels.max()) + 1)) if len(labels) else ()


class ParquetSource(ShardSource):
    """Parquet files with an ``image`` column (``{bytes, path}`` as Hugging Face's Image feature, or
    plain bytes) and an integer ``label`` column; a unit is a row group."""

    def __init__(self, location: str, storage_options: dict[str, Any], image: str = "image", label: str = "label"):
        import pyarrow.parquet as pq

        self.location, self.storage_options, self.image, self.label = location, storage_options, image, label
        fs, root = _filesystem(location, storage_options)
        self.files = sorted(f for f in fs.glob(f"{root.rstrip('/')}/**/*.parquet"))
        if not self.files:
            raise MissingFileError(f"{location} holds no .parquet files.")
        self.protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
        self.pieces: list[tuple[str, int, int]] = []  # (file, row group, its first row in the file)
        self.rows, labels = [], []
        for file in self.files:
            with fs.open(file, "rb") as handle:
                parquet = pq.ParquetFile(handle)
                names = parquet.schema_arrow.names
                missing = [c for c in (image, label) if c not in names]
                if missing:
                    raise DataError(f"{file}: no column {missing[0]!r} (columns: {', '.join(names)}).")
                first = 0
                for group in range(parquet.num_row_groups):
                    self.pieces.append((file, group, first))
                    self.rows.append(parquet.metadata.row_group(group).num_rows)
                    first += self.rows[-1]
                labels.append(parquet.read(columns=[label], use_threads=False).column(0).to_numpy())
                schema = parquet.schema_arrow
        self.labels = np.concatenate(labels).astype(np.int64)
        self.class_names = _class_names(schema, label, self.labels)

    def read(self, unit: int) -> list[tuple[bytes, str]]:
        import pyarrow.parquet as pq

        file, group, first = self.pieces[unit]
        with self._fs.open(file, "rb") as handle:
            # one thread: Arrow's thread pool reading through a Python file object can deadlock at teardown and
            # after a fork, and a DataLoader worker per core leaves nothing for it to gain
            table = pq.ParquetFile(handle).read_row_group(group, columns=[self.image], use_threads=False)
            column = table.column(0).to_pylist()
        return [
            (value["bytes"] if isinstance(value, dict) else value, f"{file}[{first + i}]")
            for i, value in enumerate(column)
        ]


class SavedDatasetSource(ShardSource):
    """A folder written by Hugging Face's ``Dataset.save_to_disk`` (read with ``load_from_disk``); a unit
    is :data:`SAVED_UNIT` consecutive rows."""

    def __init__(self, location: str, storage_options: dict[str, Any], image: str = "image", label: str = "label"):
        self.location, self.storage_options, self.image, self.label = location, storage_options, image, label
        dataset = self._dataset
        if image not in dataset.column_names or label not in dataset.column_names:
            raise DataError(f"{location}: needs columns {image!r} and {label!r}; has {dataset.column_names}.")
        n = len(dataset)
        self.rows = [min(SAVED_UNIT, n - start) for start in range(0, n, SAVED_UNIT)]
        self.labels = np.asarray(dataset.data.column(label).to_numpy(), dtype=np.int64)
        feature = dataset.features[label]
        names = getattr(feature, "names", None)
        self.class_names = tuple(names) if names else tuple(str(i) for i in range(int(self.labels.max()) + 1))

    @cached_property
    def _dataset(self) -> Any:
        from datasets import Image, load_from_disk

        dataset = load_from_disk(self.location, storage_options=self.storage_options or None)
        return dataset.cast_column(self.image, Image(decode=False))

    def read(self, unit: int) -> list[tuple[bytes, str]]:
        start = unit * SAVED_UNIT
        values = self._dataset[start : start + self.rows[unit]][self.image]
        return [(v["bytes"], f"{self.location}[{start + i}]") for i, v in enumerate(values)]


class TarSource(ShardSource):
    """webdataset tars: the members of a sample share a key (``<key>.jpg``, ``<key>.cls`` holding the class
    index); a unit is a tar, whose samples and labels are read from its headers up front."""

    def __init__(self, location: str, storage_options: dict[str, Any]):
        self.location, self.storage_options = location, storage_options
        fs, root = _filesystem(location, storage_options)
        self.files = [root] if root.endswith(".tar") else sorted(fs.glob(f"{root.rstrip('/')}/**/*.tar"))
        if not self.files:
            raise MissingFileError(f"{location} holds no .tar files.")
        self.rows, labels = [], []
        for file in self.files:
            samples = self._samples(fs, file, with_images=False)
            self.rows.append(len(samples))
            labels += [label for _, label, _ in samples]
        self.labels = np.asarray(labels, dtype=np.int64)
        self.class_names = tuple(str(i) for i in range(int(self.labels.max()) + 1))

    @staticmethod
    def _samples(fs: Any, file: str, with_images: bool) -> list[tuple[bytes, int, str]]:
        """(image bytes or b"", label, key) of every complete sample of a tar, in its order."""
        samples: dict[str, dict[str, bytes]] = {}
        with fs.open(file, "rb") as handle, tarfile.open(fileobj=handle, mode="r|") as tar:
            for member in tar:
                if not member.isfile() or "." not in os.path.basename(member.name):
                    continue
                key, extension = member.name.split(".", 1)
                wanted = extension == "cls" or (with_images and extension.lower() in IMAGE_EXTENSIONS)
                if wanted:
                    samples.setdefault(key, {})[extension.lower()] = tar.extractfile(member).read()  # type: ignore[union-attr]
                else:
                    samples.setdefault(key, {})
        found = []
        for key, parts in samples.items():
            if "cls" not in parts:
                raise DataError(f"{file}: sample {key!r} has no .cls member (its class index).")
            image = next((parts[e] for e in IMAGE_EXTENSIONS if e in parts), b"")
            found.append((image, int(parts["cls"].decode().strip()), f"{file}:{key}"))
        return found

    def read(self, unit: int) -> list[tuple[bytes, str]]:
        return [(image, name) for image, _, name in self._samples(self._fs, self.files[unit], with_images=True)]


def open_source(location: str, storage_options: dict[str, Any] | None = None) -> ShardSource:
    """The source at ``location``: a folder (or prefix) of Parquet files, a saved Hugging Face dataset, or
    webdataset tars, local or remote."""
    options = dict(storage_options or {})
    try:
        fs, root = _filesystem(location, options)
    except ImportError as err:
        raise MissingDependencyError(
            f"{location}: reading it needs {err.name or 'an fsspec backend'} (for s3://: pip install s3fs)."
        ) from err
    if not fs.exists(root):
        raise MissingFileError(f"Shards {location} do not exist.")
    if root.endswith(".tar") or fs.glob(f"{root.rstrip('/')}/*.tar"):
        return TarSource(location, options)
    if fs.exists(f"{root.rstrip('/')}/dataset_info.json") and fs.glob(f"{root.rstrip('/')}/*.arrow"):
        return SavedDatasetSource(location, options)
    if fs.glob(f"{root.rstrip('/')}/**/*.parquet"):
        return ParquetSource(location, options)
    raise DataError(
        f"{location} holds neither Parquet files, a saved Hugging Face dataset nor webdataset tars; pack a photo "
        "folder with `dualbranch data pack FOLDER OUT`."
    )
