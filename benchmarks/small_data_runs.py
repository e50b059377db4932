"""Small data is quick, and the same command gives the same weights on a quiet or a busy machine (issue 23).

    .venv/bin/python benchmarks/small_data_runs.py time [--sets digit_folder_150 digits GunPoint]
    .venv/bin/python benchmarks/small_data_runs.py repro --label quiet|loaded [--load-jobs 0]

``time``: ``dualbranch fit`` with the defaults (only the data named), timed from the command's start to
its metrics, with the test accuracy beside a logistic regression on the same split:

* ``digit_folder_150`` — 150 of scikit-learn's 8×8 digits written as a PNG folder (class sub-folders),
  the rest (1,647) as the test folder: "a folder of a hundred-odd small images";
* ``digits`` — ``data.name=digits`` (1,347 train / 450 test);
* ``GunPoint`` — aeon's UCR set (50 train / 150 test), ``data.name=uea``.

``repro``: the same small command (``data.name=digits data.limit_train=400 optim.budget=300``) run twice, in turn with
``--load-jobs`` busy-looping processes beside it (0: as the machine is), and the SHA-256 of the weights
in each ``model.safetensors``; the result goes under ``--label``, so a quiet and a loaded run of this
script side by side show whether the weights depend on the machine's load.

Appends to benchmarks/results/small_data_runs.json (entries of other labels / sets are kept); every
entry records the machine (CPU, features, threads, load average) and versions.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from safetensors.torch import load_file

from dualbranch.bench import machine_info

RESULTS = Path(__file__).parent / "results" / "small_data_runs.json"
QUIET = ["trainer.progress_bar=false", "output.report=false"]
REPRO = ["data.name=digits", "data.limit_train=400", "optim.budget=300", "trainer.threads=2", *QUIET]


def _fit(overrides: list[str], out: Path, name: str) -> tuple[float, dict]:
    """Run ``dualbranch fit`` as a user would (a new process); returns (seconds, metrics.json)."""
    command = [sys.executable, "-m", "dualbranch.cli", "fit", *overrides, f"output.root={out}", f"output.name={name}"]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{name} failed:\n{done.stderr[-3000:]}")
    return seconds, json.loads((out / name / "metrics.json").read_text())


def _digit_folders(root: Path) -> tuple[list[str], float]:
    """150 training digits and the rest as PNG folders; the logistic regression's test accuracy."""
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    train, test = train_test_split(np.arange(len(y)), train_size=150, stratify=y, random_state=0)
    for split, index in (("train", train), ("test", test)):
        for i in index:
            folder = root / split / str(y[i])
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray((x[i].reshape(8, 8) * 255 / 16).astype(np.uint8)).save(folder / f"{i:04d}.png")
    baseline = LogisticRegression(max_iter=2000).fit(x[train], y[train]).score(x[test], y[test])
    return ["data.name=image_folder", f"data.path={root / 'train'}", f"data.test_path={root / 'test'}"], baseline


def _digits() -> tuple[list[str], float]:
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    train, test = train_test_split(np.arange(len(y)), test_size=0.25, stratify=y, random_state=0)
    return ["data.name=digits"], LogisticRegression(max_iter=2000).fit(x[train], y[train]).score(x[test], y[test])


def _gunpoint() -> tuple[list[str], float]:
    from aeon.datasets import load_classification
    from sklearn.linear_model import LogisticRegression

    x_train, y_train = load_classification("GunPoint", split="train")
    x_test, y_test = load_classification("GunPoint", split="test")
    model = LogisticRegression(max_iter=2000).fit(x_train.reshape(len(x_train), -1), y_train)
    return ["data.name=uea", "data.uea_name=GunPoint"], model.score(x_test.reshape(len(x_test), -1), y_test)


def time_sets(sets: list[str]) -> dict:
    found = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in sets:
            data, baseline = {"digit_folder_150": lambda: _digit_folders(Path(tmp) / "digits"),
                              "digits": _digits, "GunPoint": _gunpoint}[name]()  # fmt: skip
            seconds, metrics = _fit([*data, *QUIET], Path(tmp) / "runs", name)
            found[name] = {
                "seconds_to_result": round(seconds, 1),
                "accuracy": round(metrics["accuracy"], 4),
                "kept_epoch": metrics.get("kept"),
                "logistic_regression": round(baseline, 4),
                "machine": machine_info(),
            }
            print(json.dumps({name: found[name]}), flush=True)
    return found


def _busy() -> None:
    while True:
        pass


def repro(label: str, load_jobs: int) -> dict:
    busy = [multiprocessing.Process(target=_busy, daemon=True) for _ in range(load_jobs)]
    for process in busy:
        process.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            hashes, seconds = [], []
            for run in ("first", "second"):
                took, _ = _fit(REPRO, Path(tmp), run)
                weights = load_file(Path(tmp) / run / "model.safetensors")
                digest = hashlib.sha256()
                for key in sorted(weights):
                    digest.update(key.encode() + weights[key].numpy().tobytes())
                hashes.append(digest.hexdigest())
                seconds.append(round(took, 1))
            machine = machine_info()
    finally:
        for process in busy:
            process.kill()
    return {"command": "dualbranch fit " + " ".join(REPRO), "weights_sha256": hashes, "same": len(set(hashes)) == 1,
            "seconds": seconds, "load_jobs_added": load_jobs, "machine": machine}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    modes = parser.add_subparsers(dest="mode", required=True)
    timed = modes.add_parser("time")
    timed.add_argument("--sets", nargs="+", default=["digit_folder_150", "digits", "GunPoint"])
    again = modes.add_parser("repro")
    again.add_argument("--label", required=True)
    again.add_argument("--load-jobs", type=int, default=0)
    args = parser.parse_args()
    results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    if args.mode == "time":
        results.setdefault("time", {}).update(time_sets(args.sets))
    else:
        results.setdefault("repro", {})[args.label] = found = repro(args.label, args.load_jobs)
        print(json.dumps(found), flush=True)
    results["cpus"] = os.cpu_count()
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
