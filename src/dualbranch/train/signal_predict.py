"""Predictions of a trained signal run on new examples from an ``.npz`` (x (n, C, T), labels optional).

Each fold's model sees the examples preprocessed as its training data was (its saved
``preprocessing.json``: Euclidean alignment online per ``groups`` id, seeded with that subject's
training covariance when the run saw the subject; the training channel means and stds). A run with
several folds predicts the mean of its fold models' probabilities (an ensemble of the k models).
Series of another length follow the run's ``length_policy`` to its ``n_times``.

Shape legend: n examples, C channels, T samples, K classes.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from ..data.series import stack_series
from ..data.signal import SignalData
from .predictions import prediction_rows, write_csv
from .signal_run import load_fold_models, signal_logits

__all__ = ["predict_signal"]


def _read_npz(path: Path, info: dict) -> SignalData:
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist.")
    with np.load(path, allow_pickle=False) as f:
        if "x" not in f.files:
            raise ValueError(f"{path} has no array 'x' (it has {f.files}); save np.savez(path, x=signals (n, C, T)).")
        arrays = {k: f[k] for k in f.files}
    x = arrays["x"][:, None, :] if arrays["x"].ndim == 2 else arrays["x"]
    n_chans, n_times = info["input_shape"]
    if x.ndim != 3 or x.shape[1] != n_chans:
        raise ValueError(f"{path}: x is {x.shape}; the run's model reads (n, {n_chans} channels, {n_times} samples).")
    mask = arrays.get("mask")
    if x.shape[2] != n_times:
        try:
            x, mask = stack_series(list(x), info["length_policy"], n_times)
        except ValueError as err:
            raise ValueError(f"{path}: series of {x.shape[2]} samples, the model reads {n_times}: {err}") from err
    return SignalData(
        x=x,
        y=np.zeros(len(x), dtype=np.int64),  # labels are not needed to predict
        class_names=tuple(info["class_names"]),
        groups=arrays.get("groups"),
        mask=mask,
        require_all_classes=False,
    )


def predict_signal(
    run_dir: str | os.PathLike[str],
    inputs: list[str],
    output: str | os.PathLike[str] | None = None,
    batch_size: int = 256,
    top_k: int = 1,
) -> list[dict[str, object]]:
    """Classify the examples of one ``.npz`` with a signal run; write a CSV (``output``), return the rows.

    Columns: ``input`` (``file[i]``), ``label``/``probability`` (and ``label_2``... with ``top_k``),
    then ``p_<class>`` for every class.
    """
    if len(inputs) != 1 or not inputs[0].endswith(".npz"):
        raise ValueError("A signal run predicts from one .npz file holding x (n, C, T) (optional: groups, mask).")
    models, info = load_fold_models(run_dir)
    data = _read_npz(Path(inputs[0]), info)
    probs = torch.stack(
        [signal_logits(model, pre.transform(data), batch_size).softmax(dim=1) for _, model, pre in models]
    ).mean(dim=0)  # (n, K): the folds' mean
    class_names = info["class_names"]
    names = [f"{inputs[0]}[{i}]" for i in range(len(data))]
    rows = prediction_rows(names, probs, class_names, top_k, all_probabilities=True)
    if output is not None:
        write_csv(rows, output)
    return rows
