"""Training objectives: what a training step minimises, as plugins of the one training task.

An objective gets the model, a batch of model input (B, ...) and its soft targets (B, K) from the
data kind's input pipeline (label smoothing, Mixup), and returns the loss, the logits (B, K) the
training accuracy is measured on, and any extra terms to log. ``cross_entropy`` is the DeiT /
CrossViT recipe (soft-target cross-entropy). A model family that trains with extra losses (e.g. a
contrastive term between its branches) registers its own objective here and names it in the config
(``objective.name``, options in ``objective.args``) without touching the engine.

Shape legend: B batch, K classes.
"""

from __future__ import annotations

import abc
import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError

__all__ = ["OBJECTIVES", "CrossEntropy", "Objective", "StepOutput", "make_objective", "register_objective"]


@dataclass
class StepOutput:
    """A training step's result: the loss to minimise, logits (B, K), and named terms to log."""

    loss: torch.Tensor
    logits: torch.Tensor
    terms: dict[str, torch.Tensor]


class Objective(abc.ABC):
    """A training objective; options arrive as keyword arguments from ``objective.args``."""

    @abc.abstractmethod
    def __call__(self, model: nn.Module, x: torch.Tensor, targets: torch.Tensor) -> StepOutput:
        """Loss of ``model`` on input ``x`` (B, ...) against soft ``targets`` (B, K)."""


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of −Σ_k targets·log softmax(logits): (B, K), (B, K) -> ()."""
    return torch.sum(-targets * F.log_softmax(logits, dim=-1), dim=-1).mean()


OBJECTIVES: dict[str, Callable[..., Objective]] = {}


def register_objective(name: str) -> Callable[[type[Objective]], type[Objective]]:
    """Class decorator: register an objective under ``name``."""

    def decorate(cls: type[Objective]) -> type[Objective]:
        if name in OBJECTIVES:
            raise ValueError(f"Objective {name!r} is registered twice.")
        OBJECTIVES[name] = cls
        return cls

    return decorate


@register_objective("cross_entropy")
class CrossEntropy(Objective):
    """Soft-target cross-entropy on the model's logits (label smoothing and Mixup are in the targets)."""

    def __call__(self, model: nn.Module, x: torch.Tensor, targets: torch.Tensor) -> StepOutput:
        logits = model(x)
        return StepOutput(soft_cross_entropy(logits, targets), logits, {})


def make_objective(name: str, args: dict[str, Any]) -> Objective:
    """The objective ``name`` with options ``args``; ConfigError for an unknown name or option."""
    if name not in OBJECTIVES:
        close = difflib.get_close_matches(name, list(OBJECTIVES), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"objective.name: unknown objective {name!r}{hint}; known: {', '.join(OBJECTIVES)}.")
    try:
        return OBJECTIVES[name](**args)
    except TypeError as err:
        raise ConfigError(f"objective.args: {err} (objective {name}).") from err
