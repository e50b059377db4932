"""Rules for RocketFormer's Transformer weight w, compared on the same trained models.

    nice -n 15 .venv/bin/python benchmarks/series_fusion_rules.py --sets Covid3Month_disc ... [--seeds 3]

Training does not depend on the rule (w is chosen after it, on the held-out training examples, and the
kernel branch is refitted on all of them whatever w is), so one default run per set and seed
(``dualbranch fit data.name=uea data.uea_name=NAME``, official splits) scores every rule: the run's
printed held-out figures give each rule's w, and the saved model's two branches' logits on the test
split give the test accuracy of ``kernel logits + w · Transformer logits`` at every w of the grid.
Rules: ``kernel`` (w = 0 always), ``sum`` (w = 1 always; the Transformer still trained on 80 %),
``accuracy_then_cross_entropy`` (best held-out accuracy, ties by cross-entropy; the library's until
the comparison over aeon's bundled sets, ``benchmarks/results/series_fusion_rules_all.json``) and
``cross_entropy`` (lowest held-out cross-entropy, ties by the smaller weight; the library's since).
``library`` is the weight the run itself chose. Prints JSON lines and writes
benchmarks/results/series_fusion_rules.json (``--output``) with the machine and the load.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from dualbranch.bench import machine_info
from dualbranch.data.series import load_uea
from dualbranch.layers.branch_choice import BRANCH_WEIGHTS
from dualbranch.train.config import load_config
from dualbranch.train.pipeline import fit, load_fold_models

RESULTS = Path(__file__).parent / "results" / "series_fusion_rules.json"
LINE = re.compile(r"fusion chosen on held-out examples: (.*)")


class _Tee(io.StringIO):
    def write(self, text: str) -> int:
        sys.__stdout__.write(text)
        return super().write(text)


def _run(name: str, seed: int, root: Path, threads: int) -> dict:
    overrides = [
        "data.name=uea", f"data.uea_name={name}", "trainer.progress_bar=false", "output.report=false",
        f"output.root={root}", f"trainer.seed={seed}", f"trainer.threads={threads}",
    ]  # fmt: skip
    out = _Tee()
    with contextlib.redirect_stdout(out):
        run = fit(load_config(None, overrides))
    found = LINE.search(out.getvalue())
    if found is None:
        raise RuntimeError(f"{name} seed {seed}: no fusion choice printed")
    held = {k: float(v) for k, v in (item.rsplit(" ", 1) for item in found.group(1).split(", "))}
    models, record = load_fold_models(run)
    model, preprocessing = models[0].model, models[0].preprocessing
    test = load_uea(name, "test", "pad", record.input_shape[1])
    if list(test.class_names) != list(record.class_names):
        raise RuntimeError(f"{name}: test classes {test.class_names} differ from the run's {record.class_names}")
    x = torch.from_numpy(preprocessing.transform(test, False))
    kernel, transformer = [], []
    with torch.no_grad():
        for part in x.split(256):
            features = model.forward_features(part)
            kernel.append(model.final_layer.kernel_logits(features[0][:, 0]))
            transformer.append(model.final_layer.linear(features[1].mean(dim=1)))
    kernel_logits, transformer_logits = torch.cat(kernel), torch.cat(transformer)
    truth = torch.from_numpy(test.y)
    test_accuracy = {
        f"{w:g}": float(((kernel_logits + w * transformer_logits).argmax(1) == truth).double().mean())
        for w in BRANCH_WEIGHTS
    }
    cross_entropy = {w: held[f"cross_entropy_w{w:g}"] for w in BRANCH_WEIGHTS}
    # runs made before the held-out accuracy at each weight was printed chose by accuracy themselves
    accuracy = {w: held.get(f"accuracy_w{w:g}") for w in BRANCH_WEIGHTS}
    by_accuracy = (
        held["transformer_weight"]
        if None in accuracy.values()
        else min(BRANCH_WEIGHTS, key=lambda w: (-accuracy[w], cross_entropy[w], w))
    )
    rules = {
        "kernel": 0.0,
        "sum": 1.0,
        "accuracy_then_cross_entropy": by_accuracy,
        "cross_entropy": min(BRANCH_WEIGHTS, key=lambda w: (cross_entropy[w], w)),
        "library": held["transformer_weight"],
    }
    return {
        "seed": seed, "held_out": held, "test_accuracy_by_weight": test_accuracy,
        "rules": {rule: {"weight": w, "test_accuracy": test_accuracy[f"{w:g}"]} for rule, w in rules.items()},
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", required=True)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    for name in args.sets:
        with tempfile.TemporaryDirectory(prefix=f"rules-{name}-") as folder:
            runs = [_run(name, seed, Path(folder), args.threads) for seed in range(args.seeds)]
        means = {rule: float(np.mean([r["rules"][rule]["test_accuracy"] for r in runs])) for rule in runs[0]["rules"]}
        results = json.loads(args.output.read_text()) if args.output.is_file() else {"sets": {}}
        results["machine"] = machine_info()
        results["sets"][name] = {"runs": runs, "mean_test_accuracy": means, "load_after": list(os.getloadavg())}
        args.output.write_text(json.dumps(results, indent=2) + "\n")
        print(name, json.dumps(means), flush=True)


if __name__ == "__main__":
    main()
