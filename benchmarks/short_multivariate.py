"""Short multivariate tables through `dualbranch fit` with the defaults, against seasonal naive and AutoETS.

    nice -n 15 .venv/bin/python benchmarks/short_multivariate.py [--seeds 3] [--sets uschange macrodata ...]

Quarterly economic tables of a few hundred rows, every variable a target, the last 8 quarters held out
(``data.protocol=last``: one test window, everything before it to train on): aeon's Uschange (US
consumption, income, production, savings and unemployment changes 1970–2016, 187 rows, 5 variables)
and, from statsmodels' datasets, macrodata (US macroeconomic series 1959–2009, 203 rows, 12 variables),
interest_inflation (German inflation and interest rate 1972–1998, 107 rows, 2 variables) and
danish_data (Danish money demand 1974–1987, 55 rows, 5 variables). Each runs through the CLI per seed with
the defaults (``data.statistical=auto``: on a short table the global model, seasonal naive and AutoETS
are compared on the training part's last horizon, each target's error in its standard deviations) and
with the global model forced (``data.statistical=none``; the same run when the defaults kept it). In the
same script, on the same hold-out, per target: seasonal naive (season 4) and AutoETS
(:func:`dualbranch.data.statistical_forecast.auto_ets`). Error: MASE per target (the MAE divided by the
training part's in-sample seasonal naive MAE), averaged over the targets, and sMAPE (%). Results:
benchmarks/results/short_multivariate.json.

Shape legend: T rows, C variables, H held-out steps.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dualbranch.bench import machine_info
from dualbranch.data.statistical_forecast import auto_ets, seasonal_naive_series
from short_series import fit_last_horizon  # the sibling script: run as benchmarks/short_multivariate.py

RESULTS = Path(__file__).parent / "results" / "short_multivariate.json"
METHODS = ("defaults", "global", "auto_ets", "seasonal_naive")
SETS = ("uschange", "macrodata", "interest_inflation", "danish_data")
HORIZON, SEASON = 8, 4


def _quarters(frame: pd.DataFrame) -> pd.DataFrame:
    dates = [f"{int(y)} Q{int(q)}" for y, q in zip(frame["year"], frame["quarter"], strict=True)]
    return frame.drop(columns=["year", "quarter"]).set_axis(pd.Index(dates, name="date"))


def load_table(name: str) -> pd.DataFrame:
    """The table (T, C) of ``name``, indexed by its dates as text."""
    if name == "uschange":
        import aeon.datasets

        path = Path(aeon.datasets.__file__).parent / "data" / "Uschange" / "Uschange.csv"
        return pd.read_csv(path, index_col=0).set_index("Quarter").rename_axis("date")
    import statsmodels.datasets as sm

    frame = getattr(sm, name).load_pandas().data
    if name == "danish_data":
        return frame.set_axis(frame.index.strftime("%Y-%m-%d")).rename_axis("date")
    return _quarters(frame)


def errors(train: np.ndarray, truth: np.ndarray, forecast: np.ndarray) -> dict[str, float]:
    """train (T, C), truth and forecast (H, C) -> mean over C of MASE (seasonal naive scale), sMAPE (%)."""
    scale = np.mean(np.abs(train[SEASON:] - train[:-SEASON]), axis=0)  # (C,)
    mase = np.mean(np.abs(truth - forecast), axis=0) / np.where(scale > 0, scale, 1.0)
    smape = np.mean(2 * np.abs(truth - forecast) / np.maximum(np.abs(truth) + np.abs(forecast), 1e-12)) * 100
    return {"mase": float(np.mean(mase)), "smape": float(smape)}


def run_dualbranch(folder: Path, name: str, table: pd.DataFrame, extra: list[str], seed: int) -> dict[str, Any]:
    path = folder / f"{name}.csv"
    table.to_csv(path)
    run, facts = fit_last_horizon(folder, name, path, HORIZON, extra, seed)
    predictions = pd.read_csv(run / "predictions.csv")
    forecast = predictions[[f"pred_{c}" for c in table.columns]].to_numpy(np.float64)  # (H, C)
    return {"forecast": forecast, **facts}


def main() -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=SETS)
    args = parser.parse_args()
    report: dict[str, Any] = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {"results": {}}
    report["machine"] = machine_info()
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.sets:
            table = load_table(name)
            values = table.to_numpy(np.float64)  # (T, C)
            train, truth = values[:-HORIZON], values[-HORIZON:]
            columns = range(values.shape[1])
            cell: dict[str, Any] = {"rows": len(values), "variables": values.shape[1], "horizon": HORIZON}
            naive = np.stack([seasonal_naive_series(train[:, c], HORIZON, SEASON) for c in columns], axis=1)
            cell["seasonal_naive"] = errors(train, truth, naive)
            ets = np.stack([auto_ets(train[:, c], HORIZON, SEASON).forecast for c in columns], axis=1)
            cell["auto_ets"] = errors(train, truth, ets)
            defaults = [run_dualbranch(Path(tmp), name, table, [], s) for s in range(args.seeds)]
            forced = [
                d if d["model"] not in ("ets", "seasonal_naive")  # the defaults kept the global model: same run
                else run_dualbranch(Path(tmp), name, table, ["data.statistical=none"], s)
                for s, d in enumerate(defaults)
            ]  # fmt: skip
            for key, runs in (("defaults", defaults), ("global", forced)):
                scores = [errors(train, truth, r["forecast"]) for r in runs]
                cell[key] = {
                    **{k: statistics.mean(s[k] for s in scores) for k in ("mase", "smape")},
                    "per_seed_mase": [s["mase"] for s in scores], "per_seed_model": [r["model"] for r in runs],
                    "seconds_per_run": statistics.mean(r["seconds"] for r in runs),
                }  # fmt: skip
            cell["defaults"]["why"] = [r["why"] for r in defaults]
            report["results"][name] = cell
            done = [c for c in report["results"].values() if all(m in c for m in METHODS)]
            report["mean"] = {"tables": len(done), **{m: statistics.mean(c[m]["mase"] for c in done) for m in METHODS}}
            RESULTS.parent.mkdir(parents=True, exist_ok=True)
            RESULTS.write_text(json.dumps(report, indent=2) + "\n")
            print(json.dumps({name: {k: round(cell[k]["mase"], 3) for k in METHODS}}), flush=True)
    print(json.dumps({"mean": report["mean"]}))
    return report


if __name__ == "__main__":
    main()
