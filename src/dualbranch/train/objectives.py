"""Training objectives: what a training step minimises, as plugins of the one training task.

An objective gets the model, a batch of model input (B, ...) and its soft targets (B, K) from the
data kind's input pipeline (label smoothing, Mixup), and returns the loss, the logits (B, K) the
training accuracy is measured on, and any extra terms to log. ``cross_entropy`` is the DeiT /
CrossViT recipe (soft-target cross-entropy). A model family that trains with extra losses (e.g. a
contrastive term between its branches) registers its own objective here and names it in the config
(``objective.name``, options in ``objective.args``) without touching the engine.
``mse`` is the regression objective of forecasting (real-valued targets, e.g. (B, H, C_t)).

Shape legend: B batch, K classes.
"""

from __future__ import annotations

import abc
import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError, DataError
from ..layers.contrastive import EMBEDDING, LOGITS, PROJECTION, cross_model_loss, cross_view_loss
from ..layers.signal_views import amplitude_flip, hilbert_frequency_shift, reflection_permutation
from ..models.base import MultiBranchModel

__all__ = [
    "OBJECTIVES",
    "CrossEntropy",
    "MeanSquaredError",
    "MultiViewContrastive",
    "Objective",
    "StepOutput",
    "make_objective",
    "register_objective",
]


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


# ------------------------------------------------------------------ multi-view contrastive (MVCNet)
#: The augmented views :class:`MultiViewContrastive` can make, in MVCNet's order.
CONTRASTIVE_VIEWS = ("amplitude_flip", "frequency_shift", "channel_reflection")
#: MVCNet's weights: the cross-entropy summed over the views, each contrastive term at 0.1.
CONTRASTIVE_WEIGHTS = {"cross_entropy": 1.0, "cross_view": 0.1, "cross_model": 0.1}


