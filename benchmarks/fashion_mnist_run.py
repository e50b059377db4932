"""The README's default run, timed: Fashion-MNIST top-1 and wall time on this machine, as JSON.

    .venv/bin/python benchmarks/fashion_mnist_run.py [section.key=value ...]

Runs ``dualbranch fit`` (the built-in Fashion-MNIST config plus any overrides) in a fresh run folder
and prints the command, wall time, epochs, the test top-1 and the machine it ran on.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dualbranch.bench import machine_info


def main(overrides: list[str]) -> dict:
    root = Path(tempfile.mkdtemp(prefix="fmnist-bench-"))
    command = [sys.executable, "-m", "dualbranch.cli", "fit", *overrides, f"output.root={root}", "output.name=run"]
    started = time.perf_counter()
    subprocess.run(command, check=True)
    wall = time.perf_counter() - started
    run = root / "run"
    metrics = json.loads((run / "metrics.json").read_text())
    history = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    return {
        "command": "dualbranch fit " + " ".join(overrides),
        "run_dir": str(run),
        "wall_seconds": round(wall, 1),
        "train_seconds": round(sum(row["seconds"] for row in history), 1),
        "epochs": len(history),
        "best_val_acc": max(row["val_acc"] for row in history),
        "test_top1": metrics["accuracy"],
        "test_balanced_accuracy": metrics["balanced_accuracy"],
        "recipe": json.loads((run / "recipe.json").read_text()),
        "history": history,
        "machine": machine_info(),  # read after the run: its load average covers the run's last minutes
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:]), indent=2))
