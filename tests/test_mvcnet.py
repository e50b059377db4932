"""MVCNet: parameter counts, the two paths (inference / training), views, NT-Xent and the objective."""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest
import torch
from torch import nn

import dualbranch
from dualbranch.errors import ConfigError, DataError
from dualbranch.layers.contrastive import (
    EMBEDDING,
    LOGITS,
    PROJECTION,
    cross_model_loss,
    cross_view_loss,
    multi_view_contrastive_loss,
    nt_xent,
)
from dualbranch.layers.signal_views import (
    amplitude_flip,
    analytic_signal,
    channel_reflection,
    hilbert_frequency_shift,
    mirror_channel_name,
    mvcnet_views,
    reflection_permutation,
    swap_labels,
)
from dualbranch.models import MVCNet
from dualbranch.models.mvcnet import PUBLISHED_UNUSED_PARAMS, PostNormBlock

REFERENCE = {"n_chans": 22, "n_times": 1001, "n_outputs": 4}
# BCI Competition IV 2a (BNCI2014001), in the dataset's channel order
BNCI2014001 = [
    "Fz",
    "FC3",
    "FC1",
    "FCz",
    "FC2",
    "FC4",
    "C5",
    "C3",
    "C1",
    "Cz",
    "C2",
    "C4",
    "C6",
    "CP3",
    "CP1",
    "CPz",
    "CP2",
    "CP4",
    "P1",
    "Pz",
    "P2",
    "POz",
]


def _tiny(**overrides) -> MVCNet:
    torch.manual_seed(0)
    return dualbranch.create_model("mvcnet", **{**dualbranch.get_model_entry("mvcnet").tiny, **overrides})


def _count(model: nn.Module, prefix: str = "") -> int:
    return sum(p.numel() for n, p in model.named_parameters() if n.startswith(prefix))


# ------------------------------------------------------------------ parameter counts
def test_parameter_counts_at_the_reference_input():
    with torch.device("meta"):
        model = dualbranch.create_model("mvcnet", **REFERENCE)
    assert (model.num_patches, model.embed_dim, model.transformer_times) == (8, 512, 1000)
    assert _count(model, "cnn.") == 1_408 + 128 + 4_032 + 128
    assert _count(model, "final_layer.") == 512 * 4 + 4
    assert _count(model, "transformer.") == 8_011_000
    assert _count(model, "projector.") == 22_000 * 2_048 + 2_048 + 2 * 2_048 + 2_048 * 512 + 512
    total = _count(model)
    assert total == 54_129_980
    training_only = set(model.training_only_parameter_names())
    inference = sum(p.numel() for n, p in model.named_parameters() if n not in training_only)
    assert inference == 7_748  # the release's netF + netC
    # the release registers 54,132,032: ours + its IFNet's own Linear(512, 4), built but never called
    assert total + PUBLISHED_UNUSED_PARAMS["linear_per_class"] * 4 == 54_132_032


def test_braindecode_conventions_and_registry_entry():
    names = list(inspect.signature(MVCNet.__init__).parameters)[1:6]
    assert names == ["n_chans", "n_outputs", "n_times", "sfreq", "chs_info"]
    model = MVCNet(n_chans=8, n_outputs=3, n_times=256, sfreq=128.0, n_filters=8, patch_size=32)
    assert list(dict(model.named_children()))[-1] == "final_layer"
    assert model.num_classes == 3 and model.input_shape == (8, 256)
    assert isinstance(inspect.signature(MVCNet.__init__).parameters["activation"].default, type)
    assert "arXiv:2502.17482" in dualbranch.get_model_entry("mvcnet").paper
    assert "arXiv:2502.17482" in inspect.getmodule(MVCNet).__doc__
    assert dualbranch.create_model("mvcnet", num_classes=4, n_times=250, patch_size=125).n_outputs == 4


def test_configuration_errors():
    with pytest.raises(ConfigError, match="shorter than one patch"):
        MVCNet(n_chans=4, n_times=100, patch_size=125)
    with pytest.raises(ConfigError, match="transformer_heads"):
        MVCNet(n_chans=4, n_times=63, patch_size=21, transformer_heads=2)  # T' = 63
    with pytest.raises(DataError, match="n_chans=4"):
        _tiny()(torch.randn(2, 5, 64))


