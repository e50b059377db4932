"""Image shards (issue 22): ``dualbranch data pack`` writes them, Parquet / saved Hugging Face datasets /
webdataset tars are read, on a disk or over S3 (moto's server), and the stream serves every example
exactly once per epoch across ranks and workers, resumable mid-epoch."""

from __future__ import annotations

import csv
import io
import json
import socket
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dualbranch.cli import main
from dualbranch.data.photo_transforms import EvalTransform, TrainTransform, TrainTransformConfig
from dualbranch.data.shard_pack import pack_images
from dualbranch.data.shard_sources import ParquetSource, SavedDatasetSource, TarSource, open_source
from dualbranch.data.shards import ImageShards, ShardStream
from dualbranch.errors import DataError, OutputExistsError
from dualbranch.train.datamodule import ResumableLoader, loader_for
from photo_folders import make_photos

datasets = pytest.importorskip("datasets")
pq = pytest.importorskip("pyarrow.parquet")

N_NUMBERED = 150


def _numbered_photos(root: Path, n: int = N_NUMBERED) -> Path:
    """``root/<even|odd>/<i>.png``: photo i is one flat grey of value i, so any crop or resize of it still
    says which example it is (its first pixel)."""
    for i in range(n):
        folder = root / ("even" if i % 2 == 0 else "odd")
        folder.mkdir(parents=True, exist_ok=True)
        side = 24 + (i % 5) * 4  # mixed sizes
        Image.fromarray(np.full((side, side + 6, 3), i, np.uint8)).save(folder / f"{i:03d}.png")
    return root


