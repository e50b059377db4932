"""One owner per run folder (issue 23, items 4-7): a second fit or resume of a folder in use is refused,
the lock outlives no process (SIGKILL included), --overwrite replaces the old run only once the new one
has a checkpoint, a resume appends to the metric logs, and Ctrl-C / SIGTERM stop a run within seconds
with a resumable state, the command that continues it and exit code 130 / 143."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from dualbranch.errors import RunInUseError
from dualbranch.train.checkpoint_io import load_training_checkpoint
from dualbranch.train.run_lock import LOCK_NAME, lock_holder, lock_run
from fit_processes import (
    SMALL_FIT,
    environment,
    epochs_done,
    fit_command,
    history,
    last_weights,
    resume_command,
    start,
    wait_for,
)
from photo_folders import make_photos

_HOLD = "import sys, time; from dualbranch.train.run_lock import lock_run; lock_run(sys.argv[1]); print('held', flush=True); time.sleep(60)"  # noqa: E501


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_the_lock_is_per_process_reentrant_and_names_its_owner(tmp_path):
    with lock_run(tmp_path), lock_run(tmp_path):  # fit holds it and runs test, which takes it again
        pass
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(tmp_path)], env=environment(), stdout=subprocess.PIPE,
                              text=True)  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunInUseError, match=rf"{tmp_path} is in use by process {holder.pid} on "):
            lock_run(tmp_path)
    finally:
        holder.kill()
        holder.wait()
    with lock_run(tmp_path):  # the kernel dropped the killed process's lock: nothing stale is left
        pass


def test_ctrl_c_saves_a_resumable_state_and_a_resume_appends_to_the_logs(tmp_path):
    epochs, extra = 40, "trainer.checkpoint_seconds=3600"  # no checkpoint between the first epoch and Ctrl-C
    straight = start(fit_command(tmp_path, "straight", epochs, extra))
    victim = start(fit_command(tmp_path, "run", epochs, extra))
    run = tmp_path / "run"
    wait_for(lambda: epochs_done(run) >= 3, victim)
    # while it trains, nobody else may write the folder: neither a resume nor an overwrite
    for command in (resume_command(run), [*fit_command(tmp_path, "run", 1), "--overwrite"]):
        refused = subprocess.run(command, env=environment(), capture_output=True, text=True)
        assert refused.returncode == 2, refused.stderr[-2000:]
        line = refused.stderr.strip().splitlines()[-1]
        assert f"{run} is in use by process {victim.pid}" in line and "Traceback" not in refused.stderr
    done = _interrupt(victim, signal.SIGINT, 130, run)
    before = _rows(run / "logs" / "metrics.csv")
    resumed = subprocess.run(resume_command(run), env=environment(), capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert straight.wait(timeout=900) == 0
    after = _rows(run / "logs" / "metrics.csv")
    assert after[: len(before)] == before and len(after) > len(before)  # appended, nothing deleted
    assert max(int(row["epoch"]) for row in after) == epochs - 1 and done < epochs
    expected, got = last_weights(tmp_path / "straight"), last_weights(run)
    assert all(torch.equal(expected[k], got[k]) for k in expected)  # bit-identical to an uninterrupted run
    assert [row["epoch"] for row in history(run)][-1] == epochs
    # the kept epoch too (the rule's state came back from the checkpoint): the same file, byte for byte
    assert (run / "model.safetensors").read_bytes() == (tmp_path / "straight" / "model.safetensors").read_bytes()


def test_sigterm_stops_a_run_within_seconds_with_a_resumable_state(tmp_path):
    run = tmp_path / "run"
    victim = start(fit_command(tmp_path, "run", 40, "trainer.checkpoint_seconds=3600"))
    wait_for(lambda: epochs_done(run) >= 3, victim)
    _interrupt(victim, signal.SIGTERM, 143, run)


def test_sigterm_to_the_whole_process_group_stops_a_run_whose_workers_decode_photos(tmp_path):
    # what a container runtime or `timeout` does: every process of the group gets the signal, the DataLoader
    # workers too; the trainer must still finish the step, save where it stands and say how to continue
    photos = make_photos(tmp_path / "photos", per_class=8)
    run = tmp_path / "run"
    model = [a for a in SMALL_FIT if a.startswith(("model.", "augment.", "trainer.", "output."))]
    command = [sys.executable, "-m", "dualbranch.cli", "fit", "data.name=image_folder", f"data.path={photos}",
               "data.pipeline=stream", "data.img_size=[32,32]", "data.val_ratio=0.25", "data.num_workers=2",
               "data.batch_size=4", *model, "optim.epochs=200", "trainer.checkpoint_seconds=3600",
               f"output.root={tmp_path}", "output.name=run"]  # fmt: skip
    victim = subprocess.Popen(command, env=environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              start_new_session=True)  # fmt: skip
    wait_for(lambda: epochs_done(run) >= 2, victim)
    os.killpg(victim.pid, signal.SIGTERM)
    _, err = victim.communicate(timeout=60)
    assert victim.returncode == 143 and "Traceback" not in err, err[-2000:]
    assert f"Continue with: dualbranch fit --resume {run}" in err


def _interrupt(victim: subprocess.Popen, signum: int, code: int, run: Path) -> int:
    """Send ``signum``; the run must stop within 10 s with ``code``, the latest epoch saved and the resume
    command printed. Returns the epochs it had done."""
    sent = time.monotonic()
    victim.send_signal(signum)
    _, err = victim.communicate(timeout=60)
    assert victim.returncode == code and time.monotonic() - sent < 10, err[-2000:]
    assert f"Continue with: dualbranch fit --resume {run}" in err and "Traceback" not in err
    done = epochs_done(run)
    # where the run stood was saved on the way out: within the epoch under way (the batches trained so far),
    # or the latest end of an epoch (the signal may land between an epoch's history line and its capture)
    position = load_training_checkpoint(run / "checkpoints" / "last.ckpt")["position"]
    within = position["batches"] < position["of"]
    completed = position["epoch"] - within
    assert done - 1 <= completed <= done and completed >= 2, position
    if within:
        assert f"in epoch {position['epoch']} after batch {position['batches']} of {position['of']}" in err
    return done


def test_two_resumes_at_once_one_trains_and_the_lock_outlives_no_sigkill(tmp_path):
    run = tmp_path / "run"
    victim = start(fit_command(tmp_path, "run", 5, "trainer.checkpoint_seconds=0"))
    wait_for(lambda: epochs_done(run) >= 2, victim)
    victim.send_signal(signal.SIGKILL)  # the lock it held goes with it
    victim.wait()
    first, second = start(resume_command(run)), start(resume_command(run))
    results = sorted([(first.wait(timeout=600), first.stderr.read()), (second.wait(timeout=600), second.stderr.read())])
    assert [code for code, _ in results] == [0, 2], results
    assert "is in use by process" in results[1][1].strip().splitlines()[-1]
    assert [row["epoch"] for row in history(run)][-1] == 5 and (run / "model.safetensors").is_file()


_KILLED_AT_FIRST_WRITE = """
import sys, time
from pathlib import Path
import dualbranch.safe_io as safe_io
marker, real = Path(sys.argv[1]), safe_io.atomic_write

