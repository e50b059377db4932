"""Runs on image shards (issue 22): a 2-process DDP fit reads every example exactly once per epoch across
ranks and workers, and a run stopped within an epoch resumes at the batch it stopped at, to the same
weights as a run never stopped."""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dualbranch.cli import main
from dualbranch.train.interrupt import RunInterrupted
from dualbranch.train.pipeline import fit
from fit_processes import environment, last_weights
from shard_fits import TINY, RecordExamples, StopAt, numbered_shards, shard_config

pytest.importorskip("datasets")


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> Path:
    return numbered_shards(tmp_path_factory.mktemp("numbered"))


def test_two_process_ddp_on_shards_reads_every_example_once_per_epoch(shards, tmp_path):
    (tmp_path / "record").mkdir()
    script = Path(__file__).with_name("shard_fits.py")
    command = [sys.executable, str(script), str(shards), str(tmp_path), str(tmp_path / "record"),
               "optim.epochs=2", "data.num_workers=2", "trainer.accelerator=cpu", "trainer.devices=2",
               "trainer.strategy=ddp"]  # fmt: skip
    done = subprocess.run(command, env=environment(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    for epoch in (0, 1):
        batches = {
            rank: [
                line.split() for line in (tmp_path / "record" / f"rank{rank}-epoch{epoch}.txt").read_text().splitlines()
            ]
            for rank in (0, 1)
        }
        assert len(batches[0]) == len(batches[1])  # the same steps on both ranks: no rank waits at the end
        read = sorted(int(x) for rank in (0, 1) for batch in batches[rank] for x in batch)
        assert read == list(range(150)), f"epoch {epoch}: not every example exactly once"
    assert (tmp_path / "ddp" / "model.safetensors").is_file()


def test_a_run_stopped_within_an_epoch_resumes_at_that_batch_to_the_same_weights(shards, tmp_path):
    workers = "data.num_workers=2"
    (tmp_path / "straight-record").mkdir()
    (tmp_path / "stopped-record").mkdir()
    fit(shard_config(shards, tmp_path, "straight", "optim.epochs=3", workers),
        callbacks=[RecordExamples(tmp_path / "straight-record")])  # fmt: skip
    stopped = shard_config(shards, tmp_path, "stopped", "optim.epochs=3", "trainer.checkpoint_seconds=3600", workers)
    with pytest.raises(RunInterrupted) as stop:
        fit(stopped, callbacks=[StopAt(epoch=1, batch=6), RecordExamples(tmp_path / "stopped-record")])
    assert "in epoch 2 after batch 7 of 20" in str(stop.value)  # the step under way finished first
    assert f"--resume {tmp_path / 'stopped'}" in str(stop.value)
    fit(stopped, resume=tmp_path / "stopped", callbacks=[RecordExamples(tmp_path / "stopped-record")])
    for epoch in range(3):  # the resumed epoch made only the batches the stopped run had not trained
        straight = (tmp_path / "straight-record" / f"rank0-epoch{epoch}.txt").read_text()
        assert (tmp_path / "stopped-record" / f"rank0-epoch{epoch}.txt").read_text() == straight
    expected, got = last_weights(tmp_path / "straight"), last_weights(tmp_path / "stopped")
    assert expected.keys() == got.keys()
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], rtol=0, atol=0)


def test_shards_without_test_shards_say_which_path_to_give(shards, tmp_path, capsys):
    code = main(["fit", "data.name=image_shards", f"data.path={shards / 'train'}", f"output.root={tmp_path}"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.endswith("which packs a folder's train/ val/ test/ sub-folders each to its own split).")
    assert len(err.splitlines()) == 1


def _tar_of_photos(path: Path, count: int, broken: int | None = None) -> None:
    with tarfile.open(path, "w") as tar:
        for i in range(count):
            image = io.BytesIO()
            Image.fromarray(np.full((30, 36, 3), i * 7 % 256, np.uint8)).save(image, format="PNG")
            data = b"\x89PNG but cut short" if i == broken else image.getvalue()
            for name, payload in ((f"{i:03d}.png", data), (f"{i:03d}.cls", str(i % 2).encode())):
                info = tarfile.TarInfo(name)
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))


def test_an_unreadable_photo_in_a_loader_worker_is_one_line_naming_it(tmp_path, capsys):
    _tar_of_photos(tmp_path / "train.tar", 24, broken=5)
    _tar_of_photos(tmp_path / "test.tar", 8)
    code = main(["fit", "data.name=image_shards", f"data.path={tmp_path / 'train.tar'}",
                 f"data.test_path={tmp_path / 'test.tar'}", "data.num_workers=2", "optim.epochs=1",
                 *TINY, f"output.root={tmp_path}"])  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, err[-20:]
    assert f"{tmp_path / 'train.tar'}:005" in err[-1] and "data.on_corrupt" in err[-1]
    assert not any("Traceback" in line or "DataLoader worker" in line for line in err)
