"""A run's model: built from the registry with the arguments the data implies, its option names, its
multiply-adds and its measured training rate (what the recipe and the pipeline ask of a model before training)."""

from __future__ import annotations

import dataclasses
import inspect
import os
import time
from typing import Any

import numpy as np
import torch
from torch import nn

from ..evaluation.protocols import Fold
from ..factory import create_model
from ..flops import count_macs
from .config import RunConfig
from .kinds import DataKind, RunData, stack_items
from .objectives import make_objective
from .scoring import Scoring

__all__ = ["build_model", "model_args", "model_macs", "model_options", "step_rate"]


def build_model(name: str, args: dict[str, Any], checkpoint: str | os.PathLike[str] | None = None) -> nn.Module:
    """A registered model with ``args``, optionally loading weights (strictly)."""
    return create_model(name, checkpoint_path=None if checkpoint is None else str(checkpoint), **args)


def _probe(name: str) -> nn.Module:
    with torch.device("meta"):  # no weights are allocated
        return create_model(name)


def model_options(name: str) -> set[str]:
    """The option names a registered model takes (its config fields, or its constructor's arguments)."""
    probe = _probe(name)
    model_config = getattr(probe, "config", None)
    if dataclasses.is_dataclass(model_config):  # models built from a config dataclass
        return {f.name for f in dataclasses.fields(model_config)}
    # models built from constructor arguments (the signal models, braindecode's convention)
    return set(inspect.signature(type(probe).__init__).parameters) - {"self"}


def model_args(config: RunConfig, kind: DataKind, dataset: RunData) -> dict[str, Any]:
    """What the data implies for the model (the kind decides), a model's ``kernel_seed`` (its fixed random
    kernels) from ``trainer.seed``, with ``model.args`` on top."""
    sizes = getattr(type(_probe(config.model.name)), "sizes_for_length", None)  # models that fit short inputs
    options = model_options(config.model.name)
    args = kind.model_args(dataset, config.data, options, config.model.name)
    if "kernel_seed" in options:  # fixed random kernels are the run's randomness too: each seed draws its own
        args["kernel_seed"] = config.trainer.seed
    if sizes is not None and "n_times" in args:
        args.update(sizes(args["n_times"]))
    return {**args, **config.model.args}


def model_macs(config: RunConfig, kind: DataKind, dataset: RunData) -> int:
    """Multiply-adds of the model's forward pass on one example (counted on meta: no weights, no timing)."""
    with torch.device("meta"):
        return count_macs(build_model(config.model.name, model_args(config, kind, dataset)))


def step_rate(config: RunConfig, kind: DataKind, dataset: RunData, fold: Fold, scoring: Scoring) -> float:
    """Training updates per second of this run's model and input pipeline, measured on a few batches (for a
    wall-time budget only: the default budget comes from the data, :mod:`.budget`)."""
    sample = fold.train[: min(len(fold.train), 4 * config.data.batch_size)]
    examples = dataset.examples.subset(sample)
    preprocessing = kind.fit_preprocessing(examples, config.data)
    inputs = kind.input_pipeline(preprocessing, config.augment)
    served = kind.loader_inputs(examples, preprocessing, True, config.augment, config.trainer.seed)
    x, y = stack_items(served, np.arange(len(sample))), torch.from_numpy(dataset.y[sample])
    model = build_model(config.model.name, model_args(config, kind, dataset)).train()
    objective = make_objective(config.objective.name, config.objective.args)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    generator = torch.Generator().manual_seed(0)
    batches = [
        (x[i : i + config.data.batch_size], y[i : i + config.data.batch_size])
        for i in range(0, len(x), config.data.batch_size)
    ]

    def step(batch: tuple[torch.Tensor, torch.Tensor]) -> None:
        model_input, targets = inputs.train_batch(*batch, scoring.num_classes, generator)
        optimizer.zero_grad()
        objective(model, model_input, targets).loss.backward()
        optimizer.step()

    step(batches[0])  # warm-up: allocations, one-time kernels
    started, count = time.perf_counter(), 0
    while count < 3 or time.perf_counter() - started < 2.0:
        step(batches[count % len(batches)])
        count += 1
    return count / (time.perf_counter() - started)