def atomic_write(path, write):
    if Path(path).name == "last.ckpt":
        marker.write_text("writing")
        time.sleep(600)
    return real(path, write)

safe_io.atomic_write = atomic_write
from dualbranch.cli import main
raise SystemExit(main(sys.argv[2:]))
"""


def test_overwrite_replaces_the_old_run_only_after_the_new_one_has_a_checkpoint(tmp_path):
    old = subprocess.run(fit_command(tmp_path, "run", 1), env=environment(), capture_output=True, text=True)
    assert old.returncode == 0, old.stderr[-2000:]
    run = tmp_path / "run"
    kept = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file() and p.name != ".lock"}
    # 1. the new run fails before its first checkpoint (weights of another model to start from)
    other = tmp_path / "other.safetensors"
    from dualbranch import create_model
    from dualbranch.checkpoint import save_checkpoint

    save_checkpoint(create_model("hybrid_cnn_vit_tiny"), other, metadata={"model": "hybrid_cnn_vit_tiny"})
    failed = subprocess.run([*fit_command(tmp_path, "run", 1, f"model.checkpoint={other}"), "--overwrite"],
                            env=environment(), capture_output=True, text=True)  # fmt: skip
    assert failed.returncode == 2 and "made for the model 'hybrid_cnn_vit_tiny'" in failed.stderr
    # 2. the new run is killed while it writes its first checkpoint
    script, marker = tmp_path / "killed.py", tmp_path / "marker"
    script.write_text(_KILLED_AT_FIRST_WRITE)
    command = [*fit_command(tmp_path, "run", 2), "--overwrite"]
    victim = subprocess.Popen([sys.executable, str(script), str(marker), *command[3:]], env=environment(),
                              stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)  # fmt: skip
    wait_for(marker.is_file, victim)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file() and p.name != ".lock"} == kept
    assert [p.name for p in tmp_path.glob(".run.new-*")]  # what the killed run left is hidden beside it
    # 3. a run that gets its checkpoint replaces the old one, and the next one cleans up what 2. left
    new = subprocess.run(command, env=environment(), capture_output=True, text=True)
    assert new.returncode == 0, new.stderr[-2000:]
    assert (run / "model.safetensors").read_bytes() != kept["model.safetensors"]
    assert [row["epoch"] for row in history(run)] == [1, 2] and not list(tmp_path.glob(".run.*"))


def test_the_holder_is_named_even_when_its_note_is_written_just_after_the_lock(tmp_path):
    note = tmp_path / LOCK_NAME
    note.write_text("")  # the lock is taken; its owner has not written who it is yet
    writer = threading.Timer(
        0.15, lambda: note.write_text('{"pid": 4242, "host": "h", "command": "fit", "since": "t"}')
    )
    writer.start()
    started = time.monotonic()
    assert lock_holder(tmp_path).startswith("process 4242 on h")
    assert time.monotonic() - started < 1.0
    note.write_text("")
    assert lock_holder(tmp_path) == "another process"  # a note that never comes: answered within half a second
