"""The forecasting model contract, for every model registered with task "forecasting" (no exclude lists),
and what each model must match: parameter counts at the official configurations, the reference
DLinear arithmetic, Gateformer's gates and patching.

Shape legend: B batch, L look-back (seq_len), H horizon (pred_len), C variates, D model width.
"""

from __future__ import annotations

import math

import pytest
import torch

import dualbranch
from dualbranch.checkpoint import load_checkpoint, save_checkpoint
from dualbranch.cli.models import model_table
from dualbranch.errors import ConfigError, DataError, ModelOptionError
from dualbranch.flops import count_params
from dualbranch.models.forecasting import ForecastingModel, Gateformer
from dualbranch.models.forecasting.layers import MovingAverage, PatchEmbed, count_patches, sinusoid_positions

FORECASTERS = [n for n in dualbranch.list_models() if dualbranch.get_model_entry(n).task == "forecasting"]


def _tiny(name: str, **overrides) -> tuple[ForecastingModel, torch.Tensor]:
    torch.manual_seed(0)
    model = dualbranch.create_model(name, **{**dualbranch.get_model_entry(name).tiny, **overrides})
    # windows with a level and a spread per variate, as real series have
    x = torch.randn(2, *model.input_shape) * torch.tensor([1.0, 5.0, 0.2])[: model.n_vars] + 3.0
    return model, x


def test_the_forecasting_models_are_registered_and_apart_from_the_classifiers():
    assert {"gateformer", "itransformer", "dlinear"} <= set(FORECASTERS)
    classifiers = [n for n in dualbranch.list_models() if dualbranch.get_model_entry(n).task == "classification"]
    assert classifiers and not set(classifiers) & set(FORECASTERS)
    for name in FORECASTERS:
        assert dualbranch.get_model_entry(name).paper


@pytest.mark.parametrize("name", FORECASTERS)
def test_forward_shape_and_finite(name):
    model, x = _tiny(name)
    assert isinstance(model, ForecastingModel) and model.task == "forecasting"
    y = model(x)
    assert y.shape == (2, *model.output_shape) == (2, model.pred_len, model.n_vars)
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("name", FORECASTERS)
def test_features_and_head_make_the_forecast(name):
    model, x = _tiny(name)
    model.eval()
    with torch.no_grad():
        features = model.forward_features(x)
        assert features.shape == (2, model.n_vars, model.num_features)
        _, loc, scale = model.normalise(x)
        forecast = model.denormalise(model.forward_head(features), loc, scale)
        assert torch.allclose(forecast, model(x), atol=1e-6)


@pytest.mark.parametrize("name", FORECASTERS)
def test_backward_reaches_every_parameter(name):
    model, x = _tiny(name)
    model.train()
    torch.nn.functional.mse_loss(model(x), torch.randn(2, *model.output_shape)).backward()
    unreached = [n for n, p in model.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert not unreached


@pytest.mark.parametrize("name", FORECASTERS)
def test_eval_is_deterministic(name):
    model, x = _tiny(name)
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x), model(x))


@pytest.mark.parametrize("name", FORECASTERS)
def test_instance_norm_makes_the_forecast_shift_and_scale_equivariant(name):
    # model(a·x + b) = a·model(x) + b per variate, a > 0, up to the 1e-5 under the square root
    model, x = _tiny(name, instance_norm=True)
    model = model.double().eval()
    x = x.double()
    a = torch.tensor([0.5, 3.0, 40.0], dtype=torch.float64)[: model.n_vars]
    b = torch.tensor([-2.0, 100.0, 0.25], dtype=torch.float64)[: model.n_vars]
    with torch.no_grad():
        moved, base = model(a * x + b), model(x)
    assert torch.allclose(moved, a * base + b, rtol=1e-4, atol=1e-4)
    assert not torch.allclose(base, base + b)  # the check has teeth: b moves the forecast


@pytest.mark.parametrize("name", FORECASTERS)
def test_target_indices_select_the_forecast_variates(name):
    model, x = _tiny(name)
    single, _ = _tiny(name, target_indices=(2,))
    single.load_state_dict(model.state_dict())  # the same weights; the selection is no parameter
    model.eval(), single.eval()
    with torch.no_grad():
        assert single(x).shape == (2, model.pred_len, 1)
        assert torch.equal(single(x), model(x)[:, :, 2:3])
    with pytest.raises(ConfigError):
        _tiny(name, target_indices=(model.n_vars,))


@pytest.mark.parametrize("name", FORECASTERS)
def test_bad_windows_and_options_are_the_library_errors(name):
    model, x = _tiny(name)
    with pytest.raises(DataError, match="seq_len"):
        model(x.transpose(1, 2))  # (B, C, L) instead of (B, L, C)
    with pytest.raises(ModelOptionError, match="did you mean 'pred_len'"):
        dualbranch.create_model(name, pred_lenn=3)


