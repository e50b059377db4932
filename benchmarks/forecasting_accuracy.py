"""Forecasting accuracy through `dualbranch fit`: Gateformer, iTransformer, DLinear and seasonal naive.

    .venv/bin/python benchmarks/forecasting_accuracy.py [--seeds 3] [--sets uschange daphnet] [--quick]

Two multivariate tables that aeon ships (read offline; no standard benchmark file is on this
machine): Uschange (5 quarterly US macro series, 187 rows) and Daphnet (9 accelerometer channels at
64 Hz, 7,040 rows), each at two horizons, multivariate to multivariate, the field's protocol (70/10/20
chronological borders, the scaler of the training rows, stride 1, MSE and MAE on the standardised
and the original scale). Every model is trained by the pipeline behind the CLI (built-in defaults +
overrides; the best checkpoint by validation MSE) once per seed and scored on every test window; the
seasonal naive forecast (the value one season earlier; season from the time column, else the most
autocorrelated lag of the training rows: :mod:`dualbranch.data.forecast_baselines`) is scored on the
same windows, which is checked. For a CPU budget the widths are small (Gateformer d_model 32,
iTransformer 64) and the schedules short (Uschange 30 epochs of its 111 or 107 training windows,
Daphnet 4 epochs of its 4,809 or 4,785; ``data.limit_train=N`` would keep N evenly spaced training
windows); validation and test always use every window. Seconds per epoch come from the runs'
histories, one thread each (the machine is shared: its load average is recorded before and after).
Prints a table and writes benchmarks/results/forecasting_accuracy.json.

Shape legend: L look-back (seq_len), H horizon (pred_len), C variables.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

import dualbranch
from dualbranch.bench import machine_info
from dualbranch.data.bundled_series import BUNDLED_SERIES, load_bundled
from dualbranch.data.forecast_baselines import infer_season, seasonal_naive
from dualbranch.data.forecasting import prepare_forecasting
from dualbranch.train.config import load_config
from dualbranch.train.pipeline import fit

RESULTS = Path(__file__).parent / "results" / "forecasting_accuracy.json"
QUIET = ["trainer.progress_bar=false", "output.report=false", "trainer.threads=1"]
SETS: dict[str, dict[str, Any]] = {
    "uschange": {"seq_len": 16, "horizons": [4, 8], "batch_size": 16, "epochs": 30, "limit_train": None},
    "daphnet": {"seq_len": 96, "horizons": [24, 48], "batch_size": 32, "epochs": 4, "limit_train": None},
}
MODELS: dict[str, dict[str, Any]] = {
    "gateformer": {"d_model": 32, "d_ff": 32, "n_heads": 4},
    "itransformer": {"d_model": 64, "d_ff": 64, "n_heads": 4, "n_layers": 2},
    "dlinear": {},
}
ERRORS = ("mse", "mae", "mse_original", "mae_original")


def _spread(values: list[float]) -> dict[str, Any]:
    return {"mean": statistics.mean(values), "std": statistics.pstdev(values), "per_seed": values}


def _naive(name: str, seq_len: int, horizon: int) -> dict[str, Any]:
    """Seasonal naive on every test window (the same windows the models are scored on)."""
    table = load_bundled(name)
    data = prepare_forecasting(table, seq_len, horizon)
    start, stop = data.borders["train"]
    season = BUNDLED_SERIES[name].season or infer_season(table.values[start:stop], table.timestamps, seq_len)
    x = np.stack([data.test[i][0].numpy() for i in range(len(data.test))])  # (N, L, C) standardised
    y = np.stack([data.test[i][1].numpy() for i in range(len(data.test))])  # (N, H, C)
    return {"season": season, "windows": len(data.test), **data.metrics(seasonal_naive(x, horizon, season), y)}


def _run(root: Path, name: str, model: str, horizon: int, seed: int, setting: dict[str, Any], epochs: int) -> dict:
    overrides = [
        f"data.name={name}", f"data.seq_len={setting['seq_len']}", f"data.pred_len={horizon}",
        f"data.batch_size={setting['batch_size']}", f"model.name={model}", f"model.args={json.dumps(MODELS[model])}",
        f"optim.epochs={epochs}", f"trainer.seed={seed}", *QUIET, f"output.root={root}",
        f"output.name={name}-{model}-{horizon}-{seed}",
        "data.statistical=none",  # a comparison of the global models: no statistical model chosen instead
    ]  # fmt: skip
    if setting["limit_train"]:
        overrides.append(f"data.limit_train={setting['limit_train']}")
    run = fit(load_config(None, overrides))
    metrics = json.loads((run / "metrics.json").read_text())
    record = json.loads((run / "run.json").read_text())
    history = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    trained = min(setting["limit_train"] or 10**9, record["data"]["windows"]["train"])
    return {
        **{k: metrics[k] for k in ERRORS},
        "windows": metrics["n"],
        "seconds_per_epoch": statistics.mean(row["seconds"] for row in history),
        "train_windows": trained,
        "all_train_windows": record["data"]["windows"]["train"],
        "gates": metrics.get("gates"),
    }


def _params(model: str, name: str, seq_len: int, horizon: int) -> int:
    n_vars = len(load_bundled(name).columns)
    with torch.device("meta"):
        built = dualbranch.create_model(model, n_vars=n_vars, seq_len=seq_len, pred_len=horizon, **MODELS[model])
    return sum(p.numel() for p in built.parameters())


def main() -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    parser.add_argument("--quick", action="store_true", help="one epoch, one seed: check that the script runs")
    args = parser.parse_args()
    seeds = 1 if args.quick else args.seeds
    started = time.perf_counter()
    report: dict[str, Any] = {"machine": machine_info(), "settings": {"sets": SETS, "models": MODELS}, "results": {}}
    with tempfile.TemporaryDirectory() as folder:
        for name in args.sets:
            setting = SETS[name]
            epochs = 1 if args.quick else setting["epochs"]
            for horizon in setting["horizons"]:
                entry: dict[str, Any] = {"seasonal_naive": _naive(name, setting["seq_len"], horizon)}
                for model in MODELS:
                    runs = [_run(Path(folder), name, model, horizon, s, setting, epochs) for s in range(seeds)]
                    if any(r["windows"] != entry["seasonal_naive"]["windows"] for r in runs):
                        raise RuntimeError(
                            f"{name} H={horizon}: {model} was scored on other windows than the baseline."
                        )
                    per_epoch = statistics.mean(r["seconds_per_epoch"] for r in runs)
                    entry[model] = {
                        **{k: _spread([r[k] for r in runs]) for k in ERRORS},
                        "params": _params(model, name, setting["seq_len"], horizon),
                        "seconds_per_epoch": per_epoch,
                        # a full epoch over every training window, at the measured rate
                        "seconds_per_full_epoch": per_epoch * runs[0]["all_train_windows"] / runs[0]["train_windows"],
                        "train_windows": runs[0]["train_windows"],
                        "gates": runs[0]["gates"],
                    }
                    print(f"{name} H={horizon} {model}: MSE {entry[model]['mse']['mean']:.4f}", flush=True)
                report["results"].setdefault(name, {})[str(horizon)] = entry
    report["seconds"] = round(time.perf_counter() - started, 1)
    report["machine_after"] = {"load_average": machine_info()["load_average"]}
    print(_table(report))
    if not args.quick:
        previous = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
        results = {**previous.get("results", {}), **report["results"]}  # other sets' entries are kept
        RESULTS.write_text(json.dumps({**report, "results": results}, indent=2) + "\n")
    return report


def _table(report: dict[str, Any]) -> str:
    """A Markdown table: MSE / MAE (standardised) mean ± std per set, horizon and method."""
    lines = [
        "| data | H | Gateformer | iTransformer | DLinear | seasonal naive |",
        "|---|---|---|---|---|---|",
    ]
    for name, horizons in report["results"].items():
        for horizon, entry in horizons.items():
            cells = [
                f"{entry[m]['mse']['mean']:.3f} ± {entry[m]['mse']['std']:.3f} / "
                f"{entry[m]['mae']['mean']:.3f} ± {entry[m]['mae']['std']:.3f}"
                for m in MODELS
            ]
            naive = entry["seasonal_naive"]
            cells.append(f"{naive['mse']:.3f} / {naive['mae']:.3f} (season {naive['season']})")
            lines.append(f"| {name} | {horizon} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
