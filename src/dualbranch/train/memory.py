"""How much memory a training batch takes: the activations a model keeps for its backward pass.

A training step's memory is dominated by what autograd saves between the forward and the backward
pass, and that grows with the batch: a CrossViT-Ti at 240 px keeps about 54 MB per image, so a batch
of 128 needs some 7 GB beside the weights. :func:`activation_bytes_per_example` counts it exactly,
without running anything: the model runs on PyTorch's meta device (shapes only) under a hook that
adds up the storage of every tensor saved for backward (once, however many operations save it), at
two batch sizes, so what does not grow with the batch (weights saved by matrix products) cancels
out. The recipe uses it to cap the batch size (:mod:`.recipe`), the same on every machine and
however busy it is.

Shape legend: B batch; the input shape is the model's own (``model.input_shape``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch
from torch import nn

__all__ = ["activation_bytes_per_example"]


def _saved_bytes(model: nn.Module, input_shape: tuple[int, ...], batch: int) -> int:
    storages: dict[int, int] = {}  # storage -> bytes: a tensor saved by two operations (or as views) counts once

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        storages[storage._cdata] = max(storages.get(storage._cdata, 0), storage.nbytes())
        return tensor

    x = torch.empty(batch, *input_shape, device="meta")  # (B, ...)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # meta kernels' fallbacks warn; the count is what matters
        model(x)
    return sum(storages.values())


def activation_bytes_per_example(build: Callable[[], nn.Module]) -> int | None:
    """Bytes a training step keeps per example for the backward pass of the model ``build()`` makes
    (built here on the meta device); None when the model cannot be traced on meta."""
    try:
        with torch.device("meta"):
            model = build().train()
        shape = getattr(model, "input_shape", None)  # every registered model has one; a user's may not
        if shape is None:
            return None
        small, large = _saved_bytes(model, tuple(shape), 2), _saved_bytes(model, tuple(shape), 4)
    except (NotImplementedError, RuntimeError):  # an operation without a meta kernel, or one reading values
        return None
    return max(0, (large - small) // 2)
