"""MAC counting, the registry and the `dualbranch models` command."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

import dualbranch
from dualbranch.cli import main
from dualbranch.errors import UnknownModelError
from dualbranch.flops import count_macs
from dualbranch.layers import Attention


def test_counter_sees_fused_attention_on_cpu():
    attn = Attention(dim=64, num_heads=4)
    attn.input_shape = (10, 64)  # count_macs builds (1, 10, 64)
    macs = count_macs(attn)
    linear = 10 * 64 * 3 * 64 + 10 * 64 * 64  # qkv and output projections
    attention = 2 * 4 * 10 * 10 * 16  # QKᵀ and AV, per head
    assert macs == linear + attention


def test_counter_counts_backward_too():
    class Tiny(torch.nn.Module):
        input_shape = (4, 8, 16)

        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.randn(16, 16))

        def forward(self, x):
            return F.scaled_dot_product_attention(x @ self.w, x, x)

    forward_only, with_backward = count_macs(Tiny()), count_macs(Tiny(), backward=True)
    assert with_backward > 2 * forward_only


def test_unknown_model_suggests_close_names():
    with pytest.raises(UnknownModelError, match="crossvit_9_240") as caught:
        dualbranch.create_model("crossvit9_240")
    assert isinstance(caught.value, KeyError)  # what dict-like lookups raise; `except KeyError` still works
    # shown as written, not as KeyError's quoted repr
    assert str(caught.value).startswith("Unknown model 'crossvit9_240'. Did you mean crossvit_9_240")
    assert str(caught.value).endswith("`dualbranch models` lists every model.")


def test_unknown_override_is_an_error_with_suggestion():
    with pytest.raises(TypeError, match="did you mean 'num_classes'"):
        dualbranch.create_model("crossvit_9_240", num_class=10)


def test_list_models_pattern_and_aliases():
    assert dualbranch.list_models("*dagger_408") == ["crossvit_15_dagger_408", "crossvit_18_dagger_408"]
    assert "crossvit_9_224" not in dualbranch.list_models()
    assert dualbranch.get_model_entry("crossvit_18_dagger_384").name == "crossvit_18_dagger_408"
    entry = dualbranch.get_model_entry("crossvit_9_240")
    with pytest.raises(ValueError, match="registered twice"):
        dualbranch.register_model(weights=entry.weights)(entry.builder)
    with pytest.raises(ValueError, match=r"needs weights=WeightConfig\(\.\.\.\)"):
        dualbranch.register_model()  # every registered model says how it is fed and where it begins and ends


def test_models_command_table(capsys):
    assert main(["models", "crossvit_9*"]) == 0
    out = capsys.readouterr().out
    assert "crossvit_9_240" in out and "crossvit_9_dagger_224" in out
    assert "8,553,296" in out and "8,776,592" in out
    assert "2 models" in out


def test_models_command_json_and_no_match(capsys):
    assert main(["models", "crossvit_tiny*", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows == [
        {
            "model": "crossvit_tiny_240",
            "aliases": ["crossvit_tiny_224"],
            "input": [3, 240, 240],
            "params": 7014800,
            "gmacs": pytest.approx(1.563, abs=1e-3),
        }
    ]
    assert main(["models", "resnet*"]) == 1


def test_console_script_is_installed():
    result = subprocess.run(
        [sys.executable, "-m", "dualbranch.cli", "models", "crossvit_base*"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "105,025,232" in result.stdout
