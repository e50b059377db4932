"""The forecasting model contract, instance normalisation, and a registry builder with helpful errors.

A forecasting model reads a look-back window of C variates and forecasts the next H steps of each
(or of a chosen subset, the targets). Every model registered with ``task="forecasting"`` follows
:class:`ForecastingModel`:

    forward(x)                -> forecast (B, H, C_out) on the scale of x
    forward_features(x)       -> per-variate features (B, C, F), computed from the normalised window
    forward_head(features)    -> normalised forecast (B, H, C) of every variate
    split_marks(x)            -> (variates (B, L, C), time features (B, L, M) or None)
    normalise(x)              -> (x_norm, loc, scale): the instance normalisation of the window
    denormalise(y, loc, scale)-> y * scale + loc, per variate

so ``forward(x) == select_targets(denormalise(forward_head(forward_features(x)), loc, scale))``.
Attributes: n_vars (C), seq_len (L), pred_len (H), target_indices (None: every variate), n_targets
(C_out), n_marks (M), input_shape ``(L, C + M)`` (``(L + H, C + M)`` with ``future_marks``, below),
output_shape ``(H, C_out)``, num_features (F), instance_norm, future_marks.

Time features. With ``n_marks = M > 0`` the window carries, after its C variates, M calendar features
of each step (:mod:`dualbranch.data.time_features`, the official code's ``x_mark``): they are never
normalised, forecast or scored; a model reads them as its paper's code does (iTransformer: extra
tokens; Informer, Autoformer: embeddings) or not at all (DLinear, Gateformer).

Horizon time features. A model whose class sets ``future_marks = True`` (an encoder-decoder such as
Informer or Autoformer, whose decoder embeds the calendar of the steps it forecasts) reads, with
``n_marks > 0``, H more rows after the look-back: input (B, L + H, C + M), where the horizon rows carry
the M time features of the forecast steps (known calendar values, the official code's ``x_mark_dec``)
and their C variate columns are ignored (the forecasting kind serves zeros there). Then
``input_shape`` is ``(L + H, C + M)`` and :meth:`split_marks` gives the variates of the look-back
(B, L, C) and the time features of all L + H steps (B, L + H, M). Without time features (M = 0) the
input is the look-back alone, as for every other model.

Instance normalisation (the "RevIN"-style step of iTransformer and Gateformer: Kim et al., ICLR 2022,
without the affine parameters, as in both official codes): each variate of each window is shifted by
its mean and divided by sqrt(var + 1e-5) (population variance) before the network, and the forecast
is mapped back with the same statistics. It makes a model equivariant to a per-variate shift and
positive scale of its input, up to the epsilon: model(a·x + b) ≈ a·model(x) + b.

Shape legend
    B batch   L look-back length (seq_len)   H horizon (pred_len)   C variates (n_vars)
    C_out forecast variates (n_targets)   F per-variate feature width (num_features)   M time features
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import torch
from torch import nn

from ...errors import ConfigError, DataError, ModelOptionError
from ..base import constructor_builder

__all__ = ["ACTIVATIONS", "NORM_EPS", "ForecastingModel", "forecasting_builder", "instance_stats"]

ModelT = TypeVar("ModelT", bound="ForecastingModel")

#: Added to the variance before the square root, as in the iTransformer and Gateformer code.
NORM_EPS = 1e-5

#: Activations by the names the official scripts use (``--activation gelu``).
ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "gelu": nn.GELU}


def instance_stats(x: torch.Tensor, eps: float = NORM_EPS) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-window, per-variate mean and standard deviation of ``x`` (B, L, C): two (B, 1, C) tensors.

    The mean is detached (as in the official code); the deviation is sqrt(population var + eps).
    """
    loc = x.mean(dim=1, keepdim=True).detach()
    scale = torch.sqrt(torch.var(x - loc, dim=1, keepdim=True, unbiased=False) + eps)
    return loc, scale


def activation_class(name: str) -> type[nn.Module]:
    """The activation class for ``name`` ("relu" or "gelu"); other names are a ModelOptionError."""
    if name not in ACTIVATIONS:
        raise ModelOptionError(f"activation={name!r} is not one of {sorted(ACTIVATIONS)}.")
    return ACTIVATIONS[name]