@pytest.fixture(scope="module")
def numbered(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("numbered")
    _numbered_photos(root / "photos")
    pack_images(root / "photos", root / "shards", shard_mb=0.02)  # several files, several row groups
    return root / "shards" / "train"


def _stream(location: Path, training: bool, seed: int = 3) -> ShardStream:
    source = open_source(str(location))
    shards = ImageShards((source,), torch.from_numpy(source.labels), source.class_names, channels=3)
    if training:
        transform = TrainTransform(TrainTransformConfig(size=(16, 16), policy="none", hflip=0.5))
    else:
        transform = EvalTransform((16, 16), 0.875)
    return ShardStream(shards, transform, seed)


def _examples(batch: tuple[torch.Tensor, torch.Tensor]) -> list[int]:
    return batch[0][:, 0, 0, 0].tolist()  # each photo's value: its example number


# ------------------------------------------------------------------------- pack
def test_pack_writes_parquet_shards_per_split_that_datasets_reads(tmp_path):
    make_photos(tmp_path / "photos" / "train", per_class=6)
    make_photos(tmp_path / "photos" / "val", per_class=3, seed=1)
    out = tmp_path / "shards"
    assert main(["data", "pack", str(tmp_path / "photos"), str(out), "--shard-mb", "0.01"]) == 0
    summary = json.loads((out / "dualbranch_pack.json").read_text())
    assert summary["splits"]["train"]["examples"] == 12 and summary["splits"]["val"]["examples"] == 6
    assert summary["splits"]["train"]["files"] > 1 and len(list((out / "train").glob("part-*.parquet"))) > 1
    source = open_source(str(out / "train"))
    assert isinstance(source, ParquetSource) and len(source) == 12 and source.class_names == ("ants", "bees")
    originals = {p.read_bytes(): p.parent.name for p in (tmp_path / "photos" / "train").rglob("*.jpg")}
    stored = [item for unit in range(len(source.rows)) for item in source.read(unit)]
    # the files' own bytes, never re-encoded, each with its label
    assert sorted(originals[data] for data, _ in stored) == sorted(originals.values())
    labels = [source.class_names[label] for label in source.labels]
    assert labels == [originals[data] for data, _ in stored]
    loaded = datasets.load_dataset("parquet", data_dir=str(out / "train"), split="train")
    assert loaded.features["label"].names == ["ants", "bees"] and len(loaded) == 12


def test_pack_reads_a_csv_of_paths_and_labels(tmp_path):
    make_photos(tmp_path / "photos", per_class=3)
    rows = [
        {"path": str(p.relative_to(tmp_path)), "label": p.parent.name} for p in (tmp_path / "photos").rglob("*.jpg")
    ]
    with (tmp_path / "list.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, ["path", "label"])
        writer.writeheader()
        writer.writerows(rows)
    summary = pack_images(tmp_path / "list.csv", tmp_path / "shards")
    assert summary["splits"]["train"]["examples"] == 6
    assert open_source(str(tmp_path / "shards" / "train")).class_names == ("ants", "bees")


def test_pack_names_unreadable_photos_or_leaves_them_out(tmp_path, capsys):
    make_photos(tmp_path / "photos", per_class=3)
    broken = tmp_path / "photos" / "ants" / "broken.jpg"
    broken.write_bytes(b"not a jpeg at all")
    assert main(["data", "pack", str(tmp_path / "photos"), str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert "1 unreadable image(s)" in err and str(broken) in err and "--on-corrupt skip" in err
    assert len(err.splitlines()) == 1 and not (tmp_path / "out").exists()
    summary = pack_images(tmp_path / "photos", tmp_path / "out", on_corrupt="skip")
    assert summary["skipped"] == [str(broken)] and summary["splits"]["train"]["examples"] == 6


def test_pack_never_writes_into_a_folder_that_holds_something(tmp_path):
    make_photos(tmp_path / "photos", per_class=2)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "mine.txt").write_text("keep me")
    with pytest.raises(OutputExistsError, match="not empty"):
        pack_images(tmp_path / "photos", tmp_path / "out")
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["mine.txt"]


# ------------------------------------------------------------------------- other sources
def test_a_saved_hugging_face_dataset_is_read_directly(tmp_path):
    make_photos(tmp_path / "photos", per_class=3)
    files = sorted((tmp_path / "photos").rglob("*.jpg"))
    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=["ants", "bees"])})
    rows = {"image": [str(f) for f in files], "label": [0 if f.parent.name == "ants" else 1 for f in files]}
    datasets.Dataset.from_dict(rows, features=features).save_to_disk(str(tmp_path / "saved"))
    source = open_source(str(tmp_path / "saved"))
    assert isinstance(source, SavedDatasetSource) and source.class_names == ("ants", "bees")
    assert source.labels.tolist() == rows["label"]
    assert [data for data, _ in source.read(0)] == [f.read_bytes() for f in files]


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def test_webdataset_tars_are_read_directly_and_a_sample_without_its_class_is_named(tmp_path):
    make_photos(tmp_path / "photos", per_class=2)
    files = sorted((tmp_path / "photos").rglob("*.jpg"))
    (tmp_path / "wds").mkdir()
    for shard in range(2):
        with tarfile.open(tmp_path / "wds" / f"shard-{shard}.tar", "w") as tar:
            for i, f in enumerate(files[shard * 2 : shard * 2 + 2]):
                _add(tar, f"s{shard}_{i}.jpg", f.read_bytes())
                _add(tar, f"s{shard}_{i}.cls", str(int(f.parent.name == "bees")).encode())
    source = open_source(str(tmp_path / "wds"))
    assert isinstance(source, TarSource) and source.rows == [2, 2]
    assert source.labels.tolist() == [int(f.parent.name == "bees") for f in files]
    assert [data for data, _ in source.read(1)] == [f.read_bytes() for f in files[2:]]
    with tarfile.open(tmp_path / "wds" / "shard-2.tar", "w") as tar:
        _add(tar, "lonely.jpg", files[0].read_bytes())
    with pytest.raises(DataError, match=r"'lonely' has no \.cls member"):
        open_source(str(tmp_path / "wds"))


def test_a_folder_of_something_else_says_how_to_make_shards(tmp_path):
    (tmp_path / "notes.txt").write_text("no shards here")
    with pytest.raises(DataError, match="dualbranch data pack FOLDER OUT"):
        open_source(str(tmp_path))


