"""Fits on image shards for tests/test_shard_runs.py: numbered photo shards (photo i is a flat grey of value
i, so a batch says which examples it holds), a callback that records them, and one that stops a run with
SIGTERM at a chosen batch. Run as a script it is one process of a DDP fit (Lightning starts the others by
running it again)."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import lightning as L
import numpy as np
from PIL import Image

from dualbranch.data.shard_pack import pack_images
from dualbranch.train.config import load_config
from dualbranch.train.pipeline import fit

TINY = [
    "model.name=crossvit_fmnist",
    "model.args={embed_dim: [16, 32], num_heads: [2, 2], depth: [[1, 1], [1, 1]], drop_path_rate: 0}",
    "data.img_size=[28,28]",
    "data.batch_size=8",
    "augment.translate=0",
    "augment.randaug_ops=0",
    "augment.erase_prob=0",
    "trainer.progress_bar=false",
    "trainer.threads=1",
    "output.report=false",
]


def numbered_shards(root: Path, train: int = 150, test: int = 30) -> Path:
    """``root/shards/{train,test}``: photo i of ``train`` (j of ``test``) a flat grey of value i (100 + j),
    of mixed sizes, in classes even and odd."""
    for split, count, first in (("train", train, 0), ("test", test, 100)):
        for i in range(count):
            value = first + i
            folder = root / "photos" / split / ("even" if value % 2 == 0 else "odd")
            folder.mkdir(parents=True, exist_ok=True)
            side = 24 + (i % 5) * 4
            Image.fromarray(np.full((side, side + 6, 3), value, np.uint8)).save(folder / f"{value:03d}.png")
    pack_images(root / "photos", root / "shards", shard_mb=0.02)
    return root / "shards"


class RecordExamples(L.Callback):
    """Appends each training batch's examples to ``folder/rank<r>-epoch<e>.txt``, a line a batch."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def on_train_batch_start(self, trainer: L.Trainer, module: L.LightningModule, batch, batch_idx: int) -> None:
        examples = batch[0][:, 0, 0, 0].tolist()  # (B, C, H, W) uint8: a photo's grey is its number
        with (self.folder / f"rank{trainer.global_rank}-epoch{trainer.current_epoch}.txt").open("a") as handle:
            handle.write(" ".join(str(e) for e in examples) + "\n")


class StopAt(L.Callback):
    """Sends this process SIGTERM after training batch ``batch`` (0-based) of epoch ``epoch`` (0-based)."""

    def __init__(self, epoch: int, batch: int) -> None:
        self.epoch, self.batch = epoch, batch

    def on_train_batch_end(self, trainer: L.Trainer, module: L.LightningModule, outputs, batch, batch_idx: int) -> None:
        if trainer.current_epoch == self.epoch and batch_idx == self.batch:
            os.kill(os.getpid(), signal.SIGTERM)


def shard_config(shards: Path, out: Path, name: str, *extra: str):
    return load_config(None, [
        "data.name=image_shards", f"data.path={shards / 'train'}", f"data.test_path={shards / 'test'}",
        *TINY, f"output.root={out}", f"output.name={name}", *extra,
    ])  # fmt: skip


if __name__ == "__main__":
    shards, out, record, *extra = sys.argv[1:]
    fit(shard_config(Path(shards), Path(out), "ddp", *extra), callbacks=[RecordExamples(record)])
