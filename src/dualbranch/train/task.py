"""The Lightning task around any dualbranch model: the DeiT/CrossViT training recipe.

The model stays a plain ``nn.Module`` (``task.model``); this wrapper adds the data kind's input
pipeline (:class:`~.kinds.InputPipeline`: normalisation, augmentation, targets), the training
objective (:mod:`.objectives`), AdamW (or RAdam, ``optim.optimizer``) with a warm-up + cosine
schedule (or the forecasting papers' halving one, ``optim.schedule``) and no weight decay on norms,
biases and learned tokens, and the kind's scoring (:mod:`.scoring`: the metric logged beside the loss
and the validation loss; accuracy and cross-entropy for a classifier).

Randomness in a training step (augmentation, dropout, stochastic depth) is seeded from
(seed, step, rank), so a resumed run repeats an uninterrupted one exactly. A non-finite loss stops
the run at that step (:mod:`.divergence`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import lightning as L
import numpy as np
import torch
from torch import nn

from ..errors import ConfigError
from ..evaluation.protocols import hold_out
from .config import RunConfig
from .datamodule import batches_of
from .divergence import diverged
from .kinds import InputPipeline, LoaderInputs
from .objectives import Objective
from .scoring import Scoring

__all__ = ["TrainingTask", "fusion_split", "halving", "warmup_cosine"]


def warmup_cosine(step: int, warmup_steps: int, total_steps: int, min_ratio: float) -> float:
    """LR multiplier: linear warm-up from 0, then cosine decay to ``min_ratio``."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def halving(step: int, steps_per_epoch: int) -> float:
    """LR multiplier of the forecasting papers' "type1" schedule: 1 in the first epoch, halved after each
    epoch (0.5 ** epoch), no warm-up (Informer, Autoformer, iTransformer, PatchTST's official code)."""
    return 0.5 ** (step // max(1, steps_per_epoch))


def fusion_split(
    model: nn.Module, train: np.ndarray, has_val: bool, y: np.ndarray, seed: int, class_names: Sequence[str]
) -> tuple[np.ndarray, np.ndarray | None]:
    """(training indices, held-out indices or None) of a fold: a model that chooses how to fuse its branches
    (``choose_fusion``; its share ``fusion_held_out``) gets that share of each class held out of training
    when the fold has no validation split to choose on — unless a class has too few examples to spare one."""
    share = getattr(model, "fusion_held_out", 0.0)
    if has_val or share <= 0 or not hasattr(model, "choose_fusion"):
        return train, None
    try:
        return hold_out(y, train, share, seed, class_names)
    except ConfigError:  # a class of one example: nothing to spare, the branches stay added as they are
        return train, None


class TrainingTask(L.LightningModule):
    """Train / validate a model on (inputs, labels (B,)) batches; ``inputs`` turns the loader's
    batches (uint8 images (B, C, H, W), signals (B, C, T), series windows) into model input and
    targets, ``scoring`` says what is measured (``train_<metric>``, ``val_loss``, ``val_<metric>``)."""

    def __init__(
        self,
        model: nn.Module,
        config: RunConfig,
        scoring: Scoring,
        inputs: InputPipeline,
        objective: Objective,
        steps_per_epoch: int,
        closed_form_examples: tuple[LoaderInputs, torch.Tensor] | None = None,
    ) -> None:
        super().__init__()
        self.model = model
        self.closed_form_examples = closed_form_examples
        self.objective = objective
        self.config = config
        self.scoring = scoring
        self.steps_per_epoch = steps_per_epoch
        self.inputs = inputs
        # torchmetrics keep their states out of the state dict: checkpoints hold model.* only
        self.val_metric = scoring.new_metric()
        self.train_metric = scoring.new_metric()

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        return self.model(self.inputs.prepare(batch))

    def setup(self, stage: str) -> None:
        """A model with parts fitted in closed form (``needs_closed_form_fit`` / ``fit_closed_form``:
        RocketFormer's ridge classifier, ShapeFormer's shapelets, the HOG hybrids' kernel classifier) fits
        them to the prepared, unaugmented training examples (``closed_form_examples``: loader inputs,
        labels) here, before the optimizer is made (the fit may add parameters) and before a resumed run's
        checkpoint is restored over them."""
        needs = getattr(self.model, "needs_closed_form_fit", None)
        if stage != "fit" or needs is None or not needs():
            return
        if self.closed_form_examples is None:
            raise ConfigError(
                f"{type(self.model).__name__} fits parts in closed form: give TrainingTask its training examples "
                "(closed_form_examples=(loader inputs, labels))."
            )
        chosen = self.model.fit_closed_form(*self._gathered(self.closed_form_examples, "closed_form_inputs"))  # type: ignore[operator]
        if self.trainer.is_global_zero:
            print("fitted in closed form: " + ", ".join(f"{k} {v:.4g}" for k, v in chosen.items()), flush=True)

    @torch.no_grad()
    def _gathered(self, examples: tuple[LoaderInputs, torch.Tensor], encoder: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(loader inputs, labels) as model input, batch by batch, each batch passed through the model's
        ``encoder`` method where it has one (what its closed-form fit or fusion choice reads, e.g. an image's
        gradient histograms instead of its pixels): (n, ...), (n,)."""
        encode = getattr(self.model, encoder, None)
        outputs = []
        for batch, _ in batches_of(*examples, self.config.data.eval_batch_size):
            prepared = self.inputs.prepare(batch)
            outputs.append(prepared if encode is None else encode(prepared))
        return torch.cat(outputs), examples[1]

    @torch.no_grad()
    def choose_fusion(
        self, held: tuple[LoaderInputs, torch.Tensor], refit: tuple[LoaderInputs, torch.Tensor] | None = None
    ) -> dict[str, float]:
        """Let the model choose how to fuse its branches (``model.choose_fusion``) on ``held`` (loader inputs,
        labels) that it was not fitted on, then, given ``refit`` (all the fold's training examples, ``held``
        among them), fit its closed-form parts again on all of them. Printed; returns what was chosen."""
        chosen = self.model.choose_fusion(*self._gathered(held, "fusion_inputs"))  # type: ignore[operator]
        print("fusion chosen on held-out examples: " + ", ".join(f"{k} {v:.4g}" for k, v in chosen.items()), flush=True)
        if refit is not None:
            again = self.model.fit_closed_form(*self._gathered(refit, "closed_form_inputs"))  # type: ignore[operator]
            print(
                "fitted in closed form on all training examples: "
                + ", ".join(f"{k} {v:.4g}" for k, v in again.items()),
                flush=True,
            )
        return chosen

    def _step_generator(self) -> torch.Generator:
        seed = (self.config.trainer.seed * 1_000_003 + self.global_step) * 64 + self.global_rank
        torch.manual_seed(seed)  # dropout and stochastic depth
        return torch.Generator(device=self.device).manual_seed(seed)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        inputs, labels = batch
        x, targets = self.inputs.train_batch(inputs, labels, self.scoring.num_classes, self._step_generator())
        out = self.objective(self.model, x, targets)
        loss = out.loss
        self._check_finite(loss)
        self.train_metric(out.logits.detach(), self.inputs.targets(inputs, labels))
        self.log("train_loss", loss, prog_bar=True, on_step=True, on_epoch=True, sync_dist=True)
        for name, value in out.terms.items():
            self.log(f"train_{name}", value, on_step=False, on_epoch=True, sync_dist=True)
        self.log(f"train_{self.scoring.step_metric.name}", self.train_metric, on_step=False, on_epoch=True)
        return loss

    def _check_finite(self, loss: torch.Tensor) -> None:
        """Stop at the first non-finite loss, before its backward pass and optimizer step can spread it to
        the weights (every rank decides alike: one rank's NaN stops them all)."""
        finite = bool(torch.isfinite(loss.detach()).all())
        if self.trainer.world_size > 1:
            finite = self.trainer.strategy.reduce_boolean_decision(finite, all=True)
        if not finite:
            where = (
                f"epoch {self.current_epoch + 1} of {self.trainer.max_epochs}, step {self.global_step + 1} "
                f"(learning rate {self.trainer.optimizers[0].param_groups[0]['lr']:.3g} there)"
            )
            raise diverged("the training loss", float(loss.detach().float().sum()), where, self.config)

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        inputs, labels = batch
        outputs = self(inputs)
        targets = self.inputs.targets(inputs, labels)
        self.val_metric(outputs, targets)
        self.log("val_loss", self.scoring.val_loss(outputs, targets), on_epoch=True, sync_dist=True)
        self.log(f"val_{self.scoring.step_metric.name}", self.val_metric, on_epoch=True, prog_bar=True)

    def configure_optimizers(self) -> dict:
        optim = self.config.optim
        skip = set(getattr(self.model, "no_weight_decay", set)())
        decay, no_decay = [], []
        for name, param in self.model.named_parameters():
            if not param.requires_grad:
                continue
            # norms, biases and learned tokens are not regularised (DeiT / CrossViT recipe)
            (no_decay if param.ndim <= 1 or name in skip else decay).append(param)
        lr = optim.lr
        if optim.scale_lr_by_batch:
            lr = lr * self.config.data.batch_size * self.trainer.world_size / 512
        groups = [{"params": decay, "weight_decay": optim.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
        if optim.optimizer == "radam":
            optimizer = torch.optim.RAdam(groups, lr=lr, betas=optim.betas, decoupled_weight_decay=True)
        else:
            optimizer = torch.optim.AdamW(groups, lr=lr, betas=optim.betas)
        total = max(1, optim.epochs * self.steps_per_epoch)
        warmup = int((optim.warmup_epochs or 0) * self.steps_per_epoch)
        min_ratio = optim.min_lr / lr if lr > 0 else 0.0
        if optim.schedule == "halving":
            per_epoch = self.steps_per_epoch
            scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: halving(step, per_epoch))
        else:
            scheduler = torch.optim.lr_scheduler.LambdaLR(
                optimizer, lambda step: warmup_cosine(step, warmup, total, min_ratio)
            )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
