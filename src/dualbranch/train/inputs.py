"""Input pipelines of :class:`~dualbranch.train.task.ClassificationTask`: what happens to a batch
between the loader and the model, for images and for signals.

* :class:`ImageInputs` — uint8 images (B, C, H, W) -> [0, 1] floats -> batched augmentation
  (translation, flips, RandAugment, erasing) -> Mixup/CutMix -> per-channel normalisation;
* :class:`SignalInputs` — float signals (B, C, T), already preprocessed (alignment, standardisation
  fitted on the training data, see :mod:`dualbranch.train.signal_data`) -> optional time shift,
  amplitude scaling and jitter (:mod:`dualbranch.data.signal_augment`) -> optional Mixup. Image
  augmentation and CutMix make no sense for EEG or sensor series and are never applied; every signal
  augmentation is off by default.

Both hold their constants as non-persistent buffers, so they follow the task to its device and
never enter a checkpoint (the checkpoint holds ``model.*`` only).
"""

from __future__ import annotations

import abc

import torch
from torch import nn

from ..data.augment import AugmentConfig, augment_batch
from ..data.signal_augment import SignalAugment, augment_signals
from .config import AugmentSection
from .mixup import mix_batch

__all__ = ["ImageInputs", "InputPipeline", "SignalInputs"]


class InputPipeline(nn.Module, abc.ABC):
    """Base: ``prepare`` turns a loader batch into model input; ``train_batch`` adds training-time
    augmentation and returns soft targets (B, K) for the loss."""

    @abc.abstractmethod
    def prepare(self, batch: torch.Tensor) -> torch.Tensor: ...

    @abc.abstractmethod
    def train_batch(
        self, batch: torch.Tensor, labels: torch.Tensor, num_classes: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]: ...


class ImageInputs(InputPipeline):
    """uint8 or [0, 1] images (B, C, H, W), normalised by the training set's channel ``mean``/``std``."""

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...], augment: AugmentSection) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1), persistent=False)
        self.section = augment
        self.augment = AugmentConfig(
            augment.translate, augment.hflip, augment.randaug_ops, augment.randaug_magnitude, augment.erase_prob
        )

    def prepare(self, batch: torch.Tensor) -> torch.Tensor:
        """uint8 or [0, 1] float (B, C, H, W) -> normalised float."""
        x = batch.float() / 255 if batch.dtype == torch.uint8 else batch
        return (x - self.mean) / self.std

    def train_batch(
        self, batch: torch.Tensor, labels: torch.Tensor, num_classes: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        x = augment_batch(batch.float() / 255, self.augment, generator)
        aug = self.section
        x, targets = mix_batch(
            x, labels, num_classes, aug.label_smoothing, aug.mixup_alpha, aug.cutmix_alpha,
            aug.mix_prob, aug.switch_prob, generator,
        )  # fmt: skip
        return self.prepare(x), targets


class SignalInputs(InputPipeline):
    """Preprocessed float signals (B, C, T), given to the model as they are; at training time the
    ``augment.signal_*`` options (all off by default) and label smoothing."""

    def __init__(self, augment: AugmentSection | None = None) -> None:
        super().__init__()
        section = augment if augment is not None else AugmentSection(label_smoothing=0.0)
        self.label_smoothing = section.label_smoothing
        self.mixup_alpha = section.signal_mixup
        self.augment = SignalAugment(section.signal_shift, section.signal_scale, section.signal_jitter)

    def prepare(self, batch: torch.Tensor) -> torch.Tensor:
        return batch.float()

    def train_batch(
        self, batch: torch.Tensor, labels: torch.Tensor, num_classes: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        x = augment_signals(self.prepare(batch), self.augment, generator)
        # Mixup only (CutMix's pasted box is an image idea); every batch is mixed when it is on
        return mix_batch(x, labels, num_classes, self.label_smoothing, self.mixup_alpha, 0.0, 1.0, 0.0, generator)
