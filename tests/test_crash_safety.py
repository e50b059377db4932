"""Crash safety: atomic checksummed checkpoints, failed writes that keep earlier results, and a
training process killed with SIGKILL at a random moment that resumes to an uninterrupted run's result."""

from __future__ import annotations

import errno
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from bad_input_fixtures import failing_open, fake_run, small_model
from dualbranch.checkpoint import CheckpointError, read_state_dict, save_checkpoint
from dualbranch.cli import main
from dualbranch.safe_io import WriteError
from dualbranch.train.checkpoint_io import ChecksummedCheckpointIO, load_training_checkpoint, verify_checkpoint
from fit_processes import (
    environment,
    epochs_done,
    fit_command,
    last_weights,
    resume_command,
    saved_epoch,
    wait_for,
)


def _leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.rglob("*.tmp")]


def test_checkpoint_write_is_atomic_and_checksummed(tmp_path):
    checkpoint_io = ChecksummedCheckpointIO()
    path = tmp_path / "last.ckpt"
    checkpoint_io.save_checkpoint({"epoch": 1, "w": torch.ones(3)}, path)
    old_bytes = path.read_bytes()
    record = json.loads((tmp_path / "last.ckpt.sha256").read_text())
    assert record["bytes"] == path.stat().st_size and record["previous_sha256"] is None
    checkpoint_io.save_checkpoint({"epoch": 2, "w": torch.full((3,), 2.0)}, path)
    assert checkpoint_io.load_checkpoint(path)["epoch"] == 2
    assert json.loads((tmp_path / "last.ckpt.sha256").read_text())["previous_sha256"] == record["sha256"]
    # a crash after the sidecar's rename but before the checkpoint's leaves the old file: it still verifies
    path.write_bytes(old_bytes)
    assert checkpoint_io.load_checkpoint(path)["epoch"] == 1
    # a torn or foreign file matches neither digest
    path.write_bytes(old_bytes[:-10] + b"0123456789")
    with pytest.raises(CheckpointError, match=r"last\.ckpt: corrupt or truncated"):
        verify_checkpoint(path)
    assert _leftovers(tmp_path) == []


def test_failed_checkpoint_write_keeps_the_last_good_one(tmp_path):
    checkpoint_io = ChecksummedCheckpointIO()
    path = tmp_path / "last.ckpt"
    checkpoint_io.save_checkpoint({"epoch": 1}, path)
    for code in (errno.ENOSPC, errno.EACCES):
        with failing_open(code, only="last.ckpt"), pytest.raises(WriteError, match="Could not write"):
            checkpoint_io.save_checkpoint({"epoch": 2}, path)
        assert load_training_checkpoint(path)["epoch"] == 1
    assert _leftovers(tmp_path) == []


def test_truncated_checkpoint_names_the_file_and_the_intact_one(tmp_path):
    checkpoint_io = ChecksummedCheckpointIO()
    for name in ("best", "last"):
        checkpoint_io.save_checkpoint({"epoch": 3, "w": torch.zeros(1000)}, tmp_path / f"{name}.ckpt")
    data = (tmp_path / "last.ckpt").read_bytes()
    (tmp_path / "last.ckpt").write_bytes(data[:100])
    with pytest.raises(CheckpointError, match=r"last\.ckpt: corrupt or truncated.*best\.ckpt") as err:
        load_training_checkpoint(tmp_path / "last.ckpt")
    assert str(tmp_path) in str(err.value)


def test_weights_keep_their_checksum_and_survive_a_failed_save(tmp_path):
    model = small_model()
    path = save_checkpoint(model, tmp_path / "model.safetensors")
    before = path.read_bytes()
    with failing_open(errno.EACCES), pytest.raises(WriteError, match="permission denied"):
        save_checkpoint(small_model(num_classes=10, drop_rate=0.1), path)
    assert path.read_bytes() == before
    torch.testing.assert_close(read_state_dict(path)["head.0.weight"], model.state_dict()["head.0.weight"])
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600: as a plain write would make it
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("failing", ["metrics.json", "report.html"])
def test_disk_full_during_test_keeps_earlier_results(tmp_path, failing, capsys):
    run = fake_run(tmp_path)
    (run / "config.yaml").write_text((run / "config.yaml").read_text().replace("report: false", "report: true"))
    (run / "report.html").write_text("old report")
    with failing_open(errno.ENOSPC, only=failing):
        assert main(["test", str(run)]) == 2
    err = capsys.readouterr().err
    assert f"Could not write {run / failing}: the disk is full" in err and "Traceback" not in err
    assert (run / "report.html").read_text() == "old report"  # never half-written
    metrics = (run / "metrics.json").read_text()
    # metrics are written before the report: a report failure leaves the new metrics, a metrics failure the old
    assert (metrics == "{}") == (failing == "metrics.json")
    assert _leftovers(run) == []