@pytest.mark.parametrize("name", FORECASTERS)
def test_safetensors_round_trip(name, tmp_path):
    model, x = _tiny(name)
    path = save_checkpoint(model.eval(), tmp_path / "weights.safetensors")
    other, _ = _tiny(name)
    torch.manual_seed(1)
    for p in other.parameters():
        torch.nn.init.normal_(p)
    load_checkpoint(other.eval(), path)
    with torch.no_grad():
        assert torch.equal(other(x), model(x))


@pytest.mark.parametrize("name", FORECASTERS)
def test_torch_export_parity_with_dynamic_batch(name):
    model, x = _tiny(name)
    model.eval()
    batch = torch.export.Dim("batch", min=1, max=64)
    exported = torch.export.export(model, (x,), dynamic_shapes={"x": {0: batch}})
    for inputs in (x, torch.randn(5, *model.input_shape)):
        with torch.no_grad():
            assert torch.allclose(exported.module()(inputs), model(inputs), atol=1e-5)


@pytest.mark.parametrize("name", FORECASTERS)
def test_a_few_steps_of_training_lower_the_error(name):
    # noisy sines of different periods per variate: every model must learn something in 25 steps
    model, _ = _tiny(name)
    steps = torch.arange(400, dtype=torch.float32)
    series = torch.stack([torch.sin(steps * 2 * math.pi / p) for p in (12.0, 20.0, 7.0)], dim=1)
    series = series + 0.05 * torch.randn(series.shape, generator=torch.Generator().manual_seed(0))
    span = model.seq_len + model.pred_len
    windows = series.unfold(0, span, 10).transpose(1, 2)  # (N, C, span) -> (N, span, C)
    x, y = windows[:, : model.seq_len], windows[:, model.seq_len :]
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    with torch.no_grad():
        before = torch.nn.functional.mse_loss(model.eval()(x), y).item()
    model.train()
    for _ in range(25):
        optimiser.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        optimiser.step()
    with torch.no_grad():
        after = torch.nn.functional.mse_loss(model.eval()(x), y).item()
    assert after < 0.2 * before


# --- parameter counts at the official configurations ------------------------------------------------------

# ETTh1, look-back 96: the official scripts' sizes (Gateformer_ETTh1.sh, iTransformer_ETTh1.sh)
OFFICIAL_COUNTS = [
    ("gateformer", {"pred_len": 96}, 133_344),
    ("gateformer", {"pred_len": 192, "temporal_layers": 2, "variate_layers": 2}, 190_016),
    ("gateformer", {"pred_len": 336, "temporal_layers": 2, "variate_layers": 2, "d_model": 128, "d_ff": 128}, 734_288),
    ("gateformer", {"pred_len": 720, "temporal_layers": 2, "variate_layers": 2}, 224_336),
    ("itransformer", {"pred_len": 96}, 841_568),
    ("itransformer", {"pred_len": 192}, 866_240),
    ("itransformer", {"pred_len": 336, "d_model": 512, "d_ff": 512}, 3_379_024),
    ("itransformer", {"pred_len": 720, "d_model": 512, "d_ff": 512}, 3_576_016),
    ("dlinear", {}, 18_624),
    ("dlinear", {"seq_len": 336}, 64_704),
    # with ETTh1's 4 hourly timeF features, as the official Time-Series-Library code builds them
    ("informer", {"n_marks": 4}, 11_328_007),
    ("autoformer", {"n_marks": 4}, 10_535_943),
]


@pytest.mark.parametrize(("name", "overrides", "expected"), OFFICIAL_COUNTS)
def test_parameter_counts_at_the_official_configurations(name, overrides, expected):
    with torch.device("meta"):
        model = dualbranch.create_model(name, **overrides)
    assert count_params(model) == expected


def test_gateformer_parameters_part_by_part():
    with torch.device("meta"):
        model = dualbranch.create_model("gateformer")
    parts = {name: count_params(module) for name, module in model.named_children()}
    assert parts == {
        "global_embed": 96 * 64 + 64,
        "global_drop": 0,
        "patch_embed": 8 * 64,  # no bias
        "temporal_encoder": 25_216,  # qkv 12,480 + proj 4,160 + FFN 8,320 + two LayerNorms 256
        "temporal_head": 13 * 64 * 64 + 64,  # 13 patches: the end is padded by one stride
        "temporal_drop": 0,
        "gate1": 2 * (64 * 64 + 64),
        "variate_encoder": 25_216,
        "gate2": 2 * (64 * 64 + 64),
        "head": 64 * 96 + 96,
    }
    assert sum(parts.values()) == 133_344


def test_model_table_lists_the_forecasters():
    rows = {row["model"]: row for name in FORECASTERS for row in model_table(name)}
    assert rows["gateformer"]["params"] == 133_344 and rows["gateformer"]["input"] == [96, 7]
    assert rows["itransformer"]["gmacs"] > 0


# --- Gateformer ------------------------------------------------------------------------------------------------