@register_objective("multi_view_contrastive")
class MultiViewContrastive(Objective):
    """MVCNet's objective for any two-branch signal model: cross-entropy on every view + two NT-Xent terms.

        loss = w_ce · Σ_v CE(logits_v, targets_v) + w_cv · L_cross-view + w_cm · L_cross-model

    (:mod:`dualbranch.layers.contrastive`). The views of a batch x (B, C, T) are x itself, then those
    named in ``views`` (:mod:`dualbranch.layers.signal_views`): ``amplitude_flip`` (-x),
    ``frequency_shift`` (+Δf Hz through the analytic signal, at the model's ``sfreq``) and
    ``channel_reflection`` (each electrode reads its left/right mirror image, from the model's
    ``ch_names``; the soft targets (B, K) exchange the columns of ``label_pairs``). The targets come
    from the data kind's input pipeline, so label smoothing and Mixup carry over to every view (the
    views of a mixed batch are the mixed views).

    What the terms contrast. Per view the model's ``forward_train(x_v)`` gives ``"logits"`` (B, K),
    ``"embedding"`` (B, E) and ``"projection"`` (B, E): branch A's and branch B's representation, of
    one width E (MVCNet: the CNN embedding and the Transformer's projection). A model that does not
    override ``forward_train`` but has two branches of one token width D falls back to the mean of
    each branch's tokens from ``forward_features`` (B, D), with the logits from ``forward_head`` of
    the same features (one forward per view). The model runs once per view, so BatchNorm keeps
    per-view batch statistics, as in the MVCNet release.

    Args (``objective.args``):
        weights: any of ``cross_entropy`` (1.0), ``cross_view`` (0.1), ``cross_model`` (0.1).
        temperature: NT-Xent τ of both terms (0.2).
        views: the augmented views, a subset of :data:`CONTRASTIVE_VIEWS` (default: all three).
        frequency_shift_hz: Δf of ``frequency_shift`` (0.1).
        label_pairs: pairs of class codes (the sorted class names' positions) that the reflection
            exchanges; default [[0, 1]] for two classes (left / right), required with more classes;
            [] keeps the labels (a task without mirrored classes).
        ch_names, sfreq: for a model that does not know its channels or sampling rate (data without
            channel descriptions, such as ``signal_npz``).
    """

    def __init__(
        self,
        weights: dict[str, float] | None = None,
        temperature: float = 0.2,
        views: Sequence[str] = CONTRASTIVE_VIEWS,
        frequency_shift_hz: float = 0.1,
        label_pairs: Sequence[Sequence[int]] | None = None,
        ch_names: Sequence[str] | None = None,
        sfreq: float | None = None,
    ) -> None:
        unknown = sorted(set(weights or {}) - set(CONTRASTIVE_WEIGHTS))
        if unknown:
            raise ConfigError(f"objective.args.weights: unknown term(s) {unknown}; known: {list(CONTRASTIVE_WEIGHTS)}.")
        self.weights = {**CONTRASTIVE_WEIGHTS, **{k: float(v) for k, v in (weights or {}).items()}}
        if any(not 0 <= w < float("inf") for w in self.weights.values()):
            raise ConfigError(f"objective.args.weights must be finite and ≥ 0, got {self.weights}.")
        if not temperature > 0:
            raise ConfigError(f"objective.args.temperature must be positive, got {temperature}.")
        self.views = tuple(views)
        for name in self.views:
            if name not in CONTRASTIVE_VIEWS:
                close = difflib.get_close_matches(str(name), CONTRASTIVE_VIEWS, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ConfigError(f"objective.args.views: unknown view {name!r}{hint}; known: {CONTRASTIVE_VIEWS}.")
        if len(set(self.views)) != len(self.views):
            raise ConfigError(f"objective.args.views names a view twice: {list(self.views)}.")
        if not self.views and self.weights["cross_view"] > 0:
            raise ConfigError("objective.args: the cross-view term needs at least one view; add views or weight 0.")
        self.temperature = float(temperature)
        self.delta_f = float(frequency_shift_hz)
        self.label_pairs = None if label_pairs is None else [tuple(int(c) for c in pair) for pair in label_pairs]
        if self.label_pairs is not None:
            codes = [c for pair in self.label_pairs for c in pair]
            if any(len(pair) != 2 for pair in self.label_pairs) or len(set(codes)) != len(codes):
                raise ConfigError(
                    f"objective.args.label_pairs: give disjoint pairs of class codes, e.g. [[0, 1]]; got {label_pairs}."
                )
        self.ch_names = None if ch_names is None else [str(c) for c in ch_names]
        self.sfreq = None if sfreq is None else float(sfreq)

    # ----------------------------------------------------------------- views
    def _sfreq(self, model: nn.Module) -> float:
        sfreq = self.sfreq if self.sfreq is not None else getattr(model, "sfreq", None)
        if not sfreq or sfreq <= 0:
            raise ConfigError(
                f"objective.args.views: frequency_shift needs the sampling rate, and {type(model).__name__} has "
                f"sfreq={sfreq}; set objective.args.sfreq (Hz) or drop frequency_shift from the views."
            )
        return float(sfreq)

    def _channel_permutation(self, model: nn.Module, n_chans: int) -> list[int]:
        names = self.ch_names if self.ch_names is not None else getattr(model, "ch_names", None)
        if not names:
            raise ConfigError(
                f"objective.args.views: channel_reflection needs electrode names, and {type(model).__name__} has "
                "none (the data gave no channel descriptions); set objective.args.ch_names or drop the view."
            )
        if len(names) != n_chans:
            raise ConfigError(f"objective.args.ch_names: {len(names)} names for {n_chans} channels.")
        perm = reflection_permutation(list(names))
        if perm == list(range(n_chans)):
            # swapping the labels of an unchanged trial would teach the model that it is both classes
            raise ConfigError(
                f"objective.args.views: channel_reflection found no left/right electrode pair among "
                f"{list(names)[:8]}{' …' if len(names) > 8 else ''} (10-20 names such as C3/C4 are needed); "
                "drop the view."
            )
        return perm

    def _label_permutation(self, n_classes: int) -> list[int]:
        pairs = self.label_pairs
        if pairs is None:
            if n_classes != 2:
                raise ConfigError(
                    f"objective.args.label_pairs: channel_reflection swaps the left- and right-side classes; with "
                    f"{n_classes} classes say which class codes (positions in the sorted class names) mirror each "
                    "other, e.g. [[1, 2]] for feet, left_hand, right_hand, tongue, or [] for none."
                )
            pairs = [(0, 1)]
        perm = list(range(n_classes))
        for a, b in pairs:
            if not (0 <= a < n_classes and 0 <= b < n_classes):
                raise ConfigError(f"objective.args.label_pairs: {[a, b]} is out of range for {n_classes} classes.")
            perm[a], perm[b] = b, a
        return perm

    def _view(
        self, name: str, model: nn.Module, x: torch.Tensor, targets: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One augmented view of x (B, C, T) and its soft targets (B, K)."""
        if name == "amplitude_flip":
            return amplitude_flip(x), targets
        if name == "frequency_shift":
            return hilbert_frequency_shift(x, self.delta_f, self._sfreq(model)), targets
        channels = torch.tensor(self._channel_permutation(model, x.shape[1]), device=x.device)
        classes = torch.tensor(self._label_permutation(targets.shape[1]), device=targets.device)
        return x.index_select(1, channels), targets.index_select(1, classes)

    # ----------------------------------------------------------------- representations
    @staticmethod
    def _outputs(model: nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Logits (B, K) and the two branches' representations (B, E) of one view."""
        # the contract's default forward_train gives the logits only: such a model takes the fallback below
        forward_train = getattr(type(model), "forward_train", None)
        if forward_train is not None and forward_train is not MultiBranchModel.forward_train:
            out = model.forward_train(x)
            missing = [key for key in (LOGITS, EMBEDDING, PROJECTION) if key not in out]
            if missing:
                raise ConfigError(
                    f"objective.name=multi_view_contrastive: {type(model).__name__}.forward_train gives "
                    f"{sorted(out)}, without {missing}; it needs the logits and its two branches' (B, E) "
                    "representations as 'embedding' and 'projection'."
                )
            return out
        if not (hasattr(model, "forward_features") and hasattr(model, "forward_head")):
            raise ConfigError(
                f"objective.name=multi_view_contrastive needs a two-branch model (forward_features / forward_train); "
                f"{type(model).__name__} has neither."
            )
        features = model.forward_features(x)
        if len(features) != 2:
            raise ConfigError(
                f"objective.name=multi_view_contrastive contrasts two branches; {type(model).__name__} has "
                f"{len(features)}. Give it a forward_train with 'embedding' and 'projection'."
            )
        a, b = (tokens.mean(dim=1) for tokens in features)  # (B, T_b, D) -> (B, D)
        if a.shape != b.shape:
            raise ConfigError(
                f"objective.name=multi_view_contrastive: {type(model).__name__}'s branches are {a.shape[-1]} and "
                f"{b.shape[-1]} wide; it needs a forward_train projecting both to one width."
            )
        return {LOGITS: model.forward_head(features), EMBEDDING: a, PROJECTION: b}

    def __call__(self, model: nn.Module, x: torch.Tensor, targets: torch.Tensor) -> StepOutput:
        if x.ndim != 3:
            raise DataError(f"objective.name=multi_view_contrastive reads signals (B, C, T), got {tuple(x.shape)}.")
        batches = [(x, targets), *(self._view(name, model, x, targets) for name in self.views)]
        contrast = self.weights["cross_view"] > 0 or self.weights["cross_model"] > 0
        outputs = [self._outputs(model, v) if contrast else {LOGITS: model(v)} for v, _ in batches]
        # summed over the views, as in the MVCNet release (each view's own targets)
        ce = torch.stack([soft_cross_entropy(o[LOGITS], t) for o, (_, t) in zip(outputs, batches)]).sum()
        terms = {"cross_entropy": ce}
        loss = self.weights["cross_entropy"] * ce
        if contrast:
            if self.views:
                terms["cross_view"] = cross_view_loss(outputs, self.temperature)
                loss = loss + self.weights["cross_view"] * terms["cross_view"]
            terms["cross_model"] = cross_model_loss(outputs, self.temperature)
            loss = loss + self.weights["cross_model"] * terms["cross_model"]
        return StepOutput(loss, outputs[0][LOGITS], {k: v.detach() for k, v in terms.items()})


# ------------------------------------------------------------------ regression (forecasting)
@register_objective("mse")
class MeanSquaredError(Objective):
    """Mean squared error of the model's output (B, ...) against real-valued targets of the same shape:
    the forecasting objective (targets (B, H, C_t), the horizon of each window on the standardised
    scale, as the published forecasting models train). The output is returned as ``logits`` for the
    step metric (e.g. MAE)."""

    def __call__(self, model: nn.Module, x: torch.Tensor, targets: torch.Tensor) -> StepOutput:
        outputs = model(x)
        if outputs.shape != targets.shape:
            raise DataError(
                f"objective.name=mse: the model's output {tuple(outputs.shape)} differs from the targets' "
                f"{tuple(targets.shape)}; it needs a model whose output has the targets' shape (a forecasting "
                "model for series data)."
            )
        return StepOutput(F.mse_loss(outputs, targets), outputs, {})
