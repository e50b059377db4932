"""RocketFormer: its random kernels against a plain loop (ROCKET's transform), its ridge classifier against
scikit-learn, unequal lengths, the closed-form fit and what training and inference each run."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch
from scipy.special import log_softmax

import dualbranch
from dualbranch.export import OnnxModel, export_onnx
from dualbranch.layers import random_kernels
from dualbranch.layers.kernel_views import MultiViewKernels, series_views
from dualbranch.layers.random_kernels import RandomDilatedKernels, longest_stretch, real_lengths
from dualbranch.layers.ridge import RIDGE_ALPHAS, fit_ridge_classifier
from dualbranch.models.rocket_former import RocketFormer
from dualbranch.train.config import load_config
from dualbranch.train.run_model import build_model, model_args


def _longest_positive_stretch(outputs: np.ndarray) -> int:
    longest = stretch = 0
    for value in outputs:
        stretch = stretch + 1 if value > 0 else 0
        longest = max(longest, stretch)
    return longest


def _loop_transform(layer: RandomDilatedKernels, x: np.ndarray, length: int) -> np.ndarray:
    """ROCKET's transform of one series x (C, length), kernel by kernel, as written in the paper, with
    MultiRocket's longest stretch of positive values (a share of the outputs) where the layer reads it."""
    ppv, peak, stretch = [], [], []
    for g, (size, dilation, padding) in enumerate(layer.layout):
        weights, biases = getattr(layer, f"weight_{g}").numpy(), getattr(layer, f"bias_{g}").numpy()
        for w, b in zip(weights, biases):
            outputs = []
            for t in range(-padding, length + padding - (size - 1) * dilation):
                value = b
                for j in range(size):
                    at = t + j * dilation
                    if 0 <= at < length:
                        value += float(np.dot(w[:, j], x[:, at]))
                outputs.append(value)
            outputs = np.asarray(outputs)
            ppv.append((outputs > 0).mean() if len(outputs) else 0.0)
            peak.append(outputs.max() if len(outputs) else 0.0)
            stretch.append(_longest_positive_stretch(outputs) / len(outputs) if len(outputs) else 0.0)
    pooled = {"ppv": ppv, "max": peak, "lspv": stretch}
    return np.concatenate([pooled[pool] for pool in layer.pools])


def test_kernel_features_equal_rocket_transform_also_for_a_zero_padded_series():
    layer = RandomDilatedKernels(n_chans=2, n_times=40, num_kernels=30, seed=3)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 2, 40)).astype(np.float32)
    x[1, :, 26:] = 0.0  # a series of 26 samples, padded to 40
    got = layer(torch.from_numpy(x)).numpy()
    assert got.shape == (2, 60)
    np.testing.assert_allclose(got[0], _loop_transform(layer, x[0], 40), atol=1e-4)
    np.testing.assert_allclose(got[1], _loop_transform(layer, x[1, :, :26], 26), atol=1e-4)
    assert real_lengths(torch.from_numpy(x)).tolist() == [40, 26]


@pytest.mark.parametrize("pools", [("ppv", "max", "lspv"), ("lspv", "ppv")])
def test_longest_positive_stretch_equals_a_loop_in_any_pool_order(pools):
    layer = RandomDilatedKernels(n_chans=2, n_times=50, num_kernels=40, seed=4, pools=pools)
    rng = np.random.default_rng(2)
    x = rng.normal(size=(3, 2, 50)).astype(np.float32)
    x[1, :, 31:] = 0.0
    x[2] = np.abs(x[2]) + 0.1  # long positive stretches
    got = layer(torch.from_numpy(x)).numpy()
    assert got.shape == (3, 40 * len(pools))
    for b, n in ((0, 50), (1, 31), (2, 50)):
        np.testing.assert_allclose(got[b], _loop_transform(layer, x[b, :, :n], n), atol=1e-4)
    with pytest.raises(ValueError, match="pools must be distinct names among"):
        RandomDilatedKernels(1, 50, 4, pools=("ppv", "mean"))


