"""Reproducible by default (issue 23, item 3): the same command, data, seed and thread count give the same
updates and bit-identical weights on a quiet machine and on a busy one; a wall-time budget is measured once,
by rank 0, and every rank plans with that figure."""

from __future__ import annotations

import hashlib
import multiprocessing
import subprocess

import pytest

from dualbranch.errors import ConfigError
from dualbranch.train import budget
from fit_processes import environment, fit_command, history


def _spin(stop) -> None:
    while not stop.is_set():
        sum(i * i for i in range(100_000))


def _weights(run) -> str:
    return hashlib.sha256((run / "model.safetensors").read_bytes()).hexdigest()


def test_the_same_command_gives_the_same_weights_on_a_quiet_and_on_a_busy_machine(tmp_path):
    # a budget in updates (auto's never times anything either: test_recipe.py), and a checkpoint whenever a
    # second has passed: a busy machine writes fewer of them, which must change nothing but the files' times
    extra = ["optim.epochs=null", "optim.budget=120", "data.limit_train=200", "trainer.checkpoint_seconds=1"]
    quiet = subprocess.run(fit_command(tmp_path, "quiet", 1, *extra), env=environment(), capture_output=True, text=True)
    assert quiet.returncode == 0, quiet.stderr[-2000:]
    stop = multiprocessing.Event()
    burners = [multiprocessing.Process(target=_spin, args=(stop,)) for _ in range(2)]
    for burner in burners:
        burner.start()
    try:
        busy = subprocess.run(fit_command(tmp_path, "busy", 1, *extra), env=environment(), capture_output=True,
                              text=True)  # fmt: skip
    finally:
        stop.set()
        for burner in burners:
            burner.join()
    assert busy.returncode == 0, busy.stderr[-2000:]
    steps = [[row["step"] for row in history(tmp_path / name)] for name in ("quiet", "busy")]
    assert steps[0] == steps[1] and steps[0][-1] == 120  # the same schedule: 30 epochs of 4 updates
    assert _weights(tmp_path / "quiet") == _weights(tmp_path / "busy")


def test_a_wall_time_budget_is_measured_once_and_shared_with_every_rank(monkeypatch):
    for name in ("RANK", "LOCAL_RANK", "NODE_RANK", "DUALBRANCH_STEP_RATE"):
        monkeypatch.delenv(name, raising=False)
    measured = []
    assert budget.shared_step_rate(lambda: measured.append(1) or 7.5) == 7.5  # rank 0 measures ...
    monkeypatch.setenv("RANK", "1")  # ... a worker it launched reads rank 0's figure, measuring nothing
    assert budget.shared_step_rate(lambda: measured.append(1) or 99.0) == 7.5 and measured == [1]
    monkeypatch.delenv("DUALBRANCH_STEP_RATE")
    with pytest.raises(ConfigError, match=r"measured once, by rank 0.*optim\.budget=4000"):
        budget.shared_step_rate(lambda: 1.0)