class ForecastingModel(nn.Module, abc.ABC):
    """Base of the forecasting models: input (B, L, C) -> forecast (B, H, C_out).

    Subclasses call ``super().__init__(n_vars, seq_len, pred_len, target_indices, instance_norm)``,
    set ``num_features`` and implement :meth:`encode` (normalised window -> per-variate features) and
    :meth:`forward_head` (features -> normalised forecast of every variate).

    Args:
        n_vars: variates C in the input window.
        seq_len: look-back length L.
        pred_len: horizon H.
        target_indices: the variates to forecast, as indices into the C inputs (e.g. ``(6,)`` for
            ETT's OT: the "MS" setting of the reference code); None forecasts every variate ("M").
        instance_norm: normalise each window per variate and map the forecast back (see the module
            docstring).
        n_marks: time features M after the variates in each input step (0: none; module docstring).
    """

    task = "forecasting"
    num_features: int
    #: True: the model reads the time features of the H horizon steps too (module docstring).
    future_marks: bool = False

    def __init__(
        self,
        n_vars: int,
        seq_len: int,
        pred_len: int,
        target_indices: Sequence[int] | None = None,
        instance_norm: bool = True,
        n_marks: int = 0,
    ) -> None:
        super().__init__()
        if n_vars < 1 or seq_len < 1 or pred_len < 1 or n_marks < 0:
            raise ConfigError(
                f"Need n_vars, seq_len, pred_len ≥ 1 and n_marks ≥ 0; got {n_vars}, {seq_len}, {pred_len}, {n_marks}."
            )
        self.n_vars, self.seq_len, self.pred_len = int(n_vars), int(seq_len), int(pred_len)
        self.n_marks = int(n_marks)
        self.instance_norm = bool(instance_norm)
        if target_indices is not None:
            targets = tuple(int(i) for i in target_indices)
            bad = [i for i in targets if not 0 <= i < self.n_vars]
            if not targets or bad or len(set(targets)) != len(targets):
                raise ConfigError(
                    f"target_indices={target_indices}: give distinct indices in 0..{self.n_vars - 1} "
                    f"(the variates to forecast), or None for all {self.n_vars}."
                )
            self.target_indices: tuple[int, ...] | None = targets
        else:
            self.target_indices = None
        # the forecast columns to keep, as a tensor so that the selection exports as one gather
        kept = self.target_indices if self.target_indices is not None else range(self.n_vars)
        self.register_buffer("_targets", torch.tensor(list(kept), dtype=torch.long), persistent=False)

    @property
    def n_targets(self) -> int:
        """C_out: the number of forecast variates."""
        return self.n_vars if self.target_indices is None else len(self.target_indices)

    @property
    def reads_horizon_marks(self) -> bool:
        """Whether the input carries the horizon's time features: ``future_marks`` and M > 0."""
        return self.future_marks and self.n_marks > 0

    @property
    def input_shape(self) -> tuple[int, int]:
        """(L, C + M): one input window without the batch (variates, then time features); (L + H, C + M)
        when the model reads the horizon's time features (:attr:`reads_horizon_marks`)."""
        steps = self.seq_len + (self.pred_len if self.reads_horizon_marks else 0)
        return (steps, self.n_vars + self.n_marks)

    @property
    def output_shape(self) -> tuple[int, int]:
        """(H, C_out): one forecast without the batch."""
        return (self.pred_len, self.n_targets)

    @abc.abstractmethod
    def encode(self, z: torch.Tensor, marks: torch.Tensor | None = None) -> torch.Tensor:
        """Normalised window (B, L, C) and its time features (B, L, M) — (B, L + H, M) for a model that reads
        the horizon's (:attr:`reads_horizon_marks`) — or None -> per-variate features (B, C, F)."""

    @abc.abstractmethod
    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """Per-variate features (B, C, F) -> normalised forecast (B, H, C) of every variate."""

    def check_input(self, x: torch.Tensor) -> None:
        """A DataError unless ``x`` is (B, L, C) with this model's L and C."""
        if x.ndim != 3 or tuple(x.shape[1:]) != self.input_shape:
            marks = f" + n_marks={self.n_marks}" if self.n_marks else ""
            future = f" + pred_len={self.pred_len} horizon rows of time features" if self.reads_horizon_marks else ""
            raise DataError(
                f"{type(self).__name__} expects windows of shape (batch, seq_len={self.seq_len}{future}, "
                f"n_vars={self.n_vars}{marks}), got {tuple(x.shape)}. Build the model with seq_len=L, n_vars=C "
                f"for your windows (time runs along dimension 1, variates along dimension 2)."
            )

    def split_marks(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Window (B, L, C + M) -> variates (B, L, C) and time features (B, L, M), None without them.
        With the horizon's time features, (B, L + H, C + M) -> (B, L, C) and (B, L + H, M): the horizon
        rows' variate columns are never read."""
        if not self.n_marks:
            return x, None
        return x[:, : self.seq_len, : self.n_vars], x[..., self.n_vars :]

    def normalise(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """(B, L, C) -> (normalised (B, L, C), loc (B, 1, C), scale (B, 1, C)); identity (None, None)
        without instance normalisation."""
        if not self.instance_norm:
            return x, None, None
        loc, scale = instance_stats(x)
        return (x - loc) / scale, loc, scale

    @staticmethod
    def denormalise(y: torch.Tensor, loc: torch.Tensor | None, scale: torch.Tensor | None) -> torch.Tensor:
        """(B, H, C) on the normalised scale -> the scale of the input window (``y * scale + loc``)."""
        if loc is None or scale is None:
            return y
        return y * scale + loc

    def select_targets(self, y: torch.Tensor) -> torch.Tensor:
        """(B, H, C) -> (B, H, C_out): the forecast variates (all of them without target_indices)."""
        if self.target_indices is None:
            return y
        return y.index_select(2, self._targets)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Window (B, L, C) -> per-variate features (B, C, F) that the head reads."""
        self.check_input(x)
        values, marks = self.split_marks(x)
        z, _, _ = self.normalise(values)
        return self.encode(z, marks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Window (B, L, C) -> forecast (B, H, C_out) on the scale of ``x``."""
        self.check_input(x)
        values, marks = self.split_marks(x)
        z, loc, scale = self.normalise(values)
        y = self.forward_head(self.encode(z, marks))  # (B, H, C)
        return self.select_targets(self.denormalise(y, loc, scale))

    def extra_repr(self) -> str:
        targets = "all" if self.target_indices is None else list(self.target_indices)
        return (
            f"n_vars={self.n_vars}, seq_len={self.seq_len}, pred_len={self.pred_len}, targets={targets}, "
            f"instance_norm={self.instance_norm}" + (f", n_marks={self.n_marks}" if self.n_marks else "")
        )


def forecasting_builder(cls: type[ModelT], defaults: dict[str, Any] | None = None) -> Callable[..., ModelT]:
    """A registry builder for ``cls``: keyword overrides of its constructor, unknown ones named."""
    return constructor_builder(cls, defaults)
