"""Informer (Zhou et al., AAAI 2021) and Autoformer (Wu et al., NeurIPS 2021): their mechanisms against
direct oracles, parameter counts at the official ETTh1 setting, and outputs against the official
Time-Series-Library code (recorded in tests/data/encdec_reference.json, see tests/data/README.md).

The generic contract tests (shapes, export, checkpoints, training) cover both through the registry
(tests/test_forecasting_models.py); the run pipeline's horizon time features: tests/test_horizon_marks.py.

Shape legend: B batch, H heads, L steps (queries), S keys, E head width, D width, C variates, M time
features, k lags, u active queries.
"""

from __future__ import annotations

import json
import math
import zlib
from pathlib import Path

import pytest
import torch

import dualbranch
from dualbranch.errors import ConfigError
from dualbranch.flops import count_params
from dualbranch.models.forecasting.autocorrelation import (
    AutoCorrelation,
    SeasonalLayerNorm,
    lagged_correlation,
)
from dualbranch.models.forecasting.informer import Distilling, distilled_length
from dualbranch.models.forecasting.layers import SeriesDecomposition
from dualbranch.models.forecasting.probsparse import ProbSparseAttention, sparse_counts

REFERENCE = Path(__file__).parent / "data" / "encdec_reference.json"


def _qkv(b: int, h: int, lq: int, lk: int, e: int, seed: int = 0) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(b, h, n, e, generator=g, dtype=torch.float64) for n in (lq, lk, lk))


def _full_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool) -> torch.Tensor:
    """softmax(q kᵀ / √E) v, query i seeing keys 0..i when causal: (B, H, L, E)."""
    scores = torch.einsum("bhie,bhje->bhij", q, k) / math.sqrt(q.shape[-1])
    if causal:
        scores = scores.masked_fill(torch.ones_like(scores, dtype=torch.bool).triu(1), float("-inf"))
    return torch.einsum("bhij,bhje->bhie", torch.softmax(scores, dim=-1), v)


# --- ProbSparse attention ---------------------------------------------------------------------------------


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("training", [False, True])
def test_probsparse_equals_full_attention_when_every_query_is_active(causal, training):
    length = 12
    attention = ProbSparseAttention(factor=10, n_queries=length, n_keys=length, causal=causal).train(training)
    assert attention.n_active == length  # u = 10·⌈ln 12⌉ capped at L
    q, k, v = _qkv(2, 3, length, length, 4)
    assert torch.allclose(attention(q, k, v), _full_attention(q, k, v, causal), atol=1e-12)


def test_probsparse_cross_attention_with_more_keys_equals_full_attention():
    attention = ProbSparseAttention(factor=10, n_queries=6, n_keys=9).eval()
    q, k, v = _qkv(2, 2, 6, 9, 4)
    assert torch.allclose(attention(q, k, v), _full_attention(q, k, v, False), atol=1e-12)


@pytest.mark.parametrize("causal", [False, True])
def test_probsparse_lazy_queries_get_the_mean_or_running_sum_of_the_values(causal):
    # u = 1·⌈ln 20⌉ = 3 of 20 queries active: those rows are full attention, the others the lazy value
    length = 20
    attention = ProbSparseAttention(factor=1, n_queries=length, n_keys=length, causal=causal).eval()
    assert (attention.n_active, attention.n_sampled) == (3, 3)
    q, k, v = _qkv(2, 3, length, length, 5, seed=1)
    out = attention(q, k, v)
    full = _full_attention(q, k, v, causal)
    lazy = v.cumsum(2) if causal else v.mean(2, keepdim=True).expand_as(v)
    is_full = (out - full).abs().amax(-1) < 1e-12  # (B, H, L)
    is_lazy = (out - lazy).abs().amax(-1) < 1e-12
    assert (is_full | is_lazy).all()
    # at most u = 3 queries per window and head are not lazy (a causal query 0 is both: its one key's value)
    assert ((~is_lazy).sum(-1) <= 3).all() and (is_full.sum(-1) >= 3).all()
    assert (~is_lazy).any()


def test_probsparse_picks_the_queries_with_the_largest_sparsity_measurement():
    # 20 queries, 3 keys, c = 2: u = 2·⌈ln 20⌉ = 6 active queries, U = 3 sampled keys; with the sample set
    # to every key, M̄ = max − mean is exact, so the active queries are its top 6
    attention = ProbSparseAttention(factor=2, n_queries=20, n_keys=3).eval()
    assert (attention.n_active, attention.n_sampled) == (6, 3)
    attention.eval_sample.copy_(torch.arange(3).expand(20, -1))
    q, k, v = _qkv(1, 1, 20, 3, 4, seed=2)
    products = q @ k.transpose(-2, -1)
    order = (products.amax(-1) - products.mean(-1))[0, 0].argsort()  # (L_Q,) smallest measure first
    out = attention(q, k, v)
    assert torch.allclose(out[0, 0, order[:14]], v[0, 0].mean(0).expand(14, -1), atol=1e-12)
    assert torch.allclose(out[0, 0, order[14:]], _full_attention(q, k, v, False)[0, 0, order[14:]], atol=1e-12)


