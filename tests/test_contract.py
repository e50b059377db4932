"""The model contract, checked for every registered classification model at its tiny test size. No exclude
lists. (Forecasting models have their own contract: tests/test_forecasting_models.py.)"""

from __future__ import annotations

import pytest
import torch

import dualbranch
from dualbranch.checkpoint import load_checkpoint, save_checkpoint

MODELS = [n for n in dualbranch.list_models() if dualbranch.get_model_entry(n).task == "classification"]


def _tiny(name: str) -> tuple[torch.nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    model = dualbranch.create_model(name, **dualbranch.get_model_entry(name).tiny)
    x = torch.randn(2, *model.input_shape)
    return model, x


@pytest.mark.parametrize("name", MODELS)
def test_forward_shape_and_finite(name):
    model, x = _tiny(name)
    logits = model(x)
    assert logits.shape == (2, model.num_classes)
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("name", MODELS)
def test_features_per_branch(name):
    model, x = _tiny(name)
    features = model.forward_features(x)
    assert isinstance(features, list) and len(features) == model.num_branches
    assert all(f.ndim == 3 and f.shape[0] == 2 for f in features)
    pooled = model.forward_head(features, pre_logits=True)
    assert pooled.shape == (2, model.num_features)
    assert torch.allclose(model.forward_head(features), model(x), atol=1e-6)


@pytest.mark.parametrize("name", MODELS)
def test_backward_reaches_every_parameter(name):
    """``forward`` reaches every parameter but the declared training-only ones, and the training path
    (``forward_train``) reaches every parameter: no model carries dead weight."""
    model, x = _tiny(name)
    model.train()

    def reached() -> set[str]:
        return {n for n, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}

    every = {n for n, _ in model.named_parameters()}
    model(x).logsumexp(dim=1).sum().backward()
    assert reached() == every - set(model.training_only_parameter_names())
    model.zero_grad(set_to_none=True)
    outputs = model.forward_train(x)
    assert outputs["logits"].shape == (2, model.num_classes)
    sum(v.float().square().mean() for v in outputs.values()).backward()
    assert reached() == every


@pytest.mark.parametrize("name", MODELS)
def test_reset_classifier_zero_gives_pooled_features(name):
    model, x = _tiny(name)
    model.eval()
    with torch.no_grad():
        pooled = model.forward_head(model.forward_features(x), pre_logits=True)
        model.reset_classifier(0)
        assert model.num_classes == 0
        out = model(x)
        assert out.shape == (2, model.num_features)
        assert torch.equal(out, pooled)
        model.reset_classifier(7)
        assert model(x).shape == (2, 7)


@pytest.mark.parametrize("name", MODELS)
def test_eval_is_deterministic(name):
    model, x = _tiny(name)
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x), model(x))


@pytest.mark.parametrize("name", MODELS)
def test_intermediates_and_features_only(name):
    model, x = _tiny(name)
    model.eval()
    _, stages = model.forward_intermediates(x)
    assert len(stages) == model.num_stages
    assert all(len(per_branch) == model.num_branches for per_branch in stages)
    for b, feature_map in enumerate(stages[-1]):
        assert feature_map.shape[:2] == (2, model.branch_widths[b])
    # the last stage, normalised, as tokens, is what forward_features returns
    last = model.forward_intermediates(x, indices=1, norm=True, output_fmt="NLC", intermediates_only=True)
    for got, want in zip(last[0], model.forward_features(x)):
        assert torch.allclose(got, want, atol=1e-6)
    extractor = dualbranch.create_model(name, features_only=True, out_indices=(0, -1), **_entry_tiny(name))
    maps = extractor(x)
    assert len(maps) == 2 and len(maps[0]) == model.num_branches
    assert len(extractor.feature_info) == 2 * model.num_branches
    for info, feature_map in zip(extractor.feature_info, [m for stage in maps for m in stage]):
        assert feature_map.shape[1] == info["num_chs"]


def _entry_tiny(name: str) -> dict:
    return dualbranch.get_model_entry(name).tiny


@pytest.mark.parametrize("name", MODELS)
def test_safetensors_round_trip(name, tmp_path):
    model, x = _tiny(name)
    path = save_checkpoint(model.eval(), tmp_path / "weights.safetensors")
    torch.manual_seed(1)
    other = dualbranch.create_model(name, **dualbranch.get_model_entry(name).tiny).eval()
    load_checkpoint(other, path)
    with torch.no_grad():
        assert torch.equal(other(x), model(x))


@pytest.mark.parametrize("name", MODELS)
def test_torch_export_parity_with_dynamic_batch(name):
    model, x = _tiny(name)
    model.eval()
    batch = torch.export.Dim("batch", min=1, max=64)
    exported = torch.export.export(model, (x,), dynamic_shapes={"x": {0: batch}})
    for inputs in (x, torch.randn(5, *model.input_shape)):
        with torch.no_grad():
            assert torch.allclose(exported.module()(inputs), model(inputs), atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_torch_compile_parity(name):
    model, x = _tiny(name)
    model.eval()
    compiled = torch.compile(model)
    with torch.no_grad():
        assert torch.allclose(compiled(x), model(x), atol=1e-5)


def _new_head(model: torch.nn.Module, num_classes: int, seed: int) -> dict[str, torch.Tensor]:
    """reset_classifier(num_classes) under ``seed``; the parameters it created, by name."""
    before = {id(p) for p in model.parameters()}
    torch.manual_seed(seed)
    model.reset_classifier(num_classes)
    return {n: p.detach() for n, p in model.named_parameters() if id(p) not in before}


@pytest.mark.parametrize("name", MODELS)
def test_reset_classifier_follows_the_head_init_rule(name):
    # the rule (models/base.py init_head): every Linear of a new head gets N(0, 0.02²) weights
    # (truncated far out at ±2, so normal in practice) and zero biases, in every model
    model, _ = _tiny(name)
    head = _new_head(model, 256, seed=5)
    weights = {n: p for n, p in head.items() if p.ndim == 2}
    assert weights, "reset_classifier made no new Linear weights"
    assert {n for n in head if n.endswith("bias")} == {n.removesuffix("weight") + "bias" for n in weights}
    for n, p in head.items():
        if p.ndim == 1:
            assert torch.count_nonzero(p) == 0, f"{n} is not zero"
    for n, w in weights.items():  # every matrix here has ≥ 6,400 entries: the estimates are tight
        std = w.std().item()
        assert abs(std - 0.02) < 0.02 * 0.08, f"{n}: std {std:.4f}, not 0.02"
        assert abs(w.mean().item()) < 0.02 * 0.08
        # a normal has kurtosis 3; PyTorch's default (uniform) init has 1.8
        kurtosis = (((w - w.mean()) / std) ** 4).mean().item()
        assert 2.6 < kurtosis < 3.4, f"{n}: kurtosis {kurtosis:.2f}, not a normal's"


@pytest.mark.parametrize("name", MODELS)
def test_reset_classifier_with_the_same_seed_gives_the_same_head(name):
    model, x = _tiny(name)
    torch.manual_seed(1)  # another model of the same architecture, with other weights
    other = dualbranch.create_model(name, **_entry_tiny(name))
    first, second = _new_head(model, 5, seed=3), _new_head(other, 5, seed=3)
    assert first.keys() == second.keys() and first
    assert all(torch.equal(first[n], second[n]) for n in first)
    assert not torch.equal(next(iter(first.values())), next(iter(_new_head(model, 5, seed=4).values())))
    assert model.eval()(x).shape == (2, 5)
