"""How RocketFormer's kernel branch reads its kernels: the measurement behind LSPV and its choice.

    nice -n 15 .venv/bin/python benchmarks/series_kernel_pooling.py [--sets ...] [--path FOLDER]
        [--draws 0 1 2] [--output FILE]

For every set (aeon's bundled classification sets, or those in a downloaded folder as ``data.path``
reads them), loaded and preprocessed as ``dualbranch fit`` does (zero-padding, per-channel
standardisation fitted on the training split), the kernel branch alone — no Transformer — is fitted on
the training split (ridge classifier with leave-one-out α, RocketFormer's) and scored on the test split,
for each way of pooling the kernels' outputs over the three views:

* ``rocket_10000``: ROCKET's PPV and max of 10,000 kernels (what the branch read before);
* ``rocket_6666``: PPV and max of 6,666 kernels;
* ``lspv_6666``: PPV, max and the longest stretch of positive values (MultiRocket's LSPV, a share of
  the series) of the same 6,666 kernels;
* ``chosen``: :meth:`RocketFormer.fit_closed_form` itself — the two before it compared by leave-one-out
  likelihood on the training split (the default).

``--draws``: the kernel draws (``kernel_seed``). The test split is only scored, never used to choose.
Prints JSON lines; writes benchmarks/results/series_kernel_pooling.json (``--output``) with the machine
and load.
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
from dualbranch.data.series import bundled_uea_datasets, load_uea_splits
from dualbranch.data.signal_preprocessing import SignalPreprocessor
from dualbranch.models.rocket_former import RocketFormer
from series_defaults import holds_a_set  # the sibling scripts: run as benchmarks/series_kernel_pooling.py
from series_kernel_views import ridge_scores

RESULTS = Path(__file__).parent / "results" / "series_kernel_pooling.json"
WAYS = ("rocket_10000", "rocket_6666", "lspv_6666", "chosen")


def _split(name: str, path: str | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """Preprocessed (n, C, T) train and test series, their labels, the number of classes."""
    train, test = load_uea_splits(name, extract_path=path)
    pre = SignalPreprocessor.fit(train, "none", "channel")
    x_train, x_test = (torch.from_numpy(pre.transform(part, training=part is train)) for part in (train, test))
    return x_train, x_test, torch.from_numpy(train.y), torch.from_numpy(test.y), len(train.class_names)


def _ridge_accuracy(train: torch.Tensor, test: torch.Tensor, y_train: torch.Tensor, y_test: torch.Tensor) -> float:
    return ridge_scores(train.numpy(), test.numpy(), y_train.numpy(), y_test.numpy())["accuracy"]


def ways(name: str, path: str | None, draw: int) -> dict:
    x_train, x_test, y_train, y_test, classes = _split(name, path)
    shape = {"n_chans": x_train.shape[1], "n_outputs": classes, "n_times": x_train.shape[-1], "kernel_seed": draw}
    before = RocketFormer(**shape, num_kernels=10000).eval()  # the same draw of 10,000 kernels as before LSPV
    rocket = before.kernels.pool_columns(("ppv", "max"))
    train, test = before.kernel_features(x_train)[:, rocket], before.kernel_features(x_test)[:, rocket]
    result = {"rocket_10000": _ridge_accuracy(train, test, y_train, y_test)}
    model = RocketFormer(**shape).eval()
    started = time.perf_counter()
    chosen = model.fit_closed_form(x_train, y_train)
    result["fit_seconds"] = round(time.perf_counter() - started, 1)
    train = model.feature_memo.rows_of(x_train, model.kernel_features)  # remembered by the fit
    test = model.kernel_features(x_test)
    columns = model.kernels.pool_columns(("ppv", "max"))
    result["rocket_6666"] = _ridge_accuracy(train[:, columns], test[:, columns], y_train, y_test)
    result["lspv_6666"] = _ridge_accuracy(train, test, y_train, y_test)
    head = model.final_layer
    scores = head.kernel_logits((test - model.feature_mean) / model.feature_std)
    result["chosen"] = float((scores.argmax(dim=1) == y_test).float().mean())
    result["chosen_pools"] = int(chosen["pools"])
    result.update({k: round(v, 4) for k, v in chosen.items() if k.startswith("loo_log_likelihood")})
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", default=None, help="default: aeon's bundled classification sets")
    parser.add_argument("--path", default=None, help="a folder of downloaded sets (NAME/NAME_TRAIN.ts, .tsv, .txt)")
    parser.add_argument("--draws", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(1)
    downloaded = sorted(p.name for p in Path(args.path).iterdir() if holds_a_set(p)) if args.path else []
    sets = args.sets or downloaded or bundled_uea_datasets()
    results: dict = {"sets": {}, "threads": 1, "path": args.path}
    for name in sets:
        started = time.perf_counter()
        entry = {str(draw): ways(name, args.path, draw) for draw in args.draws}
        entry["seconds"] = round(time.perf_counter() - started, 1)
        results["sets"][name] = entry
        print(json.dumps({name: entry}), flush=True)
    results["mean_over_sets"] = {
        way: float(np.mean([s[str(d)][way] for s in results["sets"].values() for d in args.draws])) for way in WAYS
    }
    results["machine"] = machine_info()
    results["load_after"] = list(os.getloadavg())
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results["mean_over_sets"], indent=2))


if __name__ == "__main__":
    main()