# ------------------------------------------------------------------------- kill and resume
def kill_and_resume(root: Path, epochs: int, seed: int, *extra: str) -> dict[str, object]:
    """Run ``fit`` twice at once; SIGKILL one at a seeded random moment (a random fraction into a random
    epoch after the first), resume it with ``fit --resume``, and compare it with the uninterrupted one."""
    rng = random.Random(seed)
    straight = subprocess.Popen(fit_command(root, "straight", epochs, *extra), env=environment(),
                                stdout=subprocess.DEVNULL)  # fmt: skip
    victim = subprocess.Popen(
        fit_command(root, "killed", epochs, *extra), env=environment(), stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    run = root / "killed"
    # the moment: a random fraction into a random epoch after the first, leaving at least one more epoch
    target_epoch, fraction = rng.randint(1, epochs - 2), rng.random()
    while epochs_done(run) < target_epoch and victim.poll() is None:
        time.sleep(0.01)
    epoch_seconds = json.loads((run / "history.jsonl").read_text().splitlines()[-1])["seconds"]
    delay = fraction * epoch_seconds
    time.sleep(delay)
    victim.send_signal(signal.SIGKILL)
    killed = victim.wait() == -signal.SIGKILL
    completed = epochs_done(run)
    restored = saved_epoch(run)
    resume = subprocess.run(resume_command(run), env=environment(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    assert resume.returncode == 0, resume.stderr[-2000:]
    assert straight.wait() == 0
    expected, got = last_weights(root / "straight"), last_weights(run)
    metrics = {name: json.loads((root / name / "metrics.json").read_text()) for name in ("straight", "killed")}
    return {
        "killed_by_sigkill": killed,
        "killed_during_epoch": round(target_epoch + 1 + fraction, 3),
        "epochs_completed_at_kill": completed,
        "epochs_restored": restored,
        "epochs_lost": completed - restored,
        "max_abs_weight_difference": max((expected[k] - got[k]).abs().max().item() for k in expected),
        "test_accuracy": {name: m["accuracy"] for name, m in metrics.items()},
        "test_loss": {name: m["loss"] for name, m in metrics.items()},
        "same_keys": expected.keys() == got.keys(),
    }


def test_sigkill_at_a_random_moment_then_resume_matches_an_uninterrupted_run(tmp_path):
    epochs = 8
    seed = int(os.environ.get("KILL_SEED", "7"))
    result = kill_and_resume(tmp_path, epochs, seed, "trainer.checkpoint_seconds=0")  # a checkpoint every epoch
    assert result["killed_by_sigkill"], f"the run finished before the kill: {result}"
    assert 1 <= result["epochs_restored"] < epochs
    assert result["epochs_lost"] <= 1, result  # the checkpoint holds every completed epoch but at most one
    assert result["same_keys"]
    assert result["max_abs_weight_difference"] <= 1e-6, result
    accuracy, loss = result["test_accuracy"], result["test_loss"]
    assert accuracy["killed"] == pytest.approx(accuracy["straight"], abs=1e-6)
    assert loss["killed"] == pytest.approx(loss["straight"], abs=1e-5)


def test_checkpoints_written_less_often_still_resume_to_the_same_weights(tmp_path):
    """With the default interval, a short epoch does not pay for a checkpoint: last.ckpt is written after the
    first epoch (then every checkpoint_seconds, and after the last). A run killed later repeats more epochs
    on resume, and still ends with the uninterrupted run's weights, bit for bit."""
    result = kill_and_resume(tmp_path, 8, 3, "trainer.checkpoint_seconds=3600")
    assert result["killed_by_sigkill"] and result["epochs_restored"] == 1, result  # only the first epoch's state
    assert result["epochs_completed_at_kill"] >= 2
    assert result["max_abs_weight_difference"] == 0.0, result
    assert result["test_accuracy"]["killed"] == result["test_accuracy"]["straight"]


# a fit whose second write of last.ckpt stops half-way, leaving a marker, until it is killed
_SLOW_WRITE = """
import os, sys, time
from pathlib import Path
import dualbranch.safe_io as safe_io
marker, real, writes = Path(sys.argv[1]), safe_io.atomic_write, []

def atomic_write(path, write):
    if Path(path).name == "last.ckpt":
        writes.append(path)
        if len(writes) == 2:
            def half(tmp):
                write(tmp)
                data = Path(tmp).read_bytes()
                Path(tmp).write_bytes(data[: len(data) // 2])  # the bytes so far of a write in progress
                marker.write_text(str(tmp))
                time.sleep(600)
            return real(path, half)
    return real(path, write)

safe_io.atomic_write = atomic_write
from dualbranch.cli import main
raise SystemExit(main(sys.argv[2:]))
"""


def test_a_kill_during_a_checkpoint_write_keeps_the_previous_checkpoint(tmp_path):
    script = tmp_path / "slow_write.py"
    script.write_text(_SLOW_WRITE)
    marker = tmp_path / "writing"
    straight = subprocess.run(fit_command(tmp_path, "straight", 4, "trainer.checkpoint_seconds=0"),
                              env=environment(), capture_output=True, text=True)  # fmt: skip
    assert straight.returncode == 0, straight.stderr[-2000:]
    command = fit_command(tmp_path, "killed", 4, "trainer.checkpoint_seconds=0")
    victim = subprocess.Popen([sys.executable, str(script), str(marker), *command[3:]], env=environment(),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
    wait_for(marker.is_file, victim)
    victim.send_signal(signal.SIGKILL)
    assert victim.wait() == -signal.SIGKILL
    run = tmp_path / "killed"
    assert Path(marker.read_text()).is_file()  # the half-written temporary file is there ...
    verify_checkpoint(run / "checkpoints" / "last.ckpt")  # ... and last.ckpt is the intact epoch-1 state
    assert saved_epoch(run) == 1
    resume = subprocess.run(resume_command(run), env=environment(), capture_output=True, text=True)
    assert resume.returncode == 0, resume.stderr[-2000:]
    expected, got = last_weights(tmp_path / "straight"), last_weights(run)
    assert all(torch.equal(expected[k], got[k]) for k in expected)
