"""Every registered model's WeightConfig (how it is fed, where its weights begin and end), checked against
the built model for every model of every task. No exclude lists.

* ``input_size`` is the default model's input shape;
* ``first_conv`` names weights that read the input: for a classifier, each has one axis of the input
  channels C that becomes C + 1 when the model is built for C + 1 channels (images: ``in_chans``,
  signals: ``n_chans``); a forecaster that reads each variate on its own has first layers that read a
  window (``seq_len``) or a patch (``patch_len``) of one variate, whatever the variate count, and one that
  embeds each step's variates together (Informer, Autoformer) has the variates C on one axis, as a
  classifier's channels;
* ``classifier`` names the head(s): the last weight under each has the model's outputs on its output axis
  (classes), and for a classifier ``reset_classifier(0)`` removes exactly them; a forecaster's last weight
  and bias grow with its horizon H (a head per variate) or with its variates C (a projection of each
  decoder step) and with nothing else.
"""

from __future__ import annotations

import warnings

import pytest
import torch

import dualbranch
from dualbranch.checkpoint import load_for_finetuning, read_weight_config, save_checkpoint
from dualbranch.registry import WeightConfig

MODELS = dualbranch.list_models()


def _build(name: str, **changes: object) -> torch.nn.Module:
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tiny CrossViTs leave image borders unseen; not what is tested here
        return dualbranch.create_model(name, **{**dualbranch.get_model_entry(name).tiny, **changes})


def _under(model: torch.nn.Module, paths: tuple[str, ...]) -> dict[str, torch.Tensor]:
    params = dict(model.named_parameters())
    return {key: params[key] for key in WeightConfig.parameters_under(params, paths)}


@pytest.mark.parametrize("name", MODELS)
def test_input_size_is_the_default_models(name):
    with torch.device("meta"):
        model = dualbranch.create_model(name)
    assert dualbranch.get_model_entry(name).weights.input_size == tuple(model.input_shape)


@pytest.mark.parametrize("name", MODELS)
def test_first_conv_reads_the_input(name):
    weights = dualbranch.get_model_entry(name).weights
    model = _build(name)
    for path in weights.first_conv:
        kernels = {k: v for k, v in _under(model, (path,)).items() if v.ndim >= 2}
        assert kernels, f"{name}: first_conv {path!r} names no weight of the model"
    params = dict(model.named_parameters())
    found = {k: params[k] for k in weights.first_weights(params)}
    assert len(found) == len(weights.first_conv)
    forecaster = dualbranch.get_model_entry(name).task == "forecasting"
    if forecaster:
        channels, key = model.n_vars, "n_vars"
    else:
        channels, key = model.input_shape[0], "n_chans" if hasattr(model, "n_chans") else "in_chans"
    wider = dict(_build(name, **{key: channels + 1}).named_parameters())
    # a forecaster built with twice the look-back, and with patches twice as long where it has patches
    windows = [key for key in ("seq_len", "patch_len") if forecaster and hasattr(model, key)]
    longer = [dict(_build(name, **{key: 2 * getattr(model, key)}).named_parameters()) for key in windows]
    for k, v in found.items():
        changed = [(a, b) for a, b in zip(v.shape, wider[k].shape) if a != b]
        # the same weight for every variate, whose last axis reads a window (or a patch) of one variate
        reads_one_variate = not changed and any(
            [(a, b) for a, b in zip(v.shape, other[k].shape) if a != b] == [(v.shape[-1], 2 * v.shape[-1])]
            for other in longer
        )
        assert changed == [(channels, channels + 1)] or reads_one_variate, (
            f"{name}: {k} {tuple(v.shape)} -> {tuple(wider[k].shape)}"
        )


