"""The recipe: what the config leaves open is chosen from the data (model, batch, schedule, augmentation),
what the user set is kept, and the choices are printed and stored with the run."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch

from dualbranch.data.images import ImageData
from dualbranch.data.signal import SignalData
from dualbranch.errors import ConfigError
from dualbranch.factory import create_model
from dualbranch.train.budget import CAP_FLOOR, MIN_UPDATES, auto_updates
from dualbranch.train.config import load_config
from dualbranch.train.kinds import RunData
from dualbranch.train.pipeline import fit
from dualbranch.train.recipe import parse_budget, resolve_recipe, resolve_validation
from dualbranch.train.run_model import model_macs, model_options


def _images(n: int, side: int) -> RunData:
    images = torch.zeros(n, 1, side, side, dtype=torch.uint8)
    labels = torch.arange(n) % 10
    data = ImageData(images, labels, tuple(str(i) for i in range(10)))
    return RunData(data, labels.numpy(), data.class_names)


def _series(n: int, chans: int, times: int, sfreq: float | None) -> RunData:
    data = SignalData(np.zeros((n, chans, times)), np.arange(n) % 2, ("a", "b"), sfreq=sfreq)
    return RunData(data, data.y, data.class_names)


def _recipe(overrides: list[str], dataset: RunData, n_train: int, rate: float = 10.0, config_file: str | None = None):
    config = load_config(config_file, overrides)
    kind = config.kind
    recipe = resolve_recipe(
        config, kind, dataset, n_train, model_options, lambda c: rate, lambda c: model_macs(c, kind, dataset)
    )
    return config, {c.key: c.value for c in recipe.choices}


@pytest.mark.parametrize(
    ("text", "expected"),
    [("auto", ("auto", 0.0)), ("4000", ("steps", 4000.0)), ("250 steps", ("steps", 250.0)),
     ("15m", ("seconds", 900.0)), ("1.5h", ("seconds", 5400.0)), ("90s", ("seconds", 90.0))],
)  # fmt: skip
def test_budgets_are_updates_or_wall_time(text, expected):
    assert parse_budget(text) == expected


def test_a_bad_budget_says_what_a_budget_is():
    with pytest.raises(ConfigError, match="'15 minutes' is not a budget; give auto, a number of updates"):
        parse_budget("15 minutes")


def test_small_images_get_small_shifts_no_flips_and_no_erasing():
    config, chosen = _recipe(["data.name=digits"], _images(1300, 8), 1300)
    # 8-px patches cover 8×8 digits, 7-px ones do not; 1,300 images also get the gradient-histogram branch
    assert chosen["model.name"] == "hybrid_vgg_vit_tiny_patch8_hog"
    assert chosen["augment.translate"] == 0 and chosen["augment.erase_prob"] == 0.0
    assert chosen["augment.hflip"] == 0.0  # blank images: the mirror check cannot tell, so no flips
    assert config.augment.mixup_alpha == 0.0
    assert chosen["data.batch_size"] == 128


@pytest.mark.parametrize(
    ("side", "expected"),
    [(28, "hybrid_vgg_vit_tiny_hog"), (32, "hybrid_vgg_vit_tiny_patch8_hog"), (64, "hybrid_vgg_vit_tiny_patch8_hog")],
)
def test_small_images_get_a_hybrid_whose_patches_cover_them(side, expected):
    _, chosen = _recipe(["data.name=npz", "data.path=x"], _images(200, side), 200)
    assert chosen["model.name"] == expected
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a patch grid that leaves rows unseen warns
        create_model(expected, img_size=side, in_chans=1)


def test_larger_images_in_memory_get_proportionate_augmentation_and_the_photo_hybrid():
    _, chosen = _recipe(["data.name=npz", "data.path=x"], _images(200, 96), 200)
    assert chosen["model.name"] == "hybrid_vgg_vit_small"  # a few hundred images: convolutions, not a ViT
    assert chosen["augment.translate"] == 8 and chosen["augment.erase_prob"] == 0.1
    assert chosen["augment.randaug_ops"] == 1
    assert chosen["data.batch_size"] == 32  # an eighth of 200, as a power of two


def test_series_get_rocketformer_and_eeg_gets_dbconformer():
    _, short = _recipe(["data.name=uea", "data.uea_name=GunPoint"], _series(50, 1, 150, None), 50)
    assert short["model.name"] == "rocketformer" and short["augment.shift"] == 7
    assert "model.args.global_pool" not in short and short["augment.mixup"] == 0.2  # RocketFormer has none
    assert short["optim.budget"] == "600"  # its Transformer branch only: the kernel branch is fitted in closed form
    _, eeg = _recipe(["data.name=eegbci"], _series(45, 64, 641, 160.0), 36)
    assert eeg["model.name"] == "dbconformer" and "augment.mixup" not in eeg  # EEG keeps its measured recipe
    assert "model.args.global_pool" not in eeg  # DBConformer has no such option: not set, not an error


def test_a_shipped_config_keeps_its_tuned_augmentation():
    # tuned without Mixup, and says so (mixup: 0.0)
    config, chosen = _recipe([], _series(40, 6, 100, None), 40, config_file="basicmotions")
    assert "augment.mixup" not in chosen and config.augment.mixup == 0.0


def test_what_the_user_set_is_kept():
    overrides = ["data.name=digits", "model.name=hybrid_cnn_vit_tiny", "augment.translate=3", "data.batch_size=16",
                 "optim.epochs=7", "model.args.drop_path_rate=0.0"]  # fmt: skip
    config, chosen = _recipe(overrides, _images(1300, 8), 1300)
    assert not {"model.name", "augment.translate", "data.batch_size", "optim.epochs"} & set(chosen)
    assert "model.args.drop_path_rate" not in chosen
    assert (config.model.name, config.augment.translate, config.data.batch_size, config.optim.epochs) == (
        "hybrid_cnn_vit_tiny", 3, 16, 7,
    )  # fmt: skip


def test_budgets_become_epochs():
    config, chosen = _recipe(["data.name=digits", "optim.budget=1000"], _images(1300, 8), 1280)
    assert chosen["optim.epochs"] == 100 and config.optim.warmup_epochs == 5.0  # 10 updates per epoch
    _, timed = _recipe(["data.name=digits", "optim.budget=2m"], _images(1300, 8), 1280, rate=5.0)
    assert timed["optim.epochs"] == round(0.9 * 120 * 5.0 / 10)  # 90 % of 2 minutes at 5 updates/s
    _, auto = _recipe(["data.name=digits"], _images(1300, 8), 1280)
    assert auto["optim.epochs"] == 200  # 2,000 updates at least: 30 epochs of 10 would be 300


def test_tiny_training_sets_train_on_everything():
    config = load_config(None, ["data.name=digits"])
    assert resolve_validation(config, 300, has_test=True).value == 0.0 and config.data.val_ratio == 0.0
    kept = load_config(None, ["data.name=digits", "data.val_ratio=0.2"])
    assert resolve_validation(kept, 300, has_test=True) is None and kept.data.val_ratio == 0.2
    untested = load_config(None, ["data.name=digits"])  # without a test split, validation is the score
    assert resolve_validation(untested, 300, has_test=False) is None
    assert resolve_validation(load_config(None, ["data.name=digits"]), 5000, has_test=True) is None


def test_the_recipe_is_printed_and_stored_with_the_run(tmp_path, capsys):
    overrides = ["data.name=digits", "data.limit_train=200", "data.limit_eval=50", "optim.budget=10",
                 "trainer.progress_bar=false", "output.report=false", f"output.root={tmp_path}"]  # fmt: skip
    run = fit(load_config(None, overrides))
    assert "recipe (budget 10;" in capsys.readouterr().out
    stored = {c["key"]: c["value"] for c in json.loads((run / "recipe.json").read_text())["choices"]}
    assert stored["model.name"] == "hybrid_vgg_vit_tiny_patch8_hog" and stored["optim.epochs"] >= 1
    assert load_config(run / "config.yaml").optim.epochs == stored["optim.epochs"]  # resume needs nothing new


def test_the_default_budget_comes_from_the_data_never_from_a_timing():
    """Fashion-MNIST's shape and size give the README's default run, 9 epochs of 422 updates, whatever the
    machine measures: auto never times a step (the step-rate function here would fail the test)."""

    def no_timing(config):
        raise AssertionError("optim.budget=auto must not time the training step")

    config = load_config(None, ["data.name=digits"])
    dataset, kind = _images(60000, 28), config.kind
    recipe = resolve_recipe(
        config, kind, dataset, 54000, model_options, no_timing, lambda c: model_macs(c, kind, dataset)
    )
    chosen = {c.key: c for c in recipe.choices}
    assert chosen["model.name"].value == "hybrid_vgg_vit_tiny" and chosen["data.batch_size"].value == 128
    assert chosen["optim.epochs"].value == 9  # 3,821 updates: 41 T multiply-adds of 10.7 G each
    assert (
        "capped at 41 T multiply-adds" in chosen["optim.epochs"].reason
        and "3821 updates" in chosen["optim.epochs"].reason
    )
    # a large model on large inputs is capped harder, but keeps the floor
    updates, why = auto_updates(steps_per_epoch=40, batch_size=128, macs_per_example=2e9)
    assert updates == CAP_FLOOR and "-> 600 updates" in why
    # small sets are untouched by the cap: 2,000 updates, as the small-set accuracies were measured
    assert auto_updates(steps_per_epoch=7, batch_size=8, macs_per_example=12e6)[0] == MIN_UPDATES
