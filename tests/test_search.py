"""optim.search: keys chosen on the validation split within the budget, the winners set, stored and printed."""

from __future__ import annotations

import json

import pytest

from dualbranch.errors import ConfigError
from dualbranch.train.config import load_config
from dualbranch.train.pipeline import fit
from dualbranch.train.recipe import SEARCH_SHARE
from dualbranch.train.search import SEARCHABLE, run_search
from dualbranch.train.sections import SEARCH_KEYS


def _config(overrides: list[str]):
    config = load_config(None, ["data.name=digits", *overrides])
    config.optim.epochs = 14  # the final run's length, as the recipe leaves it
    return config


def test_every_key_the_config_accepts_can_be_searched():
    assert set(SEARCH_KEYS) == set(SEARCHABLE)


def test_the_best_trial_wins_and_each_trial_is_a_short_full_schedule():
    config = _config(["optim.search=lr", "optim.lr=0.003"])
    seen = []

    def trial(candidate):
        seen.append((candidate.optim.lr, candidate.optim.epochs, candidate.optim.warmup_epochs))
        return {0.001: 0.5, 0.003: 0.7, 0.009: 0.6}[round(candidate.optim.lr, 6)]

    [choice] = run_search(config, True, lambda name: {"drop_path_rate"}, trial, maximize=True)
    assert [round(lr, 6) for lr, _, _ in seen] == [0.001, 0.003, 0.009]
    # 14 final epochs are 70 % of the budget: the other 6 are shared by the 3 trials
    assert {epochs for _, epochs, _ in seen} == {round(14 * SEARCH_SHARE / (1 - SEARCH_SHARE) / 3)} == {2}
    assert {warmup for _, _, warmup in seen} == {0.1}
    assert choice.key == "optim.lr" and choice.value == pytest.approx(0.003) == config.optim.lr
    assert "0.001: 0.5000" in choice.reason and config.optim.epochs == 14


def test_a_loss_is_minimised_and_keys_are_searched_in_turn():
    config = _config(["optim.search=[lr,drop_path_rate]", "model.args.drop_path_rate=0.1"])

    def trial(candidate):  # a validation loss: the smallest learning rate and the most stochastic depth win
        return candidate.optim.lr - candidate.model.args["drop_path_rate"]

    lr, drop_path = run_search(config, True, lambda name: {"drop_path_rate"}, trial, maximize=False)
    assert lr.value == pytest.approx(1e-3 / 3) and drop_path.value == pytest.approx(0.2)
    assert config.optim.lr == pytest.approx(1e-3 / 3) and config.model.args["drop_path_rate"] == pytest.approx(0.2)


def test_nothing_is_tried_without_a_search():
    assert run_search(_config([]), False, lambda name: set(), lambda c: pytest.fail("no trial expected"), True) == []


@pytest.mark.parametrize(
    ("overrides", "validation", "fields", "message"),
    [
        (["optim.search=lr"], False, set(), "has none"),
        (["optim.search=drop_path_rate"], True, set(), "has no such option"),
        (["optim.search=lr", "trainer.devices=2"], True, set(), "one process"),
    ],
)
def test_a_search_that_cannot_run_says_why(overrides, validation, fields, message):
    with pytest.raises(ConfigError, match=message):
        run_search(_config(overrides), validation, lambda name: fields, lambda c: 0.0, True)


def test_unknown_or_repeated_keys_are_refused():
    for bad in ("optim.search=[lr,momentum]", "optim.search=[lr,lr]"):
        with pytest.raises(ConfigError, match="distinct keys from lr, drop_path_rate"):
            load_config(None, [bad])


def test_a_searched_run_stores_the_trials_and_trains_with_the_winner(tmp_path, capsys):
    overrides = ["data.name=digits", "data.limit_train=300", "data.limit_eval=50", "optim.budget=40",
                 "optim.search=lr", "trainer.progress_bar=false", "output.report=false",
                 f"output.root={tmp_path}"]  # fmt: skip
    run = fit(load_config(None, overrides))
    out = capsys.readouterr().out
    assert out.count("search optim.lr = ") == 3
    choices = {c["key"]: c for c in json.loads((run / "recipe.json").read_text())["choices"]}
    # below 1,000 examples the recipe would train on everything; a search keeps a validation split
    assert "data.val_ratio" not in choices
    assert "chosen on validation" in choices["optim.lr"]["reason"]
    saved = load_config(run / "config.yaml")
    assert saved.optim.lr == pytest.approx(choices["optim.lr"]["value"])
    assert saved.optim.epochs == choices["optim.epochs"]["value"]
    history = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    assert len(history) == saved.optim.epochs and history[-1]["val_acc"] is not None
    fit(saved, resume=run)  # a resumed run keeps the winner: nothing is searched again
    assert "search optim.lr" not in capsys.readouterr().out
    assert load_config(run / "config.yaml").optim.lr == saved.optim.lr
