"""The gradient-histogram branch: HOG descriptors, the RBF kernel ridge classifier, and the hybrids that
fuse them with their learned branches (models/hog_fusion.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import dualbranch
from dualbranch.checkpoint import load_checkpoint, save_checkpoint
from dualbranch.layers.gradient_histograms import BINS, GradientHistograms
from dualbranch.layers.kernel_ridge import fit_rbf_classifier, rbf_kernel
from dualbranch.train.kinds.image_choices import GRADIENT_BRANCH_SET, choose_image_model


def _ramp(angle_degrees: float, size: int = 32) -> torch.Tensor:
    """(1, 3, size, size): brightness rising along ``angle`` (x to the right, y down), so every gradient
    points that way."""
    angle = math.radians(angle_degrees)
    steps = torch.arange(size, dtype=torch.float64)
    y, x = torch.meshgrid(steps, steps, indexing="ij")
    return (x * math.cos(angle) + y * math.sin(angle)).expand(1, 3, size, size).clone()


def _bins(descriptor: torch.Tensor) -> torch.Tensor:
    """(F,) -> (blocks, O, 4 cells): unfold's channel-major order, bin by bin."""
    return descriptor.reshape(-1, BINS, 4)


def test_a_gradient_at_a_bin_centre_votes_into_that_bin_only():
    hog = GradientHistograms((32, 32)).double()
    for bin_index in (0, 4, 7):
        centre = (bin_index + 0.5) * 180 / BINS
        votes = _bins(hog(_ramp(centre))[0])
        assert (votes[:, bin_index] > 0.4).all()  # each 2×2 block: 4 equal cells, L2-normalised -> 0.5
        others = torch.cat([votes[:, :bin_index], votes[:, bin_index + 1 :]], dim=1)
        assert others.abs().max() < 1e-6


def test_a_gradient_between_two_bins_is_shared_linearly_and_orientation_is_unsigned():
    hog = GradientHistograms((32, 32)).double()
    cells = hog.cell_histograms(_ramp(15.0))[0]  # (O, G, G); 15°: a quarter of the way from bin 0 (10°) to bin 1 (30°)
    inner = cells[:, 1:-1, 1:-1]  # cells away from the border, whose pixels do not vote
    torch.testing.assert_close(inner[1] / inner[0], torch.full_like(inner[0], 1 / 3), atol=1e-6, rtol=0)
    assert inner[2:].abs().max() < 1e-6
    # unsigned: a gradient and its opposite are the same edge
    torch.testing.assert_close(hog(_ramp(50.0)), hog(_ramp(230.0)), atol=1e-6, rtol=0)


def test_descriptor_ignores_brightness_and_contrast_and_has_the_documented_length():
    torch.manual_seed(0)
    images = torch.rand(4, 3, 64, 48, dtype=torch.float64)
    hog = GradientHistograms((64, 48)).double()
    out = hog(images)
    cells = min(8, 64 // 2, 48 // 2)
    assert out.shape == (4, (cells - 1) ** 2 * 4 * BINS)
    torch.testing.assert_close(hog(3 * images + 5), out, atol=1e-6, rtol=0)
    assert GradientHistograms((8, 8)).num_features == 3 * 3 * 4 * BINS  # 4 cells of 2 px a side


def _kernel_ridge_oracle(x, y, classes, alpha, gamma, query):
    """Kernel ridge with an unpenalised intercept, on the exact kernel: scores (q, K)."""
    n = len(x)
    kernel = np.exp(-gamma * ((x[:, None] - x[None]) ** 2).sum(-1))
    targets = np.where(np.arange(classes) == y[:, None], 1.0, -1.0)
    centre = np.eye(n) - 1.0 / n
    dual = np.linalg.solve(centre @ kernel @ centre + alpha * np.eye(n), centre @ targets)
    rows = np.exp(-gamma * ((query[:, None] - x[None]) ** 2).sum(-1))  # (q, n)
    rows_centred = (rows - kernel.mean(axis=0)) @ centre  # k(q, X) centred as the training rows were
    return rows_centred @ dual + targets.mean(axis=0)


def test_kernel_ridge_with_every_example_a_landmark_is_exact_kernel_ridge():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 6))
    y = (x[:, 0] + 0.3 * rng.normal(size=40) > 0).astype(int) + (x[:, 1] > 1)
    query = rng.normal(size=(7, 6))
    fit = fit_rbf_classifier(torch.from_numpy(x), torch.from_numpy(y), 3, max_landmarks=100)
    assert len(fit.landmarks) == 40
    scores = rbf_kernel(torch.from_numpy(query).float(), fit.landmarks, fit.gamma) @ fit.weight.T + fit.bias
    expected = _kernel_ridge_oracle(x, y, 3, fit.alpha, fit.gamma, query)
    np.testing.assert_allclose(scores.numpy(), expected, atol=2e-3)
    # fewer landmarks: a Nyström approximation of the same classifier, as many landmarks as asked
    assert len(fit_rbf_classifier(torch.from_numpy(x), torch.from_numpy(y), 3, max_landmarks=10).landmarks) == 10


