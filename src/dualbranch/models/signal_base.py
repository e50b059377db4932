"""What the signal models share: braindecode's constructor conventions on top of the model contract.

braindecode (Schirrmeister et al., 2017; the braindecode library) builds every EEG model from
``n_chans``, ``n_outputs``, ``n_times``, ``sfreq`` and optionally ``chs_info`` (MNE's
``info["chs"]``), takes input (batch, n_chans, n_times), names the last layer ``final_layer`` and
receives activations as classes. :class:`SignalModel` keeps those conventions and maps them onto
:class:`~dualbranch.models.base.MultiBranchModel`: ``num_classes`` is an alias of ``n_outputs`` and
``input_shape`` is ``(n_chans, n_times)``.

Shape legend: B batch, C channels (n_chans), T samples (n_times).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar, TypeVar

import torch

from ..errors import ConfigError, DataError, ModelOptionError
from .base import MultiBranchModel, constructor_builder

__all__ = ["SignalModel", "signal_builder"]

ModelT = TypeVar("ModelT", bound="SignalModel")


class SignalModel(MultiBranchModel):
    """Base of the models that read (B, C, T) signals, with braindecode's argument names.

    Args:
        n_chans: channels C. None, as in braindecode: counted from ``chs_info``, or, without it, the
            model's paper setting (``default_n_chans``), so ``create_model(name)`` builds the published
            model while braindecode's ``EEGClassifier`` can build it from ``mne.Epochs`` alone.
        n_outputs: classes (0: no classifier, forward returns pooled features).
        n_times: samples T per example.
        sfreq: sampling frequency in Hz (recorded; the layer sizes are given in samples).
        chs_info: MNE channel descriptions (``raw.info["chs"]``), used for topographic plots.
    """

    default_n_chans: ClassVar[int] = 22  # the channel count of the model's paper (BCI IV 2a for EEG)

    def __init__(
        self,
        n_chans: int | None,
        n_outputs: int,
        n_times: int,
        sfreq: float | None = None,
        chs_info: Sequence[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__()
        if n_chans is None:
            n_chans = len(chs_info) if chs_info is not None else self.default_n_chans
        if chs_info is not None and len(chs_info) != n_chans:
            raise ConfigError(f"chs_info describes {len(chs_info)} channels but n_chans={n_chans}.")
        if n_chans < 1 or n_times < 1 or n_outputs < 0:
            raise ConfigError(f"Need n_chans ≥ 1, n_times ≥ 1, n_outputs ≥ 0; got {n_chans}, {n_times}, {n_outputs}.")
        self.n_chans, self.n_outputs, self.n_times = int(n_chans), int(n_outputs), int(n_times)
        self.sfreq = sfreq
        self.chs_info = list(chs_info) if chs_info is not None else None
        self.input_shape = (self.n_chans, self.n_times)

    @property
    def num_classes(self) -> int:  # type: ignore[override]
        """The dualbranch name for ``n_outputs``."""
        return self.n_outputs

    @num_classes.setter
    def num_classes(self, value: int) -> None:
        self.n_outputs = value

    @property
    def ch_names(self) -> list[str] | None:
        """Channel names from ``chs_info`` (None without it)."""
        return [ch["ch_name"] for ch in self.chs_info] if self.chs_info else None

    def _check_input(self, x: torch.Tensor) -> None:
        if x.ndim != 3 or tuple(x.shape[1:]) != self.input_shape:
            raise DataError(
                f"{type(self).__name__} expects input of shape (batch, n_chans={self.n_chans}, "
                f"n_times={self.n_times}), got {tuple(x.shape)}. Crop or resample the signals to "
                f"{self.n_times} samples, or build the model with n_chans=C, n_times=T for your data."
            )


def _num_classes_alias(overrides: dict[str, Any]) -> dict[str, Any]:
    """``num_classes`` (the dualbranch name) as ``n_outputs`` (braindecode's)."""
    overrides = dict(overrides)
    if "num_classes" in overrides:
        if "n_outputs" in overrides and overrides["n_outputs"] != overrides["num_classes"]:
            raise ModelOptionError("Give n_outputs or its alias num_classes, not both.")
        overrides["n_outputs"] = overrides.pop("num_classes")
    return overrides


def signal_builder(cls: type[ModelT], defaults: dict[str, Any] | None = None) -> Callable[..., ModelT]:
    """A registry builder for ``cls``: maps ``num_classes`` to ``n_outputs``, names unknown options."""
    return constructor_builder(cls, defaults, _num_classes_alias)
