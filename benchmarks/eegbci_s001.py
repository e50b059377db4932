"""EEGMMIDB subject 1, imagined left vs right fist: DBConformer vs CSP + LDA on the same folds.

    .venv/bin/python benchmarks/eegbci_s001.py [--repeats 3] [section.key=value ...]

Runs 4, 8, 12 (45 trials, 64 channels, 160 Hz, 7–30 Hz, 0–4 s). DBConformer is trained through
`dualbranch fit` with the built-in ``eegbci_s001`` config (5-fold stratified within-subject
cross-validation, one model per fold, Euclidean alignment + channel standardisation fitted on each
fold's training trials). CSP (4 components, log-variance) + LDA is fitted on exactly the same
training trials of each fold (the folds come from the same :func:`make_folds`) and scored on the
same test trials. ``--repeats r`` repeats the 5-fold split with seeds 0..r-1 (each seed draws other
folds and another DBConformer initialisation). Prints JSON (and writes
benchmarks/results/eegbci_s001.json): per fold and per method accuracy, balanced accuracy and
Cohen's κ, and mean ± std over all folds.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from dualbranch.evaluation.csp_lda import csp_lda_fit_predict
from dualbranch.evaluation.metrics import classification_metrics, summarize
from dualbranch.train.config import load_config
from dualbranch.train.pipeline import fit, folds_of

QUIET = ["trainer.progress_bar=false", "output.report=false", "trainer.threads=1"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="5-fold splits with seeds 0..repeats-1")
    parser.add_argument("overrides", nargs="*", metavar="section.key=value")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="eegbci-s001-"))
    rows: dict[str, list[dict]] = {"dbconformer": [], "csp_lda": []}
    seconds = {"dbconformer": 0.0, "csp_lda": 0.0}
    for seed in range(args.repeats):
        overrides = [f"trainer.seed={seed}", *QUIET, *args.overrides]
        config = load_config("eegbci_s001", [*overrides, f"output.root={root}", f"output.name=seed{seed}"])
        started = time.perf_counter()
        run = fit(config)
        seconds["dbconformer"] += time.perf_counter() - started
        for row in json.loads((run / "metrics.json").read_text())["folds"]:
            rows["dbconformer"].append({"seed": seed, **row})
        # the very folds fit used: same config, same seed
        dataset = config.kind.load(config.data, seed)
        started = time.perf_counter()
        for fold in folds_of(config, dataset):
            train = np.concatenate([fold.train, fold.val]) if fold.val is not None else fold.train
            test = dataset.examples.subset(fold.test)
            predicted = csp_lda_fit_predict(dataset.examples.subset(train), test)
            metrics = classification_metrics(test.y, predicted)
            rows["csp_lda"].append({"seed": seed, "fold": fold.name, "n": len(test), **metrics})
        seconds["csp_lda"] += time.perf_counter() - started
        for method, method_rows in rows.items():
            accuracy = np.mean([r["accuracy"] for r in method_rows if r["seed"] == seed])
            print(f"seed {seed} {method}: mean fold accuracy {accuracy:.3f}", flush=True)
    result = {
        "data": "EEGMMIDB S001 imagined left/right fist, runs 4/8/12, 45 trials, 64 ch, 7-30 Hz, 0-4 s",
        "protocol": f"5-fold stratified within-subject, repeated with seeds 0..{args.repeats - 1}",
        "overrides": args.overrides,
        "methods": {
            method: {"summary": summarize(method_rows), "seconds": round(seconds[method], 1), "folds": method_rows}
            for method, method_rows in rows.items()
        },
    }
    text = json.dumps(result, indent=2)
    print(text)
    (Path(__file__).parent / "results" / "eegbci_s001.json").write_text(text + "\n")


if __name__ == "__main__":
    main()
