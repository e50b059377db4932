"""Short univariate series through `dualbranch fit` with the defaults, against seasonal naive and AutoETS.

    nice -n 15 .venv/bin/python benchmarks/short_series.py [--seeds 3] [--sets airline lynx ...]

Classic short series, the last steps held out (``data.protocol=last``: one test window, everything
before it to train on): from aeon, Airline (monthly passengers 1949–1960, 144 points, the last 12 held
out: 132 to train), Lynx (annual trappings 1821–1934, 114 points, 10 held out) and Shampoo sales
(monthly, 36 points, 12 held out: 24 to train); from statsmodels' datasets, Nile (annual flow
1871–1970, 100 points, 10 held out), Sunspots (annual activity, the last 120 years 1889–2008, 10 held
out), CO2 (Mauna Loa, weekly readings averaged by month, the last 120 months to 2001, 12 held out) and
El Niño (monthly sea surface temperature, the last 120 months to 2010, 12 held out). Each runs through
the CLI twice per seed: with the defaults (the look-back from the training part's length; for a short
univariate series the global model, seasonal naive and AutoETS compared on the training part's last
horizon, the best refitted on the whole training part: ``data.statistical=auto``,
src/dualbranch/train/kinds/forecast_statistical.py) and with the global model forced
(``data.statistical=none``; when the defaults kept the global model the two runs are the same run,
trained once). In the same script, on the same hold-out: seasonal naive (the value one season earlier;
the season each series is known by: 12 monthly, 10 for Lynx's cycle, 11 for the sunspot cycle, none
for the Nile) and AutoETS (the library's :func:`dualbranch.data.statistical_forecast.auto_ets`:
statsmodels' ETS fitted by maximum likelihood for every error / trend / damped / season combination
that suits the data, the lowest AICc kept, as forecast::ets and statsforecast's AutoETS choose).
Errors: MAE, sMAPE (%) and MASE (scaled by the training part's in-sample seasonal naive MAE with the
same season). Results: benchmarks/results/short_series.json.

Shape legend: T points, H held-out steps, m season.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import statistics
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from dualbranch.bench import machine_info
from dualbranch.data.statistical_forecast import auto_ets, seasonal_naive_series
from dualbranch.train.config import load_config
from dualbranch.train.pipeline import fit

RESULTS = Path(__file__).parent / "results" / "short_series.json"
QUIET = ["trainer.progress_bar=false", "output.report=false", "trainer.threads=1"]
METHODS = ("defaults", "global", "auto_ets", "seasonal_naive")
SETS = ("airline", "lynx", "shampoo_sales", "nile", "sunspots", "co2", "elnino")


def _monthly(first: str, n: int) -> list[str]:
    import pandas as pd

    return list(pd.date_range(first, periods=n, freq="MS").strftime("%Y-%m-%d"))


def _yearly(first: int, n: int) -> list[str]:
    return [f"{first + i}-01-01" for i in range(n)]


def load_series(names: list[str]) -> dict[str, dict[str, Any]]:
    """name -> {values (T,), dates (T,) as text, season m, hold-out H}."""
    out: dict[str, dict[str, Any]] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # aeon's deprecation note on shampoo sales
        from aeon.datasets import load_airline, load_lynx, load_shampoo_sales

        for name, loader, dates, season, horizon in (
            ("airline", load_airline, lambda n: _monthly("1949-01-01", n), 12, 12),
            ("lynx", load_lynx, lambda n: _yearly(1821, n), 10, 10),
            ("shampoo_sales", load_shampoo_sales, lambda n: _monthly("2001-01-01", n), 12, 12),
        ):
            if name in names:
                values = np.asarray(loader(), dtype=np.float64).ravel()
                out[name] = {"values": values, "dates": dates(len(values)), "season": season, "horizon": horizon}
        if {"nile", "sunspots", "co2", "elnino"} & set(names):
            import statsmodels.datasets as sm

            nile = sm.nile.load_pandas().data["volume"].to_numpy(np.float64)
            out["nile"] = {"values": nile, "dates": _yearly(1871, len(nile)), "season": 1, "horizon": 10}
            sun = sm.sunspots.load_pandas().data["SUNACTIVITY"].to_numpy(np.float64)[-120:]
            out["sunspots"] = {"values": sun, "dates": _yearly(2009 - 120, 120), "season": 11, "horizon": 10}
            co2 = sm.co2.load_pandas().data["co2"].resample("MS").mean().interpolate().to_numpy(np.float64)[-120:]
            out["co2"] = {"values": co2, "dates": _monthly("1992-01-01", 120), "season": 12, "horizon": 12}
            nino = sm.elnino.load_pandas().data.iloc[:, 1:].to_numpy(np.float64).ravel()[-120:]
            out["elnino"] = {"values": nino, "dates": _monthly("2001-01-01", 120), "season": 12, "horizon": 12}
    return {name: out[name] for name in names}


def errors(train: np.ndarray, truth: np.ndarray, forecast: np.ndarray, season: int) -> dict[str, float]:
    """MAE, sMAPE (%) and MASE (scaled by the in-sample seasonal naive MAE of ``train``)."""
    mae = float(np.mean(np.abs(truth - forecast)))
    smape = float(np.mean(2 * np.abs(truth - forecast) / (np.abs(truth) + np.abs(forecast))) * 100)
    scale = float(np.mean(np.abs(train[season:] - train[:-season])))
    return {"mae": mae, "smape": smape, "mase": mae / scale}


def fit_last_horizon(
    folder: Path, name: str, path: Path, horizon: int, extra: list[str], seed: int
) -> tuple[Path, dict[str, Any]]:
    """``dualbranch fit`` on the table at ``path`` with its last ``horizon`` rows as the test window
    (``data.protocol=last``), quietly: the run folder and {seconds, model, seq_len, why (the short-series
    comparison's reason, or None)}. Shared with benchmarks/short_multivariate.py."""
    tag = "-".join(e.split("=")[-1] for e in extra) or "defaults"
    overrides = [
        "data.name=series", f"data.path={path}", f"data.pred_len={horizon}", "data.protocol=last",
        f"trainer.seed={seed}", *QUIET, f"output.root={folder}", f"output.name={name}-{tag}-{seed}", *extra,
    ]  # fmt: skip
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        run = fit(load_config(None, overrides))
    record = json.loads((run / "run.json").read_text())
    choices = json.loads((run / "recipe.json").read_text())["choices"]
    why = next((c["reason"] for c in choices if c["key"] == "data.statistical"), None)
    return run, {"seconds": time.perf_counter() - started, "model": record["model_name"],
                 "seq_len": record["data"]["seq_len"], "why": why}  # fmt: skip


def run_dualbranch(folder: Path, name: str, entry: dict[str, Any], extra: list[str], seed: int) -> dict[str, Any]:
    import pandas as pd

    path = folder / f"{name}.csv"
    pd.DataFrame({"date": entry["dates"], name: entry["values"]}).to_csv(path, index=False)
    run, facts = fit_last_horizon(folder, name, path, entry["horizon"], extra, seed)
    lines = (run / "predictions.csv").read_text().splitlines()
    pred_col = lines[0].split(",").index(f"pred_{name}")
    forecast = np.array([float(r.split(",")[pred_col]) for r in lines[1:]])
    return {"forecast": forecast, **facts}


def _summary(runs: list[dict[str, Any]], scores: list[dict[str, float]]) -> dict[str, Any]:
    return {
        **{k: statistics.mean(s[k] for s in scores) for k in ("mae", "smape", "mase")},
        "per_seed_mase": [s["mase"] for s in scores],
        "per_seed_model": [r["model"] for r in runs],
        "seq_len": [r["seq_len"] for r in runs],
        "seconds_per_run": statistics.mean(r["seconds"] for r in runs),
    }


def mean_table(results: dict[str, Any]) -> dict[str, Any]:
    """Mean MASE and sMAPE of each method over the series that have all of them."""
    done = [cell for cell in results.values() if all(m in cell for m in METHODS)]
    return {
        "series": len(done),
        **{m: {k: statistics.mean(c[m][k] for c in done) for k in ("mase", "smape")} for m in METHODS if done},
    }


def main() -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=SETS)
    args = parser.parse_args()
    # merged into the saved results: one invocation per series can fill the table
    report: dict[str, Any] = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {"results": {}}
    report["machine"] = machine_info()
    with tempfile.TemporaryDirectory() as tmp:
        for name, entry in load_series(args.sets).items():
            h, m = entry["horizon"], entry["season"]
            train, truth = entry["values"][:-h], entry["values"][-h:]
            cell: dict[str, Any] = {"points": len(entry["values"]), "train": len(train), "horizon": h, "season": m}
            cell["seasonal_naive"] = errors(train, truth, seasonal_naive_series(train, h, m), m)
            ets = auto_ets(train, h, m)
            cell["auto_ets"] = {**errors(train, truth, ets.forecast, m), "model": ets.spec.name}
            defaults = [run_dualbranch(Path(tmp), name, entry, [], s) for s in range(args.seeds)]
            forced = [
                # the defaults kept the global model: the same config and seed, trained once
                d if d["model"] not in ("ets", "seasonal_naive")
                else run_dualbranch(Path(tmp), name, entry, ["data.statistical=none"], s)
                for s, d in enumerate(defaults)
            ]  # fmt: skip
            for key, runs in (("defaults", defaults), ("global", forced)):
                cell[key] = _summary(runs, [errors(train, truth, r["forecast"], m) for r in runs])
            cell["defaults"]["why"] = [r["why"] for r in defaults]
            report["results"][name] = cell
            report["mean"] = mean_table(report["results"])
            report["machine_after"] = {"load_average": machine_info()["load_average"]}
            RESULTS.parent.mkdir(parents=True, exist_ok=True)
            RESULTS.write_text(json.dumps(report, indent=2) + "\n")
            print(json.dumps({name: {k: (round(cell[k]["mase"], 3), round(cell[k]["smape"], 2)) for k in METHODS}}),
                  flush=True)  # fmt: skip
    print(json.dumps({"mean": report["mean"]}))
    return report


if __name__ == "__main__":
    main()
