"""DBConformer and EEG Conformer: parameter counts, braindecode conventions, channel attention, plots."""

from __future__ import annotations

import inspect

import matplotlib
import numpy as np
import pytest
import torch

import dualbranch
from dualbranch.models import DBConformer, EEGConformer

matplotlib.use("Agg")

REFERENCE = {"n_chans": 22, "n_times": 1001, "n_outputs": 2}


def _params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_dbconformer_matches_the_papers_parameter_count():
    assert _params(dualbranch.create_model("dbconformer", **REFERENCE)) == 93_747


def test_eeg_conformer_parameter_count():
    # 789,668 in the DBConformer paper = 789,506 + the release's unused LayerNorm(40) + Linear(40, 2)
    model = dualbranch.create_model("eeg_conformer", **REFERENCE)
    assert _params(model) == 789_506
    assert _params(model) + 80 + 82 == 789_668
    assert model.num_tokens == 61


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
    model = DBConformer(n_chans=None, chs_info=chs, n_times=200, patch_size=20)
    assert model.n_chans == 5 and model.ch_names[0] == "E0"
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


def test_plot_channel_weights_bar_and_topomap():
    from dualbranch.signal_plots import plot_channel_weights

    fig = plot_channel_weights(np.array([0.2, 0.3, 0.5]), ch_names=["C3", "Cz", "C4"])
    assert fig.axes
    import mne

    info = mne.create_info(["C3", "Cz", "C4", "Pz"], 160.0, "eeg")
    builtin = mne.channels.get_builtin_montages()
    info.set_montage("colin27_1020" if "colin27_1020" in builtin else "standard_1020")
    fig = plot_channel_weights(np.full((2, 4), 0.25), chs_info=info["chs"])
    assert len(fig.axes) >= 1
    with pytest.raises(ValueError, match="positions"):
        plot_channel_weights([0.5, 0.5], chs_info=[{"ch_name": "a", "loc": np.zeros(12)}] * 2, kind="topomap")


def test_braindecode_eegclassifier_trains_one_epoch():
    braindecode = pytest.importorskip("braindecode")
    model = DBConformer(n_chans=4, n_outputs=2, n_times=128, patch_size=16)
    clf = braindecode.EEGClassifier(model, max_epochs=1, batch_size=8, train_split=None, verbose=0)
    x = np.random.default_rng(0).standard_normal((16, 4, 128)).astype(np.float32)
    clf.fit(x, np.arange(16) % 2)
    assert clf.predict(x).shape == (16,)