def _stripes(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Two classes of (n, 3, 32, 32) images: vertical or horizontal stripes, random period, phase and colour."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 2
    position = torch.arange(32, dtype=torch.float32)
    images = []
    for label in labels.tolist():
        period = 4 + 6 * torch.rand((), generator=generator)
        wave = torch.sin(2 * math.pi * position / period + 6 * torch.rand((), generator=generator))
        pattern = wave[None, :].expand(32, 32) if label == 0 else wave[:, None].expand(32, 32)
        images.append(pattern[None] * torch.rand(3, 1, 1, generator=generator))
    return torch.stack(images) + 0.1 * torch.randn(n, 3, 32, 32, generator=generator), labels


def test_fusion_fits_in_closed_form_chooses_on_held_out_images_and_is_saved(tmp_path):
    torch.manual_seed(0)
    model = dualbranch.create_model("hybrid_vgg_vit_tiny_patch8_hog", num_classes=2, landmarks=64)
    x, y = _stripes(48, seed=0)
    held_x, held_y = _stripes(24, seed=1)
    assert model.needs_closed_form_fit()
    with pytest.raises(dualbranch.errors.ConfigError, match="gradient histograms"):
        model.fit_closed_form(x, y)  # images, not their histograms
    chosen = model.fit_closed_form(model.closed_form_inputs(x), y)
    assert chosen["landmarks"] == 48 and not model.needs_closed_form_fit()
    with torch.no_grad():  # an untrained net made confidently random: adding it can only hurt
        for head in model.head:
            head.weight.mul_(500)
    choice = model.choose_fusion(model.fusion_inputs(held_x), held_y)
    assert choice["kernel_accuracy"] == 1.0  # the stripes' orientation is what gradient histograms see
    assert (choice["learned_weight"], choice["kernel_weight"]) == (0.0, 1.0)
    model.eval()
    with torch.no_grad():
        learned, kernel = model.fusion_inputs(held_x).unbind(dim=1)
        logits = model(held_x)
        torch.testing.assert_close(logits, model.fusion_mix[0] * learned + model.fusion_mix[1] * kernel)
        assert (logits.argmax(dim=1) == held_y).all()
        # gradient training reads the learned branches only: the kernel classifier does not move its logits
        model.train()
        torch.manual_seed(3)
        before = model(held_x)
        bias = model.kernel_bias.clone()
        model.kernel_bias += 100.0
        torch.manual_seed(3)
        assert torch.equal(model(held_x), before)
        model.kernel_bias.copy_(bias)
        model.eval()
        path = save_checkpoint(model, tmp_path / "weights.safetensors")
        other = dualbranch.create_model("hybrid_vgg_vit_tiny_patch8_hog", num_classes=2, landmarks=64).eval()
        load_checkpoint(other, path)
        assert torch.equal(other(held_x), logits)


def test_recipe_adds_the_branch_up_to_a_few_thousand_images_only():
    assert choose_image_model((32, 32), 5000, streamed=False)[0] == "hybrid_vgg_vit_tiny_patch8_hog"
    assert choose_image_model((224, 224), 5000, streamed=True)[0] == "hybrid_vgg_vit_photo_hog"
    assert choose_image_model((28, 28), 60_000, streamed=False, channels=1)[0] == "hybrid_vgg_vit_tiny"
    assert choose_image_model((224, 224), GRADIENT_BRANCH_SET + 1, streamed=True)[0] == "hybrid_vgg_vit_photo"
    # larger images held in memory: the image hybrid, which has no such twin
    assert choose_image_model((96, 96), 500, streamed=False)[0] == "hybrid_vgg_vit_small"


@pytest.mark.parametrize("classes", [2, 3])
def test_fine_tuning_carries_the_learned_branches_and_fits_the_kernel_classifier_anew(tmp_path, classes):
    from dualbranch.checkpoint import load_for_finetuning

    torch.manual_seed(0)
    name = "hybrid_vgg_vit_tiny_patch8_hog"
    trained = dualbranch.create_model(name, num_classes=2, landmarks=64)
    x, y = _stripes(48, seed=0)
    trained.fit_closed_form(trained.closed_form_inputs(x), y)
    weights = dualbranch.get_model_entry(name).weights
    path = save_checkpoint(trained.eval(), tmp_path / "weights.safetensors", weights=weights)
    tuned = dualbranch.create_model(name, num_classes=classes, landmarks=32)  # another set: other landmarks
    notes = load_for_finetuning(tuned, path, name)
    assert any("fitted anew" in note for note in notes)
    assert tuned.needs_closed_form_fit() and not tuned.kernel_landmarks.any()  # nothing of the old data
    learned = {k: v for k, v in trained.state_dict().items() if k.startswith(("embed.", "stages."))}
    assert all(torch.equal(tuned.state_dict()[k], v) for k, v in learned.items())
    # and into the same hybrid without the branch: the checkpoint's kernel classifier stays behind
    plain = dualbranch.create_model("hybrid_vgg_vit_tiny_patch8", num_classes=classes)
    load_for_finetuning(plain, path, "hybrid_vgg_vit_tiny_patch8")
    assert all(torch.equal(plain.state_dict()[k], v) for k, v in learned.items())
