"""
# Classify series: BasicMotions with the defaults, and what RocketFormer chose

`data.name=uea data.uea_name=NAME` reads a UEA/UCR set bundled with aeon (offline), or one you
downloaded (`data.path`); your own series come as an `.npz` of `x` (n, C, T) and `y`
(`data.name=signal_npz`, the series guide). The recipe picks RocketFormer: random dilated kernels
(ROCKET's idea) with a ridge classifier fitted in closed form, fused with a patch Transformer whose
weight is chosen on held-out training examples. BasicMotions (Clements et al.; 4 activities, 6
accelerometer and gyroscope channels, 100 samples, 40 training and 40 test series) trains in seconds.
"""

import json
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from dualbranch.train import fit, load_config
from dualbranch.weight_files import read_state_dict

work = Path(tempfile.mkdtemp())
config = load_config(
    overrides=[
        "data.name=uea",
        "data.uea_name=BasicMotions",
        f"output.root={work}",
        "output.report=false",
        "trainer.progress_bar=false",
        "trainer.threads=1",
    ]
)
run = fit(config)

# %%
# What the recipe chose, and the test split's scores.
recipe = json.loads((run / "recipe.json").read_text())
for choice in recipe["choices"]:
    if choice["key"] in ("model.name", "optim.epochs", "data.batch_size", "optim.lr"):
        print(f"{choice['key']} = {choice['value']}")
metrics = json.loads((run / "metrics.json").read_text())
print(f"test accuracy {metrics['accuracy']:.3f}, balanced {metrics['balanced_accuracy']:.3f}")
# The Transformer branch's weight in the fused logits, a buffer of the saved weights: 0 where the kernel
# branch alone was best on the held-out examples (the log above gives each candidate's cross-entropy).
weights = read_state_dict(run / "model.safetensors")
print("transformer_weight =", next(float(v) for k, v in weights.items() if k.endswith("transformer_weight")))

# %%
# The confusion matrix from `predictions.csv` (one row per test series: true and predicted class).
predictions = pd.read_csv(run / "predictions.csv", dtype={"true": str, "predicted": str})
classes = sorted(set(predictions["true"]))
counts = np.zeros((len(classes), len(classes)), dtype=int)
for true, predicted in zip(predictions["true"], predictions["predicted"], strict=True):
    counts[classes.index(true), classes.index(predicted)] += 1
fig, ax = plt.subplots(figsize=(4, 3.5))
ax.imshow(counts, cmap="Blues")
for (row, column), count in np.ndenumerate(counts):
    ax.text(column, row, str(count), ha="center", va="center")
ax.set_xticks(range(len(classes)), classes, rotation=30)
ax.set_yticks(range(len(classes)), classes)
ax.set_xlabel("predicted")
ax.set_ylabel("true")
ax.set_title("BasicMotions, test split")
fig.tight_layout()
plt.show()
