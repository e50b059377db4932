"""User image data: folders (grayscale and RGB, any size, corrupt files), arrays, and the fit path."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from dualbranch.data.images import ImageDataError, load_image_folder, load_npz
from dualbranch.train.config import load_config
from dualbranch.train.pipeline import fit


def _folder(root, classes=("cat", "dog"), per_class=6, size=(20, 24), mode="RGB", seed=0):
    rng = np.random.default_rng(seed)
    for label, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            shape = (*size, 3) if mode == "RGB" else size
            # class 0 dark, class 1 bright: learnable in a few steps
            pixels = rng.integers(0, 100, shape) + 120 * label
            Image.fromarray(pixels.astype(np.uint8), mode=mode).save(root / name / f"{i}.png")
    return root


def test_rgb_folder_is_loaded_resized_to_the_common_size(tmp_path):
    root = _folder(tmp_path / "pets")
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(root / "dog" / "big.jpg")
    data = load_image_folder(root)
    assert data.images.shape == (13, 3, 20, 24)  # the odd 40×40 JPEG resized to the common size
    assert data.class_names == ("cat", "dog")
    assert data.labels.tolist() == [0] * 6 + [1] * 7
    assert data.sources[-1].endswith("dog/big.jpg") or any(s.endswith("big.jpg") for s in data.sources)


def test_grayscale_folder_keeps_one_channel(tmp_path):
    data = load_image_folder(_folder(tmp_path / "g", mode="L"))
    assert data.images.shape[1] == 1
    assert load_image_folder(tmp_path / "g", channels=3, img_size=(8, 8)).images.shape == (12, 3, 8, 8)


def test_corrupt_image_is_reported_by_path_or_skipped(tmp_path):
    root = _folder(tmp_path / "pets")
    (root / "cat" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    with pytest.raises(ImageDataError, match=r"cat/broken\.png.*data\.on_corrupt=skip"):
        load_image_folder(root)
    data = load_image_folder(root, on_corrupt="skip")
    assert len(data) == 12


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda root: root.mkdir(), "no class sub-folders"),
        (lambda root: (root / "empty").mkdir(parents=True), "hold no images"),
    ],
)
def test_empty_folders_are_explained(tmp_path, setup, message):
    root = tmp_path / "data"
    setup(root)
    with pytest.raises(ImageDataError, match=message):
        load_image_folder(root)


def test_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_image_folder(tmp_path / "nope")


def test_npz_layouts_and_errors(tmp_path):
    x = np.random.default_rng(0).random((5, 6, 7, 3)).astype(np.float32)  # (N, H, W, C) in [0, 1]
    np.savez(tmp_path / "hwc.npz", x=x, y=np.array([0, 1, 2, 1, 0]))
    data = load_npz(tmp_path / "hwc.npz")
    assert data.images.shape == (5, 3, 6, 7) and data.images.dtype == torch.uint8
    assert int(data.images.max()) > 200  # scaled from [0, 1]
    x[1, 2, 3, 0] = np.nan
    np.savez(tmp_path / "nan.npz", x=x, y=np.zeros(5, int))
    with pytest.raises(ImageDataError, match=r"NaN or Inf \(first at index \(1, 2, 3, 0\)\)"):
        load_npz(tmp_path / "nan.npz")
    np.savez(tmp_path / "nolabels.npz", x=x)
    with pytest.raises(ImageDataError, match="missing \\['y'\\]"):
        load_npz(tmp_path / "nolabels.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ImageDataError, match="not a readable"):
        load_npz(tmp_path / "junk.npz")


def test_fit_on_an_rgb_folder_with_ema_follows_the_data(tmp_path):
    root = _folder(tmp_path / "pets", per_class=10)
    config = load_config(
        None,
        [
            "data.name=image_folder",
            f"data.path={root}",
            "data.val_ratio=0.2",
            "data.batch_size=8",
            "model.name=crossvit_fmnist",
            "model.args={embed_dim: [16, 32], num_heads: [2, 2], patch_size: [4, 8], img_scale: [1.0, 1.0]}",
            "optim.epochs=1",
            "optim.ema=true",
            "trainer.progress_bar=false",
            f"output.root={tmp_path / 'runs'}",
            "output.name=pets",
        ],
    )
    run = fit(config)
    info = json.loads((run / "run.json").read_text())
    assert info["input_shape"] == [3, 20, 24] and info["class_names"] == ["cat", "dog"]
    assert info["model_args"]["in_chans"] == 3 and info["model_args"]["img_size"] == [20, 24]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["split"] == "validation" and metrics["n"] == 4
