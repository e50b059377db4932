"""
# Train on your own arrays: scikit-learn's digits as an `.npz`

The library's own data path for images held as arrays: write `x` (N, H, W) and `y` to an `.npz`, name
it in the config, and `fit` does the rest — the recipe picks the model, schedule and augmentation from
the data. The schedule is cut to 100 updates here so the example runs in seconds; the defaults
(`optim.budget: auto`, 2,000 updates here) reach 98.4 % on this split
(`benchmarks/defaults_accuracy.py`).
"""

import json
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits

from dualbranch.train import fit, load_config

work = Path(tempfile.mkdtemp())
digits = load_digits()
# (1797, 8, 8) floats 0..16 -> uint8 0..255, and the class index of each image
x = (digits.images * 255 / 16).astype(np.uint8)
np.savez(work / "digits.npz", x=x, y=digits.target)

# %%
# The same overrides as on the command line: `dualbranch fit data.name=npz data.path=... optim.budget=100`
config = load_config(
    overrides=[
        "data.name=npz",
        f"data.path={work / 'digits.npz'}",
        "evaluation.protocol=holdout",
        "optim.budget=100",
        f"output.root={work / 'runs'}",
        "output.report=false",
        "trainer.progress_bar=false",
        "trainer.threads=1",
    ]
)
run = fit(config)

# %%
# The run folder holds everything: the metrics, the per-epoch history, the recipe it chose.
metrics = json.loads((run / "metrics.json").read_text())
print(f"test accuracy {metrics['accuracy']:.3f}, balanced {metrics['balanced_accuracy']:.3f}, κ {metrics['kappa']:.3f}")
recipe = json.loads((run / "recipe.json").read_text())
for choice in recipe["choices"][:6]:
    print(choice)

# %%
# Learning curves from `history.jsonl` (one JSON line per epoch).
history_file = next(run.rglob("history.jsonl"))  # folds/fold_0/ for a hold-out run
history = [json.loads(line) for line in history_file.read_text().splitlines()]
epochs = [h["epoch"] for h in history]
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(epochs, [h["train_loss"] for h in history], label="training loss")
if "val_loss" in history[0]:
    ax.plot(epochs, [h["val_loss"] for h in history], label="validation loss")
ax.set_xlabel("epoch")
ax.legend()
ax.set_title("digits, 100 updates")
plt.show()