def test_probsparse_counts_and_draws():
    assert sparse_counts(5, 96, 96) == (25, 25)  # 5·⌈ln 96⌉
    assert sparse_counts(5, 144, 49) == (25, 20)  # decoder queries, distilled encoder keys
    assert sparse_counts(5, 10, 10) == (10, 10)  # capped at L
    attention = ProbSparseAttention(5, 96, 96)
    again = ProbSparseAttention(5, 96, 96)
    assert torch.equal(attention.eval_sample, again.eval_sample)  # the evaluation draw is fixed
    torch.manual_seed(0)
    first = attention.train().sample(torch.device("cpu"))
    assert not torch.equal(first, attention.sample(torch.device("cpu")))  # training draws afresh
    with pytest.raises(ConfigError):
        ProbSparseAttention(5, 10, 12, causal=True)
    with pytest.raises(ConfigError, match="built for 96"):
        attention(*_qkv(1, 1, 50, 50, 2))


def test_distilling_shortens_the_encoder_like_the_official_code():
    # the official padding of 2 then max-pooling: 96 -> 49 -> 26 steps
    assert distilled_length(96) == 49 and distilled_length(49) == 26
    distil = Distilling(8).eval()
    for steps in (96, 49, 48, 17, 5):
        assert distil(torch.randn(2, steps, 8)).shape == (2, distilled_length(steps), 8)


# --- auto-correlation ---------------------------------------------------------------------------------------


