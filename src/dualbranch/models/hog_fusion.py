"""Image hybrids with a third, closed-form branch: gradient histograms classified by an RBF kernel ridge.

On a few thousand photos of objects, the classic HOG + RBF SVM (Dalal and Triggs, CVPR 2005) beats
networks trained from scratch in the same time: its descriptor builds in what a network must learn
from data it does not have. The two make different mistakes, so their sum is better than either —
the idea of ROCKET's kernel branch in :mod:`.rocket_former`, for images:

* **learned branches** — the image hybrid's CNN and Transformer branches (:class:`~.builder.MultiBranchNet`),
  trained by gradient descent as usual;
* **gradient-histogram branch** — HOG descriptors (:class:`~dualbranch.layers.gradient_histograms.GradientHistograms`)
  scored by an RBF kernel ridge classifier fitted in closed form before the first update
  (:func:`~dualbranch.layers.kernel_ridge.fit_rbf_classifier`; every training image a landmark up to
  ``landmarks``), its scores calibrated by a temperature chosen on its leave-one-out scores.

Gradient training sees the learned branches' logits alone (the third branch has no parameters).
Inference adds them: logits = a · learned + b · τ · kernel scores, with (a, b) chosen after training by
the lowest cross-entropy on validation images (:func:`~dualbranch.layers.branch_choice.choose_branch_weight`;
without a validation split the calibrated sum, a = b = 1, stays): (1, 0) where the histograms would only
hurt, (0, 1) where the network learned nothing the histograms lack.

Shape legend: B batch, C×H×W image, T_b tokens and D_b width of learned branch b, F descriptor length,
m landmarks, K classes.
"""

from __future__ import annotations

from typing import Any, Literal

import torch

from ..errors import ConfigError
from ..layers.branch_choice import choose_branch_weight
from ..layers.gradient_histograms import GradientHistograms
from ..layers.kernel_ridge import fit_rbf_classifier, rbf_kernel
from ..registry import WeightConfig, register_model
from .builder import MultiBranchNet
from .builder_config import MultiBranchConfig
from .hybrid import HYBRID_ENDS, HYBRID_VGG_VIT_PHOTO, HYBRID_VGG_VIT_TINY, HYBRID_VGG_VIT_TINY_PATCH8, PAPER

__all__ = ["LANDMARKS", "HogFusionNet"]

LANDMARKS = 6000  # training images the kernel keeps (all of a few thousand; a Nyström draw of more)
_MIX_WEIGHTS = (0.0, 0.25, 0.5, 1.0)
FITTED = ("kernel_*", "fusion_mix")  # buffers fitted to the training data, never carried by fine-tuning
_ENDS = {**HYBRID_ENDS, "fitted": FITTED}
_TINY = {"num_classes": 10, "landmarks": 16}


