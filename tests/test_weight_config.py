"""Every registered model's WeightConfig (how it is fed, where its weights begin and end), checked against
the built model for every model of every task. No exclude lists.

* ``input_size`` is the default model's input shape;
* ``first_conv`` names weights that read the input: for a classifier, each has one axis of the input
  channels C that becomes C + 1 when the model is built for C + 1 channels (images: ``in_chans``,
  signals: ``n_chans``); a forecaster reads each variate on its own, so its first layers read a window
  (``seq_len``) or a patch (``patch_len``) of one variate;
* ``classifier`` names the head(s): the last weight under each has the model's outputs on its output axis
  (classes; a forecaster's horizon), and for a classifier ``reset_classifier(0)`` removes exactly them.
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
    if dualbranch.get_model_entry(name).task == "forecasting":
        windows = {model.seq_len, getattr(model, "patch_len", model.seq_len)}
        assert all(v.shape[-1] in windows for v in found.values()), {k: v.shape for k, v in found.items()}
        return
    channels = model.input_shape[0]
    key = "n_chans" if hasattr(model, "n_chans") else "in_chans"
    wider = dict(_build(name, **{key: channels + 1}).named_parameters())
    for k, v in found.items():
        changed = [(a, b) for a, b in zip(v.shape, wider[k].shape) if a != b]
        assert changed == [(channels, channels + 1)], f"{name}: {k} {tuple(v.shape)} -> {tuple(wider[k].shape)}"


@pytest.mark.parametrize("name", MODELS)
def test_classifier_gives_the_outputs(name):
    entry = dualbranch.get_model_entry(name)
    model = _build(name)
    outputs = model.num_classes if entry.task == "classification" else model.pred_len
    for path in entry.weights.classifier:
        params = _under(model, (path,))
        assert params, f"{name}: classifier {path!r} names no parameter of the model"
        last_weight = [v for k, v in params.items() if k.endswith("weight")][-1:]
        last_bias = [v for k, v in params.items() if k.endswith("bias")][-1:]
        assert all(v.shape[-2] == outputs for v in last_weight), (path, [v.shape for v in last_weight])
        assert all(v.shape[-1] == outputs for v in last_bias), (path, [v.shape for v in last_bias])
    if entry.task == "classification":
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
