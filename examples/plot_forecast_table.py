"""
# Forecast your own table: an hourly CSV, the defaults, and a seasonal-naive check

A forecasting run needs a table with a time column and numeric columns: `data.name=series` and
`data.path=your.csv`. Everything else comes from the recipe — the look-back (96 rows), the model
(Gateformer), the papers' protocol (batch 32, the rate halved each epoch, early stopping on validation
MSE with patience 3), calendar features of the time column fed beside the variables and never scored.
Here the table is made up (two daily cycles and noise, 120 days of hours); the horizon is one day.
"""

import json
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from dualbranch.train import fit, load_config

work = Path(tempfile.mkdtemp())
rng = np.random.default_rng(0)
hours = pd.date_range("2024-01-01", periods=24 * 120, freq="h")
t = np.arange(len(hours))
daily, weekly = np.sin(2 * np.pi * t / 24), np.sin(2 * np.pi * t / (24 * 7))
table = pd.DataFrame(
    {
        "date": hours,
        "load": 10 + 3 * daily + 1.5 * weekly + rng.normal(0, 0.5, len(t)),
        "temperature": 15 + 5 * np.sin(2 * np.pi * (t - 6) / 24) + rng.normal(0, 0.8, len(t)),
    }
)
table.to_csv(work / "sensor.csv", index=False)

# %%
# The same as `dualbranch fit data.name=series data.path=sensor.csv data.pred_len=24` on the command line.
config = load_config(
    overrides=[
        "data.name=series",
        f"data.path={work / 'sensor.csv'}",
        "data.pred_len=24",
        f"output.root={work / 'runs'}",
        "output.report=false",
        "trainer.progress_bar=false",
        "trainer.threads=1",
    ]
)
run = fit(config)

# %%
# `predictions.csv` has one row per test window and step: its table row, the truth and the forecast
# of every variable on the original scale. Seasonal naive (the value one day earlier) is the baseline
# any forecast must beat; it is computed here from the same table for the same rows.
metrics = json.loads((run / "metrics.json").read_text())
predictions = pd.read_csv(run / "predictions.csv")
print(f"{metrics['n']} test windows; MSE {metrics['mse']:.3f}, MAE {metrics['mae']:.3f} (standardised)")
for column in ("load", "temperature"):
    model_mae = (predictions[f"pred_{column}"] - predictions[f"true_{column}"]).abs().mean()
    naive_mae = (table[column].to_numpy()[predictions["row"] - 24] - predictions[f"true_{column}"]).abs().mean()
    print(f"{column}: MAE {model_mae:.3f} against seasonal naive's {naive_mae:.3f}")

# %%
# The last test window: the look-back, the truth and the forecast.
last = predictions[predictions["index"] == predictions["index"].max()]
fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
for ax, column in zip(axes, ("load", "temperature"), strict=True):
    start = last["row"].min()
    history = np.arange(start - 96, start)
    ax.plot(history, table[column].to_numpy()[history], color="grey", label="look-back")
    ax.plot(last["row"], last[f"true_{column}"], label="truth")
    ax.plot(last["row"], last[f"pred_{column}"], label="forecast")
    ax.set_title(column)
    ax.set_xlabel("table row")
axes[0].legend()
fig.tight_layout()
plt.show()
