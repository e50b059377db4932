"""Helpers for tests that run ``dualbranch fit`` as separate processes: the small digits run, its command
line, the environment (this checkout's src first, one thread), and waiting on a run's progress."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from dualbranch.train.checkpoint_io import load_training_checkpoint

ROOT = Path(__file__).resolve().parent.parent

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


def fit_command(root: Path, name: str, epochs: int, *extra: str) -> list[str]:
    """``python -m dualbranch.cli fit`` of the small digits run into ``root/name``."""
    overrides = [*SMALL_FIT, f"optim.epochs={epochs}", f"output.root={root}", f"output.name={name}", *extra]
    return [sys.executable, "-m", "dualbranch.cli", "fit", *overrides]


def resume_command(run: Path) -> list[str]:
    return [sys.executable, "-m", "dualbranch.cli", "fit", "--resume", str(run)]


def environment(**extra: str) -> dict[str, str]:
    source = str(ROOT / "src")
    path = os.pathsep.join([source, str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": path, **extra}


def start(command: list[str], **extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        command, env=environment(**extra), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def epochs_done(run: Path) -> int:
    history = run / "history.jsonl"
    return len(history.read_text().splitlines()) if history.is_file() else 0


def wait_for(condition, process: subprocess.Popen | None = None, timeout: float = 300.0) -> None:
    """Poll ``condition()`` every 10 ms until it holds (or ``process`` ends, or ``timeout`` passes)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if process is not None and process.poll() is not None:
            raise AssertionError(
                f"the process ended first (exit {process.returncode}): {process.stderr.read()[-2000:]}"
            )
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.01)


def saved_epoch(run: Path) -> int:
    """The epochs the run's ``last.ckpt`` holds."""
    return load_training_checkpoint(run / "checkpoints" / "last.ckpt")["epoch"] + 1


def last_weights(run: Path) -> dict:
    return load_training_checkpoint(run / "checkpoints" / "last.ckpt")["state_dict"]


def history(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
