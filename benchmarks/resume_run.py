"""Interrupt a training run with SIGKILL, resume it, and compare with an uninterrupted run (JSON).

    .venv/bin/python benchmarks/resume_run.py [--seed N] [section.key=value ...]

Both runs use the same config (default: Fashion-MNIST, 4 epochs on 6,000 images, deterministic). The
interrupted run is killed at a random moment (seeded: ``--seed``): a random fraction into a random
epoch between the second and the second-to-last, then continued with ``dualbranch fit --resume``. Prints when it was
killed, how many completed epochs the checkpoint held (at most one may be lost), the largest weight
difference between the two final models, and both test accuracies.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

DEFAULTS = [
    "optim.epochs=4",
    "data.limit_train=6000",
    "data.limit_eval=2000",
    "trainer.progress_bar=false",
    "trainer.deterministic=true",
    "trainer.checkpoint_seconds=0",  # a checkpoint every epoch: the bound of one epoch lost holds
]


def _fit(root: Path, name: str, overrides: list[str]) -> list[str]:
    return [sys.executable, "-m", "dualbranch.cli", "fit", *overrides, f"output.root={root}", f"output.name={name}"]


def _epochs_done(run: Path) -> int:
    history = run / "history.jsonl"
    return len(history.read_text().splitlines()) if history.is_file() else 0


def main(overrides: list[str], seed: int = 0) -> dict:
    from dualbranch.train.checkpoint_io import load_training_checkpoint

    overrides = DEFAULTS + overrides
    root = Path(tempfile.mkdtemp(prefix="resume-bench-"))
    started = time.perf_counter()
    subprocess.run(_fit(root, "straight", overrides), check=True, stdout=subprocess.DEVNULL)
    run_seconds = time.perf_counter() - started
    epochs = next(int(o.split("=")[1]) for o in reversed(overrides) if o.startswith("optim.epochs="))

    victim = subprocess.Popen(_fit(root, "killed", overrides), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run = root / "killed"
    # a random fraction into a random epoch after the first, leaving at least one more epoch
    rng = random.Random(seed)
    target_epoch, fraction = rng.randint(1, max(1, epochs - 2)), rng.random()
    while _epochs_done(run) < target_epoch and victim.poll() is None:
        time.sleep(0.05)
    epoch_seconds = json.loads((run / "history.jsonl").read_text().splitlines()[-1])["seconds"]
    time.sleep(fraction * epoch_seconds)
    victim.send_signal(signal.SIGKILL)
    killed = victim.wait() == -signal.SIGKILL
    completed = _epochs_done(run)
    restored = load_training_checkpoint(run / "checkpoints" / "last.ckpt")["epoch"] + 1
    cli = [sys.executable, "-m", "dualbranch.cli", "fit", "--resume", str(run)]
    subprocess.run(cli, check=True, stdout=subprocess.DEVNULL)

    def last(name: str) -> dict[str, torch.Tensor]:
        return load_training_checkpoint(root / name / "checkpoints" / "last.ckpt")["state_dict"]

    def accuracy(name: str) -> float:
        return json.loads((root / name / "metrics.json").read_text())["accuracy"]

    a, b = last("straight"), last("killed")
    metrics = {name: accuracy(name) for name in ("straight", "killed")}
    return {
        "config": overrides,
        "seed": seed,
        "uninterrupted_run_seconds": round(run_seconds, 1),
        "killed_by_sigkill": killed,
        "killed_during_epoch": round(target_epoch + 1 + fraction, 2),
        "epochs_completed_at_kill": completed,
        "epochs_restored_from_checkpoint": restored,
        "epochs_lost": completed - restored,
        "max_abs_weight_difference": max((a[k] - b[k]).abs().max().item() for k in a),
        "test_top1_uninterrupted": metrics["straight"],
        "test_top1_killed_and_resumed": metrics["killed"],
        "identical": all(torch.equal(a[k], b[k]) for k in a),
    }


if __name__ == "__main__":
    arguments = sys.argv[1:]
    seed = 0
    if "--seed" in arguments:
        at = arguments.index("--seed")
        seed = int(arguments[at + 1])
        del arguments[at : at + 2]
    print(json.dumps(main(arguments, seed), indent=2))
