"""RocketFormer's choice of the Transformer branch's weight on held-out examples: the grid search against
hand-made logits, the choice going to the branch that works when the other is useless, the choice kept
in the weights (save / load, predictions), weights saved before it existed, and a run that makes it."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from dualbranch.checkpoint import load_checkpoint, read_state_dict, save_checkpoint
from dualbranch.errors import ConfigError
from dualbranch.layers.branch_choice import BRANCH_WEIGHTS, choose_branch_weight
from dualbranch.layers.example_memo import ExampleMemo
from dualbranch.models.rocket_former import RocketFormer
from dualbranch.train.config import load_config
from dualbranch.train.pipeline import fit
from dualbranch.train.task import fusion_split


def _waves(n: int, length: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Two classes: a slow or a fast sine, random phase and noise (n, 1, length)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    t = np.arange(length)
    phase = rng.uniform(0, 6, (n, 1))
    x = np.sin(2 * np.pi * t / np.where(y == 0, 20, 7)[:, None] + phase) + 0.3 * rng.normal(size=(n, length))
    return torch.tensor(x[:, None], dtype=torch.float32), torch.from_numpy(y)


def _sure(labels: torch.Tensor, margin: torch.Tensor | float) -> torch.Tensor:
    """Two-class logits (n, 2): the true class ``margin`` above the other (negative: wrong)."""
    margin = torch.as_tensor(margin, dtype=torch.float32).expand(len(labels))
    sign = 1.0 - 2.0 * labels.float()  # class 0: +, class 1: -
    return torch.stack([margin * sign / 2, -margin * sign / 2], dim=1)


def test_grid_search_scores_every_weight_and_chooses_the_lowest_cross_entropy():
    labels = torch.tensor([0, 1, 0, 1])
    right = _sure(labels, 3.0)  # confident and right
    # the added branch confidently wrong: any weight of it loses, the base alone wins
    choice = choose_branch_weight(right, -4 * right, labels)
    assert choice.weight == 0.0 and set(choice.accuracy) == set(BRANCH_WEIGHTS) == set(choice.cross_entropy)
    assert choice.accuracy[0.0] == 1.0 and choice.accuracy[1.0] == 0.0
    # a base that knows nothing (equal logits) and a right added branch: the most of it
    assert choose_branch_weight(torch.zeros(4, 2), right, labels).weight == max(BRANCH_WEIGHTS)
    # every weight ties (an added branch of zeros changes nothing): the smallest weight
    assert choose_branch_weight(right, torch.zeros(4, 2), labels).weight == 0.0
    # cross-entropy is the mean over the held-out examples of the weighted sum's
    expected = torch.nn.functional.cross_entropy(right.double() + 0.5 * right.double(), labels)
    assert choose_branch_weight(right, right, labels).cross_entropy[0.5] == pytest.approx(float(expected))
    # the base right on all 4 but barely (margin 0.1); the added branch surer, right on 3 and wrong on 1
    # (margin -0.5): accuracy would keep the base alone (100 % against 75 %), cross-entropy takes the sum
    # (mean log-loss 0.444 at w = 1 against 0.644 at w = 0)
    base, added = _sure(labels, 0.1), _sure(labels, torch.tensor([1.0, 1.0, 1.0, -0.5]))
    choice = choose_branch_weight(base, added, labels)
    assert choice.accuracy[0.0] == 1.0 and choice.accuracy[1.0] == 0.75
    assert choice.cross_entropy[1.0] == pytest.approx(0.444, abs=1e-3)
    assert choice.cross_entropy[0.0] == pytest.approx(0.644, abs=1e-3)
    assert choice.weight == 1.0
    with pytest.raises(ValueError, match="logits"):
        choose_branch_weight(torch.zeros(3, 2), torch.zeros(4, 2), labels)


def _fitted(seed: int = 0) -> tuple[RocketFormer, torch.Tensor, torch.Tensor]:
    torch.manual_seed(seed)
    model = RocketFormer(n_times=60, n_outputs=2, num_kernels=300)
    x, y = _waves(40, 60, seed)
    model.fit_closed_form(x, y)
    return model, x, y


def test_a_useless_transformer_branch_is_dropped_and_the_kernel_branch_decides_alone():
    model, _, _ = _fitted()
    with torch.no_grad():  # the Transformer branch says "class 0" loudly, whatever the series
        model.final_layer.linear.weight.zero_()
        model.final_layer.linear.bias.copy_(torch.tensor([1e4, -1e4]))
    held_x, held_y = _waves(30, 60, 5)
    chosen = model.choose_fusion(held_x, held_y)
    assert chosen["transformer_weight"] == 0.0 and float(model.final_layer.transformer_weight) == 0.0
    assert chosen["kernel_accuracy"] >= 0.9 and chosen["sum_accuracy"] == 0.5 and chosen["held_out"] == 30
    assert model.training  # the mode it was in
    model.eval()
    test_x, _ = _waves(20, 60, 6)
    with torch.no_grad():
        kernel_alone = model.final_layer.kernel_logits(model.forward_features(test_x)[0][:, 0])
        torch.testing.assert_close(model(test_x), kernel_alone)


def test_a_useless_kernel_branch_leaves_the_choice_to_the_transformer_branch():
    model, x, y = _fitted()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(30):  # the Transformer branch alone learns the two waves
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model.train()(x), y).backward()
        optimizer.step()
    with torch.no_grad():  # the kernel branch knows nothing: the same scores for every series
        model.final_layer.ridge_weight.zero_()
        model.final_layer.ridge_bias.zero_()
    held_x, held_y = _waves(30, 60, 7)
    chosen = model.choose_fusion(held_x, held_y)
    assert chosen["kernel_accuracy"] == 0.5 and chosen["chosen_accuracy"] >= 0.9
    assert chosen["transformer_weight"] == max(BRANCH_WEIGHTS)  # right and sure: as much of it as the grid has


def test_the_choice_is_saved_with_the_weights_and_predicts_the_same(tmp_path):
    model, _, _ = _fitted()
    model.final_layer.transformer_weight.fill_(0.25)
    path = save_checkpoint(model.eval(), tmp_path / "w.safetensors")
    assert float(read_state_dict(path)["final_layer.transformer_weight"]) == 0.25
    other = load_checkpoint(RocketFormer(n_times=60, n_outputs=2, num_kernels=300), path).eval()
    assert float(other.final_layer.transformer_weight) == 0.25
    test_x, _ = _waves(10, 60, 3)
    with torch.no_grad():
        torch.testing.assert_close(other(test_x), model(test_x))


def test_weights_saved_before_the_choice_existed_load_as_the_plain_sum(tmp_path):
    model, _, _ = _fitted()
    state = {k: v for k, v in model.state_dict().items() if k != "final_layer.transformer_weight"}
    other = RocketFormer(n_times=60, n_outputs=2, num_kernels=300)
    other.final_layer.transformer_weight.fill_(0.0)
    other.load_state_dict(state)  # a resumed run's checkpoint
    assert float(other.final_layer.transformer_weight) == 1.0
    path = save_checkpoint(model, tmp_path / "old.safetensors")
    saved = read_state_dict(path)
    del saved["final_layer.transformer_weight"]
    from safetensors.torch import save_file

    save_file(saved, str(tmp_path / "older.safetensors"))
    loaded = load_checkpoint(RocketFormer(n_times=60, n_outputs=2, num_kernels=300), tmp_path / "older.safetensors")
    assert float(loaded.final_layer.transformer_weight) == 1.0


def test_weights_whose_kernels_were_read_by_ppv_and_max_alone_load_and_predict_the_same(tmp_path):
    # saved before LSPV: ROCKET's two pools of 300 kernels, where today's default draws 6,666 read by three
    old = RocketFormer(n_times=60, n_outputs=2, num_kernels=300, kernel_seed=4)
    old._build_kernel_branch(300, ("ppv", "max"))
    old.final_layer = old._make_head(2)
    old.fit_closed_form(*_waves(40, 60, 0))
    path = save_checkpoint(old.eval(), tmp_path / "before_lspv.safetensors")
    loaded = load_checkpoint(RocketFormer(n_times=60, n_outputs=2, kernel_seed=4), path).eval()
    assert loaded.kernels.pools == ("ppv", "max") and loaded.kernels.num_features == 600
    # a plain load_state_dict (a resumed run, fine-tuning), into 200 kernels by three pools: also 600 features
    other = RocketFormer(n_times=60, n_outputs=2, num_kernels=200, kernel_seed=4)
    other.load_state_dict(old.state_dict())
    assert other.kernels.pools == ("ppv", "max") and other.kernels.num_kernels == 300
    test_x, _ = _waves(10, 60, 3)
    with torch.no_grad():
        torch.testing.assert_close(loaded(test_x), old(test_x))
        torch.testing.assert_close(other.eval()(test_x), old(test_x))


def test_choosing_before_the_kernel_branch_is_fitted_is_an_error():
    with pytest.raises(ConfigError, match="fit_closed_form"):
        RocketFormer(n_times=60, n_outputs=2, num_kernels=50).choose_fusion(*_waves(4, 60, 0))


def test_fusion_split_holds_out_a_share_of_each_class_only_when_needed():
    model = RocketFormer(n_times=60, n_outputs=3, num_kernels=50)
    y = np.array([0] * 10 + [1] * 10 + [2] * 5)
    train = np.arange(25)
    fitted, held = fusion_split(model, train, False, y, 0, ("a", "b", "c"))
    assert held is not None and not set(fitted) & set(held) and sorted([*fitted, *held]) == list(range(25))
    assert np.bincount(y[held]).tolist() == [2, 2, 1]  # 20 % of each class, at least one
    assert fusion_split(model, train, True, y, 0, ("a", "b", "c"))[1] is None  # the validation split chooses
    lonely = np.array([0] * 10 + [1] * 10 + [2])
    assert fusion_split(model, np.arange(21), False, lonely, 0, ("a", "b", "c"))[1] is None
    assert fusion_split(torch.nn.Linear(2, 2), train, False, y, 0, ("a", "b", "c"))[1] is None


def test_a_run_chooses_on_held_out_examples_prints_the_choice_and_saves_it(tmp_path, capsys):
    overrides = [
        "data.name=uea", "data.uea_name=UnitTest", "model.args.num_kernels=300", "optim.epochs=2",
        "trainer.threads=1", "trainer.progress_bar=false", "output.report=false", f"output.root={tmp_path}",
    ]  # fmt: skip
    run = fit(load_config(None, overrides))
    out = capsys.readouterr().out
    found = re.search(r"fusion chosen on held-out examples: transformer_weight ([\d.]+), held_out (\d+)", out)
    assert found is not None and int(found.group(2)) == 4  # 20 % of UnitTest's 2 × 10 training series
    assert "fitted in closed form on all training examples" in out
    saved = read_state_dict(run / "model.safetensors")
    assert float(saved["final_layer.transformer_weight"]) == pytest.approx(float(found.group(1)))
    assert float(found.group(1)) in BRANCH_WEIGHTS
    # the held-out cross-entropy and accuracy at every weight are printed beside the choice
    for w in BRANCH_WEIGHTS:
        assert re.search(rf"cross_entropy_w{w:g} [\d.]+, .*accuracy_w{w:g} [\d.]+", out)


def test_the_refit_on_all_examples_computes_no_kernel_features_again():
    model = RocketFormer(n_times=60, n_outputs=2, num_kernels=300)
    x, y = _waves(40, 60, 0)
    computed, compute = [], model.kernel_features
    model.kernel_features = lambda part: computed.append(len(part)) or compute(part)
    model.fit_closed_form(x[:30], y[:30])
    model.choose_fusion(x[30:], y[30:])
    refit = model.fit_closed_form(x.flip(0), y.flip(0))  # any order finds them
    assert computed == [30, 10] and model.feature_memo.hits == 40
    assert len(model.feature_memo) == 0  # a refit's rows are of no further use: forgotten
    fresh = RocketFormer(n_times=60, n_outputs=2, num_kernels=300).fit_closed_form(x.flip(0), y.flip(0))
    assert fresh == pytest.approx(refit, rel=1e-5)
    memo = ExampleMemo(limit_bytes=100)  # 40 rows of 5 floats: 800 bytes, over the limit: none kept
    rows = memo.rows_of(x, lambda part: part[:, 0, :5])
    assert torch.equal(rows, x[:, 0, :5]) and len(memo) == 0