@pytest.mark.parametrize("name", MODELS)
def test_classifier_gives_the_outputs(name):
    entry = dualbranch.get_model_entry(name)
    model = _build(name)
    forecaster = entry.task == "forecasting"
    # a forecaster built with one more horizon step, and with one more variate
    keys = ("pred_len", "n_vars") if forecaster else ()
    grown = {key: _build(name, **{key: getattr(model, key) + 1}).state_dict() for key in keys}
    for path in entry.weights.classifier:
        params = _under(model, (path,))
        assert params, f"{name}: classifier {path!r} names no parameter of the model"
        last_weight = [k for k in params if k.endswith("weight")][-1:]
        last_bias = [k for k in params if k.endswith("bias")][-1:]
        if not forecaster:
            assert all(params[k].shape[-2] == model.num_classes for k in last_weight), (path, last_weight)
            assert all(params[k].shape[-1] == model.num_classes for k in last_bias), (path, last_bias)
            continue
        assert last_weight + last_bias, f"{name}: classifier {path!r} holds no weight or bias"
        for k in last_weight + last_bias:
            changes = {key: [(a, b) for a, b in zip(params[k].shape, grown[key][k].shape) if a != b] for key in grown}
            horizon, variates = (model.pred_len, model.pred_len + 1), (model.n_vars, model.n_vars + 1)
            assert changes in ({"pred_len": [horizon], "n_vars": []}, {"pred_len": [], "n_vars": [variates]}), (
                f"{name}: {k} {changes}"
            )
    if not forecaster:
        before = set(model.state_dict())
        model.reset_classifier(0)
        removed = before - set(model.state_dict())
        assert removed == set(WeightConfig.parameters_under(before, entry.weights.classifier))


def test_a_weight_config_round_trips_through_a_checkpoint(tmp_path):
    entry = dualbranch.get_model_entry("crossvit_9_240")
    assert read_weight_config(tmp_path / "published.pth", "crossvit_9_240") == entry.weights  # no metadata
    assert entry.weights.mean == (0.485, 0.456, 0.406) and entry.weights.crop_pct == 0.875
    assert dualbranch.get_model_entry("crossvit_15_dagger_408").weights.crop_pct == 1.0
    fed = entry.weights.replace(input_size=(1, 28, 28), mean=[0.5], std=[0.25])
    path = save_checkpoint(_build("crossvit_fmnist"), tmp_path / "w.safetensors", weights=fed)
    assert read_weight_config(path) == fed and read_weight_config(path).mean == (0.5,)


def test_finetuning_adapts_a_signal_models_first_conv_and_replaces_its_classifier(tmp_path):
    """EEG Conformer reads the channels in its second convolution (kernel C × 1): its weight config says so,
    and fine-tuning on another montage adapts that axis and gives a new final_layer."""
    source = _build("eeg_conformer", n_chans=4, n_outputs=5)
    path = save_checkpoint(source, tmp_path / "eeg.safetensors")
    target = _build("eeg_conformer", n_chans=1, n_outputs=3)
    notes = load_for_finetuning(target, path, "eeg_conformer")
    assert any("patch_embedding.spatial.weight: first convolution adapted from 4 to 1" in n for n in notes)
    assert any("new classifier for 3 classes" in n for n in notes)
    spatial = source.state_dict()["patch_embedding.spatial.weight"]
    torch.testing.assert_close(target.state_dict()["patch_embedding.spatial.weight"], spatial.sum(2, keepdim=True))
    assert target(torch.randn(2, 1, 128)).shape == (2, 3)


def test_finetuning_a_forecaster_on_other_variates_adapts_its_step_embeddings_and_replaces_its_projections(tmp_path):
    """Autoformer embeds each step's 4 variates together and projects every decoder step back to them (the
    seasonal projection and each decoder layer's trend projection): fine-tuned on 2 variates, its step
    embeddings are adapted, both projections are new and every other weight is the checkpoint's."""
    source = _build("autoformer", n_vars=4, d_layers=2)
    path = save_checkpoint(source, tmp_path / "autoformer.safetensors")
    target = _build("autoformer", n_vars=2, d_layers=2)
    notes = load_for_finetuning(target, path, "autoformer")
    for embedding in ("enc_embed", "dec_embed"):
        assert f"{embedding}.value.weight: first convolution adapted from 4 to 2 input channels" in notes
        kernel = source.state_dict()[f"{embedding}.value.weight"]  # (D, 4, 3): repeated, then rescaled
        torch.testing.assert_close(target.state_dict()[f"{embedding}.value.weight"], kernel[:, :2] * 2)
    assert "new projection, decoder.*.trend_projection (the checkpoint's was for other outputs)" in notes
    new = {"projection.weight", "projection.bias", "decoder.0.trend_projection.weight"}
    new |= {"decoder.1.trend_projection.weight"}
    kept = {k: v for k, v in source.state_dict().items() if k not in new and "embed.value" not in k}
    assert kept and all(torch.equal(target.state_dict()[k], v) for k, v in kept.items())
    assert all(target.state_dict()[k].shape[0] == 2 for k in new)
    assert target(torch.randn(3, target.seq_len, 2)).shape == (3, target.pred_len, 2)