# ------------------------------------------------------------------ shapes and the two paths
def test_shapes_of_forward_features_and_views():
    model = MVCNet(n_chans=6, n_outputs=3, n_times=203, n_filters=8, temporal_kernel=15, patch_size=40).eval()
    assert (model.num_patches, model.transformer_times, model.embed_dim) == (5, 200, 40)
    x = torch.randn(2, 6, 203)
    assert model(x).shape == (2, 3)
    assert [tuple(f.shape) for f in model.forward_features(x)] == [(2, 5, 8), (2, 6, 200)]
    views = model.forward_views(x)
    assert set(views) == {LOGITS, EMBEDDING, PROJECTION}
    assert tuple(views[LOGITS].shape) == (2, 3)
    assert tuple(views[EMBEDDING].shape) == tuple(views[PROJECTION].shape) == (2, 40)
    assert views[PROJECTION].abs().max() < 1  # Tanh
    with torch.no_grad():
        assert torch.equal(views[LOGITS], model(x))
        assert torch.equal(views[EMBEDDING], model.forward_head(model.forward_features(x), pre_logits=True))
        # the Transformer reads the first T' = 200 samples, the span the CNN's pooling covers
        tail = x.clone()
        tail[..., 200:] += 5.0
        assert torch.equal(model.forward_views(tail)[PROJECTION], views[PROJECTION])


def test_forward_runs_the_cnn_branch_only():
    model = _tiny()
    calls = []
    model.transformer[0].register_forward_hook(lambda *_: calls.append(1))
    model.projector.register_forward_hook(lambda *_: calls.append(2))
    model(torch.randn(2, *model.input_shape))
    assert calls == []
    model.forward_views(torch.randn(2, *model.input_shape))
    assert calls == [1, 2]


