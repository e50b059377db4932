"""RocketFormer's kernel branch alone on every bundled classification set: a quick check of the part of
the series default that is fitted in closed form, against 1-NN DTW and ROCKET on the same splits.

    nice -n 15 .venv/bin/python benchmarks/series_kernel_branch.py [--sets ...] [--no-baselines]

What runs is exactly what ``dualbranch fit data.name=uea data.uea_name=NAME`` does before its first
update — the signal kind's loading (zero-padding to the longest series), its preprocessing fitted on
the training split (per-channel standardisation) and ``RocketFormer.fit_closed_form`` (10,000 kernels,
ridge with leave-one-out α) — then the model, in eval mode with its Transformer head as initialised
(logits of order 0.01: the ridge decides), scored on the test split. The kernels are drawn from
``kernel_seed`` 0 whatever the training seed, so this part does not vary over seeds; the trained
Transformer branch (600 updates) is what ``benchmarks/series_defaults.py`` adds. Baselines as there:
aeon's 1-NN DTW and ROCKET (10,000 kernels, random_state 0; not run on unequal lengths).
Writes benchmarks/results/series_kernel_branch.json with the machine and load.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from dualbranch.bench import machine_info
from dualbranch.data.series import bundled_uea_datasets
from dualbranch.data.signal_preprocessing import SignalPreprocessor
from dualbranch.models.rocket_former import RocketFormer
from dualbranch.train.kinds.signals import SignalDataSection, SignalKind

RESULTS = Path(__file__).parent / "results" / "series_kernel_branch.json"
CHEAP_FIRST = ["UnitTest", "ItalyPowerDemand", "BasicMotions", "GunPoint", "JapaneseVowels", "ArrowHead",
               "Covid3Month_disc", "PickupGestureWiimoteZ", "OSULeaf", "ACSF1"]  # fmt: skip


def kernel_branch(name: str) -> dict:
    data = SignalDataSection(name="uea", uea_name=name)
    dataset = SignalKind().load(data, seed=0, progress=False)
    signals = dataset.examples
    train_index, test_index = np.setdiff1d(np.arange(len(signals)), dataset.own_test), dataset.own_test
    train, test = signals.subset(train_index), signals.subset(test_index)
    pre = SignalPreprocessor.fit(train, "none", "channel")
    torch.manual_seed(0)
    model = RocketFormer(train.n_chans, signals.n_classes, signals.n_times)
    started, cpu = time.perf_counter(), time.process_time()
    chosen = model.fit_closed_form(torch.from_numpy(pre.transform(train)), torch.from_numpy(train.y))
    with torch.no_grad():
        logits = torch.cat([model.eval()(part) for part in torch.from_numpy(pre.transform(test)).split(256)])
    accuracy = float((logits.argmax(dim=1).numpy() == test.y).mean())
    return {
        "accuracy": accuracy, **chosen, "seconds": round(time.perf_counter() - started, 1),
        "cpu_seconds": round(time.process_time() - cpu, 1), "n_train": len(train), "n_test": len(test),
    }  # fmt: skip


def baselines(name: str) -> dict:
    from aeon.classification.convolution_based import RocketClassifier
    from aeon.classification.distance_based import KNeighborsTimeSeriesClassifier
    from aeon.datasets import load_classification

    train_x, train_y = load_classification(name, split="train")
    test_x, test_y = load_classification(name, split="test")
    result = {
        "1nn_dtw": float(KNeighborsTimeSeriesClassifier(distance="dtw").fit(train_x, train_y).score(test_x, test_y))
    }
    equal = isinstance(train_x, np.ndarray) and isinstance(test_x, np.ndarray) and train_x.shape[2] == test_x.shape[2]
    result["rocket"] = (
        float(RocketClassifier(n_kernels=10000, random_state=0).fit(train_x, train_y).score(test_x, test_y))
        if equal
        else None
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", default=[s for s in CHEAP_FIRST if s in bundled_uea_datasets()])
    parser.add_argument("--no-baselines", action="store_true")
    args = parser.parse_args()
    for name in args.sets:
        entry = {"kernel_branch": kernel_branch(name), "load_after": list(os.getloadavg())}
        if not args.no_baselines:
            entry["baselines"] = baselines(name)
        results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {"sets": {}}
        results["machine"] = machine_info()
        results["sets"][name] = entry
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
        print(name, json.dumps(entry), flush=True)


if __name__ == "__main__":
    main()
