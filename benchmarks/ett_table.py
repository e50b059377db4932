"""The ETT long-horizon table through `dualbranch fit` with the CLI defaults, beside the published figures.

    nice -n 15 .venv/bin/python benchmarks/ett_table.py --sets ETTh1 ETTh2 ETTm1 --horizons 96 \
        --models itransformer dlinear gateformer --seeds 1 [--data ../shared/data/ETT-small]

Each run is ``dualbranch fit data.name=series data.path=<ETT file> data.pred_len=H model.name=M`` and
nothing else but quiet output and one thread: look-back 96, all 7 variables, the standard borders
(12/4/4 months), the kind's recipe (the papers' protocol: batch 32, at most 10 epochs, early stopping
with patience 3 on validation MSE, the rate halved each epoch, timeF time features). MSE / MAE are on
the standardised test windows, as the papers report. In the same script, on the same test windows: the
seasonal naive forecast (the value one day earlier: 24 hourly or 96 15-minute steps) and the repeated
last value, so every figure has a simple baseline beside it. Published figures at look-back 96:
the iTransformer paper's full-results table (Liu et al., ICLR 2024) for iTransformer, PatchTST and
DLinear (``../shared/references/forecasting-published.md``), the TimesNet paper's (Wu et al., ICLR 2023)
for Informer and Autoformer. Each run records its epochs, the best (kept)
epoch and its wall time; the machine and its load are recorded before and after. Results are merged
into benchmarks/results/ett_table.json (one entry per data set, horizon, model and seed), so several
invocations (e.g. one per core) fill one table; a cell already there is kept (``--again`` reruns it).

Shape legend: N test windows, L look-back, H horizon, C variables.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from dualbranch.bench import machine_info
from dualbranch.data.forecast_baselines import seasonal_naive
from dualbranch.data.forecasting import load_forecasting
from dualbranch.train.config import load_config
from dualbranch.train.pipeline import fit

RESULTS = Path(__file__).parent / "results" / "ett_table.json"
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ETT-small"
QUIET = ["trainer.progress_bar=false", "output.report=false", "trainer.threads=1"]
SEASON = {"ETTh1": 24, "ETTh2": 24, "ETTm1": 96}

#: (MSE, MAE) at look-back 96: iTransformer, PatchTST and DLinear from the iTransformer paper's full-results
#: table (Liu et al., ICLR 2024); Informer and Autoformer from the TimesNet paper's (Wu et al., ICLR 2023), as
#: reprinted in MSGNet's Table 1 (Cai et al., AAAI 2024).
PUBLISHED: dict[str, dict[int, dict[str, tuple[float, float]]]] = {
    "ETTm1": {
        96: {"itransformer": (0.334, 0.368), "patchtst": (0.329, 0.367), "dlinear": (0.345, 0.372),
             "autoformer": (0.505, 0.475), "informer": (0.672, 0.571)},
        192: {"itransformer": (0.377, 0.391), "patchtst": (0.367, 0.385), "dlinear": (0.380, 0.389),
              "autoformer": (0.553, 0.496), "informer": (0.795, 0.669)},
        336: {"itransformer": (0.426, 0.420), "patchtst": (0.399, 0.410), "dlinear": (0.413, 0.413),
              "autoformer": (0.621, 0.537), "informer": (1.212, 0.871)},
        720: {"itransformer": (0.491, 0.459), "patchtst": (0.454, 0.439), "dlinear": (0.474, 0.453),
              "autoformer": (0.671, 0.561), "informer": (1.166, 0.823)},
    },
    "ETTh1": {
        96: {"itransformer": (0.386, 0.405), "patchtst": (0.414, 0.419), "dlinear": (0.386, 0.400),
             "autoformer": (0.449, 0.459), "informer": (0.865, 0.713)},
        192: {"itransformer": (0.441, 0.436), "patchtst": (0.460, 0.445), "dlinear": (0.437, 0.432),
              "autoformer": (0.500, 0.482), "informer": (1.008, 0.792)},
        336: {"itransformer": (0.487, 0.458), "patchtst": (0.501, 0.466), "dlinear": (0.481, 0.459),
              "autoformer": (0.521, 0.496), "informer": (1.107, 0.809)},
        720: {"itransformer": (0.503, 0.491), "patchtst": (0.500, 0.488), "dlinear": (0.519, 0.516),
              "autoformer": (0.514, 0.512), "informer": (1.181, 0.865)},
    },
    "ETTh2": {
        96: {"itransformer": (0.297, 0.349), "patchtst": (0.292, 0.342), "dlinear": (0.333, 0.387),
             "autoformer": (0.346, 0.388), "informer": (3.755, 1.525)},
        192: {"itransformer": (0.380, 0.400), "patchtst": (0.387, 0.400), "dlinear": (0.477, 0.476),
              "autoformer": (0.456, 0.452), "informer": (5.602, 1.931)},
        336: {"itransformer": (0.428, 0.432), "patchtst": (0.426, 0.433), "dlinear": (0.594, 0.541),
              "autoformer": (0.482, 0.486), "informer": (4.721, 1.835)},
        720: {"itransformer": (0.427, 0.445), "patchtst": (0.431, 0.446), "dlinear": (0.831, 0.657),
              "autoformer": (0.515, 0.511), "informer": (3.647, 1.625)},
    },
}  # fmt: skip


def baselines(path: Path, name: str, horizon: int) -> dict[str, Any]:
    """Seasonal naive (one day earlier) and the last value, on every standardised test window."""
    data = load_forecasting(path, 96, horizon)
    x = np.stack([data.test[i][0].numpy() for i in range(len(data.test))])  # (N, L, C)
    y = np.stack([data.test[i][1].numpy() for i in range(len(data.test))])  # (N, H, C)
    naive = data.metrics(seasonal_naive(x, horizon, SEASON[name]), y)
    last = data.metrics(np.repeat(x[:, -1:], horizon, axis=1), y)
    return {
        "windows": len(data.test),
        "seasonal_naive": {"season": SEASON[name], "mse": naive["mse"], "mae": naive["mae"]},
        "last_value": {"mse": last["mse"], "mae": last["mae"]},
    }


def run_one(root: Path, path: Path, model: str, horizon: int, seed: int, extra: list[str]) -> dict[str, Any]:
    """One `dualbranch fit` with the defaults; its test errors, epochs and wall time."""
    overrides = [
        "data.name=series", f"data.path={path}", f"data.pred_len={horizon}", f"model.name={model}",
        f"trainer.seed={seed}", *QUIET, *extra, f"output.root={root}",
        f"output.name={path.stem}-{model}-{horizon}-{seed}",
    ]  # fmt: skip
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        run = fit(load_config(None, overrides))
    seconds = time.perf_counter() - started
    metrics = json.loads((run / "metrics.json").read_text())
    history = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines() if line.strip()]
    recipe = {c["key"]: c["value"] for c in json.loads((run / "recipe.json").read_text())["choices"]}
    best = min(history, key=lambda row: row["val_loss"])
    return {
        "mse": metrics["mse"],
        "mae": metrics["mae"],
        "windows": metrics["n"],
        "epochs_run": len(history),
        "epochs_cap": recipe.get("optim.epochs"),
        "best_epoch": best["epoch"],
        "early_stop": bool(history[-1].get("early_stop")),
        "wall_seconds": round(seconds, 1),
        "seconds_per_epoch": round(sum(r["seconds"] for r in history) / len(history), 2),
        "recipe": {k: recipe.get(k) for k in ("optim.lr", "data.batch_size", "optim.schedule", "optim.patience")},
        "overrides": extra,
    }


def table(report: dict[str, Any]) -> str:
    """A Markdown table from the results: per data set, horizon and model, MSE / MAE (mean over seeds),
    the published figures and the gap in MSE, epochs run / best epoch and wall time; the baselines."""
    lines = [
        "| data | H | model | MSE / MAE | published | MSE gap | epochs (best) | wall s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, horizons in report["results"].items():
        for horizon, cell in horizons.items():
            for model, seeds in cell.items():
                if model in ("baselines", "published"):
                    continue
                runs = list(seeds.values())
                mse = sum(r["mse"] for r in runs) / len(runs)
                mae = sum(r["mae"] for r in runs) / len(runs)
                published = PUBLISHED[name][int(horizon)].get(model.split()[0])
                pub = f"{published[0]:.3f} / {published[1]:.3f}" if published else "–"
                gap = f"{100 * (mse / published[0] - 1):+.1f} %" if published else "–"
                epochs = ", ".join(f"{r['epochs_run']} ({r['best_epoch']})" for r in runs)
                wall = ", ".join(f"{r['wall_seconds']:.0f}" for r in runs)
                lines.append(
                    f"| {name} | {horizon} | {model} | {mse:.3f} / {mae:.3f} | {pub} | {gap} | {epochs} | {wall} |"
                )
            base = cell["baselines"]
            for key in ("seasonal_naive", "last_value"):
                lines.append(
                    f"| {name} | {horizon} | {key} | {base[key]['mse']:.3f} / {base[key]['mae']:.3f} | | | | |"
                )
    return "\n".join(lines)


def main() -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sets", nargs="+", default=["ETTh1", "ETTh2", "ETTm1"], choices=list(SEASON))
    parser.add_argument("--horizons", nargs="+", type=int, default=[96])
    parser.add_argument("--models", nargs="+", default=["itransformer", "dlinear", "gateformer"])
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the folder holding ETTh1.csv, ...")
    parser.add_argument("--override", nargs="*", default=[], help="extra key=value settings (not the defaults)")
    parser.add_argument("--table", action="store_true", help="print the saved results as a Markdown table")
    parser.add_argument("--again", action="store_true", help="rerun cells already in the results (kept otherwise)")
    args = parser.parse_args()
    if args.table:
        print(table(json.loads(RESULTS.read_text())))
        return {}
    report = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {"results": {}}
    machine = machine_info()
    with tempfile.TemporaryDirectory() as folder:
        for name in args.sets:
            path = args.data / f"{name}.csv"
            for horizon in args.horizons:
                entry = report["results"].setdefault(name, {}).setdefault(str(horizon), {})
                entry["baselines"] = baselines(path, name, horizon)
                entry["published"] = {m: list(v) for m, v in PUBLISHED[name][horizon].items()}
                for model in args.models:
                    for seed in range(args.seeds):
                        key = model + ("" if not args.override else " " + " ".join(args.override))
                        if not args.again and str(seed) in entry.get(key, {}):
                            continue
                        result = run_one(Path(folder), path, model, horizon, seed, args.override)
                        if result["windows"] != entry["baselines"]["windows"]:
                            raise RuntimeError(f"{name}-{horizon} {model}: scored on other windows than the baselines")
                        result["machine"] = {
                            "cpu": machine["cpu"], "cpu_features": machine["cpu_features"], "torch": machine["torch"],
                            "load_before": machine["load_average"], "load_after": machine_info()["load_average"],
                        }  # fmt: skip
                        entry.setdefault(key, {})[str(seed)] = result
                        published = PUBLISHED[name][horizon].get(model)
                        gap = f"  published {published[0]:.3f} / {published[1]:.3f}" if published else ""
                        print(json.dumps({"data": name, "H": horizon, "model": key, "seed": seed,
                                          "mse": round(result["mse"], 4), "mae": round(result["mae"], 4),
                                          "epochs": result["epochs_run"], "best": result["best_epoch"],
                                          "s": result["wall_seconds"]}) + gap, flush=True)  # fmt: skip
                        # re-read and merge: another process may be filling other cells of the same file
                        latest = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {"results": {}}
                        cell = latest["results"].setdefault(name, {}).setdefault(str(horizon), {})
                        cell.update({k: v for k, v in entry.items() if k in ("baselines", "published")})
                        cell.setdefault(key, {})[str(seed)] = result
                        # the machine of the latest run written (each run records its own CPU and features)
                        latest["machine"] = {k: machine[k] for k in ("cpu", "cpu_features", "logical_cpus", "torch")}
                        latest["threads"] = 1
                        RESULTS.parent.mkdir(parents=True, exist_ok=True)
                        RESULTS.write_text(json.dumps(latest, indent=2) + "\n")
                        report = latest
                        entry = cell
    return report


if __name__ == "__main__":
    main()