def _direct_correlation(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """R(τ) = Σ_t q(t + τ) k(t), indices modulo L, by a loop over τ: (…, L)."""
    length = q.shape[-1]
    return torch.stack([(torch.roll(q, -tau, -1) * k).sum(-1) for tau in range(length)], dim=-1)


@pytest.mark.parametrize("length", [16, 15])
def test_fft_correlation_equals_the_direct_lagged_sum(length):
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(2, 3, 4, length, generator=g, dtype=torch.float64), torch.randn(2, 3, 4, length, generator=g)
    assert torch.allclose(lagged_correlation(q, k.double()), _direct_correlation(q, k.double()), atol=1e-10)


def _direct_auto_correlation(q, k, v, factor: int, shared: bool) -> torch.Tensor:
    """Auto-correlation without FFT: direct lagged sums, the top ⌊c·ln L⌋ lags of the mean over heads and
    channels (per window, or of the batch mean), softmax weights, values rolled by each lag."""
    q, k, v = (t.permute(0, 2, 3, 1) for t in (q, k, v))  # (B, L, H, E) -> (B, H, E, L)
    mean = _direct_correlation(q, k).mean(dim=(1, 2))  # (B, L)
    n = int(factor * math.log(q.shape[-1]))
    out = torch.zeros_like(v)
    for b in range(q.shape[0]):
        lags = mean.mean(0).topk(n).indices if shared else mean[b].topk(n).indices
        weights = torch.softmax(mean[b, lags], dim=0)
        for lag, weight in zip(lags.tolist(), weights):
            out[b] += weight * torch.roll(v[b], -lag, -1)  # v(t + τ)
    return out.permute(0, 3, 1, 2)  # (B, H, E, L) -> (B, L, H, E)


@pytest.mark.parametrize("training", [False, True])
def test_auto_correlation_equals_the_direct_computation(training):
    g = torch.Generator().manual_seed(3)
    q, k, v = (torch.randn(3, 24, 2, 4, generator=g, dtype=torch.float64) for _ in range(3))
    layer = AutoCorrelation(factor=2).train(training)
    expected = _direct_auto_correlation(q, k, v, 2, shared=training)
    assert torch.allclose(layer(q, k, v), expected, atol=1e-10)


def test_auto_correlation_finds_the_period_of_a_periodic_series():
    steps = torch.arange(48, dtype=torch.float64)
    series = torch.sin(2 * math.pi * steps / 12)[None, :, None, None]  # (1, L, 1, 1), period 12
    correlation = lagged_correlation(series.permute(0, 2, 3, 1), series.permute(0, 2, 3, 1))[0, 0, 0]
    assert set(correlation.topk(4).indices.tolist()) == {0, 12, 24, 36}


def test_cross_auto_correlation_pads_or_cuts_the_keys():
    g = torch.Generator().manual_seed(4)
    q = torch.randn(2, 20, 2, 3, generator=g, dtype=torch.float64)
    k, v = torch.randn(2, 12, 2, 3, generator=g, dtype=torch.float64), torch.randn(2, 12, 2, 3, generator=g)
    layer = AutoCorrelation(factor=2).eval()
    padded = torch.cat([k, torch.zeros(2, 8, 2, 3, dtype=torch.float64)], 1)
    v = v.double()
    padded_v = torch.cat([v, torch.zeros(2, 8, 2, 3, dtype=torch.float64)], 1)
    assert torch.allclose(layer(q, k, v), _direct_auto_correlation(q, padded, padded_v, 2, False), atol=1e-10)
    assert torch.allclose(layer(q[:, :10], k, v), _direct_auto_correlation(q[:, :10], k[:, :10], v[:, :10], 2, False))


# --- decomposition ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kernel", [25, 7, 4])
def test_series_decomposition_sums_back_to_the_input(kernel):
    x = torch.randn(2, 96, 7, dtype=torch.float64)
    seasonal, trend = SeriesDecomposition(kernel)(x)
    assert seasonal.shape == trend.shape == x.shape
    assert torch.allclose(seasonal + trend, x, atol=1e-12)
    # an interior step's trend is the plain mean of the kernel-wide window centred on it
    start = 40 - (kernel - 1) // 2
    assert torch.allclose(trend[:, 40], x[:, start : start + kernel].mean(1), atol=1e-12)


def test_seasonal_layer_norm_has_zero_time_mean():
    norm = SeasonalLayerNorm(8).double()
    out = norm(torch.randn(3, 20, 8, dtype=torch.float64) * 5 + 2)
    assert torch.allclose(out.mean(1), torch.zeros(3, 8, dtype=torch.float64), atol=1e-12)


# --- parameter counts at ETTh1's official setting -----------------------------------------------------------

# 7 variates, 4 hourly timeF features, look-back 96, label 48, horizon 96; d_model 512, 8 heads, e_layers 2,
# d_layers 1, d_ff 2048: the counts of the official Time-Series-Library models built with these arguments
D, FF, C, M = 512, 2048, 7, 4
EMBED = 3 * C * D + M * D  # width-3 convolution without bias, time-feature linear without bias
ATTENTION = 4 * (D * D + D)
INFORMER_PARTS = {
    "enc_embed": EMBED,
    "dec_embed": EMBED,
    "encoder": 2 * (ATTENTION + (D * FF + FF) + (FF * D + D) + 2 * 2 * D),
    "distil": (3 * D * D + D) + 2 * D,  # convolution, BatchNorm
    "enc_norm": 2 * D,
    "decoder": 2 * ATTENTION + (D * FF + FF) + (FF * D + D) + 3 * 2 * D,
    "dec_norm": 2 * D,
    "projection": D * C + C,
}
AUTOFORMER_PARTS = {
    "decomp": 0,
    "enc_embed": EMBED,
    "dec_embed": EMBED,
    "encoder": 2 * (ATTENTION + 2 * D * FF),  # feed-forward without biases
    "enc_norm": 2 * D,
    "decoder": 2 * ATTENTION + 2 * D * FF + 3 * D * C,  # trend projection: width-3 convolution, no bias
    "dec_norm": 2 * D,
    "projection": D * C + C,
}


@pytest.mark.parametrize(
    ("name", "parts", "official"),
    [("informer", INFORMER_PARTS, 11_328_007), ("autoformer", AUTOFORMER_PARTS, 10_535_943)],
)
def test_parameter_counts_at_the_official_etth1_setting(name, parts, official):
    with torch.device("meta"):
        model = dualbranch.create_model(name, n_marks=M)
        plain = dualbranch.create_model(name)
    assert {n: count_params(m) for n, m in model.named_children()} == parts
    assert count_params(model) == sum(parts.values()) == official
    assert count_params(plain) == official - 2 * M * D  # no time-feature embeddings
    assert model.input_shape == (96 + 96, C + M) and plain.input_shape == (96, C)


# --- outputs of the official code ---------------------------------------------------------------------------


def fill_value(name: str, shape: tuple[int, ...]) -> torch.Tensor:
    """The fixture's deterministic float64 value of the parameter ``name`` (this library's key)."""
    n = math.prod(shape)
    phase = (zlib.crc32(name.encode("utf-8")) % 10007) / 10007 * 2 * math.pi
    base = torch.sin(0.7 * torch.arange(n, dtype=torch.float64) + phase).reshape(shape)
    if len(shape) == 1:
        return 1 + 0.1 * base if "norm" in name and name.endswith(".weight") else 0.05 * base
    return base / math.sqrt(math.prod(shape[1:]))


def fixture_input(batch: int, steps: int, width: int) -> torch.Tensor:
    """(B, steps, width) float64: 1.2·sin(0.031·k + 0.4·column) over the flat index k."""
    k = torch.arange(batch * steps * width, dtype=torch.float64).reshape(batch, steps, width)
    column = torch.arange(width, dtype=torch.float64)
    return 1.2 * torch.sin(0.031 * k + 0.4 * column)


@pytest.mark.parametrize("case", ["informer_eval", "autoformer_eval", "autoformer_train"])
def test_outputs_equal_the_official_code_in_float64(case):
    reference = json.loads(REFERENCE.read_text())[case]
    model = dualbranch.create_model(reference["model"], **reference["args"]).double()
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(fill_value(name, tuple(p.shape)))
    model.train(reference["training"])
    window = reference["args"]["seq_len"] + reference["args"]["pred_len"]
    x = fixture_input(2, window, reference["args"]["n_vars"] + reference["args"]["n_marks"])
    with torch.no_grad():
        out = model(x)
    expected = torch.tensor(reference["output"], dtype=torch.float64)
    assert out.shape == expected.shape
    assert torch.allclose(out, expected, atol=1e-10, rtol=0)
