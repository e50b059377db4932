"""Photo folders through the whole run: train and test folders of different sizes, the streaming and
the in-memory path, what the run folder records, and predictions on files some of which are broken."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import yaml
from PIL import Image

from dualbranch.cli import main
from dualbranch.errors import DataError
from dualbranch.train.config import load_config
from dualbranch.train.kinds.image_choices import SHORT_SCHEDULE_CROP, STRONG_AUGMENT_EPOCHS, photo_augmentation
from dualbranch.train.pipeline import fit
from dualbranch.train.predict import predict
from photo_folders import make_photos

QUICK = ["optim.budget=6", "trainer.progress_bar=false", "output.report=false", "data.num_workers=0"]


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    root = tmp_path_factory.mktemp("photos")
    make_photos(root / "train", per_class=8, sides=(70, 150), seed=0)
    make_photos(root / "val", per_class=4, sides=(100, 220), seed=1)  # another size range altogether
    return root


@pytest.fixture(scope="module")
def streamed_run(photos, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    config = load_config(
        None,
        ["data.name=image_folder", f"data.path={photos / 'train'}", f"data.test_path={photos / 'val'}",
         f"output.root={out}", "output.name=streamed", *QUICK],
    )  # fmt: skip
    return fit(config)


def test_train_and_test_folders_of_different_sizes_stream(streamed_run):
    saved = yaml.safe_load((streamed_run / "config.yaml").read_text())
    assert saved["data"]["pipeline"] == "stream"  # chosen from the files and kept for test and resume
    side = saved["data"]["img_size"][0]
    assert saved["data"]["img_size"] == [side, side] and side % 16 == 0  # the photo hybrid's patches tile it
    record = json.loads((streamed_run / "run.json").read_text())
    assert record["input_shape"] == [3, side, side] and record["data"]["pipeline"] == "stream"
    preprocessing = json.loads((streamed_run / "preprocessing.json").read_text())
    assert preprocessing["img_size"] == [side, side] and preprocessing["crop_pct"] == 0.875
    assert preprocessing["pipeline"] == "stream"
    recipe = {c["key"]: c for c in json.loads((streamed_run / "recipe.json").read_text())["choices"]}
    assert "different sizes" in recipe["data.pipeline"]["reason"]
    metrics = json.loads((streamed_run / "metrics.json").read_text())
    with (streamed_run / "predictions.csv").open() as handle:
        predictions = list(csv.DictReader(handle))
    assert metrics["n"] == len(predictions) == 8
    assert metrics["accuracy"] == pytest.approx(np.mean([r["true"] == r["predicted"] for r in predictions]))
    assert recipe["model.name"]["value"] == "hybrid_vgg_vit_photo_hog"  # a few photos: with gradient histograms
    # a schedule of a few passes: crops and flips, none of DeiT's heavier augmentation
    assert recipe["augment.trivial_augment"]["value"] is False and recipe["augment.erase_prob"]["value"] == 0.0
    assert "over the photos (fewer than 30)" in recipe["augment.erase_prob"]["reason"]
    assert saved["augment"]["trivial_augment"] is False and saved["augment"]["crop_scale"] == [0.35, 1.0]


@pytest.mark.parametrize("epochs", [29, 30, 300])
def test_photo_augmentation_grows_with_the_passes_over_the_photos(epochs):
    chosen = {key: value for key, value, _ in photo_augmentation(epochs)}
    if epochs < STRONG_AUGMENT_EPOCHS:
        assert chosen == {
            "augment.trivial_augment": False,
            "augment.erase_prob": 0.0,
            "augment.crop_scale": list(SHORT_SCHEDULE_CROP),
        }
    else:  # the long schedule keeps ImageNet's crops (the config's default, 8 % to all of the photo)
        assert chosen == {"augment.trivial_augment": True, "augment.erase_prob": 0.25}


def test_a_long_photo_schedule_gets_deits_augmentation_and_the_users_keys_stay(photos, capsys):
    common = ["fit", "--print-config", "data.name=image_folder", f"data.path={photos / 'train'}"]
    assert main([*common, "optim.epochs=40"]) == 0
    printed = capsys.readouterr().out
    assert "#   augment.trivial_augment = True   (TrivialAugment" in printed and "40 passes" in printed
    assert "#   augment.erase_prob = 0.25" in printed
    assert main([*common, "optim.epochs=40", "augment.erase_prob=0.1"]) == 0
    printed = capsys.readouterr().out
    assert "#   augment.erase_prob" not in printed and "erase_prob: 0.1" in printed
    assert "#   augment.crop_scale" not in printed and "crop_scale:\n  - 0.08" in printed
    # a short schedule gets the milder crops, unless the user gave crop_scale
    assert main([*common, "optim.epochs=5", "augment.crop_scale=[0.2,1.0]"]) == 0
    printed = capsys.readouterr().out
    assert "#   augment.crop_scale" not in printed and "crop_scale:\n  - 0.2" in printed


def test_forcing_the_memory_path_resizes_every_folder_to_the_training_size(photos, tmp_path):
    config = load_config(
        None,
        ["data.name=image_folder", f"data.path={photos / 'train'}", f"data.test_path={photos / 'val'}",
         "data.pipeline=memory", "data.img_size=[32,40]", f"output.root={tmp_path}", *QUICK],
    )  # fmt: skip
    run = fit(config)
    assert json.loads((run / "run.json").read_text())["input_shape"] == [3, 32, 40]
    assert json.loads((run / "metrics.json").read_text())["n"] == 8


def test_a_grayscale_folder_streams_with_one_channel(tmp_path):
    root = make_photos(tmp_path / "gray", per_class=6, mode="L")
    config = load_config(
        None, ["data.name=image_folder", f"data.path={root}", "data.pipeline=stream", f"output.root={tmp_path}",
               "data.val_ratio=0.25", *QUICK],
    )  # fmt: skip
    run = fit(config)
    assert json.loads((run / "run.json").read_text())["input_shape"][0] == 1


def _inputs_with_broken_files(tmp_path):
    folder = make_photos(tmp_path / "new", classes=("x",), per_class=3, seed=5) / "x"
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 broken")
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(folder / "cut.jpg")
    (folder / "cut.jpg").write_bytes((folder / "cut.jpg").read_bytes()[:50])
    return folder


def test_predict_names_every_unreadable_input_or_skips_and_lists_them(streamed_run, tmp_path):
    folder = _inputs_with_broken_files(tmp_path)
    with pytest.raises(DataError, match=r"2 of 5 inputs cannot be read: .*broken\.jpg.*cut\.jpg.*--on-corrupt skip"):
        predict(streamed_run, [str(folder)])
    out = tmp_path / "predictions.csv"
    assert main(["predict", str(streamed_run), str(folder), "--output", str(out), "--on-corrupt", "skip"]) == 0
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 3 and {r["label"] for r in rows} <= {"ants", "bees"}
    with open(f"{out}.skipped.csv") as handle:
        skipped = list(csv.DictReader(handle))
    assert sorted(r["input"].rsplit("/", 1)[-1] for r in skipped) == ["broken.jpg", "cut.jpg"]


def test_predict_feeds_a_photo_as_evaluation_did(streamed_run, photos):
    rows = predict(streamed_run, [str(photos / "val")])
    assert len(rows) == 8
    red = [r for r in rows if "/ants/" in r["input"]]
    assert all(float(r["probability"]) > 0 for r in red)


def test_the_papers_imagenet_recipe_is_a_built_in_config_the_recipe_leaves_alone(photos):
    from dualbranch.train.pipeline import plan_run

    config = load_config("crossvit_imagenet", [f"data.path={photos / 'train'}", f"data.val_path={photos / 'val'}"])
    plan = plan_run(config, dry=True)
    resolved = plan.config
    assert resolved.model.name == "crossvit_9_240" and resolved.data.img_size == (240, 240)
    assert (resolved.optim.lr, resolved.optim.weight_decay, resolved.optim.epochs) == (5e-4, 0.05, 300)
    assert resolved.optim.scale_lr_by_batch and resolved.optim.warmup_epochs == 5
    aug = resolved.augment
    assert (aug.mixup_alpha, aug.cutmix_alpha, aug.erase_prob, aug.label_smoothing) == (0.8, 1.0, 0.25, 0.1)
    assert aug.randaug_ops == 2 and not aug.trivial_augment and aug.hflip == 0.5
    assert resolved.model.args["drop_path_rate"] == 0.1
    chosen = {c.key for c in plan.recipe.choices}
    assert not chosen & {"optim.lr", "augment.trivial_augment", "data.img_size", "model.name"}


def test_fine_tuning_feeds_photos_as_the_checkpoint_was_trained(streamed_run, tmp_path):
    from dualbranch.checkpoint import read_weight_config

    weights = read_weight_config(streamed_run / "model.safetensors")
    trained = json.loads((streamed_run / "preprocessing.json").read_text())
    assert list(weights.mean) == trained["mean"] and list(weights.input_size[1:]) == trained["img_size"]
    assert (weights.crop_pct, weights.interpolation) == (trained["crop_pct"], "bicubic")
    assert weights.first_conv and weights.classifier == ("head.0", "head.1")
    new_photos = make_photos(tmp_path / "new", classes=("a", "b", "c"), per_class=4, sides=(50, 90), seed=3)
    config = load_config(
        None,
        ["data.name=image_folder", f"data.path={new_photos}", "data.val_ratio=0.25", f"output.root={tmp_path}",
         f"model.checkpoint={streamed_run / 'model.safetensors'}", "model.name=hybrid_vgg_vit_small", *QUICK],
    )  # fmt: skip
    run = fit(config)
    recipe = {c["key"]: c for c in json.loads((run / "recipe.json").read_text())["choices"]}
    assert (
        recipe["data.img_size"]["value"] == trained["img_size"]
        and "as model.safetensors" in recipe["data.img_size"]["reason"]
    )
    assert recipe["optim.lr"]["value"] == pytest.approx(1e-4)
    tuned = json.loads((run / "preprocessing.json").read_text())
    assert tuned["mean"] == trained["mean"] and tuned["std"] == trained["std"]  # not refitted on the new photos
    assert json.loads((run / "run.json").read_text())["model_args"]["num_classes"] == 3  # a new classifier
