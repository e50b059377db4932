"""Interrupt a training run with SIGKILL, resume it, and compare with an uninterrupted run (JSON).

    .venv/bin/python benchmarks/resume_run.py [section.key=value ...]

Both runs use the same config (default: Fashion-MNIST, 4 epochs on 6,000 images). The interrupted run
is killed as soon as its epoch-2 checkpoint exists, then continued with ``dualbranch fit --resume``.
Prints the epoch the resume started from, the largest weight difference between the two final
models, and both test accuracies.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

DEFAULTS = ["optim.epochs=4", "data.limit_train=6000", "data.limit_eval=2000", "trainer.progress_bar=false"]


def _fit(root: Path, name: str, overrides: list[str]) -> list[str]:
    return [sys.executable, "-m", "dualbranch.cli", "fit", *overrides, f"output.root={root}", f"output.name={name}"]


def _epochs_done(run: Path) -> int:
    history = run / "history.jsonl"
    return len(history.read_text().splitlines()) if history.is_file() else 0


def main(overrides: list[str]) -> dict:
    overrides = DEFAULTS + overrides
    root = Path(tempfile.mkdtemp(prefix="resume-bench-"))
    subprocess.run(_fit(root, "straight", overrides), check=True, stdout=subprocess.DEVNULL)

    victim = subprocess.Popen(_fit(root, "killed", overrides), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run = root / "killed"
    while _epochs_done(run) < 2 and victim.poll() is None:
        time.sleep(0.2)
    time.sleep(1.0)  # let the epoch-2 checkpoint land, then kill mid-epoch 3
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    checkpoint = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    resumed_from_epoch = checkpoint["epoch"] + 1
    cli = [sys.executable, "-m", "dualbranch.cli", "fit", "--resume", str(run)]
    subprocess.run(cli, check=True, stdout=subprocess.DEVNULL)

    def last(name: str) -> dict[str, torch.Tensor]:
        path = root / name / "checkpoints" / "last.ckpt"
        return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]

    def accuracy(name: str) -> float:
        return json.loads((root / name / "metrics.json").read_text())["accuracy"]

    a, b = last("straight"), last("killed")
    metrics = {name: accuracy(name) for name in ("straight", "killed")}
    return {
        "config": overrides,
        "killed_after_epochs": resumed_from_epoch,
        "max_abs_weight_difference": max((a[k] - b[k]).abs().max().item() for k in a),
        "test_top1_uninterrupted": metrics["straight"],
        "test_top1_killed_and_resumed": metrics["killed"],
        "identical": all(torch.equal(a[k], b[k]) for k in a),
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:]), indent=2))
