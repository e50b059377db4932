"""The mirror check: flips are chosen only where a linear probe recognises mirror images as their class."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from PIL import Image

from dualbranch.data.images import ImageData, load_digits
from dualbranch.data.mirror_check import MIN_KEPT, check_mirror
from dualbranch.data.photos import index_image_folder, survey
from dualbranch.train.config import load_config
from dualbranch.train.kinds import RunData
from dualbranch.train.kinds.image_choices import choose_flips
from dualbranch.train.recipe import resolve_recipe
from dualbranch.train.run_model import model_macs, model_options

SIDE = 28  # a size the small-image model's patches tile


def _sided(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Class 0 is bright on the left, class 1 on the right: a mirror image is the other class."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 2
    images = torch.randint(0, 120, (n, 3, SIDE, SIDE), generator=generator)
    left = labels == 0
    images[left, :, :, : SIDE // 2] += 100
    images[~left, :, :, SIDE // 2 :] += 100
    return images.to(torch.uint8), labels


def _unsided(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Four classes told apart by colour, over textures that face either way: a mirror image is the same class."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 4
    images = torch.randint(0, 150, (n, 3, SIDE, SIDE), generator=generator)
    for k in range(3):
        images[labels == k, k] += 80
    return images.to(torch.uint8), labels


def test_mirror_images_of_digits_lose_their_class():
    digits = load_digits("train")
    check = check_mirror(digits.images, digits.labels)
    assert check.informative and check.accuracy > 0.85 and check.mirrored_accuracy < 0.5
    assert not check.allows_flips and check.kept < 0.5
    assert check.reason().startswith("no flips: mirror images are recognised less well than the images")


def test_classes_told_apart_by_side_get_no_flips():
    check = check_mirror(*_sided(400))
    assert check.accuracy > 0.95 and check.mirrored_accuracy < 0.05  # each mirror image is read as the other class
    assert not check.allows_flips


def test_classes_without_a_side_get_flips():
    check = check_mirror(*_unsided(400))
    assert check.examples == 400 and check.accuracy > 0.9
    assert check.kept >= MIN_KEPT and check.allows_flips
    assert check.reason().startswith("flips: mirror images are recognised as well as the images")


def test_a_probe_at_chance_decides_nothing():
    images, _ = _unsided(400)
    labels = torch.randint(0, 4, (400,), generator=torch.Generator().manual_seed(1))
    check = check_mirror(images, labels)
    assert not check.informative and not check.allows_flips
    assert "too little to tell" in check.reason()


def test_the_check_samples_at_most_its_limit_and_is_seeded():
    images, labels = _unsided(5000)
    first, again = check_mirror(images, labels, seed=3), check_mirror(images, labels, seed=3)
    assert first.examples == 4000 and first == again


def _recipe(overrides: list[str], images: torch.Tensor, labels: torch.Tensor) -> tuple[object, dict]:
    data = ImageData(images, labels, tuple(str(k) for k in range(int(labels.max()) + 1)))
    dataset = RunData(data, labels.numpy(), data.class_names)
    config = load_config(None, ["data.name=npz", "data.path=x", *overrides])
    kind = config.kind
    recipe = resolve_recipe(
        config, kind, dataset, len(labels), model_options, lambda c: 10.0, lambda c: model_macs(c, kind, dataset)
    )
    return config, {c.key: (c.value, c.reason) for c in recipe.choices}


def test_the_recipe_flips_images_only_where_mirror_images_keep_their_class():
    _, unsided = _recipe([], *_unsided(400))
    assert unsided["augment.hflip"][0] == 0.5 and unsided["augment.hflip"][1].startswith("flips:")
    _, sided = _recipe([], *_sided(400))
    assert sided["augment.hflip"][0] == 0.0 and sided["augment.hflip"][1].startswith("no flips:")
    config, kept = _recipe(["augment.hflip=0"], *_unsided(400))
    assert "augment.hflip" not in kept and config.augment.hflip == 0.0  # the user's choice stands


@pytest.mark.parametrize(("make", "expected"), [(_sided, 0.0), (_unsided, 0.5)])
def test_small_images_streamed_are_checked_from_a_decoded_sample(tmp_path, make, expected):
    images, labels = make(120)
    for i, (image, label) in enumerate(zip(images, labels.tolist())):
        folder = tmp_path / f"class{label}"
        folder.mkdir(exist_ok=True)
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(folder / f"{i:03d}.png")
    (tmp_path / "class0" / "broken.png").write_bytes(b"not an image")  # the loader's to report, not the check's
    files = index_image_folder(tmp_path)
    files = dataclasses.replace(files, survey=survey(files))
    probability, reason = choose_flips(files, np.arange(len(files)))
    assert probability == expected, reason
