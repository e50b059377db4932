"""Short univariate series through `dualbranch fit` with the defaults, against seasonal naive and AutoETS.

    nice -n 15 .venv/bin/python benchmarks/short_series.py [--seeds 3] [--models auto dlinear]

aeon's bundled classics, the last steps held out (``data.protocol=last``: one test window, everything
before it to train on, no validation): Airline (monthly passengers 1949–1960, 144 points, the last
12 held out: 132 to train), Lynx (annual trappings 1821–1934, 114 points, 10 held out: 104) and
Shampoo sales (monthly, 36 points, 12 held out: 24). dualbranch runs with the CLI defaults otherwise
(the look-back from the training part's length, the kind's recipe), one run per seed. In the same
script, on the same hold-out: seasonal naive (the value one season earlier; 12 for the monthly
series, 10 for Lynx's cycle) and AutoETS (statsmodels' ETS fitted by maximum likelihood for every
error / trend / damped / season combination that suits the data, the lowest AICc kept, as
forecast::ets and statsforecast's AutoETS choose). Errors: MAE, sMAPE (%) and MASE (scaled by the
training part's in-sample seasonal naive MAE). Results: benchmarks/results/short_series.json.

Shape legend: T points, H held-out steps, m season.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import json
import statistics
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from dualbranch.bench import machine_info
from dualbranch.train.config import load_config
from dualbranch.train.pipeline import fit

RESULTS = Path(__file__).parent / "results" / "short_series.json"
QUIET = ["trainer.progress_bar=false", "output.report=false", "trainer.threads=1"]


def load_series() -> dict[str, dict[str, Any]]:
    """name -> {values (T,), dates (T,) as text, season m, hold-out H}."""
    from aeon.datasets import load_airline, load_lynx, load_shampoo_sales

    out = {}
    for name, loader, season, horizon in (
        ("airline", load_airline, 12, 12),
        ("lynx", load_lynx, 10, 10),
        ("shampoo_sales", load_shampoo_sales, 12, 12),
    ):
        series = loader()
        values = np.asarray(series, dtype=np.float64).ravel()
        index = getattr(series, "index", None)
        dates = [str(d) for d in index] if index is not None else [str(i) for i in range(len(values))]
        out[name] = {"values": values, "dates": dates, "season": season, "horizon": horizon}
    return out


def errors(train: np.ndarray, truth: np.ndarray, forecast: np.ndarray, season: int) -> dict[str, float]:
    """MAE, sMAPE (%) and MASE (scaled by the in-sample seasonal naive MAE of ``train``)."""
    mae = float(np.mean(np.abs(truth - forecast)))
    smape = float(np.mean(2 * np.abs(truth - forecast) / (np.abs(truth) + np.abs(forecast))) * 100)
    scale = float(np.mean(np.abs(train[season:] - train[:-season])))
    return {"mae": mae, "smape": smape, "mase": mae / scale}


def seasonal_naive(train: np.ndarray, horizon: int, season: int) -> np.ndarray:
    return np.array([train[len(train) - season + (h % season)] for h in range(horizon)])


def auto_ets(train: np.ndarray, horizon: int, season: int) -> tuple[np.ndarray, str]:
    """The lowest-AICc ETS model of statsmodels over error, trend, damping and season; its forecast."""
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    positive = bool((train > 0).all())
    best: tuple[float, np.ndarray, str] | None = None
    for error, trend, damped, seasonal in itertools.product(
        ("add", "mul") if positive else ("add",),
        (None, "add"),
        (False, True),
        (None, "add", "mul") if positive else (None, "add"),
    ):
        if (damped and trend is None) or (seasonal and len(train) < 2 * season + 2):
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = ETSModel(
                    train, error=error, trend=trend, damped_trend=damped, seasonal=seasonal,
                    seasonal_periods=season if seasonal else None, initialization_method="estimated",
                )  # fmt: skip
                result = model.fit(disp=False, maxiter=2000)
            forecast = np.asarray(result.forecast(horizon))
        except (ValueError, np.linalg.LinAlgError):
            continue
        if not np.isfinite(result.aicc) or not np.isfinite(forecast).all():
            continue
        name = (
            f"ETS({error[0].upper()},{(trend or 'n')[0].upper()}{'d' if damped else ''},{(seasonal or 'n')[0].upper()})"
        )
        if best is None or result.aicc < best[0]:
            best = (float(result.aicc), forecast, name)
    assert best is not None, "no ETS model could be fitted"
    return best[1], best[2]


def run_dualbranch(folder: Path, name: str, entry: dict[str, Any], model: str, seed: int) -> dict[str, Any]:
    import pandas as pd

    path = folder / f"{name}.csv"
    pd.DataFrame({"date": entry["dates"], name: entry["values"]}).to_csv(path, index=False)
    overrides = [
        "data.name=series", f"data.path={path}", f"data.pred_len={entry['horizon']}", "data.protocol=last",
        f"trainer.seed={seed}", *QUIET, f"output.root={folder}", f"output.name={name}-{model}-{seed}",
    ]  # fmt: skip
    if model != "auto":
        overrides.append(f"model.name={model}")
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        run = fit(load_config(None, overrides))
    rows = (run / "predictions.csv").read_text().splitlines()[1:]
    header = (run / "predictions.csv").read_text().splitlines()[0].split(",")
    pred_col = header.index(f"pred_{name}")
    forecast = np.array([float(r.split(",")[pred_col]) for r in rows])
    record = json.loads((run / "run.json").read_text())
    seconds = time.perf_counter() - started
    seq_len = record["data"]["seq_len"]
    return {"forecast": forecast, "seconds": seconds, "model": record["model_name"], "seq_len": seq_len}


def main() -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--models", nargs="+", default=["auto", "dlinear"])
    parser.add_argument("--sets", nargs="+", default=["airline", "lynx", "shampoo_sales"])
    args = parser.parse_args()
    # merged into the saved results: one invocation per series can fill the table
    report: dict[str, Any] = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {"results": {}}
    report["machine"] = machine_info()
    with tempfile.TemporaryDirectory() as tmp:
        for name, entry in load_series().items():
            if name not in args.sets:
                continue
            h, m = entry["horizon"], entry["season"]
            train, truth = entry["values"][:-h], entry["values"][-h:]
            cell: dict[str, Any] = {"points": len(entry["values"]), "train": len(train), "horizon": h, "season": m}
            cell["seasonal_naive"] = errors(train, truth, seasonal_naive(train, h, m), m)
            ets, chosen = auto_ets(train, h, m)
            cell["auto_ets"] = {**errors(train, truth, ets, m), "model": chosen}
            for model in args.models:
                runs = [run_dualbranch(Path(tmp), name, entry, model, s) for s in range(args.seeds)]
                scores = [errors(train, truth, r["forecast"], m) for r in runs]
                cell[f"dualbranch {model}"] = {
                    **{k: statistics.mean(s[k] for s in scores) for k in ("mae", "smape", "mase")},
                    "per_seed_mae": [s["mae"] for s in scores],
                    "model": runs[0]["model"],
                    "seq_len": runs[0]["seq_len"],
                    "seconds_per_run": statistics.mean(r["seconds"] for r in runs),
                }
            report["results"][name] = cell
            report["machine_after"] = {"load_average": machine_info()["load_average"]}
            RESULTS.parent.mkdir(parents=True, exist_ok=True)
            RESULTS.write_text(json.dumps(report, indent=2) + "\n")
            print(json.dumps({name: {k: (round(v["mase"], 3) if isinstance(v, dict) else v) for k, v in cell.items()}}),
                  flush=True)  # fmt: skip
    return report


if __name__ == "__main__":
    main()
