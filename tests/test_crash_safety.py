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

ROOT = Path(__file__).resolve().parent.parent


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
SMALL_FIT = [
    "data.name=digits",
    "model.name=crossvit_fmnist",
    "model.args={embed_dim: [16, 32], num_heads: [2, 2], patch_size: [2, 4], img_scale: [1, 1], stem: patch,"
    " depth: [[1, 1], [1, 1]]}",
    "data.batch_size=64",
    "optim.warmup_epochs=0.5",
    "augment.translate=0",
    "augment.hflip=0",
    "augment.randaug_ops=0",
    "trainer.progress_bar=false",
    "trainer.threads=1",
    "trainer.deterministic=true",
    "output.report=false",
]


def _fit_command(root: Path, name: str, epochs: int) -> list[str]:
    overrides = [*SMALL_FIT, f"optim.epochs={epochs}", f"output.root={root}", f"output.name={name}"]
    return [sys.executable, "-m", "dualbranch.cli", "fit", *overrides]


def _environment() -> dict[str, str]:
    source = str(ROOT / "src")
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": source + os.pathsep + os.environ.get("PYTHONPATH", "")}


def _epochs_done(run: Path) -> int:
    history = run / "history.jsonl"
    return len(history.read_text().splitlines()) if history.is_file() else 0


def kill_and_resume(root: Path, epochs: int, seed: int) -> dict[str, object]:
    """Run ``fit`` twice at once; SIGKILL one at a seeded random moment (a random fraction into a random
    epoch after the first), resume it with ``fit --resume``, and compare it with the uninterrupted one."""
    env, rng = _environment(), random.Random(seed)
    straight = subprocess.Popen(_fit_command(root, "straight", epochs), env=env, stdout=subprocess.DEVNULL)
    victim = subprocess.Popen(
        _fit_command(root, "killed", epochs), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    run = root / "killed"
    # the moment: a random fraction into a random epoch after the first, leaving at least one more epoch
    target_epoch, fraction = rng.randint(1, epochs - 2), rng.random()
    while _epochs_done(run) < target_epoch and victim.poll() is None:
        time.sleep(0.01)
    epoch_seconds = json.loads((run / "history.jsonl").read_text().splitlines()[-1])["seconds"]
    delay = fraction * epoch_seconds
    time.sleep(delay)
    victim.send_signal(signal.SIGKILL)
    killed = victim.wait() == -signal.SIGKILL
    completed = _epochs_done(run)
    restored = load_training_checkpoint(run / "checkpoints" / "last.ckpt")["epoch"] + 1
    resume = subprocess.run(
        [sys.executable, "-m", "dualbranch.cli", "fit", "--resume", str(run)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert resume.returncode == 0, resume.stderr[-2000:]
    assert straight.wait() == 0
    expected = load_training_checkpoint(root / "straight" / "checkpoints" / "last.ckpt")["state_dict"]
    got = load_training_checkpoint(run / "checkpoints" / "last.ckpt")["state_dict"]
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
    result = kill_and_resume(tmp_path, epochs, seed=int(os.environ.get("KILL_SEED", "7")))
    assert result["killed_by_sigkill"], f"the run finished before the kill: {result}"
    assert 1 <= result["epochs_restored"] < epochs
    assert result["epochs_lost"] <= 1, result  # the checkpoint holds every completed epoch but at most one
    assert result["same_keys"]
    assert result["max_abs_weight_difference"] <= 1e-6, result
    accuracy, loss = result["test_accuracy"], result["test_loss"]
    assert accuracy["killed"] == pytest.approx(accuracy["straight"], abs=1e-6)
    assert loss["killed"] == pytest.approx(loss["straight"], abs=1e-5)
