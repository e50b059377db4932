"""Many `dualbranch fit` runs side by side: recipe variants × data sets × seeds, as JSON lines.

    .venv/bin/python benchmarks/recipe_sweep.py export-ucr DIR [NAME ...]
    .venv/bin/python benchmarks/recipe_sweep.py run JOBS.json OUT.jsonl [--workers 8] [--deadline 540]

``export-ucr`` writes aeon's bundled UCR/UEA sets as ``DIR/NAME_{train,test}.npz`` (what
``data.name=uea`` would load, as ``data.name=signal_npz`` reads it), so a machine without aeon can
run them. ``run`` reads a list of jobs ``{"name": ..., "overrides": ["key=value", ...]}``, runs them
``--workers`` at a time (each its own process, in the order given) and appends one JSON line per job
to OUT: test accuracy, best validation accuracy, recipe, seconds, and the per-epoch history. No job
starts after ``--deadline`` seconds, and one still running then is stopped and written with what its
history holds. This is how a short loan of a many-core / GPU machine runs a recipe ablation: the
recipe itself is unchanged, only the overrides named in each job differ.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

QUIET = ["trainer.progress_bar=false", "output.report=false", "output.name=run"]


def export_ucr(folder: Path, names: list[str]) -> None:
    from dualbranch.train.config import load_config

    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        # the kind's own loader: the arrays (lengths, class codes) are those a `data.name=uea` run trains on
        config = load_config(None, ["data.name=uea", f"data.uea_name={name}"])
        dataset = config.kind.load(config.data, seed=0, progress=False)
        test = dataset.own_test
        train = np.setdiff1d(np.arange(len(dataset)), test)
        for split, index in (("train", train), ("test", test)):
            data = dataset.examples.subset(index)
            arrays = {"x": data.x, "y": data.y, "class_names": np.asarray(data.class_names)}
            if data.mask is not None:
                arrays["mask"] = data.mask
            np.savez(folder / f"{name}_{split}.npz", **arrays)
        print(name, len(train), len(test), dataset.examples.x.shape[1:], flush=True)


def _result(job: dict, root: Path, seconds: float, returncode: int | None) -> dict:
    run = root / "run"
    history_file, metrics_file = run / "history.jsonl", run / "metrics.json"
    history = [json.loads(line) for line in history_file.read_text().splitlines()] if history_file.is_file() else []
    metrics = json.loads(metrics_file.read_text()) if metrics_file.is_file() else {}
    recipe_file = run / "recipe.json"
    recipe = json.loads(recipe_file.read_text()) if recipe_file.is_file() else {}
    return {
        **job,
        "returncode": returncode,
        "seconds": round(seconds, 1),
        "accuracy": metrics.get("accuracy"),
        "best_val_acc": max((row["val_acc"] for row in history if row.get("val_acc") is not None), default=None),
        "epochs_done": len(history),
        "recipe": {c["key"]: c["value"] for c in recipe.get("choices", [])},
        "history": history,
    }


def run_jobs(jobs: list[dict], out: Path, workers: int, deadline: float) -> None:
    started = time.monotonic()
    pending, running = list(jobs), []
    scratch = Path(tempfile.mkdtemp(prefix="sweep-"))
    while pending or running:
        while pending and len(running) < workers and time.monotonic() - started < deadline:
            job = pending.pop(0)
            root = scratch / f"{len(jobs) - len(pending):03d}"
            command = [sys.executable, "-m", "dualbranch.cli", "fit", *job["overrides"], *QUIET, f"output.root={root}"]
            log = open(root.with_suffix(".log"), "w")  # noqa: SIM115 (closed when the job ends)
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=os.environ)
            running.append((job, root, process, time.monotonic(), log))
        time.sleep(2)
        late = time.monotonic() - started >= deadline
        for entry in list(running):
            job, root, process, job_start, log = entry
            if process.poll() is None:
                if not late:
                    continue
                process.kill()
                process.wait()
            log.close()
            result = _result(job, root, time.monotonic() - job_start, process.returncode)
            if process.returncode != 0:
                result["log_tail"] = root.with_suffix(".log").read_text()[-1500:]
            with out.open("a") as handle:
                handle.write(json.dumps(result) + "\n")
            print(job["name"], result["accuracy"], result["seconds"], flush=True)
            running.remove(entry)
        if late:  # every running job was stopped above; what never started is written as skipped
            with out.open("a") as handle:
                handle.writelines(json.dumps({**job, "returncode": None, "accuracy": None, "skipped": True}) + "\n"
                                  for job in pending)  # fmt: skip
            break


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    export = commands.add_parser("export-ucr")
    export.add_argument("folder", type=Path)
    export.add_argument("names", nargs="+")
    run = commands.add_parser("run")
    run.add_argument("jobs", type=Path)
    run.add_argument("out", type=Path)
    run.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    run.add_argument("--deadline", type=float, default=float("inf"), help="seconds; no job starts after it")
    args = parser.parse_args()
    if args.command == "export-ucr":
        export_ucr(args.folder, args.names)
    else:
        run_jobs(json.loads(args.jobs.read_text()), args.out, args.workers, args.deadline)


if __name__ == "__main__":
    main()