class HogFusionNet(MultiBranchNet):
    """A :class:`~.builder.MultiBranchNet` plus the gradient-histogram branch; see the module docstring.

    Args:
        config: the learned branches' :class:`~.builder_config.MultiBranchConfig`.
        landmarks: m, training images the kernel classifier compares with (its size in the weights:
            m × F floats).
        **overrides: fields of ``config`` (``img_size``, ``num_classes``, ``in_chans``, ...).

    Unlike RocketFormer it declares no ``fusion_held_out``: without a validation split nothing is held out
    of the learned branches' training (a few hundred photos cannot spare a fifth), and the calibrated sum
    stays, a kernel branch that learned nothing having a temperature near 0.
    """

    def __init__(self, config: MultiBranchConfig | None = None, landmarks: int = LANDMARKS, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        if landmarks < 1:
            raise ConfigError(f"landmarks must be 1 or more, got {landmarks}.")
        self.gradients = GradientHistograms(tuple(self.input_shape[1:]))  # type: ignore[arg-type]
        self.landmarks = landmarks
        self.learned_branches = self.num_branches
        self.num_branches += 1
        self.branch_widths = (*self.branch_widths, landmarks)
        self.num_features = sum(self.branch_widths)
        self.register_buffer("kernel_landmarks", torch.zeros(landmarks, self.gradients.num_features))
        self.register_buffer("kernel_gamma", torch.ones(()))
        self._make_kernel_head(self.num_classes)

    def _make_kernel_head(self, num_classes: int) -> None:
        """Unfitted kernel classifier buffers for ``num_classes`` (zero scores until fitted)."""
        device = self.kernel_landmarks.device
        self.register_buffer("kernel_weight", torch.zeros(num_classes, self.landmarks, device=device))
        self.register_buffer("kernel_bias", torch.zeros(num_classes, device=device))
        self.register_buffer("kernel_temperature", torch.ones((), device=device))
        self.register_buffer("kernel_fitted", torch.zeros((), dtype=torch.bool, device=device))
        # (a, b): logits = a · learned + b · τ · kernel scores; the plain sum until chosen
        self.register_buffer("fusion_mix", torch.ones(2, device=device))

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        """New learned heads and an unfitted kernel classifier for ``num_classes`` (0: no heads)."""
        super().reset_classifier(num_classes, global_pool)
        self._make_kernel_head(num_classes)

    # ----------------------------------------------------------------- closed-form fit
    def needs_closed_form_fit(self) -> bool:
        """Whether the kernel classifier is still to be fitted (``fit_closed_form``)."""
        return self.num_classes > 0 and not bool(self.kernel_fitted)

    @torch.no_grad()
    def closed_form_inputs(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) images -> (B, F) their gradient histograms: what :meth:`fit_closed_form` reads."""
        self._check_input(x)
        return self.gradients(x)

    @torch.no_grad()
    def fit_closed_form(self, histograms: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
        """Fit the kernel classifier to the training images' ``histograms`` (n, F) (:meth:`closed_form_inputs`)
        and ``labels`` (n,). Returns what was chosen."""
        if histograms.ndim != 2 or histograms.shape[1] != self.gradients.num_features:
            raise ConfigError(
                f"fit_closed_form takes gradient histograms (n, {self.gradients.num_features}) made by "
                f"closed_form_inputs(images), got {tuple(histograms.shape)}."
            )
        fit = fit_rbf_classifier(histograms, labels, self.num_classes, self.landmarks)
        count = len(fit.landmarks)
        self.kernel_landmarks.zero_()
        self.kernel_landmarks[:count] = fit.landmarks
        self.kernel_weight.zero_()
        self.kernel_weight[:, :count] = fit.weight
        self.kernel_bias.copy_(fit.bias)
        self.kernel_gamma.fill_(fit.gamma)
        self.kernel_temperature.fill_(fit.temperature)
        self.kernel_fitted.fill_(True)
        return {
            "landmarks": count,
            "alpha": fit.alpha,
            "temperature": fit.temperature,
            "loo_accuracy": fit.loo_accuracy,
        }

    @torch.no_grad()
    def fusion_inputs(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, 2, K): the learned branches' logits and the kernel branch's calibrated
        scores, what :meth:`choose_fusion` reads."""
        was_training = self.training
        self.eval()
        features = self.forward_features(x)
        learned = super().forward_head(features[: self.learned_branches])
        self.train(was_training)
        return torch.stack([learned, self._kernel_logits(features[-1][:, 0])], dim=1)

    @torch.no_grad()
    def choose_fusion(self, fusion_inputs: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
        """Choose (a, b) on held-out images' :meth:`fusion_inputs` (n, 2, K) and ``labels`` (n,): the lowest
        cross-entropy of a · learned + b · kernel over (1, w) and (w, 1), w in 0, ¼, ½, 1. Kept in the
        ``fusion_mix`` buffer, so saved with the weights. Returns the mix and the held-out accuracies."""
        if self.needs_closed_form_fit():
            raise ConfigError("choose_fusion needs the kernel branch fitted first: call fit_closed_form.")
        learned, kernel = fusion_inputs[:, 0], fusion_inputs[:, 1]
        add_kernel = choose_branch_weight(learned, kernel, labels, _MIX_WEIGHTS)
        add_learned = choose_branch_weight(kernel, learned, labels, _MIX_WEIGHTS)
        if add_learned.cross_entropy[add_learned.weight] < add_kernel.cross_entropy[add_kernel.weight]:
            mix, accuracy = (add_learned.weight, 1.0), add_learned.accuracy[add_learned.weight]
        else:
            mix, accuracy = (1.0, add_kernel.weight), add_kernel.accuracy[add_kernel.weight]
        self.fusion_mix.copy_(torch.tensor(mix))
        return {
            "learned_weight": mix[0], "kernel_weight": mix[1], "held_out": len(labels),
            "learned_accuracy": add_kernel.accuracy[0.0], "kernel_accuracy": add_learned.accuracy[0.0],
            "chosen_accuracy": accuracy,
        }  # fmt: skip

    # ----------------------------------------------------------------- forward
    def _kernel_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, 1, m) kernel values against the landmarks."""
        return rbf_kernel(self.gradients(x), self.kernel_landmarks, self.kernel_gamma)[:, None]

    def _kernel_logits(self, kernel: torch.Tensor) -> torch.Tensor:
        """(B, m) kernel values -> (B, K) calibrated kernel ridge scores."""
        return self.kernel_temperature * (kernel @ self.kernel_weight.T + self.kernel_bias)

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """(B, C, H, W) -> the learned branches' normalised tokens (B, T_b, D_b), then the kernel values
        against the landmarks (B, 1, m)."""
        return [*super().forward_features(x), self._kernel_features(x)]

    def forward_head(self, features: list[torch.Tensor], pre_logits: bool = False) -> torch.Tensor:
        """Learned branches' logits, plus the kernel branch's in eval mode (gradient training sees the learned
        logits alone); ``pre_logits``: the pooled learned branches and the kernel values (B, Σ D_b + m)."""
        learned = super().forward_head(features[: self.learned_branches], pre_logits)
        kernel = features[-1][:, 0]  # (B, m)
        if pre_logits or self.num_classes == 0:
            return torch.cat([learned, kernel], dim=1)
        if self.training:
            return learned
        return self.fusion_mix[0] * learned + self.fusion_mix[1] * self._kernel_logits(kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and self.num_classes > 0:  # gradient training: no histograms to compute
            return super().forward_head(super().forward_features(x))
        return self.forward_head(self.forward_features(x))

    def token_grid(self, branch: int) -> tuple[int, int]:
        return (1, 1) if branch == self.learned_branches else super().token_grid(branch)

    def forward_intermediates(
        self,
        x: torch.Tensor,
        indices: int | list[int] | None = None,
        norm: bool = False,
        output_fmt: Literal["NCHW", "NLC"] = "NCHW",
        intermediates_only: bool = False,
    ) -> tuple[list[torch.Tensor], list[list[torch.Tensor]]] | list[list[torch.Tensor]]:
        """As :class:`~.token_model.TokenBranchModel`'s, each stage also holding the kernel values (the same at
        every stage): a (B, m, 1, 1) map ("NCHW") or (B, 1, m) tokens ("NLC")."""
        kernel = self._kernel_features(x)
        kernel_out = kernel.transpose(1, 2)[..., None] if output_fmt == "NCHW" else kernel  # (B, m, 1, 1)
        learned = super().forward_intermediates(x, indices, norm, output_fmt, intermediates_only)
        if intermediates_only:
            return [[*stage, kernel_out] for stage in learned]  # type: ignore[misc]
        final, stages = learned  # type: ignore[misc]
        return [*final, kernel], [[*stage, kernel_out] for stage in stages]


@register_model(paper=PAPER, tiny=_TINY, weights=WeightConfig((3, 128, 128), **_ENDS))
def hybrid_vgg_vit_photo_hog(**overrides: Any) -> HogFusionNet:
    """``hybrid_vgg_vit_photo`` plus a gradient-histogram branch (HOG, RBF kernel ridge in closed form): the
    photo default for a few thousand photos; 3×128×128 input by default."""
    return HogFusionNet(HYBRID_VGG_VIT_PHOTO, **overrides)


@register_model(paper=PAPER, tiny=_TINY, weights=WeightConfig((1, 28, 28), **_ENDS))
def hybrid_vgg_vit_tiny_hog(**overrides: Any) -> HogFusionNet:
    """``hybrid_vgg_vit_tiny`` plus a gradient-histogram branch: small images (28 px) in a set of a few
    thousand; 28×28×1 input by default."""
    return HogFusionNet(HYBRID_VGG_VIT_TINY, **overrides)


@register_model(paper=PAPER, tiny=_TINY, weights=WeightConfig((3, 32, 32), **_ENDS))
def hybrid_vgg_vit_tiny_patch8_hog(**overrides: Any) -> HogFusionNet:
    """``hybrid_vgg_vit_tiny_patch8`` plus a gradient-histogram branch: small images (32 or 64 px) in a set of a
    few thousand; 32×32×3 input by default."""
    return HogFusionNet(HYBRID_VGG_VIT_TINY_PATCH8, **overrides)
