"""All 11 published CrossViT variants against the timm/official oracle (tests/data/README.md)."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

import dualbranch
from dualbranch.flops import count_macs, count_params
from oracle import oracle_input, oracle_state_dict, reference

VARIANTS = sorted(reference()["variants"])
# The forward passes against the oracle: in the default run, the smallest variant with linear patch
# embeddings and the smallest with the dagger's convolutional stem, which between them run every code
# path; the other nine build the same modules at full size (up to 105 M parameters in float64, 2.7 GB of
# weights written and read back per precision), so they run with `-m slow`. The parameter count and
# every key's shape of all eleven are checked in the default run (test_parameter_count_and_keys_match_timm).
DEFAULT_RUN_FORWARD = {"crossvit_tiny_240", "crossvit_9_dagger_240"}
FORWARD_VARIANTS = [v if v in DEFAULT_RUN_FORWARD else pytest.param(v, marks=pytest.mark.slow) for v in VARIANTS]


def test_every_published_variant_is_registered():
    assert len(VARIANTS) == 11
    assert set(VARIANTS) <= set(dualbranch.list_models("crossvit_*"))


@pytest.mark.parametrize("name", VARIANTS)
def test_parameter_count_and_keys_match_timm(name):
    ref = reference()["variants"][name]
    with torch.device("meta"):
        model = dualbranch.create_model(name)
    assert count_params(model) == ref["params"]
    timm_shapes = {k: list(v.shape) for k, v in model.published_state_dict("timm").items()}
    assert timm_shapes == ref["state_dict"]


@pytest.mark.parametrize("name", VARIANTS)
def test_official_alias_builds_the_same_model(name):
    official = reference()["variants"][name]["official_name"]
    assert dualbranch.get_model_entry(official).name == name


def _oracle_model(name: str, tmp_path, dtype: torch.dtype) -> torch.nn.Module:
    ref = reference()["variants"][name]
    path = tmp_path / f"{name}_timm.safetensors"
    save_file(oracle_state_dict(ref["state_dict"]), str(path))
    model = dualbranch.create_model(name).to(dtype)
    dualbranch.checkpoint.load_checkpoint(model, path)  # timm naming, strict
    return model.eval()


@pytest.mark.parametrize("name", FORWARD_VARIANTS)
def test_outputs_match_oracle_float64(name, tmp_path):
    ref = reference()["variants"][name]
    model = _oracle_model(name, tmp_path, torch.float64)
    x = oracle_input(reference()["batch"], ref["input_size"])
    with torch.no_grad():
        features = model.forward_features(x)
        pre_logits = model.forward_head(features, pre_logits=True)
        logits = model.forward_head(features)
    expected_pre = torch.tensor(ref["pre_logits_float64"], dtype=torch.float64)
    expected_logits = torch.tensor(ref["logits_float64"], dtype=torch.float64)
    assert pre_logits.shape == expected_pre.shape
    assert (pre_logits - expected_pre).abs().max().item() <= 1e-8
    assert (logits - expected_logits).abs().max().item() <= 1e-8


@pytest.mark.parametrize("name", FORWARD_VARIANTS)
def test_outputs_match_oracle_float32(name, tmp_path):
    ref = reference()["variants"][name]
    model = _oracle_model(name, tmp_path, torch.float32)
    x = oracle_input(reference()["batch"], ref["input_size"], torch.float32)
    with torch.no_grad():
        logits = model(x).double()
    expected = torch.tensor(ref["logits_float64"], dtype=torch.float64)
    relative = (logits - expected).abs().max() / expected.abs().max()
    assert relative.item() <= 1e-4


@pytest.mark.parametrize("name", VARIANTS)
def test_gmacs_match_paper(name):
    """Within 2% of the paper's FLOPs column, or equal to it at the paper's one-decimal precision.

    Two variants (tiny: 1.563, 9: 1.841) round to the paper's figures (1.6, 1.8) but sit 2.3% from
    them, because the table rounds to one decimal; see the README.
    """
    ref = reference()["variants"][name]
    with torch.device("meta"):
        model = dualbranch.create_model(name)
    gmacs = count_macs(model) / 1e9
    paper = ref["paper_gmacs"]
    assert abs(gmacs - paper) / paper <= 0.02 or round(gmacs, 1) == paper
    # and within 1% of an independent unfused count
    assert abs(gmacs - ref["unfused_gmacs"]) / ref["unfused_gmacs"] <= 0.01
