"""Which views of a series RocketFormer's kernels should read: the measurement behind ``MultiViewKernels``.

    nice -n 15 .venv/bin/python benchmarks/series_kernel_views.py [--sets ...] [--draws 0 1]

For every bundled classification set, loaded and preprocessed as ``dualbranch fit`` does (zero-padding,
per-channel standardisation fitted on the training split), 10,000 ROCKET kernels read each of the
three views of :func:`dualbranch.layers.kernel_views.series_views` — ``level`` (the series as given),
``shape`` (z-normalised per series, ROCKET's), ``change`` (its first difference, MultiRocket's) — and
a ridge classifier with leave-one-out α (RocketFormer's, ``fit_ridge_classifier``) is fitted on the
training split for each way of using them, then scored on the test split:

* one view with all 10,000 kernels (``level`` is what the kernel branch read before);
* all three views, 10,000 kernels each (three times the cost);
* ``thirds``: the 10,000 kernels split evenly (a random third per view — what the kernel branch does
  now, at the cost of one view), and ``halves``: level and shape, 5,000 each.

``--draws``: the kernel draws (seeds); the test accuracy of each variant is given per draw and set,
and as the mean over sets. The test split is only scored, never used to choose. Writes
benchmarks/results/series_kernel_views.json with the machine and load.
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
from dualbranch.layers.kernel_views import VIEWS, series_views
from dualbranch.layers.random_kernels import RandomDilatedKernels, real_lengths
from dualbranch.layers.ridge import fit_ridge_classifier
from dualbranch.train.kinds.signals import SignalDataSection, SignalKind

RESULTS = Path(__file__).parent / "results" / "series_kernel_views.json"
KERNELS = 10000


def _features(name: str, draw: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Per view: (n_train, 2K) and (n_test, 2K) kernel features, the same kernels for every view."""
    dataset = SignalKind().load(SignalDataSection(name="uea", uea_name=name), seed=0, progress=False)
    signals = dataset.examples
    train = signals.subset(np.setdiff1d(np.arange(len(signals)), dataset.own_test))
    test = signals.subset(dataset.own_test)
    pre = SignalPreprocessor.fit(train, "none", "channel")
    kernels = RandomDilatedKernels(train.n_chans, signals.n_times, KERNELS, draw)
    out = []
    for part in (train, test):
        x = torch.from_numpy(pre.transform(part))
        per_view: dict[str, list[np.ndarray]] = {v: [] for v in VIEWS}
        for chunk in x.split(256):
            lengths = real_lengths(chunk)
            for view, series in zip(VIEWS, series_views(chunk, lengths)):
                per_view[view].append(kernels(series, lengths).numpy())
        out.append({v: np.concatenate(f) for v, f in per_view.items()})
    return out[0], out[1], train.y, test.y


def _kernel_subset(features: np.ndarray, kernels: np.ndarray) -> np.ndarray:
    """(n, 2K) [PPV, max] -> the PPV and max columns of ``kernels``."""
    return features.reshape(len(features), 2, -1)[:, :, kernels].reshape(len(features), -1)


def ridge_scores(train: np.ndarray, test: np.ndarray, y_train: np.ndarray, y_test: np.ndarray) -> dict:
    """RocketFormer's ridge on standardised (n, F) features: test accuracy, leave-one-out accuracy, α.
    Shared with benchmarks/series_kernel_pooling.py."""
    mean, std = train.mean(axis=0), train.std(axis=0).clip(min=1e-6)
    classes = int(max(y_train.max(), y_test.max())) + 1
    fit = fit_ridge_classifier(torch.from_numpy((train - mean) / std), torch.from_numpy(y_train), classes)
    scores = torch.from_numpy(((test - mean) / std).astype(np.float32)) @ fit.weight.T + fit.bias
    accuracy = float((scores.argmax(dim=1).numpy() == y_test).mean())
    return {"accuracy": accuracy, "loo_accuracy": fit.loo_accuracy, "alpha": fit.alpha}


def variants(name: str, draw: int) -> dict:
    train, test, y_train, y_test = _features(name, draw)
    order = np.random.default_rng(draw).permutation(KERNELS)
    thirds, halves = [order[i :: len(VIEWS)] for i in range(len(VIEWS))], [order[i::2] for i in range(2)]

    def joined(split: dict[str, np.ndarray], parts: list[tuple[str, np.ndarray | None]]) -> np.ndarray:
        return np.concatenate([split[v] if k is None else _kernel_subset(split[v], k) for v, k in parts], axis=1)

    ways: dict[str, list[tuple[str, np.ndarray | None]]] = {v: [(v, None)] for v in VIEWS}
    ways["all three, 10,000 each"] = [(v, None) for v in VIEWS]
    ways["thirds"] = list(zip(VIEWS, thirds))
    ways["halves: level + shape"] = list(zip(VIEWS[:2], halves))
    return {way: ridge_scores(joined(train, p), joined(test, p), y_train, y_test) for way, p in ways.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", default=bundled_uea_datasets())
    parser.add_argument("--draws", nargs="+", type=int, default=[0, 1])
    args = parser.parse_args()
    torch.set_num_threads(1)
    results: dict = {"sets": {}, "command": "benchmarks/series_kernel_views.py", "threads": 1}
    for name in args.sets:
        started = time.perf_counter()
        results["sets"][name] = {str(d): variants(name, d) for d in args.draws}
        results["sets"][name]["seconds"] = round(time.perf_counter() - started, 1)
        print(name, json.dumps(results["sets"][name]), flush=True)
    ways = list(next(iter(results["sets"].values()))[str(args.draws[0])])
    results["mean_over_sets"] = {
        str(d): {w: float(np.mean([s[str(d)][w]["accuracy"] for s in results["sets"].values()])) for w in ways}
        for d in args.draws
    }
    results["machine"] = machine_info()
    results["load_after"] = list(os.getloadavg())
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results["mean_over_sets"], indent=2))


if __name__ == "__main__":
    main()
