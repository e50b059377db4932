"""Model registry: ``@register_model`` on a builder function; the tables of registered models.

The registry only holds tables; building a model (with weights, or as a feature extractor) is
:func:`dualbranch.factory.create_model`, which sits above this module and :mod:`dualbranch.checkpoint`.
A builder takes keyword overrides and returns an ``nn.Module`` that follows the model contract
(:class:`dualbranch.models.base.MultiBranchModel`). Each entry records where the model comes from
(paper), official names it is also known by (aliases), a small configuration for quick tests (tiny),
where published weights live (weights_url), how weights of it are fed and where they begin and end
(:class:`WeightConfig`: a saved run records its own, and predict, export and fine-tuning read it) and
its task: ``"classification"`` (the contract of
:class:`~dualbranch.models.base.MultiBranchModel`) or ``"forecasting"`` (input (B, L, C), output
(B, H, C); the contract of :class:`~dualbranch.models.forecasting.base.ForecastingModel`).
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from .errors import UnknownModelError

__all__ = ["TASKS", "ModelEntry", "WeightConfig", "get_model_entry", "list_models", "register_model"]


@dataclass(frozen=True)
class WeightConfig:
    """How weights of a model are fed, and where they begin and end (timm's per-weight pretrained config).

    Attributes:
        input_size: the model's input without the batch: (C, H, W) images, (C, T) signals, (L, C) series.
        mean, std: the per-channel normalisation of the input (C,): image channels in [0, 1] units, or a
            forecasting run's variates. None: not fixed by the weights (a run fits it on its training data).
        interpolation: how images are resized ("bicubic"); None for inputs that are not resized.
        crop_pct: the centre crop's share of the resized shorter side (ImageNet's 224 of 256: 0.875).
        first_conv: the layer(s) that read the input's channels, one per branch that reads them (CrossViT:
            one patch embedding per branch; EEG Conformer: its spatial convolution, whose kernel spans the
            electrodes; series models that read each variate on its own: the embedding of its window or
            patches; Informer and Autoformer, which embed each time step's variates together: the encoder's
            and the decoder's step embedding). Fine-tuning adapts these to another channel count.
        classifier: the head(s) (``final_layer`` by convention; CrossViT and the hybrids keep timm's
            ``head.<branch>``; forecasting models map to the horizon, or, for Informer and Autoformer, each
            decoder step to the variates). Fine-tuning replaces them.
        fitted: state fitted in closed form to the training data (the ``_hog`` hybrids' kernel classifier: its
            landmarks are training images' descriptors). Fine-tuning never carries it over: the new run fits
            its own.

    ``first_conv`` and ``classifier`` are module paths, or parameter names for layers held as bare
    parameters (DLinear's); a ``*`` stands for one module name (``decoder.*.trend_projection``: that layer
    of every decoder layer, however many the model's options make); :meth:`parameters_under` gives the
    parameter names under them. The first
    weight of two or more dimensions under a ``first_conv`` path is the one that reads the channels (a
    stem of several convolutions is named by its path, whatever the model's options make of it).
    """

    input_size: tuple[int, ...]
    first_conv: tuple[str, ...]
    classifier: tuple[str, ...]
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    interpolation: str | None = None
    crop_pct: float | None = None
    fitted: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.first_conv or not self.classifier:
            raise ValueError("A WeightConfig names the model's first_conv and classifier.")
        for name in ("input_size", "first_conv", "classifier", "mean", "std", "fitted"):  # JSON gives lists
            if (value := getattr(self, name)) is not None:
                object.__setattr__(self, name, tuple(value))

    def replace(self, **changes: Any) -> WeightConfig:
        """A copy with ``changes`` (e.g. a run's own input size and normalisation)."""
        return dataclasses.replace(self, **changes)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> WeightConfig:
        return cls(**json.loads(text))

    def first_weights(self, params: dict[str, Any]) -> list[str]:
        """The weight under each ``first_conv`` path that reads the input: its first of ≥ 2 dimensions
        among ``params`` (name -> tensor, in the model's order)."""
        return [
            next(n for n in self.parameters_under(params, (path,)) if params[n].ndim >= 2) for path in self.first_conv
        ]

    @staticmethod
    def parameters_under(names: Iterable[str], paths: Iterable[str]) -> list[str]:
        """The parameter ``names`` (in their order) that are one of ``paths`` or lie under one (a ``*`` in a
        path matches one module name)."""
        patterns = [re.compile(re.escape(path).replace(r"\*", r"[^.]+") + r"(\..+)?") for path in paths]
        return [name for name in names if any(pattern.fullmatch(name) for pattern in patterns)]


@dataclass(frozen=True)
class ModelEntry:
    """What the registry knows about one model name."""

    name: str
    builder: Callable[..., nn.Module]
    weights: WeightConfig
    paper: str = ""
    aliases: tuple[str, ...] = ()
    tiny: dict[str, Any] = field(default_factory=dict)
    weights_url: str | None = None
    task: str = "classification"


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
    weights: WeightConfig | None = None,
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator: register ``builder`` under its function name, for ``task`` (one of :data:`TASKS`), fed
    and ended as ``weights`` says (required: every registered model has one)."""
    if task not in TASKS:
        raise ValueError(f"Unknown task {task!r}; registered models have one of {TASKS}.")
    if weights is None:
        raise ValueError("register_model needs weights=WeightConfig(...): its input size, first_conv and classifier.")

    def decorate(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        name = builder.__name__
        taken = set(_ENTRIES) | set(_ALIASES)
        for new in (name, *aliases):
            if new in taken:
                raise ValueError(f"Model name {new!r} is registered twice.")
        _ENTRIES[name] = ModelEntry(name, builder, weights, paper, tuple(aliases), dict(tiny or {}), weights_url, task)
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