def test_kernels_follow_rocket_draws():
    layer = RandomDilatedKernels(n_chans=1, n_times=500, num_kernels=2000, seed=0)
    assert {size for size, _, _ in layer.layout} == {7, 9, 11}
    biases = torch.cat([getattr(layer, f"bias_{g}") for g in range(len(layer.layout))])
    assert biases.min() >= -1 and biases.max() <= 1 and len(biases) == 2000
    for g, (size, dilation, padding) in enumerate(layer.layout):
        assert (size - 1) * dilation <= 499  # a kernel spans at most the series
        assert padding in (0, (size - 1) * dilation // 2)
        assert torch.allclose(getattr(layer, f"weight_{g}").sum(dim=(1, 2)), torch.zeros(()), atol=1e-4)  # centred


def test_views_are_level_znormalised_shape_and_its_difference_over_the_real_samples():
    rng = np.random.default_rng(1)
    x = (5 + 3 * rng.normal(size=(2, 2, 30))).astype(np.float32)
    x[1, :, 18:] = 0.0  # 18 real samples
    x[0, 1] = 4.0  # a constant channel: no shape, no change
    level, shape, change = series_views(torch.from_numpy(x), torch.tensor([30, 18]))
    assert torch.equal(level, torch.from_numpy(x))
    for b, n in ((0, 30), (1, 18)):
        real = x[b, 0, :n]
        z = (real - real.mean()) / real.std()
        np.testing.assert_allclose(shape[b, 0, :n].numpy(), z, atol=1e-5)
        np.testing.assert_allclose(change[b, 0, :n].numpy(), np.concatenate([[0.0], np.diff(z)]), atol=1e-5)
        assert not shape[b, :, n:].any() and not change[b, :, n:].any()
    assert not shape[0, 1].any() and not change[0, 1].any()


def test_multi_view_kernels_split_the_kernels_and_read_each_view_with_its_own_draw():
    layer = MultiViewKernels(n_chans=2, n_times=40, num_kernels=31, seed=5)
    assert [v.num_kernels for v in layer.views] == [11, 10, 10] and layer.num_features == 93
    assert layer.view_names == ("level", "shape", "change")
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.normal(size=(3, 2, 40)).astype(np.float32))
    x[2, :, 25:] = 0.0
    lengths = real_lengths(x)
    views = series_views(x, lengths)
    expected = [
        RandomDilatedKernels(2, 40, n, 5 + i, pools=("ppv", "max", "lspv"))(v, lengths)
        for i, (n, v) in enumerate(zip((11, 10, 10), views))
    ]
    torch.testing.assert_close(layer(x), torch.cat(expected, dim=1))
    # the shape and change views do not see a series' level or scale; the level view does
    moved = layer(3 * x + 2 * (x != 0))
    torch.testing.assert_close(moved[:, 33:], layer(x)[:, 33:], atol=1e-4, rtol=1e-4)
    assert not torch.allclose(moved[:, :33], layer(x)[:, :33])
    assert [v.num_kernels for v in MultiViewKernels(1, 40, 2).views] == [1, 1]


def test_features_of_mixed_lengths_equal_each_series_read_alone_at_the_full_length():
    # kernel_features sorts series by length and reads each chunk only up to its longest: no feature changes
    rng = np.random.default_rng(1)
    lengths = rng.integers(20, 300, size=40)
    x = torch.zeros(40, 2, 300)
    for i, n in enumerate(lengths):
        x[i, :, :n] = torch.from_numpy(rng.normal(size=(2, n)).astype(np.float32))
    model = RocketFormer(n_chans=2, n_outputs=3, n_times=300, num_kernels=300).eval()
    alone = []
    for i in range(40):
        views = series_views(x[i : i + 1], real_lengths(x[i : i + 1]))  # full length 300, no cropping
        alone.append(torch.cat([k(v, real_lengths(x[i : i + 1])) for k, v in zip(model.kernels.views, views)], 1))
    torch.testing.assert_close(model.kernel_features(x), torch.cat(alone), atol=1e-5, rtol=1e-5)
    # the eager forward reads them so too, and keeps the gradient to the input (the max is differentiable)
    x.requires_grad_(True)
    standardised = model.forward_features(x)[0][:, 0]  # (n, F)
    expected = (torch.cat(alone) - model.feature_mean) / model.feature_std
    torch.testing.assert_close(standardised.detach(), expected, atol=1e-4, rtol=1e-4)
    standardised.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


