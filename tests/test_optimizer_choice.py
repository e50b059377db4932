"""``optim.optimizer``: AdamW (the default) or RAdam, both with decoupled weight decay on the weights only.

The oracle is each optimizer's first update from its paper: AdamW moves every weight by lr · sign(grad)
(m̂ / sqrt(v̂) = g / |g| at step 1); RAdam's variance is not yet rectifiable (ρ₁ = 1 < 5), so its first
update is momentum SGD, lr · m̂ = lr · grad (Liu et al., ICLR 2020, Algorithm 2). Both first shrink the
weights by (1 − lr · weight_decay) and leave biases undecayed.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dualbranch.train.config import load_config
from dualbranch.train.scoring import ClassificationScoring
from dualbranch.train.task import TrainingTask

LR, DECAY = 0.05, 5e-4


def _first_update(optimizer: str) -> tuple[nn.Linear, dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """A (4 -> 3) Linear after one step of ``optimizer``: (the layer, the weights before, their gradients)."""
    torch.manual_seed(0)
    layer = nn.Linear(4, 3)
    overrides = [f"optim.optimizer={optimizer}", f"optim.lr={LR}", f"optim.weight_decay={DECAY}", "optim.epochs=1"]
    config = load_config(None, overrides)
    task = TrainingTask(layer, config, ClassificationScoring(["a", "b", "c"]), None, None, steps_per_epoch=1)
    optimizer_ = task.configure_optimizers()["optimizer"]
    before = {n: p.detach().clone() for n, p in layer.named_parameters()}
    nn.functional.cross_entropy(layer(torch.randn(8, 4)), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])).backward()
    grads = {n: p.grad.detach().clone() for n, p in layer.named_parameters()}
    optimizer_.step()
    return layer, before, grads


def test_radam_first_update_is_momentum_sgd_with_decoupled_decay():
    layer, before, grads = _first_update("radam")
    expected = before["weight"] * (1 - LR * DECAY) - LR * grads["weight"]
    torch.testing.assert_close(layer.weight.detach(), expected, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(layer.bias.detach(), before["bias"] - LR * grads["bias"], rtol=1e-5, atol=1e-7)


def test_adamw_stays_the_default_and_moves_by_the_gradients_sign():
    assert load_config(None, []).optim.optimizer == "adamw"
    layer, before, grads = _first_update("adamw")
    expected = before["weight"] * (1 - LR * DECAY) - LR * grads["weight"].sign()
    torch.testing.assert_close(layer.weight.detach(), expected, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("optimizer", ["adamw", "radam"])
def test_norms_and_biases_are_not_decayed(optimizer):
    layer = nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4))
    config = load_config(None, [f"optim.optimizer={optimizer}", "optim.weight_decay=0.1", "optim.epochs=1"])
    task = TrainingTask(layer, config, ClassificationScoring(["a", "b"]), None, None, steps_per_epoch=1)
    groups = task.configure_optimizers()["optimizer"].param_groups
    assert [len(g["params"]) for g in groups] == [1, 3] and [g["weight_decay"] for g in groups] == [0.1, 0.0]