def test_inference_and_training_paths_split_the_parameters():
    # the contract proposed in the report: forward(x) reaches exactly the parameters that are not
    # training-only, and the training objective reaches every parameter
    model, x = _tiny(), torch.randn(4, 4, 64)
    y = torch.tensor([0, 1, 2, 1])
    model.train()
    model(x).logsumexp(dim=1).sum().backward()
    reached = {n for n, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    every = {n for n, _ in model.named_parameters()}
    training_only = set(model.training_only_parameter_names())
    assert training_only and training_only == {n for n in every if n.startswith(("transformer.", "projector."))}
    assert reached == every - training_only
    model.zero_grad(set_to_none=True)
    ch_names = ["C3", "Cz", "C4", "Pz"]
    views = [(x, y), *mvcnet_views(x, y, ch_names, sfreq=128.0)]
    outputs = [model.forward_views(v) for v, _ in views]
    losses = multi_view_contrastive_loss(outputs, [t for _, t in views])
    assert all(torch.isfinite(v) for v in losses.values())
    losses["loss"].backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_intermediates_are_stage_maps_of_both_branches():
    model = MVCNet(n_chans=6, n_outputs=3, n_times=200, n_filters=8, temporal_kernel=15, patch_size=40).eval()
    x = torch.randn(2, 6, 200)
    final, stages = model.forward_intermediates(x)
    assert [[tuple(m.shape) for m in s] for s in stages] == [[(2, 8, 200), (2, 200, 6)], [(2, 8, 5), (2, 200, 6)]]
    assert torch.equal(stages[0][1], x.transpose(1, 2))  # the Transformer's input tokens, channel-first
    for got, want in zip(final, model.forward_features(x)):
        assert torch.allclose(got, want, atol=1e-6)
    first = model.forward_intermediates(x, indices=[0], output_fmt="NLC", intermediates_only=True)
    assert [tuple(m.shape) for m in first[0]] == [(2, 200, 8), (2, 6, 200)]
    extractor = dualbranch.create_model(
        "mvcnet", features_only=True, n_chans=6, n_times=200, n_filters=8, temporal_kernel=15, patch_size=40
    )
    assert [info["num_chs"] for info in extractor.feature_info] == [8, 200, 8, 200]


def test_post_norm_block_equals_torch_transformer_encoder_layer():
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(16, 2, dim_feedforward=32, dropout=0.0, batch_first=True).eval()
    block = PostNormBlock(16, 2, 32, drop=0.0).eval()
    with torch.no_grad():
        block.attn.qkv.weight.copy_(layer.self_attn.in_proj_weight)
        block.attn.qkv.bias.copy_(layer.self_attn.in_proj_bias)
        block.attn.proj.load_state_dict(layer.self_attn.out_proj.state_dict())
        block.mlp.fc1.load_state_dict(layer.linear1.state_dict())
        block.mlp.fc2.load_state_dict(layer.linear2.state_dict())
        block.norm1.load_state_dict(layer.norm1.state_dict())
        block.norm2.load_state_dict(layer.norm2.state_dict())
        x = torch.randn(3, 5, 16)
        assert torch.allclose(block(x), layer(x), atol=1e-5)
    assert _count(block) == _count(layer)


def test_reset_classifier_zero_gives_the_embedding():
    model = _tiny().eval()
    x = torch.randn(2, *model.input_shape)
    with torch.no_grad():
        h = model.forward_views(x)[EMBEDDING]
        model.reset_classifier(0)
        assert torch.equal(model(x), h)
        assert torch.equal(model.forward_views(x)[LOGITS], h)


# ------------------------------------------------------------------ NT-Xent and the objective
def test_nt_xent_on_a_hand_computed_example():
    # z1 = e1, e2; z2 = (1, 1), (-1, 1). Cosines: s = 1/√2 between e1 and (1, 1), e2 and both of z2;
    # -s between e1 and (-1, 1); 0 between e1 and e2 and between the two rows of z2. τ = 0.5.
    z1 = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    z2 = torch.tensor([[1.0, 1.0], [-1.0, 1.0]])
    a = (1 / math.sqrt(2)) / 0.5
    rows = [
        -math.log(math.exp(a) / (1 + math.exp(a) + math.exp(-a))),  # e1: positive (1, 1)
        -math.log(math.exp(a) / (1 + 2 * math.exp(a))),  # e2: positive (-1, 1)
        -math.log(math.exp(a) / (2 * math.exp(a) + 1)),  # (1, 1): positive e1
        -math.log(math.exp(a) / (math.exp(-a) + math.exp(a) + 1)),  # (-1, 1): positive e2
    ]
    assert nt_xent(z1, z2, temperature=0.5).item() == pytest.approx(sum(rows) / 4, rel=1e-6)
    # identical orthogonal pairs, τ = 1: each row sees its partner at 1 and two others at 0
    eye = torch.eye(2)
    assert nt_xent(eye, eye, temperature=1.0).item() == pytest.approx(math.log(1 + 2 / math.e), rel=1e-6)


def test_nt_xent_properties():
    torch.manual_seed(0)
    z1, z2 = torch.randn(5, 7), torch.randn(5, 7)
    loss = nt_xent(z1, z2)
    assert torch.allclose(nt_xent(z2, z1), loss)  # symmetric
    assert torch.allclose(nt_xent(3 * z1, 0.5 * z2), loss, atol=1e-6)  # cosine: scale-free
    assert nt_xent(z1, z1 + 1e-3 * z2) < loss  # aligned pairs cost less
    with pytest.raises(DataError):
        nt_xent(z1, z2[:4])
    with pytest.raises(ConfigError):
        nt_xent(z1, z2, temperature=0.0)


def test_cross_view_and_cross_model_terms():
    torch.manual_seed(0)
    outputs = [
        {LOGITS: torch.randn(3, 2), EMBEDDING: torch.randn(3, 6), PROJECTION: torch.randn(3, 6)} for _ in range(4)
    ]
    h = [o[EMBEDDING] for o in outputs]
    z = [o[PROJECTION] for o in outputs]
    want_cv = sum(nt_xent(torch.cat([h[0], z[0]]), torch.cat([h[v], z[v]]), 0.2) for v in (1, 2, 3)) / 3
    assert torch.allclose(cross_view_loss(outputs), want_cv)
    assert torch.allclose(cross_model_loss(outputs), nt_xent(torch.cat(h), torch.cat(z), 0.2))
    y = [torch.tensor([0, 1, 1])] * 4
    losses = multi_view_contrastive_loss(outputs, y)
    ce = sum(nn.functional.cross_entropy(o[LOGITS], t) for o, t in zip(outputs, y))
    assert torch.allclose(losses["cross_entropy"], ce)
    assert torch.allclose(losses["loss"], ce + 0.1 * want_cv + 0.1 * losses["cross_model"])
    with pytest.raises(DataError):
        cross_view_loss(outputs[:1])


# ------------------------------------------------------------------ views
def test_amplitude_flip():
    x = torch.tensor([[[1.0, -2.0, 0.5]]])
    assert torch.equal(amplitude_flip(x), torch.tensor([[[-1.0, 2.0, -0.5]]]))


def test_analytic_signal_matches_scipy():
    signal = pytest.importorskip("scipy.signal")
    x = np.random.default_rng(0).standard_normal((2, 3, 101))
    for n in (None, 128):
        got = analytic_signal(torch.from_numpy(x), n).numpy()
        assert np.allclose(got, signal.hilbert(x, N=n, axis=-1), atol=1e-12)


def test_hilbert_shift_of_an_on_bin_cosine_is_exact():
    # 10 Hz is bin 40 of a 1000-sample FFT at 250 Hz: the analytic signal is e^{i(2πft + φ)} exactly
    t = torch.arange(1000, dtype=torch.float64) / 250.0
    x = torch.cos(2 * math.pi * 10.0 * t + 0.3).expand(2, 3, -1)
    shifted = hilbert_frequency_shift(x, 0.1, 250.0, pad_to_pow2=False)
    assert torch.allclose(shifted, torch.cos(2 * math.pi * 10.1 * t + 0.3).expand(2, 3, -1), atol=1e-9)


def test_hilbert_shift_moves_the_spectral_peak_by_delta_f():
    # 100 s at 100 Hz: FFT bins are 0.01 Hz apart, so 10 Hz is bin 1000 and 10.1 Hz bin 1010
    sfreq, length = 100.0, 10_000
    t = torch.arange(length) / sfreq
    x = torch.sin(2 * math.pi * 10.0 * t).reshape(1, 1, -1)
    shifted = hilbert_frequency_shift(x, 0.1, sfreq)  # padded to 16,384 as the release does
    assert shifted.dtype == torch.float32 and shifted.shape == x.shape
    freqs = torch.fft.rfftfreq(length, 1 / sfreq)
    assert freqs[torch.fft.rfft(x[0, 0]).abs().argmax()].item() == pytest.approx(10.0)
    assert freqs[torch.fft.rfft(shifted[0, 0]).abs().argmax()].item() == pytest.approx(10.1)


def test_hilbert_shift_follows_the_release_algorithm():
    # the release: zero-pad to the next power of two, scipy's analytic signal, e^{2πi·Δf·k/fs}, real
    # part, crop (our check of the same steps; its spacing is fixed at 1/250 s, i.e. sfreq = 250)
    signal = pytest.importorskip("scipy.signal")
    x = np.random.default_rng(1).standard_normal((2, 4, 1001))
    padded = np.concatenate([x, np.zeros((2, 4, 1024 - 1001))], axis=-1)
    k = np.arange(1024)
    want = (signal.hilbert(padded, axis=-1) * np.exp(2j * np.pi * 0.1 * k / 250.0))[..., :1001].real
    assert np.allclose(hilbert_frequency_shift(torch.from_numpy(x), 0.1, 250.0).numpy(), want, atol=1e-10)


def test_mirror_channel_names():
    pairs = {"C3": "C4", "C4": "C3", "FC1": "FC2", "FC2": "FC1", "Fp1": "Fp2", "T7": "T8", "P10": "P9"}
    pairs |= {"AF7": "AF8", "TP9": "TP10", "O1": "O2", "FFC1h": "FFC2h", "A1": "A2", "C3..": "C4"}
    for name, mirror in pairs.items():
        assert mirror_channel_name(name) == mirror
    for name in ("Cz", "FCz", "Fpz", "POz", "Oz", "EOG1", "STI 014", "ECG"):
        assert mirror_channel_name(name) == name


def test_reflection_on_bci_iv_2a_swaps_the_lateral_pairs():
    perm = reflection_permutation(BNCI2014001)
    pairs = [("FC3", "FC4"), ("FC1", "FC2"), ("C5", "C6"), ("C3", "C4"), ("C1", "C2")]
    pairs += [("CP3", "CP4"), ("CP1", "CP2"), ("P1", "P2")]
    want = list(range(22))
    for left, right in pairs:
        i, j = BNCI2014001.index(left), BNCI2014001.index(right)
        want[i], want[j] = j, i
    assert perm == want
    assert [perm[p] for p in perm] == list(range(22))  # an involution
    assert reflection_permutation(["FP1", "Fp2", "C3"]) == [1, 0, 2]  # case-insensitive; C4 absent


def test_channel_reflection_maps_c3_to_c4_and_swaps_labels():
    x = torch.arange(2 * 3 * 4, dtype=torch.float32).reshape(2, 3, 4)
    out = channel_reflection(x, ["C3", "Cz", "C4"])
    assert torch.equal(out[:, 0], x[:, 2]) and torch.equal(out[:, 2], x[:, 0]) and torch.equal(out[:, 1], x[:, 1])
    y = torch.tensor([0, 1, 2, 3, 1])
    assert swap_labels(y).tolist() == [1, 0, 2, 3, 0]  # left <-> right hand, feet and tongue kept
    assert swap_labels(y, ()).tolist() == y.tolist()
    with pytest.raises(DataError):
        channel_reflection(x, ["C3", "C4"])


def test_mvcnet_views_order_and_labels():
    x, y = torch.randn(3, 3, 250, dtype=torch.float64), torch.tensor([0, 1, 2])
    views = mvcnet_views(x, y, ["C3", "Cz", "C4"], sfreq=250.0)
    assert len(views) == 3
    assert torch.equal(views[0][0], -x) and torch.equal(views[0][1], y)
    assert torch.equal(views[1][0], hilbert_frequency_shift(x, 0.1, 250.0)) and torch.equal(views[1][1], y)
    assert torch.equal(views[2][0], x[:, [2, 1, 0]]) and views[2][1].tolist() == [1, 0, 2]