@pytest.mark.parametrize("features", [200, 8], ids=["fewer-examples-than-features", "more-examples-than-features"])
def test_ridge_equals_scikit_learn_and_brute_force_leave_one_out(features):
    from sklearn.linear_model import Ridge, RidgeClassifierCV

    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, features))
    y = rng.integers(0, 3, 30)
    x[:, 0] += 2 * y
    fit = fit_ridge_classifier(torch.from_numpy(x), torch.from_numpy(y), 3)
    assert fit.alpha == RidgeClassifierCV(alphas=np.asarray(RIDGE_ALPHAS)).fit(x, y).alpha_
    targets = np.where(np.arange(3) == y[:, None], 1.0, -1.0)
    np.testing.assert_allclose(fit.weight.numpy(), Ridge(alpha=fit.alpha).fit(x, targets).coef_, atol=1e-5)
    loo = [
        Ridge(alpha=fit.alpha).fit(np.delete(x, i, 0), np.delete(targets, i, 0)).predict(x[i : i + 1])[0]
        for i in range(30)
    ]
    np.testing.assert_allclose(fit.loo_scores.numpy(), np.asarray(loo), atol=1e-4)
    assert fit.loo_accuracy == float((np.asarray(loo).argmax(1) == y).mean())
    log_p = log_softmax(fit.temperature * np.asarray(loo), axis=1)[np.arange(30), y].mean()
    assert fit.loo_log_likelihood == pytest.approx(log_p, abs=1e-4)


