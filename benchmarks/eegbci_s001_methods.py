"""EEGMMIDB subject 1, left vs right fist: deep and classical methods on the very same folds.

    .venv/bin/python benchmarks/eegbci_s001_methods.py [--repeats 3] [--epochs 60] [--sets imagined executed both]
        [--methods mvcnet dbconformer ...] [--output PATH] [section.key=value ...]
    .venv/bin/python benchmarks/eegbci_s001_methods.py --combine A.json B.json --output PATH   # one process per set

Data (read offline from /work/shared/data, 64 channels, 160 Hz, 7–30 Hz, 0–4 s after the cue, 641
samples): ``imagined`` runs 4, 8, 12 (45 trials), ``executed`` runs 3, 7, 11 (45), ``both`` (90). Each
set is written once as a ``signal_npz`` file (channel names and rate kept), so every method reads the
same trials. Protocol: 5-fold stratified cross-validation within the subject, repeated with seeds
0..r-1 (each seed other folds and another initialisation); the deep methods train through
``dualbranch fit`` (the built-in ``eegbci_s001`` recipe: AdamW, lr 1e-3, batch 12, label smoothing 0.1,
Euclidean alignment + channel standardisation fitted on each fold's training trials, no validation
split, last epoch kept; the data recipe's augmentation is pinned off so every method trains alike), the
classical ones are fitted on exactly the same training trials of each fold (the folds come from
:func:`dualbranch.train.pipeline.folds_of`, as ``fit`` makes them) and scored on the same test trials.

Methods: ``mvcnet`` (MVCNet with its multi-view contrastive objective; a token per 0.5 s, the paper's
125 samples at 250 Hz), ``dbconformer`` (cross-entropy), ``dbconformer_contrastive`` (DBConformer with
the same objective: the two branches' mean-pooled tokens contrasted), ``eeg_conformer``, ``csp_lda``
(4 CSP components, log-variance, LDA) and ``tangent_space`` (OAS covariances, Riemannian tangent space,
logistic regression; pyriemann). Writes JSON (mean ± std over all folds of accuracy, balanced accuracy
and Cohen's κ, per-fold rows, seconds) to benchmarks/results/eegbci_s001_methods.json unless --output
says otherwise, and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from dualbranch.data.eeg import EEGBCI_TASKS, load_eegbci
from dualbranch.data.signal import SignalData
from dualbranch.evaluation.csp_lda import csp_lda_fit_predict
from dualbranch.evaluation.metrics import classification_metrics, summarize
from dualbranch.train.config import load_config
from dualbranch.train.pipeline import fit, folds_of

EEG_ROOT = "/work/shared/data"
SETS = {
    "imagined": ("imagined_left_right",),
    "executed": ("real_left_right",),
    "both": ("imagined_left_right", "real_left_right"),
}
DEEP = {
    "mvcnet": ["model.name=mvcnet", "objective.name=multi_view_contrastive"],
    "dbconformer": ["model.name=dbconformer"],
    "dbconformer_contrastive": ["model.name=dbconformer", "objective.name=multi_view_contrastive"],
    "eeg_conformer": ["model.name=eeg_conformer"],
}
QUIET = ["trainer.progress_bar=false", "output.report=false", "trainer.threads=1", "augment.shift=0", "augment.scale=0"]


def tangent_space_fit_predict(train: SignalData, test: SignalData) -> np.ndarray:
    """OAS covariances -> Riemannian tangent space at the training mean -> logistic regression."""
    from pyriemann.estimation import Covariances
    from pyriemann.tangentspace import TangentSpace
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    pipeline = make_pipeline(Covariances("oas"), TangentSpace(metric="riemann"), LogisticRegression(max_iter=1000))
    pipeline.fit(train.x.astype(np.float64), train.y)
    return pipeline.predict(test.x.astype(np.float64))


CLASSICAL: dict[str, Callable[[SignalData, SignalData], np.ndarray]] = {
    "csp_lda": csp_lda_fit_predict,
    "tangent_space": tangent_space_fit_predict,
}


def write_set(name: str, folder: Path, resample: float | None) -> tuple[Path, list[str]]:
    """The trials of set ``name`` as a signal_npz file (x, y, class_names, groups, sfreq, ch_names)."""
    parts = []
    for task in SETS[name]:
        runs, classes = EEGBCI_TASKS[task]
        parts.append(load_eegbci([1], runs, EEG_ROOT, 7.0, 30.0, 0.0, 4.0, resample, classes))
    first = parts[0]
    assert all(p.class_names == first.class_names and p.ch_names == first.ch_names for p in parts)
    path = folder / f"{name}.npz"
    np.savez(
        path,
        x=np.concatenate([p.x for p in parts]),
        y=np.concatenate([p.y for p in parts]),
        class_names=np.asarray(first.class_names),
        groups=np.concatenate([p.groups for p in parts]),  # one subject: alignment over all its trials
        sfreq=first.sfreq,
        ch_names=np.asarray(first.ch_names),
    )
    return path, list(first.ch_names)


def run_set(name: str, args: argparse.Namespace, root: Path) -> dict:
    path, ch_names = write_set(name, root, args.resample)
    rows: dict[str, list[dict]] = {m: [] for m in args.methods}
    seconds = dict.fromkeys(args.methods, 0.0)
    for seed in range(args.repeats):
        base = [
            "data.name=signal_npz",
            f"data.path={path}",
            f"trainer.seed={seed}",
            f"optim.epochs={args.epochs}",
            *QUIET,
        ]
        for method in [m for m in args.methods if m in DEEP]:
            overrides = [*base, *DEEP[method], *args.overrides]
            if method == "mvcnet":
                # a token per 0.5 s, as the paper's 125 samples at 250 Hz
                patch = round(0.5 * (args.resample or 160.0))
                overrides += [f"model.args.patch_size={patch}", *(f"model.args.{kv}" for kv in args.mvcnet_args)]
            if "objective.name=multi_view_contrastive" in overrides:
                # signal_npz carries no channel descriptions: the reflection view gets the names here
                overrides.append(f"objective.args.ch_names={json.dumps(ch_names)}")
            run = root / f"{name}-{method}-{seed}"
            if not (run / "metrics.json").is_file():  # a finished run in a reused --root is read, not redone
                config = load_config("eegbci_s001", [*overrides, f"output.root={root}", f"output.name={run.name}"])
                started = time.perf_counter()
                run = fit(config)
                seconds[method] += time.perf_counter() - started
            for row in json.loads((run / "metrics.json").read_text())["folds"]:
                rows[method].append({"seed": seed, **row})
        # the very folds fit used: same config, same seed
        config = load_config("eegbci_s001", [*base, *args.overrides])
        dataset = config.kind.load(config.data, seed)
        for method in [m for m in args.methods if m in CLASSICAL]:
            started = time.perf_counter()
            for fold in folds_of(config, dataset):
                train = np.concatenate([fold.train, fold.val]) if fold.val is not None else fold.train
                test = dataset.examples.subset(fold.test)
                predicted = CLASSICAL[method](dataset.examples.subset(train), test)
                rows[method].append(
                    {"seed": seed, "fold": fold.name, "n": len(test), **classification_metrics(test.y, predicted)}
                )
            seconds[method] += time.perf_counter() - started
        for method in args.methods:
            got = [r["balanced_accuracy"] for r in rows[method] if r["seed"] == seed]
            print(f"{name} seed {seed} {method}: balanced accuracy {np.mean(got):.3f}", flush=True)
    return {
        "trials": int(np.load(path)["y"].shape[0]),
        "methods": {
            m: {"summary": summarize(rows[m]), "seconds": round(seconds[m], 1), "folds": rows[m]} for m in args.methods
        },
    }


def _cell(summary: dict, key: str) -> str:
    return f"{summary[key]['mean']:.3f} ± {summary[key]['std']:.3f}"


def table(result: dict) -> str:
    lines = ["| set | method | balanced accuracy | accuracy | κ | seconds |", "|---|---|---:|---:|---:|---:|"]
    for name, entry in result["sets"].items():
        for method, values in entry["methods"].items():
            s = values["summary"]
            row = (
                f"| {name} ({entry['trials']}) | {method} | {_cell(s, 'balanced_accuracy')} | {_cell(s, 'accuracy')} | "
            )
            lines.append(row + f"{_cell(s, 'kappa')} | {values['seconds']:.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="5-fold splits with seeds 0..repeats-1")
    parser.add_argument("--epochs", type=int, default=60, help="training epochs of the deep methods")
    parser.add_argument("--resample", type=float, default=None, help="new sampling rate in Hz (default: 160)")
    parser.add_argument(
        "--mvcnet-args", nargs="*", default=[], metavar="key=value", help="extra model.args of MVCNet (a smaller run)"
    )
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    parser.add_argument("--methods", nargs="+", default=[*DEEP, *CLASSICAL], choices=[*DEEP, *CLASSICAL])
    parser.add_argument("--output", type=Path, default=Path(__file__).parent / "results" / "eegbci_s001_methods.json")
    parser.add_argument("--keep", action="store_true", help="keep the run folders (checkpoints: several GB)")
    parser.add_argument(
        "--combine", nargs="+", type=Path, metavar="JSON",
        help="no training: merge the sets of earlier result files (e.g. one process per set) into --output",
    )  # fmt: skip
    parser.add_argument(
        "--root", type=Path,
        help="folder for the runs, kept afterwards; runs it already holds (with metrics.json) are read, not trained",
    )  # fmt: skip
    parser.add_argument("overrides", nargs="*", metavar="section.key=value", help="config overrides for every run")
    args = parser.parse_args()
    if args.combine:
        parts = [json.loads(path.read_text()) for path in args.combine]
        combined = {**parts[0], "sets": {k: v for part in parts for k, v in part["sets"].items()}}
        combined["seconds"] = sum(part["seconds"] for part in parts)
        combined["combined_from"] = [str(path) for path in args.combine]
        args.output.write_text(json.dumps(combined, indent=2) + "\n")
        print(table(combined))
        return
    root = args.root or Path(tempfile.mkdtemp(prefix="eegbci-s001-methods-"))
    root.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    result = {
        "data": "EEGMMIDB S001 left/right fist, 64 ch, 160 Hz (or --resample), 7-30 Hz, 0-4 s",
        "protocol": f"5-fold stratified within-subject, repeated with seeds 0..{args.repeats - 1}; same folds for all",
        "epochs": args.epochs,
        "resample": args.resample,
        "mvcnet_args": args.mvcnet_args,
        "overrides": args.overrides,
        "machine": f"{platform.machine()}, {os.cpu_count()} logical CPUs (shared), torch {torch.__version__}",
        "sets": {name: run_set(name, args, root) for name in args.sets},
    }
    result["seconds"] = round(time.perf_counter() - started, 1)
    if args.keep or args.root:
        print(f"run folders kept in {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(table(result))
    print(f"{result['seconds']:.0f} s; written to {args.output}")


if __name__ == "__main__":
    main()
