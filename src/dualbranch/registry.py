"""Model registry: ``@register_model`` on a builder function; the tables of registered models.

The registry only holds tables; building a model (with weights, or as a feature extractor) is
:func:`dualbranch.factory.create_model`, which sits above this module and :mod:`dualbranch.checkpoint`.
A builder takes keyword overrides and returns an ``nn.Module`` that follows the model contract
(:class:`dualbranch.models.base.MultiBranchModel`). Each entry records where the model comes from
(paper), official names it is also known by (aliases), a small configuration for quick tests (tiny),
where published weights live (weights_url), how those weights are fed (feed: the input size, mean and
std, interpolation and centre-crop share their training used, in the run config's ``data.*`` names; a
fine-tuning run starts from them) and its task: ``"classification"`` (the contract of
:class:`~dualbranch.models.base.MultiBranchModel`) or ``"forecasting"`` (input (B, L, C), output
(B, H, C); the contract of :class:`~dualbranch.models.forecasting.base.ForecastingModel`).
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from .errors import UnknownModelError

__all__ = ["TASKS", "ModelEntry", "get_model_entry", "list_models", "register_model"]


@dataclass(frozen=True)
class ModelEntry:
    """What the registry knows about one model name."""

    name: str
    builder: Callable[..., nn.Module]
    paper: str = ""
    aliases: tuple[str, ...] = ()
    tiny: dict[str, Any] = field(default_factory=dict)
    weights_url: str | None = None
    task: str = "classification"
    feed: dict[str, Any] = field(default_factory=dict)


#: The tasks a registered model can have; each has its own model contract (see the module docstring).
TASKS = ("classification", "forecasting")

_ENTRIES: dict[str, ModelEntry] = {}
_ALIASES: dict[str, str] = {}


def register_model(
    paper: str = "",
    aliases: tuple[str, ...] = (),
    tiny: dict[str, Any] | None = None,
    weights_url: str | None = None,
    task: str = "classification",
    feed: dict[str, Any] | None = None,
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator: register ``builder`` under its function name, for ``task`` (one of :data:`TASKS`)."""
    if task not in TASKS:
        raise ValueError(f"Unknown task {task!r}; registered models have one of {TASKS}.")

    def decorate(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        name = builder.__name__
        taken = set(_ENTRIES) | set(_ALIASES)
        for new in (name, *aliases):
            if new in taken:
                raise ValueError(f"Model name {new!r} is registered twice.")
        _ENTRIES[name] = ModelEntry(
            name, builder, paper, tuple(aliases), dict(tiny or {}), weights_url, task, dict(feed or {})
        )
        _ALIASES.update({alias: name for alias in aliases})
        return builder

    return decorate


def _unknown(name: str) -> UnknownModelError:
    known = sorted(_ENTRIES) + sorted(_ALIASES)
    close = difflib.get_close_matches(name, known, n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    return UnknownModelError(f"Unknown model {name!r}.{hint} `dualbranch models` lists every model.")


def get_model_entry(name: str) -> ModelEntry:
    """The registry entry for ``name`` (a model name or an official alias).

    Raises:
        UnknownModelError: (a KeyError) ``name`` is not registered; the message suggests close names.
    """
    canonical = _ALIASES.get(name, name)
    if canonical not in _ENTRIES:
        raise _unknown(name)
    return _ENTRIES[canonical]


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names (aliases excluded) matching a shell-style ``pattern``, sorted."""
    return sorted(name for name in _ENTRIES if fnmatch.fnmatch(name, pattern))
