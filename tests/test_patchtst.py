"""PatchTST (Nie et al., ICLR 2023): parameter counts at the official ETTh1 sizes, derived from the
official code's layer list, and the forward pass re-derived in float64 from the paper's equations.

Shape legend: B batch, L look-back, H horizon, C variates, D width, N_p patches, P patch length, h heads.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import dualbranch
from dualbranch.errors import ConfigError


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _official_count(seq_len: int, pred_len: int, d: int = 16, d_ff: int = 128, layers: int = 3, p: int = 16,
                    s: int = 8) -> int:  # fmt: skip
    """The official supervised PatchTST's trainable parameters, layer by layer (W_P, W_pos, per encoder
    layer W_Q/W_K/W_V/to_out with biases, two BatchNorm1d, the two feed-forward linears; flatten head)."""
    patches = (seq_len - p) // s + 2  # padding_patch="end" adds one patch
    layer = 4 * (d * d + d) + 2 * (2 * d) + (d * d_ff + d_ff) + (d_ff * d + d)
    return (p * d + d) + patches * d + layers * layer + (d * patches * pred_len + pred_len)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [({}, 35_168), ({"seq_len": 336}, 81_728), ({"seq_len": 336, "pred_len": 720}, 81_728 + 16 * 42 * 624 + 624)],
)
def test_parameter_counts_at_the_official_etth1_sizes(overrides, expected):
    with torch.device("meta"):
        model = dualbranch.create_model("patchtst", **overrides)
    assert _count(model) == expected == _official_count(overrides.get("seq_len", 96), overrides.get("pred_len", 96))


def test_parameters_part_by_part():
    model = dualbranch.create_model("patchtst")
    assert model.num_patches == 12 and model.positions.shape == (12, 16)
    assert _count(model.patch_embed) == 16 * 16 + 16
    assert [_count(layer) for layer in model.layers] == [816 + 272 + 64 + 4240] * 3
    assert _count(model.head) == 16 * 12 * 96 + 96
    assert all(isinstance(m.norm_attn.norm, torch.nn.BatchNorm1d) for m in model.layers)  # not LayerNorm


def _reference(model, x: torch.Tensor) -> torch.Tensor:
    """PatchTST's forward written out from the paper and the official layer order, float64."""
    w = {k: v.double() for k, v in model.state_dict().items()}
    b, length, c = x.shape
    loc = x.mean(1, keepdim=True)
    scale = torch.sqrt(x.var(1, keepdim=True, unbiased=False) + 1e-5)
    z = ((x - loc) / scale).permute(0, 2, 1).reshape(b * c, length)
    z = torch.cat([z, z[:, -1:].expand(-1, model.stride)], 1)  # the end padded by one stride
    patches = torch.stack(
        [z[:, i : i + model.patch_len] for i in range(0, z.shape[1] - model.patch_len + 1, model.stride)], 1
    )
    u = patches @ w["patch_embed.weight"].T + w["patch_embed.bias"] + w["positions"]

    def bn(t, prefix):
        mean, var = w[f"{prefix}.running_mean"], w[f"{prefix}.running_var"]
        return (t - mean) / torch.sqrt(var + 1e-5) * w[f"{prefix}.weight"] + w[f"{prefix}.bias"]

    prev = None
    h = model.layers[0].heads
    for i in range(len(model.layers)):
        p = f"layers.{i}."
        q, k, v = (u @ w[p + f"{n}.weight"].T + w[p + f"{n}.bias"] for n in "qkv")
        split = lambda t: t.reshape(b * c, -1, h, t.shape[-1] // h).transpose(1, 2)  # noqa: E731
        scores = split(q) @ split(k).transpose(-1, -2) / math.sqrt(q.shape[-1] // h)
        scores = scores if prev is None else scores + prev
        prev = scores
        att = (torch.softmax(scores, -1) @ split(v)).transpose(1, 2).reshape(b * c, -1, q.shape[-1])
        u = bn(u + att @ w[p + "out.weight"].T + w[p + "out.bias"], p + "norm_attn.norm")
        ff = F.gelu(u @ w[p + "ff.0.weight"].T + w[p + "ff.0.bias"]) @ w[p + "ff.3.weight"].T + w[p + "ff.3.bias"]
        u = bn(u + ff, p + "norm_ff.norm")
    flat = u.reshape(b, c, -1, u.shape[-1]).transpose(2, 3).reshape(b, c, -1)  # (B, C, D·N_p), width-major
    y = (flat @ w["head.weight"].T + w["head.bias"]).transpose(1, 2)
    return y * scale + loc


def test_forward_equals_the_written_out_equations_in_float64():
    torch.manual_seed(0)
    model = dualbranch.create_model("patchtst", n_vars=3, seq_len=40, pred_len=10, d_model=8, n_heads=2, d_ff=16,
                                    n_layers=2, patch_len=8, stride=4).double()  # fmt: skip
    for layer in model.layers:  # running statistics other than the initial 0 / 1
        for norm in (layer.norm_attn.norm, layer.norm_ff.norm):
            norm.running_mean.uniform_(-0.5, 0.5)
            norm.running_var.uniform_(0.5, 2.0)
    model.eval()
    x = torch.randn(2, 40, 3, dtype=torch.float64) * 3 + 1
    torch.testing.assert_close(model(x), _reference(model, x), rtol=1e-10, atol=1e-10)


def test_residual_attention_reaches_the_next_layer():
    torch.manual_seed(0)
    model = dualbranch.create_model("patchtst", dropout=0.0).eval()
    tokens = torch.randn(5, model.num_patches, 16)
    out1, scores = model.layers[0](tokens, None)
    with_prev, _ = model.layers[1](out1, scores)
    without, _ = model.layers[1](out1, None)
    assert not torch.allclose(with_prev, without)


def test_bad_sizes_are_config_errors():
    with pytest.raises(ConfigError, match="multiple of n_heads"):
        dualbranch.create_model("patchtst", d_model=10, n_heads=4)
