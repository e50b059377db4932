"""The multi_view_contrastive training objective: MVCNet's loss as a plugin for any two-branch signal model."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import dualbranch
from dualbranch.errors import ConfigError, DataError
from dualbranch.layers.contrastive import EMBEDDING, LOGITS, PROJECTION, multi_view_contrastive_loss
from dualbranch.layers.signal_views import channel_reflection, hilbert_frequency_shift, mvcnet_views
from dualbranch.train.objectives import OBJECTIVES, MultiViewContrastive, StepOutput, make_objective

CH_NAMES = ["C3", "Cz", "C4", "Pz"]
CHS_INFO = [{"ch_name": name, "loc": [0.0] * 12} for name in CH_NAMES]


def _mvcnet(**overrides) -> nn.Module:
    torch.manual_seed(0)
    tiny = {**dualbranch.get_model_entry("mvcnet").tiny, "n_outputs": 2, "sfreq": 64.0, "chs_info": CHS_INFO}
    return dualbranch.create_model("mvcnet", **{**tiny, **overrides})


def _dbconformer(**overrides) -> nn.Module:
    torch.manual_seed(0)
    args = {"n_chans": 4, "n_outputs": 2, "n_times": 64, "sfreq": 64.0, "chs_info": CHS_INFO, "drop_prob": 0.0,
            "patch_size": 16, "temporal_kernel": 15}  # fmt: skip
    return dualbranch.create_model("dbconformer", **{**args, **overrides})


def _batch(b: int = 6, k: int = 2) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    torch.manual_seed(1)
    y = torch.arange(b) % k
    return torch.randn(b, 4, 64), y, F.one_hot(y, k).float()


def test_registered_with_mvcnet_defaults():
    assert OBJECTIVES["multi_view_contrastive"] is MultiViewContrastive
    objective = make_objective("multi_view_contrastive", {})
    assert objective.weights == {"cross_entropy": 1.0, "cross_view": 0.1, "cross_model": 0.1}
    assert objective.temperature == 0.2 and objective.delta_f == 0.1
    assert objective.views == ("amplitude_flip", "frequency_shift", "channel_reflection")


def test_equals_mvcnets_loss_on_hard_labels():
    # one-hot targets: the plugin is exactly layers.contrastive's MVCNet loss on the release's views
    model, (x, y, targets) = _mvcnet().eval(), _batch()
    out = make_objective("multi_view_contrastive", {})(model, x, targets)
    assert isinstance(out, StepOutput)
    views = [(x, y), *mvcnet_views(x, y, CH_NAMES, sfreq=64.0)]
    with torch.no_grad():
        want = multi_view_contrastive_loss([model.forward_views(v) for v, _ in views], [t for _, t in views])
    assert torch.allclose(out.loss, want["loss"], atol=1e-5)
    for name in ("cross_entropy", "cross_view", "cross_model"):
        assert torch.allclose(out.terms[name], want[name], atol=1e-5)
    assert torch.equal(out.logits, model(x))  # training accuracy is read on the raw view


def test_reflection_swaps_soft_target_columns_and_electrodes():
    objective = MultiViewContrastive(views=["channel_reflection"])
    model = _mvcnet()
    x = torch.arange(4.0)[None, :, None].expand(1, 4, 64)  # channel i holds the value i
    soft = torch.tensor([[0.8, 0.2]])
    view, targets = objective._view("channel_reflection", model, x, soft)
    assert view[0, :, 0].tolist() == [2.0, 1.0, 0.0, 3.0]  # C3 <-> C4, Cz and Pz stay
    assert torch.equal(targets, soft.flip(1))
    # three classes: which ones mirror each other must be said; the others keep their column
    three = MultiViewContrastive(label_pairs=[[1, 2]])
    three_soft = torch.tensor([[0.1, 0.6, 0.3]])
    assert torch.equal(three._view("channel_reflection", model, x, three_soft)[1], three_soft[:, [0, 2, 1]])
    with pytest.raises(ConfigError, match="label_pairs"):
        MultiViewContrastive()._view("channel_reflection", model, x, torch.full((1, 3), 1 / 3))


def test_mixup_targets_carry_over_to_every_view():
    model, (x, _, _) = _mvcnet().eval(), _batch()
    soft = torch.tensor([[0.7, 0.3]]).expand(6, 2)
    objective = MultiViewContrastive(weights={"cross_view": 0.0, "cross_model": 0.0})
    out = objective(model, x, soft)
    with torch.no_grad():
        views = [x, -x]
        want = sum(torch.sum(-soft * F.log_softmax(model(v), dim=1), dim=1).mean() for v in views)
        want = want + torch.sum(-soft * F.log_softmax(model(hilbert_frequency_shift(x, 0.1, 64.0)), 1), 1).mean()
        want = want + torch.sum(-soft.flip(1) * F.log_softmax(model(channel_reflection(x, CH_NAMES)), 1), 1).mean()
    assert torch.allclose(out.loss, want, atol=1e-5)
    assert set(out.terms) == {"cross_entropy"}


def test_weights_temperature_and_views_are_options():
    model, (x, _, targets) = _mvcnet().eval(), _batch()
    base = MultiViewContrastive()(model, x, targets)
    heavier = MultiViewContrastive(weights={"cross_view": 1.0})(model, x, targets)
    assert torch.allclose(heavier.loss - base.loss, 0.9 * base.terms["cross_view"], atol=1e-5)
    only_flip = MultiViewContrastive(views=["amplitude_flip"], temperature=0.5)(model, x, targets)
    assert set(only_flip.terms) == {"cross_entropy", "cross_view", "cross_model"}
    no_views = MultiViewContrastive(views=[], weights={"cross_view": 0})(model, x, targets)
    assert set(no_views.terms) == {"cross_entropy", "cross_model"}


def test_gradients_reach_every_mvcnet_parameter():
    model, (x, _, targets) = _mvcnet().train(), _batch()
    MultiViewContrastive()(model, x, targets).loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_dbconformer_contrasts_its_pooled_branches():
    # DBConformer's forward_train: the temporal tokens' mean against the channel-attention pool (B, D)
    model, (x, _, targets) = _dbconformer().eval(), _batch()
    out = MultiViewContrastive()(model, x, targets)
    assert all(torch.isfinite(v) for v in out.terms.values())
    assert torch.allclose(out.logits, model(x), atol=1e-6)
    temporal, spatial = model.forward_features(x)
    outputs = MultiViewContrastive._outputs(model, x)
    assert torch.allclose(outputs[EMBEDDING], temporal.mean(1), atol=1e-6)
    assert torch.allclose(outputs[PROJECTION], model.channel_attention(spatial), atol=1e-6)
    model.train()
    MultiViewContrastive()(model, x, targets).loss.backward()
    assert all(p.grad is not None for p in model.parameters())


def test_configuration_errors_are_one_line_config_errors():
    x, _, targets = _batch()
    with pytest.raises(ConfigError, match="did you mean 'amplitude_flip'"):
        make_objective("multi_view_contrastive", {"views": ["amplitude_flp"]})
    with pytest.raises(ConfigError, match="unknown term"):
        make_objective("multi_view_contrastive", {"weights": {"contrast": 1}})
    with pytest.raises(ConfigError, match="temperature"):
        make_objective("multi_view_contrastive", {"temperature": 0})
    with pytest.raises(ConfigError, match="twice"):
        make_objective("multi_view_contrastive", {"views": ["amplitude_flip", "amplitude_flip"]})
    with pytest.raises(ConfigError, match=r"objective\.args"):
        make_objective("multi_view_contrastive", {"lambda_cv": 0.1})
    # a model that knows no electrode names (data without channel descriptions)
    with pytest.raises(ConfigError, match=r"objective\.args\.ch_names"):
        MultiViewContrastive()(_mvcnet(chs_info=None), x, targets)
    MultiViewContrastive(ch_names=CH_NAMES)(_mvcnet(chs_info=None), x, targets)
    # names without a left/right pair: a reflection would change nothing and still swap the labels
    plain = [{"ch_name": f"ch{i}", "loc": [0.0] * 12} for i in range(4)]
    with pytest.raises(ConfigError, match="no left/right electrode pair"):
        MultiViewContrastive()(_mvcnet(chs_info=plain), x, targets)
    with pytest.raises(ConfigError, match="sampling rate"):
        MultiViewContrastive()(_mvcnet(sfreq=None), x, targets)
    with pytest.raises(DataError, match="signals"):
        MultiViewContrastive()(_mvcnet(), x[:, 0], targets)


class _ThreeBranches(nn.Module):
    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [x.transpose(1, 2)] * 3

    def forward_head(self, features: list[torch.Tensor], pre_logits: bool = False) -> torch.Tensor:
        return features[0].mean(1)[:, :2]


class _LogitsOnly(nn.Module):
    def forward_train(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {LOGITS: x.mean(-1)[:, :2]}


def test_models_it_cannot_contrast_are_named():
    x, _, targets = _batch()
    options = {"views": ["amplitude_flip"]}
    with pytest.raises(ConfigError, match="has 3"):
        MultiViewContrastive(**options)(_ThreeBranches(), x, targets)
    with pytest.raises(ConfigError, match="without \\['embedding', 'projection'\\]"):
        MultiViewContrastive(**options)(_LogitsOnly(), x, targets)
    with pytest.raises(ConfigError, match="neither"):
        MultiViewContrastive(**options)(nn.Identity(), x, targets)