# ------------------------------------------------------------------------- the stream
@pytest.mark.parametrize("workers", [0, 2])
def test_every_example_once_per_epoch_over_ranks_and_workers_with_equal_batches(numbered, workers):
    epoch = [0]

    # one loader per rank for the whole run, as the trainer keeps it: its workers are started once and
    # must still make each new epoch's batches
    def rank_loader(rank: int) -> ResumableLoader:
        return loader_for(_stream(numbered, True), torch.zeros(N_NUMBERED), 8, workers, shuffle=True, training=True,
                          repeated=True, seed=3, world=2, rank=rank, epoch_of=lambda: epoch[0])  # fmt: skip

    loaders = [rank_loader(rank) for rank in (0, 1)]
    assert all(loader.persistent_workers == (workers > 0) for loader in loaders)
    seen: dict[int, list[int]] = {}
    for e in (0, 1):
        epoch[0] = e
        lengths, order = [], []
        for loader in loaders:
            batches = [_examples(b) for b in loader]
            assert len(batches) == len(loader)
            lengths.append(len(batches))
            order += [x for b in batches for x in b]
        assert lengths[0] == lengths[1]  # no rank waits for another at the epoch's end
        assert sorted(order) == list(range(N_NUMBERED))  # every example exactly once
        seen[e] = order
    assert seen[0] != seen[1]  # a new order each epoch
    if workers:  # in epoch 1 the kept workers made what workers started for epoch 1 make
        epoch[0] = 1
        fresh = loader_for(_stream(numbered, True), torch.zeros(N_NUMBERED), 8, workers, shuffle=True,
                           training=True, seed=3, world=2, rank=0, epoch_of=lambda: 1)  # fmt: skip
        assert [_examples(b) for b in fresh] == [_examples(b) for b in loaders[0]]


@pytest.mark.parametrize("workers", [0, 2])
def test_a_stream_stopped_mid_epoch_resumes_at_the_batch_it_stopped_at(numbered, workers):
    def loader() -> ResumableLoader:
        made = loader_for(_stream(numbered, True), torch.zeros(N_NUMBERED), 8, workers, shuffle=True,
                          training=True, seed=3, epoch_of=lambda: 1)  # fmt: skip
        assert isinstance(made, ResumableLoader)
        return made

    whole = [_examples(b) for b in loader()]
    first = loader()
    batches = iter(first)
    before = [_examples(next(batches)) for _ in range(5)]
    state = first.state_dict()
    assert state == {"epoch": 1, "batches": 5}
    resumed = loader()
    resumed.load_state_dict(state)
    assert before + [_examples(b) for b in resumed] == whole


def test_evaluation_reads_the_examples_in_their_order_on_each_rank(numbered):
    source = open_source(str(numbered))
    for workers in (0, 2):
        parts = []
        for rank in (0, 1):
            loader = loader_for(_stream(numbered, False), torch.zeros(N_NUMBERED), 16, workers, shuffle=False,
                                training=False, world=2, rank=rank)  # fmt: skip
            parts.append([x for b in loader for x in _examples(b)])
        assert sorted(parts[0] + parts[1]) == list(range(N_NUMBERED))
        assert parts[0] + parts[1] == _stored_order(source)  # contiguous shares, in the shards' order


def _stored_order(source: ParquetSource) -> list[int]:
    names = [pq.read_table(f, columns=["image"]).column(0).to_pylist() for f in source.files]
    return [int(Path(row["path"]).stem) for rows in names for row in rows]


# ------------------------------------------------------------------------- object storage
@pytest.fixture(scope="module")
def s3_server():
    moto_server = pytest.importorskip("moto.server")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def test_shards_stream_from_an_s3_server_as_from_a_disk(numbered, s3_server):
    s3fs = pytest.importorskip("s3fs")
    options = {"endpoint_url": s3_server, "key": "testing", "secret": "testing"}
    fs = s3fs.S3FileSystem(**options)
    fs.mkdir("photos")
    fs.put(str(numbered), "photos/shards/train", recursive=True)
    remote = open_source("s3://photos/shards/train", options)
    local = open_source(str(numbered))
    assert isinstance(remote, ParquetSource) and remote.rows == local.rows
    assert remote.labels.tolist() == local.labels.tolist() and remote.class_names == local.class_names
    assert [d for d, _ in remote.read(len(remote.rows) - 1)] == [d for d, _ in local.read(len(local.rows) - 1)]
    shards = ImageShards((remote,), torch.from_numpy(remote.labels), remote.class_names)
    stream = ShardStream(shards, TrainTransform(TrainTransformConfig(size=(16, 16), policy="none")), 3)
    loader = loader_for(stream, torch.zeros(N_NUMBERED), 8, 2, shuffle=True, training=True, seed=3,
                        epoch_of=lambda: 0)  # forked workers open connections of their own  # fmt: skip
    assert sorted(x for b in loader for x in _examples(b)) == list(range(N_NUMBERED))