def _waves(n: int, length: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Two classes: a slow or a fast sine, random phase and noise (n, 1, length)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    t = np.arange(length)
    x = np.sin(2 * np.pi * t / np.where(y == 0, 20, 7)[:, None] + rng.uniform(0, 6, (n, 1))) + 0.3 * rng.normal(
        size=(n, length)
    )
    return torch.tensor(x[:, None], dtype=torch.float32), torch.from_numpy(y)


def test_closed_form_fit_classifies_and_training_mode_reads_the_transformer_only():
    torch.manual_seed(0)
    model = dualbranch.create_model("rocketformer", n_times=60, n_outputs=2, num_kernels=500)
    x, y = _waves(40, 60, 0)
    assert model.needs_closed_form_fit()
    chosen = model.fit_closed_form(x, y)
    assert not model.needs_closed_form_fit() and chosen["loo_accuracy"] >= 0.9
    test_x, test_y = _waves(40, 60, 1)
    model.eval()
    with torch.no_grad():
        assert (model(test_x).argmax(1) == test_y).float().mean() >= 0.9
        transformer_only = model.final_layer(None, model.forward_features(test_x)[1].mean(dim=1))
    model.train()
    model.kernels.forward = None  # training never runs the kernels
    with torch.no_grad():
        torch.manual_seed(1)
        assert model(test_x).shape == (40, 2)
    model.eval()
    assert not torch.allclose(transformer_only, torch.zeros(()))
    model.reset_classifier(3)
    assert model.needs_closed_form_fit()


def test_safetensors_keep_the_fitted_branch(tmp_path):
    from dualbranch.checkpoint import load_checkpoint, save_checkpoint

    model = RocketFormer(n_times=60, n_outputs=2, num_kernels=200)
    x, y = _waves(20, 60, 0)
    model.fit_closed_form(x, y)
    path = save_checkpoint(model.eval(), tmp_path / "w.safetensors")
    other = RocketFormer(n_times=60, n_outputs=2, num_kernels=200)
    load_checkpoint(other, path)
    assert not other.needs_closed_form_fit()
    with torch.no_grad():
        assert torch.equal(other.eval()(x), model(x))


def test_bad_options_are_named():
    with pytest.raises(dualbranch.errors.ConfigError, match="num_kernels"):
        RocketFormer(n_times=60, num_kernels=0)
    with pytest.raises(dualbranch.errors.ConfigError, match="depth"):
        RocketFormer(n_times=60, depth=1)


def test_each_run_seed_draws_its_own_kernels_and_model_args_still_win():
    def kernels(*overrides: str) -> torch.Tensor:
        config = load_config(None, ["data.name=uea", "data.uea_name=UnitTest", "model.name=rocketformer", *overrides])
        dataset = config.kind.load(config.data, config.trainer.seed, progress=False)
        args = model_args(config, config.kind, dataset)
        return args["kernel_seed"], build_model("rocketformer", args).kernels.state_dict()["views.0.weight_0"]

    seed0, first = kernels()
    seed3, third = kernels("trainer.seed=3")
    assert (seed0, seed3) == (0, 3) and not torch.equal(first, third)
    assert torch.equal(kernels("trainer.seed=3")[1], third)  # the same seed, the same kernels
    assert kernels("trainer.seed=3", "model.args.kernel_seed=0")[0] == 0  # a set model.args.kernel_seed is kept


@pytest.mark.parametrize("informative", ["lspv", "ppv"])
def test_the_ridge_reads_lspv_only_where_it_makes_the_left_out_classes_likelier(informative, monkeypatch):
    # features made by hand: the class lies in LSPV's columns (the others noise), or in PPV's with LSPV
    # constant (nothing to add: a tie, which goes to ROCKET's two pools)
    model = RocketFormer(n_times=60, n_outputs=2, num_kernels=30)
    lspv = model.kernels.pool_columns(("lspv",))
    rng = np.random.default_rng(0)
    y = np.arange(60) % 2
    features = rng.normal(size=(60, model.kernels.num_features))
    if informative == "lspv":
        features[:, lspv[:5]] += 1.5 * y[:, None]
    else:
        features[:, model.kernels.pool_columns(("ppv",))[:5]] += 1.5 * y[:, None]
        features[:, lspv] = 0.5
    monkeypatch.setattr(model, "kernel_features", lambda x: torch.tensor(features, dtype=torch.float32))
    chosen = model.fit_closed_form(torch.randn(60, 1, 60), torch.from_numpy(y))
    read = model.final_layer.ridge_weight[:, lspv].abs().sum() > 0
    assert chosen["pools"] == (3 if informative == "lspv" else 2) and bool(read) == (informative == "lspv")
    likelihoods = [chosen["loo_log_likelihood_2_pools"], chosen["loo_log_likelihood_3_pools"]]
    assert chosen["pools"] == 2 + int(np.argmax(likelihoods))
    assert len(lspv) == 30 and set(lspv.tolist()).isdisjoint(model.kernels.pool_columns(("ppv", "max")).tolist())


def test_the_traced_longest_stretch_equals_the_eager_one_and_a_loop(monkeypatch):
    rng = np.random.default_rng(3)
    positive = torch.from_numpy(rng.random((4, 5, 300)) < rng.random((4, 5, 1)))  # runs of many lengths
    positive[0, 0] = True  # one run over the whole series
    positive[0, 1] = False  # none
    eager = longest_stretch(positive)
    loop = [
        [max(len(run) for run in "".join("1" if v else "0" for v in row).split("0")) for row in rows]
        for rows in positive.numpy()
    ]
    assert eager.tolist() == loop and loop[0][:2] == [300, 0]
    monkeypatch.setattr(random_kernels, "traced", lambda: True)
    assert longest_stretch(positive).tolist() == loop


@pytest.mark.skipif(
    not all(importlib.util.find_spec(name) for name in ("onnx", "onnxruntime", "onnxscript")),
    reason="needs onnx, onnxscript and onnxruntime (pip install .[deploy])",
)
def test_onnx_export_reads_the_kernels_as_eager_does(tmp_path):
    # few kernels on short series: the exporter's time grows with the kernel groups and scan steps
    model = RocketFormer(n_times=30, n_outputs=2, num_kernels=9).eval()
    x, y = _waves(20, 30, 0)
    x[3, :, 21:] = 0.0  # a shorter series
    model.fit_closed_form(x, y)
    path = export_onnx(model, tmp_path / "rocketformer.onnx")
    with torch.no_grad():
        torch.testing.assert_close(OnnxModel(path)(x[:5]), model(x[:5]), atol=1e-4, rtol=1e-4)
