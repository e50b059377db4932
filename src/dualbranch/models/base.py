"""The model contract every dualbranch model follows, and config overrides with helpful errors.

A model has n ≥ 1 branches that each turn the input into a token sequence. Shapes:
    forward(x)                         -> logits (B, num_classes)
    forward_features(x)                -> list of n token tensors, xs[b]: (B, T_b, D_b)
    forward_head(xs, pre_logits=False) -> logits (B, num_classes), or pooled features
                                          (B, num_features) with pre_logits=True or num_classes == 0
    forward_intermediates(x, indices)  -> per-stage, per-branch maps (see the model's docstring)
    reset_classifier(num_classes)      -> new head(s); 0 removes them (forward gives pooled features).
                                          Every model initialises a new head by :func:`init_head`.
Attributes: num_classes, num_features, num_branches, num_stages, input_shape (without the batch),
branch_widths (the channel/token width D_b of each branch's features).
"""

from __future__ import annotations

import abc
import dataclasses
import difflib
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

import torch
from torch import nn

from ..errors import ConfigError, ModelOptionError

__all__ = ["HEAD_INIT_STD", "MultiBranchModel", "apply_overrides", "init_head"]

ConfigT = TypeVar("ConfigT")
HeadT = TypeVar("HeadT", bound=nn.Module)
ModelT = TypeVar("ModelT", bound=nn.Module)

#: Standard deviation of a new classifier head's (truncated normal) weights, in every model.
HEAD_INIT_STD = 0.02


def init_head(head: HeadT, device: torch.device | str | None = None) -> HeadT:
    """Initialise a new classifier head, then move it to ``device``: the one rule of ``reset_classifier``.

    Every ``nn.Linear`` in ``head`` gets truncated-normal weights (std :data:`HEAD_INIT_STD`) and
    zero biases, the ViT/CrossViT recipe for heads. One rule for every model, so a fine-tuning run
    starts from the same kind of head whatever the model family. The draws happen where the head was
    built (the CPU) before the move, so a seed gives the same head on any device.
    """
    for module in head.modules():
        if isinstance(module, nn.Linear):
            nn.init.trunc_normal_(module.weight, std=HEAD_INIT_STD)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    return head.to(device) if device is not None else head


def _normalise(value: Any) -> Any:
    # YAML and JSON give lists; configs hold tuples so they stay hashable and comparable.
    if isinstance(value, list):
        return tuple(_normalise(v) for v in value)
    return value


def apply_overrides(config: ConfigT, overrides: dict[str, Any]) -> ConfigT:
    """``dataclasses.replace(config, **overrides)``, with an error that names unknown fields."""
    fields = {f.name for f in dataclasses.fields(config)}  # type: ignore[arg-type]
    unknown = [key for key in overrides if key not in fields]
    if unknown:
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(key, sorted(fields), n=1)
            hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise ModelOptionError(
            f"Unknown {type(config).__name__} option(s): {', '.join(hints)}. "
            f"Valid options: {', '.join(sorted(fields))}."
        )
    return dataclasses.replace(config, **{k: _normalise(v) for k, v in overrides.items()})  # type: ignore[type-var]


class MultiBranchModel(nn.Module, abc.ABC):
    """Base class: implements ``forward`` from the contract's two halves.

    Subclasses set ``num_classes``, ``num_features``, ``num_branches``, ``num_stages``,
    ``input_shape`` and ``branch_widths``, and implement ``forward_features``, ``forward_head``,
    ``reset_classifier`` and ``forward_intermediates``.

    A model whose training objective uses more than inference does (e.g. a branch that only feeds a
    contrastive loss) names those submodules in ``training_only_modules`` and returns their outputs
    from ``forward_train``; the contract tests check that ``forward`` reaches every other parameter
    and ``forward_train`` every parameter, so nothing is dead weight.
    """

    training_only_modules: tuple[str, ...] = ()

    num_classes: int
    num_features: int
    num_branches: int
    num_stages: int
    input_shape: tuple[int, ...]
    branch_widths: tuple[int, ...]

    @abc.abstractmethod
    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """One token tensor per branch."""

    @abc.abstractmethod
    def forward_head(self, features: list[torch.Tensor], pre_logits: bool = False) -> torch.Tensor:
        """Pool the branch tokens and classify (or return the pooled features)."""

    @abc.abstractmethod
    def reset_classifier(self, num_classes: int) -> None:
        """Replace the classifier head(s); 0 removes them."""

    @abc.abstractmethod
    def forward_intermediates(self, x: torch.Tensor, indices: int | list[int] | None = None, **kwargs: Any) -> Any:
        """Per-stage, per-branch intermediate features."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def forward_train(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every output a training objective may use; at least ``{"logits": (B, num_classes)}``."""
        return {"logits": self(x)}

    def training_only_parameter_names(self) -> list[str]:
        """Names of the parameters ``forward`` does not use (those of ``training_only_modules``)."""
        prefixes = tuple(f"{name}." for name in self.training_only_modules)
        return [name for name, _ in self.named_parameters() if prefixes and name.startswith(prefixes)]

    def stage_indices(self, indices: int | list[int] | None) -> list[int]:
        """Sorted stage indices from None (all), n (the last n) or a list (negative counts from the end)."""
        if indices is None:
            return list(range(self.num_stages))
        if isinstance(indices, int):
            if not 1 <= indices <= self.num_stages:
                raise ConfigError(f"indices={indices}: ask for the last 1..{self.num_stages} stages.")
            return list(range(self.num_stages - indices, self.num_stages))
        taken = []
        for i in indices:
            if not -self.num_stages <= i < self.num_stages:
                raise ConfigError(f"Stage index {i} is out of range: this model has {self.num_stages} stages.")
            taken.append(i % self.num_stages)
        return sorted(set(taken))


def constructor_builder(
    cls: type[ModelT],
    defaults: dict[str, Any] | None = None,
    prepare: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> Callable[..., ModelT]:
    """A registry builder for a model built from constructor arguments: keyword overrides of ``cls``,
    unknown ones named with a suggestion, lists (from YAML or JSON) as tuples. ``prepare`` may first
    rewrite the overrides (e.g. an alias such as ``num_classes``)."""
    valid = [name for name in inspect.signature(cls.__init__).parameters if name != "self"]

    def build(**overrides: Any) -> ModelT:
        if prepare is not None:
            overrides = prepare(overrides)
        unknown = [key for key in overrides if key not in valid]
        if unknown:
            hints = []
            for key in unknown:
                close = difflib.get_close_matches(key, valid, n=1)
                hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
            raise ModelOptionError(
                f"Unknown {cls.__name__} option(s): {', '.join(hints)}. Valid options: {', '.join(sorted(valid))}."
            )
        overrides = {k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()}
        return cls(**{**(defaults or {}), **overrides})

    return build
