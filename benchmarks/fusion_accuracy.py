"""Fashion-MNIST accuracy of each fusion strategy (and of the CNN + Transformer hybrid), over seeds.

    .venv/bin/python benchmarks/fusion_accuracy.py [--seeds 3] [--hybrid] [section.key=value ...]

Trains ``crossvit_fmnist`` once per fusion strategy and seed with a short budget (default: 2 epochs
on 6,000 training images, tested on 5,000 test images) and prints a table and JSON of test top-1,
mean ± std over seeds, with parameters and MACs. ``--hybrid`` adds ``hybrid_cnn_vit_tiny`` trained
the same way. Short budgets make the differences small next to seed noise: read the std.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

import torch

import dualbranch
from dualbranch.flops import count_macs, count_params
from dualbranch.train.config import load_config
from dualbranch.train.pipeline import fit

FUSIONS = ("none", "all_attention", "class_token", "pairwise", "cross_attention")
BUDGET = [
    "optim.epochs=2",
    "optim.warmup_epochs=0.3",
    "data.limit_train=6000",
    "data.limit_eval=5000",
    "trainer.progress_bar=false",
    "output.report=false",
]


def _run(root: Path, name: str, model: str, model_args: str, seed: int, extra: list[str]) -> float:
    overrides = [*BUDGET, f"model.name={model}", model_args, f"trainer.seed={seed}", *extra]
    run = fit(load_config(None, [*overrides, f"output.root={root}", f"output.name={name}-{seed}"]))
    return json.loads((run / "metrics.json").read_text())["accuracy"]


def _cost(model: str, **args: object) -> dict[str, float]:
    with torch.device("meta"):
        net = dualbranch.create_model(model, **args)
    return {"mparams": round(count_params(net) / 1e6, 3), "mmacs": round(count_macs(net) / 1e6, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--hybrid", action="store_true", help="also train hybrid_cnn_vit_tiny")
    parser.add_argument("--fusions", nargs="*", default=list(FUSIONS), help="strategies to train (default: all)")
    parser.add_argument("overrides", nargs="*", metavar="section.key=value")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="fusion-acc-"))
    candidates = [
        (fusion, "crossvit_fmnist", f"model.args={{fusion: {fusion}, drop_path_rate: 0.05}}", {"fusion": fusion})
        for fusion in args.fusions
    ]
    if args.hybrid:
        candidates.append(("hybrid_cnn_vit_tiny", "hybrid_cnn_vit_tiny", "model.args={}", {}))
    rows = []
    for label, model, model_args, cost_args in candidates:
        scores = []
        for seed in range(args.seeds):
            scores.append(_run(root, label, model, model_args, seed, args.overrides))
            print(f"RESULT {label} seed {seed}: {scores[-1]:.4f}", flush=True)
        rows.append(
            {
                "model": label,
                **_cost(model, **cost_args),
                "top1": scores,
                "mean": statistics.mean(scores),
                "std": statistics.stdev(scores) if len(scores) > 1 else 0.0,
            }
        )
    print(f"\n{'model':<22} {'Mparams':>8} {'MMACs':>7}   top-1 mean ± std (seeds)")
    for row in rows:
        seeds = ", ".join(f"{s:.2%}" for s in row["top1"])
        summary = f"{row['mean']:.2%} ± {row['std']:.2%}  ({seeds})"
        print(f"{row['model']:<22} {row['mparams']:>8.3f} {row['mmacs']:>7.1f}   {summary}")
    print(json.dumps({"budget": BUDGET + args.overrides, "rows": rows}))


if __name__ == "__main__":
    main()
