"""Prediction tables: one row per input with its top-k labels and probabilities, written as CSV.

Shared by image runs (:mod:`.predict`) and signal runs (:mod:`.signal_predict`).
"""

from __future__ import annotations

import csv
import io
import os

import torch

from ..safe_io import atomic_write_text

__all__ = ["prediction_rows", "write_csv"]


def prediction_rows(
    names: list[str], probs: torch.Tensor, class_names: list[str], top_k: int, all_probabilities: bool = False
) -> list[dict[str, object]]:
    """One CSV row per input: its name, the ``top_k`` labels with their probabilities (``probs`` (n, K)),
    and with ``all_probabilities`` a ``p_<class>`` column per class."""
    values, indices = probs.topk(min(top_k, probs.shape[1]), dim=1)
    rows = []
    for i, name in enumerate(names):
        row: dict[str, object] = {"input": name}
        for rank in range(values.shape[1]):
            suffix = "" if rank == 0 else f"_{rank + 1}"
            row[f"label{suffix}"] = class_names[int(indices[i, rank])]
            row[f"probability{suffix}"] = round(float(values[i, rank]), 6)
        if all_probabilities:
            row.update({f"p_{c}": round(float(probs[i, k]), 6) for k, c in enumerate(class_names)})
        rows.append(row)
    return rows


def write_csv(rows: list[dict[str, object]], output: str | os.PathLike[str]) -> None:
    """Write ``rows`` as a CSV file, atomically (an existing file is replaced only when complete)."""
    table = io.StringIO()
    writer = csv.DictWriter(table, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(output, table.getvalue())
