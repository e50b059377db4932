"""
# What the models cost: parameters and multiply-adds

Every registered model, counted on PyTorch's meta device: no weights are allocated, so counting even
the 105 M-parameter CrossViT-Base takes milliseconds. The same table is `dualbranch models --json`.
"""

import matplotlib.pyplot as plt

from dualbranch.cli.models import model_table
from dualbranch.registry import get_model_entry

rows = model_table()
print(f"{'model':<26} {'task':<15} {'params':>12} {'GMACs':>8}")
for row in rows:
    task = get_model_entry(row["model"]).task
    print(f"{row['model']:<26} {task:<15} {row['params']:>12,} {row['gmacs']:>8.3f}")

# %%
# Parameters against compute, on log scales (models without MACs at their default input are left out).
fig, ax = plt.subplots(figsize=(7, 4.5))
for row in rows:
    if row["gmacs"] > 0:
        ax.scatter(row["params"] / 1e6, row["gmacs"], s=18)
        ax.annotate(row["model"], (row["params"] / 1e6, row["gmacs"]), fontsize=7, xytext=(3, 2),
                    textcoords="offset points")  # fmt: skip
ax.set_xscale("log")
ax.set_yscale("log")
ax.set_xlabel("parameters (millions)")
ax.set_ylabel("GMACs per example at the default input")
plt.show()
