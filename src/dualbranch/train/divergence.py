"""Divergence: a non-finite loss or weight stops the run with one line that says where and what to do.

The training task checks every step's loss (:meth:`TrainingTask.training_step`); the checkpoint
callback checks the validation loss and every weight at the end of each epoch, before anything of
that epoch is kept (:mod:`.checkpoints`); the pipeline checks the final weights before writing
``model.safetensors``. So a NaN never reaches a checkpoint, the weights file, ``metrics.json``,
the predictions or the report: the run stops with :class:`~dualbranch.errors.TrainingDivergedError`
(exit code 2), and the last checkpoint written before it is the last good state.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..errors import TrainingDivergedError
from .config import RunConfig

__all__ = ["check_weights", "diverged"]


def _kind_of(value: float) -> str:
    return "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")


def diverged(what: str, value: float, where: str, config: RunConfig) -> TrainingDivergedError:
    """The error for ``what`` (e.g. "the training loss") being ``value`` (non-finite) at ``where``."""
    optim = config.optim
    advice = f"lower optim.lr (now {optim.lr:g}; e.g. optim.lr={optim.lr / 10:g})"
    if optim.grad_clip is None:
        advice += " or set optim.grad_clip (e.g. optim.grad_clip=1.0)"
    else:
        advice += f" or a smaller optim.grad_clip (now {optim.grad_clip:g})"
    return TrainingDivergedError(
        f"Training diverged at {where}: {what} is {_kind_of(value)}. Nothing from the diverged steps was saved "
        f"(no weights, metrics or predictions); {advice}, then start the run again (--overwrite replaces what "
        "this one left)."
    )


def check_weights(model: nn.Module, where: str, config: RunConfig) -> None:
    """Raise :class:`TrainingDivergedError` when any parameter or buffer of ``model`` is not finite (one
    batched reduction, the largest magnitude of each tensor, which a NaN or an Inf carries; a tensor by
    tensor search only once one is found)."""
    named = [(n, t.detach()) for n, t in (*model.named_parameters(), *model.named_buffers()) if t.is_floating_point()]
    if not named or bool(torch.isfinite(torch.stack(torch._foreach_norm([t for _, t in named], float("inf")))).all()):
        return
    for name, tensor in named:
        if not bool(torch.isfinite(tensor).all()):
            raise diverged(f"the weight {name}", tensor[~torch.isfinite(tensor)].flatten()[0].item(), where, config)