def test_gateformer_gates():
    model, x = _tiny("gateformer")
    model.eval()
    gates = model.forward_gates(x)
    assert set(gates) == {"gate1", "gate2"}
    for gate in gates.values():
        assert gate.shape == (2, model.n_vars, model.d_model)
        assert ((gate > 0) & (gate < 1)).all()
    values = model.gate_values(x)
    assert set(values) == {"gate1", "gate2"} and all(0.0 < v < 1.0 for v in values.values())
    assert values["gate1"] == pytest.approx(gates["gate1"].mean().item())


def test_gateformer_gate_one_picks_the_global_branch_when_forced():
    model, x = _tiny("gateformer")
    model.eval()
    with torch.no_grad():
        model.gate1.w_a.bias.fill_(50.0)  # σ(≫0) = 1: only the global branch passes
        features = model.forward_features(x)
        z, _, _ = model.normalise(x)
        embedded = model.global_embed(z.transpose(1, 2))
        expected, _ = model.gate2(embedded, model.variate_encoder(embedded))
    assert torch.allclose(features, expected, atol=1e-5)
    assert model.gate_values(x)["gate1"] == pytest.approx(1.0)


def test_gateformer_patching_pads_the_end_like_the_official_code():
    assert count_patches(96, 8, 8, pad_end=True) == 13 and count_patches(96, 8, 8, pad_end=False) == 12
    embed = PatchEmbed(seq_len=20, d_model=4, patch_len=8, stride=8, pad_end=True, dropout=0.0)
    with torch.no_grad():
        embed.proj.weight.copy_(torch.eye(4, 8))  # token = first four steps of its patch, plus positions
    series = torch.arange(20.0)[None]
    tokens = embed(series) - sinusoid_positions(3, 4)
    assert torch.equal(tokens[0, :, 0], torch.tensor([0.0, 8.0, 16.0]))  # the last patch: 16..19, then 19s
    with torch.device("meta"):
        plain = Gateformer(pad_end=False)
    assert plain.num_patches == 12 and count_params(plain) == 133_344 - 64 * 64


def test_sinusoid_positions():
    table = sinusoid_positions(5, 6)
    assert table.shape == (5, 6)
    assert torch.allclose(table[1, :2], torch.tensor([math.sin(1.0), math.cos(1.0)]))
    assert torch.allclose(
        table[3, 2:4], torch.tensor([math.sin(3 * 10000 ** (-2 / 6)), math.cos(3 * 10000 ** (-2 / 6))])
    )
    assert sinusoid_positions(4, 5).shape == (4, 5)  # odd widths work too


# --- DLinear ---------------------------------------------------------------------------------------------------


def _reference_dlinear(x: torch.Tensor, model) -> torch.Tensor:
    """DLinear by hand: a moving average by cumulative sums over the edge-padded series, two matmuls."""
    k, n = model.kernel_size, model.seq_len
    padded = torch.cat([x[:, :1].expand(-1, (k - 1) // 2, -1), x, x[:, -1:].expand(-1, k // 2, -1)], dim=1)
    sums = torch.cat([torch.zeros_like(padded[:, :1]), padded.cumsum(1)], dim=1)
    trend = (sums[:, k : k + n] - sums[:, :n]) / k  # (B, L, C)
    seasonal = x - trend
    w_s, w_t = model.seasonal_weight.expand(model.n_vars, -1, -1), model.trend_weight.expand(model.n_vars, -1, -1)
    out = torch.stack(
        [seasonal[:, :, c] @ w_s[c].T + trend[:, :, c] @ w_t[c].T for c in range(model.n_vars)], dim=2
    )  # (B, H, C)
    biases = (model.seasonal_bias + model.trend_bias).expand(model.n_vars, -1)  # (C, H)
    return out + biases.T


@pytest.mark.parametrize("individual", [False, True])
def test_dlinear_matches_the_decomposition_arithmetic(individual):
    model, x = _tiny("dlinear", individual=individual, kernel_size=7)
    model = model.double()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_()  # away from the constant initial weights, so every weight matters
        assert torch.allclose(model(x.double()), _reference_dlinear(x.double(), model), atol=1e-10)
    assert count_params(model) == (model.n_vars if individual else 1) * 2 * (32 * 8 + 8)


def test_dlinear_starts_as_the_mean_of_the_window():
    model, _ = _tiny("dlinear")
    assert torch.equal(model.trend_weight, torch.full_like(model.trend_weight, 1 / model.seq_len))
    assert not model.instance_norm  # the paper's DLinear has none


def test_moving_average_keeps_the_length_and_averages():
    x = torch.arange(10.0)[None, :, None]
    assert torch.allclose(MovingAverage(3)(x)[0, 1:-1, 0], x[0, 1:-1, 0])  # a line is its own average
    assert MovingAverage(4)(x).shape == x.shape  # even windows too
    assert torch.allclose(MovingAverage(3)(x)[0, 0, 0], torch.tensor(1 / 3))  # (0 + 0 + 1) / 3
