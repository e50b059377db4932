"""DBConformer and EEG Conformer: parameter counts, braindecode conventions, channel attention, plots."""

from __future__ import annotations

import inspect

import matplotlib
import numpy as np
import pytest
import torch

import dualbranch
from dualbranch.models import DBConformer, EEGConformer
from dualbranch.models.dbconformer import PUBLISHED_UNUSED_PARAMS as DB_UNUSED
from dualbranch.models.eeg_conformer import PUBLISHED_UNUSED_PARAMS

matplotlib.use("Agg")

REFERENCE = {"n_chans": 22, "n_times": 1001, "n_outputs": 2}


def _params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _block(d: int) -> int:
    """A pre-norm Transformer block of width d, MLP ratio 4: LN 2d, qkv d·3d + 3d, proj d² + d, LN 2d,
    MLP d·4d + 4d + 4d·d + d."""
    return 2 * d + (3 * d * d + 3 * d) + (d * d + d) + 2 * d + (4 * d * d + 4 * d) + (4 * d * d + d)


def _dbconformer_formula(c: int, t: int, k: int, patch: int = 125, d: int = 40, depth: int = 2) -> int:
    """DBConformer's parameters, part by part as in the module docstring's table."""
    temporal = c * d + 2 * d + 63 * d + 2 * d + (t // patch) * d  # 1×1 mix, BN, depthwise 63, BN, positions
    spatial = 16 * 25 + 16 + 16 * d + d + c * d  # Conv1d 1→16 (k 25), Linear 16→d, positions
    blocks = 2 * depth * _block(d)
    attention = d * d + d + d  # scorer d→d→1, no output bias
    head = (2 * d * 64 + 64) + (64 * 32 + 32) + (32 * k + k)  # fully connected 2d→64→32, final_layer 32→k
    return temporal + spatial + blocks + attention + head


def _eeg_conformer_formula(c: int, t: int, k: int, f: int = 40, depth: int = 6) -> int:
    """EEG Conformer's parameters: stem, blocks, fully-connected 256 → 32, final layer."""
    stem = (25 * f + f) + (f * f * c + f) + 2 * f + (f * f + f)  # conv (1, 25), conv (C, 1), BN, 1×1
    n_tokens = (t - 25 + 1 - 75) // 15 + 1
    fc = (n_tokens * f * 256 + 256) + (256 * 32 + 32)
    return stem + depth * _block(f) + fc + (32 * k + k)


@pytest.mark.parametrize("size", [REFERENCE, {"n_chans": 8, "n_times": 256, "n_outputs": 3}])
def test_parameter_counts_follow_the_architecture(size):
    c, t, k = size["n_chans"], size["n_times"], size["n_outputs"]
    assert _params(dualbranch.create_model("dbconformer", **size)) == _dbconformer_formula(c, t, k)
    assert _params(dualbranch.create_model("eeg_conformer", **size)) == _eeg_conformer_formula(c, t, k)


def test_dbconformer_matches_the_papers_parameter_count():
    # the paper's 93,747 is the release's count, which includes a scorer output bias the softmax cancels
    model = dualbranch.create_model("dbconformer", **REFERENCE)
    assert model.num_temporal_tokens == 8
    assert _params(model) + DB_UNUSED["score_out_bias"] == 93_747


def test_eeg_conformer_parameter_count():
    model = dualbranch.create_model("eeg_conformer", **REFERENCE)
    # the module docstring's table, part by part, from the built model
    assert model.num_tokens == 61
    assert _params(model.patch_embedding) == 38_000
    assert [_params(block) for block in model.blocks] == [19_720] * 6
    assert _params(model.fc) == 633_120 and _params(model.final_layer) == 66
    assert _params(model) == 789_506
    # the DBConformer paper quotes 789,668: this model plus the release's never-called mean-pooling
    # head, LayerNorm(40) and Linear(40, n_outputs), as recorded in PUBLISHED_UNUSED_PARAMS
    unused = PUBLISHED_UNUSED_PARAMS["layernorm"] + PUBLISHED_UNUSED_PARAMS["linear_per_class"] * model.n_outputs
    assert unused == _params(torch.nn.LayerNorm(40)) + _params(torch.nn.Linear(40, 2))
    assert _params(model) + unused == 789_668


@pytest.mark.parametrize("cls", [DBConformer, EEGConformer])
def test_braindecode_conventions(cls):
    names = list(inspect.signature(cls.__init__).parameters)[1:6]
    assert names == ["n_chans", "n_outputs", "n_times", "sfreq", "chs_info"]
    model = cls(n_chans=8, n_outputs=3, n_times=256, sfreq=128.0)
    assert isinstance(model.final_layer, torch.nn.Module)
    assert list(dict(model.named_children()))[-1] == "final_layer"
    assert model.num_classes == 3 and model.input_shape == (8, 256)
    assert model(torch.randn(2, 8, 256)).shape == (2, 3)
    # activations are classes, not instances
    assert isinstance(inspect.signature(cls.__init__).parameters["activation"].default, type)


def test_num_classes_alias_and_unknown_options():
    assert dualbranch.create_model("dbconformer", num_classes=4).n_outputs == 4
    with pytest.raises(TypeError, match="patch_size"):
        dualbranch.create_model("dbconformer", patch_sise=10)


def test_n_chans_from_chs_info_and_wrong_input():
    chs = [{"ch_name": f"E{i}", "loc": np.zeros(12)} for i in range(5)]
    model = DBConformer(chs_info=chs, n_times=200, patch_size=20)  # n_chans=None, as braindecode passes it
    assert model.n_chans == 5 and model.ch_names[0] == "E0"
    assert DBConformer().n_chans == 22  # without chs_info: the paper's montage (BCI IV 2a)
    with pytest.raises(ValueError, match="chs_info describes 5 channels but n_chans=4"):
        DBConformer(n_chans=4, chs_info=chs, n_times=200, patch_size=20)
    with pytest.raises(ValueError, match="n_chans=5"):
        model(torch.randn(1, 4, 200))
    with pytest.raises(ValueError, match="too short"):
        EEGConformer(n_chans=3, n_times=50)


def test_channel_attention_weights_are_a_distribution():
    model = DBConformer(n_chans=6, n_times=200, patch_size=20).eval()
    weights = model.channel_attention_weights(torch.randn(3, 6, 200))
    assert weights.shape == (3, 6)
    assert torch.allclose(weights.sum(dim=1), torch.ones(3)) and (weights >= 0).all()


def test_intermediates_are_channel_first_maps():
    model = DBConformer(n_chans=6, n_times=200, patch_size=20).eval()
    final, stages = model.forward_intermediates(torch.randn(2, 6, 200))
    assert [tuple(m.shape) for m in stages[-1]] == [(2, 40, 10), (2, 40, 6)]
    assert [tuple(t.shape) for t in final] == [(2, 10, 40), (2, 6, 40)]


def test_plot_channel_weights_bar_and_topomap(monkeypatch):
    import matplotlib.pyplot as plt
    import mne

    from dualbranch.signal_plots import plot_channel_weights

    # bars: one per channel, as high as its weight (a (B, C) batch is averaged), labelled by name
    batch = torch.tensor([[0.1, 0.3, 0.5], [0.3, 0.3, 0.5]])
    fig = plot_channel_weights(batch, ch_names=["C3", "Cz", "C4"], title="attention")
    (ax,) = fig.axes
    assert [bar.get_height() for bar in ax.patches] == pytest.approx([0.2, 0.3, 0.5])
    assert [label.get_text() for label in ax.get_xticklabels()] == ["C3", "Cz", "C4"]
    assert ax.get_title() == "attention"
    plt.close(fig)

    # topomap: MNE gets the batch-averaged weights and the electrodes' own positions; the colours span vlim
    info = mne.create_info(["C3", "Cz", "C4", "Pz"], 160.0, "eeg")
    builtin = mne.channels.get_builtin_montages()
    info.set_montage("colin27_1020" if "colin27_1020" in builtin else "standard_1020")
    drawn = {}
    real_topomap = mne.viz.plot_topomap

    def recording_topomap(values, pos, **kwargs):
        drawn.update(values=np.array(values), names=pos.ch_names, locs=[ch["loc"][:3].copy() for ch in pos["chs"]])
        return real_topomap(values, pos, **kwargs)

    monkeypatch.setattr(mne.viz, "plot_topomap", recording_topomap)
    weights = np.array([[0.1, 0.2, 0.3, 0.4], [0.3, 0.4, 0.5, 0.0]])
    fig = plot_channel_weights(weights, chs_info=info["chs"], vlim=(0.1, 0.4))
    np.testing.assert_allclose(drawn["values"], [0.2, 0.3, 0.4, 0.2])
    assert drawn["names"] == ["C3", "Cz", "C4", "Pz"]
    np.testing.assert_allclose(drawn["locs"], [ch["loc"][:3] for ch in info["chs"]])
    (image,) = fig.axes[0].images
    assert image.get_clim() == pytest.approx((0.1, 0.4)) and len(fig.axes) == 2  # the map and its colour bar
    plt.close(fig)
    with pytest.raises(ValueError, match="positions"):
        plot_channel_weights([0.5, 0.5], chs_info=[{"ch_name": "a", "loc": np.zeros(12)}] * 2, kind="topomap")


def test_crossvit_1d_pools_by_cls_or_patch_mean():
    torch.manual_seed(0)
    token = dualbranch.create_model("crossvit_1d", n_times=48, n_outputs=3, drop_rate=0.0, drop_path_rate=0.0).eval()
    avg = dualbranch.create_model("crossvit_1d", n_times=48, n_outputs=3, global_pool="avg").eval()
    avg.load_state_dict(token.state_dict())  # same weights: only the pooling differs
    x = torch.randn(2, 1, 48)
    features = token.forward_features(x)
    by_mean = torch.cat([t[:, 1:].mean(dim=1) for t in features], dim=1)  # (B, D_0 + D_1)
    torch.testing.assert_close(avg.forward_head(features, pre_logits=True), by_mean)
    torch.testing.assert_close(token.forward_head(features, pre_logits=True), torch.cat([t[:, 0] for t in features], 1))
    heads = [head(p) for head, p in zip(avg.final_layer, by_mean.split(list(avg.embed_dim), dim=1))]
    torch.testing.assert_close(avg(x), torch.stack(heads).mean(dim=0))
    with pytest.raises(dualbranch.errors.ConfigError, match="global_pool"):
        dualbranch.create_model("crossvit_1d", n_times=48, global_pool="max")
