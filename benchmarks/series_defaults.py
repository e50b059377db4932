"""Series defaults against ROCKET and 1-NN DTW on every classification set bundled with aeon.

    nice -n 15 .venv/bin/python benchmarks/series_defaults.py [--sets ACSF1 ...] [--seeds 3]
        [--label after] [--model crossvit_1d] [--threads 2] [--no-baselines] [--path FOLDER]

Each set is fitted as a new user would: ``dualbranch fit data.name=uea data.uea_name=NAME`` and nothing
else (``--model`` names a model instead of the recipe's; ``--label before --model crossvit_1d`` is what
the defaults were before RocketFormer), one run per seed, official train/test splits. In the same
script, on the same splits: aeon's ROCKET (``RocketClassifier``, 10,000 kernels, one fit per seed) and
1-NN DTW (``KNeighborsTimeSeriesClassifier``, full window; deterministic, fitted once). ROCKET needs
equal lengths: on a set of unequal lengths it is not run (``null``), as in aeon. Accuracy and wall
seconds per run (a dualbranch run's seconds include loading, the closed-form fit, training and the
test; ``transformer_weight``: RocketFormer's choice, 0 where the kernel branch decides alone;
``cpu_seconds``: the process's CPU time, all threads — on a shared machine the wall time says
more about the other jobs than about the run). Prints JSON lines and writes
benchmarks/results/series_defaults.json (entries of other sets and labels are kept), with the machine,
thread count and load, and beside it the same name in .md: the table of ``--label`` against the baselines.

``--path`` reads downloaded sets instead (the folder a UEA/UCR archive unpacks to, ``NAME/NAME_TRAIN.ts``
or the UCR archive's ``.tsv`` / ``.txt``;
every set in it unless ``--sets`` names some), as ``data.path`` does, for the baselines too.

Sets: ``bundled_uea_datasets()`` — ACSF1, ArrowHead, BasicMotions, Covid3Month_disc, GunPoint,
ItalyPowerDemand, JapaneseVowels, OSULeaf, PickupGestureWiimoteZ, UnitTest in aeon 1.x.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from dualbranch.bench import machine_info
from dualbranch.checkpoint import read_state_dict
from dualbranch.data.series import bundled_uea_datasets, read_uea_split, uea_split_files
from dualbranch.errors import MissingFileError
from dualbranch.train.config import load_config
from dualbranch.train.pipeline import fit

RESULTS = Path(__file__).parent / "results" / "series_defaults.json"
QUIET = ["trainer.progress_bar=false", "output.report=false"]


def _dualbranch(name: str, seed: int, root: Path, extra: list[str]) -> dict:
    overrides = [
        "data.name=uea",
        f"data.uea_name={name}",
        *extra,
        *QUIET,
        f"output.root={root}",
        f"trainer.seed={seed}",
    ]
    started, cpu = time.perf_counter(), time.process_time()
    run = fit(load_config(None, overrides))
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    metrics = json.loads((run / "metrics.json").read_text())
    recipe = json.loads((run / "recipe.json").read_text())
    model = next((c["value"] for c in recipe["choices"] if c["key"] == "model.name"), None)
    entry = {
        "seed": seed, "accuracy": metrics["accuracy"], "seconds": round(seconds, 1), "cpu_seconds": round(cpu, 1),
        "model": model,
    }  # fmt: skip
    # RocketFormer's Transformer weight, chosen on held-out training examples (0: the kernel branch alone)
    weights = read_state_dict(run / "model.safetensors") if (run / "model.safetensors").is_file() else {}
    if "final_layer.transformer_weight" in weights:
        entry["transformer_weight"] = float(weights["final_layer.transformer_weight"])
    return entry


def _baselines(name: str, seeds: int, path: Path | None = None) -> dict:
    """1-NN DTW (deterministic) and ROCKET over ``seeds`` draws of its kernels, on the official splits."""
    from aeon.classification.convolution_based import RocketClassifier
    from aeon.classification.distance_based import KNeighborsTimeSeriesClassifier

    train_x, train_y = read_uea_split(name, "train", path)  # as the archive holds them: unequal lengths unpadded
    test_x, test_y = read_uea_split(name, "test", path)
    started = time.perf_counter()
    dtw = KNeighborsTimeSeriesClassifier(n_neighbors=1, distance="dtw").fit(train_x, train_y)
    result = {"1nn_dtw": {"accuracy": float(dtw.score(test_x, test_y)), "seconds": 0.0}}
    result["1nn_dtw"]["seconds"] = round(time.perf_counter() - started, 1)
    equal = isinstance(train_x, np.ndarray) and isinstance(test_x, np.ndarray) and train_x.shape[2] == test_x.shape[2]
    if not equal:
        result["rocket"] = None  # aeon's ROCKET takes equal-length series only
        return result
    runs = []
    for seed in range(seeds):
        started = time.perf_counter()
        rocket = RocketClassifier(n_kernels=10000, random_state=seed).fit(train_x, train_y)
        accuracy = float(rocket.score(test_x, test_y))
        runs.append({"seed": seed, "accuracy": accuracy, "seconds": round(time.perf_counter() - started, 1)})
    result["rocket"] = {"accuracy": float(np.mean([r["accuracy"] for r in runs])), "runs": runs}
    return result


def holds_a_set(folder: Path) -> bool:
    """Whether ``folder`` is a set's own folder in the archives' layout (as ``data.path`` reads it).
    Shared with benchmarks/series_kernel_pooling.py."""
    try:
        uea_split_files(folder.name, folder)
    except MissingFileError:
        return False
    return True


def _pct(values: list[float]) -> str:
    """Mean ± sd (population) in percent."""
    return f"{100 * np.mean(values):.1f} ± {100 * np.std(values):.1f}"


def write_markdown(results: dict, label: str, path: Path) -> None:
    """The table of ``label`` against the baselines, one row per set, and the means over the sets where
    every column ran; the machine below it."""
    lines = [
        f"| set | dualbranch defaults ({label}), mean ± sd | 1-NN DTW | ROCKET (aeon, 10,000 kernels), mean ± sd "
        "| s per run (max) |",
        "|---|---|---|---|---|",
    ]
    ours, dtw, ours_r, rocket_r = [], [], [], []
    for name, here in sorted(results["sets"].items()):
        if label not in here:
            continue
        entry, base = here[label], here.get("baselines") or {}
        accuracies = [r["accuracy"] for r in entry["runs"]]
        d = base.get("1nn_dtw", {}).get("accuracy")
        r = base.get("rocket")
        r_runs = [x["accuracy"] for x in r["runs"]] if r else None
        ours.append(np.mean(accuracies))
        dtw.append(d)
        if r_runs:
            ours_r.append(np.mean(accuracies))
            rocket_r.append(np.mean(r_runs))
        lines.append(
            f"| {name} | {_pct(accuracies)} ({len(accuracies)} seeds) | {'–' if d is None else f'{100 * d:.1f}'} "
            f"| {'– (unequal lengths)' if not r_runs else _pct(r_runs)} | {entry['seconds_max']:.0f} |"
        )
    if ours:
        mean_dtw = f"{100 * np.mean(dtw):.2f}" if None not in dtw else "–"
        lines.append(f"| **mean, {len(ours)} sets** | {100 * np.mean(ours):.2f} | {mean_dtw} | – | |")
    if rocket_r:
        lines.append(
            f"| **mean, the {len(rocket_r)} sets ROCKET runs on** | {100 * np.mean(ours_r):.2f} | | "
            f"{100 * np.mean(rocket_r):.2f} | |"
        )
    machine = results.get("machines", {}).get(label, {})
    lines += ["", f"Machine: `{json.dumps(machine)}`", ""]
    path.write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", default=None, help="default: every bundled classification set")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--rocket-seeds", type=int, default=1, help="draws of ROCKET's kernels (default 1)")
    parser.add_argument("--label", default="after", help="the name of this configuration in the results")
    parser.add_argument("--model", help="a model instead of the recipe's choice (e.g. crossvit_1d: before)")
    parser.add_argument("--threads", type=int, help="torch threads of each run (default: all logical CPUs)")
    parser.add_argument("--no-baselines", action="store_true", help="skip ROCKET and 1-NN DTW")
    parser.add_argument("--path", type=Path, help="a folder of downloaded sets (NAME/NAME_TRAIN.ts, .tsv or .txt)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    extra = [f"model.name={args.model}"] if args.model else []
    if args.path:
        extra.append(f"data.path={args.path}")
    if args.threads:
        extra.append(f"trainer.threads={args.threads}")
    folders = args.path.iterdir() if args.path else ()
    downloaded = sorted(p.name for p in folders if holds_a_set(p))
    sets = args.sets or downloaded or bundled_uea_datasets()
    for name in sets:
        with tempfile.TemporaryDirectory(prefix=f"series-{name}-") as folder:
            runs = [_dualbranch(name, seed, Path(folder), extra) for seed in range(args.seeds)]
        entry = {
            "runs": runs,
            "accuracy": float(np.mean([r["accuracy"] for r in runs])),
            "seconds_max": max(r["seconds"] for r in runs),
            "cpu_seconds_max": max(r["cpu_seconds"] for r in runs),
            "overrides": extra,
            "load_after": list(os.getloadavg()),
        }
        # read again before writing: another process may have written other sets meanwhile
        results = json.loads(args.output.read_text()) if args.output.is_file() else {"sets": {}}
        results.setdefault("machines", {})[args.label] = machine_info()
        here = results["sets"].setdefault(name, {})
        here[args.label] = entry
        if not args.no_baselines:
            here["baselines"] = _baselines(name, args.rocket_seeds, args.path)
        args.output.write_text(json.dumps(results, indent=2) + "\n")
        write_markdown(results, args.label, args.output.with_suffix(".md"))
        print(name, json.dumps({k: v for k, v in here.items() if k != "runs"}), flush=True)


if __name__ == "__main__":
    main()
