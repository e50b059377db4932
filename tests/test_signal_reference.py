"""EEG models against their authors' code: outputs equal the recorded official outputs in float64.

tests/data/signal_reference.json holds, per case, the official model's outputs for a reduced
configuration (see scripts/signal_reference.py, which records them from checkouts of the official
repositories, and tests/data/README.md). Here this library's model is built with the same arguments,
filled with the same deterministic weights (:func:`filled_state`) and run on the same input.

Shape legend: B batch (2), C channels, T samples.
"""

from __future__ import annotations

import json
import math
import zlib
from pathlib import Path

import pytest
import torch
from torch import nn

import dualbranch

REFERENCE = Path(__file__).parent / "data" / "signal_reference.json"
CASES = ["dbconformer_eval", "eeg_conformer_eval", "mvcnet_eval"]


def fill_value(name: str, shape: tuple[int, ...]) -> torch.Tensor:
    """The fixture's deterministic float64 value of the parameter or buffer ``name`` (this library's key).

    A golden-ratio sequence, base[i] = 2·frac(0.6180339887498949·i + crc32(name) mod 10007 / 10007) − 1,
    uniform on [−1, 1) and far from low rank (a sine of i, as the forecasting fixture uses, makes every
    weight matrix rank 2 and the attention almost uniform). 1-D: ``1 + 0.1·base`` for norm and
    BatchNorm weights, else ``0.05·base``; otherwise ``base·√(3 / fan_in)``, variance 1 / fan_in.
    """
    n = math.prod(shape)
    phase = (zlib.crc32(name.encode("utf-8")) % 10007) / 10007
    base = (2 * torch.frac(torch.arange(n, dtype=torch.float64) * 0.6180339887498949 + phase) - 1).reshape(shape)
    if len(shape) == 1:
        scale_like = name.endswith("weight") and ("norm" in name or "bn" in name)
        return 1 + 0.1 * base if scale_like else 0.05 * base
    return base * math.sqrt(3 / math.prod(shape[1:]))


def filled_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """Every parameter of ``model`` as :func:`fill_value` of its name, and BatchNorm running statistics
    off the (0, 1) they start at (mean within ±0.1, variance within 0.9..1.1), so that evaluation mode
    really normalises: float64 tensors by this library's names."""
    state = {name: fill_value(name, tuple(p.shape)) for name, p in model.named_parameters()}
    for name, buffer in model.named_buffers():
        if name.endswith("running_mean"):
            state[name] = 2 * fill_value(name, tuple(buffer.shape))
        elif name.endswith("running_var"):
            state[name] = 1 + 2 * fill_value(name, tuple(buffer.shape))
    return state


def signal_input(args: dict) -> torch.Tensor:
    """The fixture's (B=2, C, T) float64 input for a case's model arguments: in channel c of example b,
    1.5·(1 + 0.9·sin(6π·t/T·(1 + 0.1c) + b + c))·sin(π/2·t²/T·(1 + 0.05c)(1 + 0.1b) + 0.9c), a chirp
    from 0 to about π rad/sample (so every filter sees its band somewhere) whose power changes over
    the window (so pooled tokens differ and attention has something to choose)."""
    steps = args["n_times"]
    t = torch.arange(steps, dtype=torch.float64)  # (T,)
    c = torch.arange(args["n_chans"], dtype=torch.float64)[:, None]  # (C, 1)
    b = torch.arange(2, dtype=torch.float64)[:, None, None]  # (B, 1, 1)
    envelope = 1 + 0.9 * torch.sin(6 * math.pi * t / steps * (1 + 0.1 * c) + b + c)  # (B, C, T)
    return 1.5 * envelope * torch.sin(math.pi / 2 * t**2 / steps * (1 + 0.05 * c) * (1 + 0.1 * b) + 0.9 * c)


def outputs(model: nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """What a case records, by name: the logits, plus each model's own intermediate results.

    EEG Conformer: ``tokens``, the encoder's tokens averaged over time (B, D). MVCNet: ``embedding`` h
    and ``projection`` z of :meth:`~dualbranch.models.mvcnet.MVCNet.forward_views` (B, E) each.
    DBConformer: the two halves of the fused vector, ``embedding`` the temporal tokens' mean and
    ``projection`` the channel-attention pool (B, D) each, as ``forward_train`` names them.
    """
    if hasattr(model, "forward_views"):
        return dict(model.forward_views(x))
    if model.num_branches == 2:
        return dict(model.forward_train(x))
    tokens = model.forward_features(x)[0]  # (B, N, D)
    return {"logits": model.forward_head([tokens]), "tokens": tokens.mean(dim=1)}


@pytest.mark.parametrize("case", CASES)
def test_outputs_equal_the_official_code_in_float64(case):
    reference = json.loads(REFERENCE.read_text())[case]
    model = dualbranch.create_model(reference["model"], **reference["args"]).double()
    model.load_state_dict({**model.state_dict(), **filled_state(model)})
    model.train(reference["training"])
    with torch.no_grad():
        got = outputs(model, signal_input(reference["args"]))
    assert set(reference["outputs"]) <= set(got)
    for name, values in reference["outputs"].items():
        expected = torch.tensor(values, dtype=torch.float64)
        assert got[name].shape == expected.shape, name
        assert torch.allclose(got[name], expected, atol=1e-10, rtol=0), (name, (got[name] - expected).abs().max())


def test_the_fill_reaches_every_parameter_and_moves_the_batchnorm_statistics():
    # the comparison above is only as strong as the fill: nothing may stay at its random start
    reference = json.loads(REFERENCE.read_text())
    for case in CASES:
        model = dualbranch.create_model(reference[case]["model"], **reference[case]["args"]).double()
        state = filled_state(model)
        assert {name for name, _ in model.named_parameters()} <= set(state)
        stats = [name for name in state if name.endswith(("running_mean", "running_var"))]
        assert stats and all(not torch.equal(state[n], torch.zeros_like(state[n])) for n in stats)
