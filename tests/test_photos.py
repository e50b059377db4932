"""Photo collections: indexing without decoding, surveys, decoding, the training and evaluation
transforms, and the on-demand dataset (deterministic per example and epoch, whatever the workers)."""

from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from dualbranch.data.photo_dataset import PhotoDataset, example_seed
from dualbranch.data.photo_transforms import EvalTransform, TrainTransform, TrainTransformConfig
from dualbranch.data.photos import (
    PhotoFiles,
    UnreadableImageError,
    decode,
    find_unreadable,
    index_image_files,
    index_image_folder,
    survey,
)
from dualbranch.errors import DataError
from dualbranch.train.datamodule import auto_workers, loader_for
from photo_folders import make_photos


def test_a_folder_is_indexed_without_reading_a_file(tmp_path):
    root = make_photos(tmp_path / "photos", per_class=3)
    (root / "ants" / "notes.txt").write_text("not an image")
    (root / "bees" / "nested").mkdir()
    Image.new("RGB", (30, 20)).save(root / "bees" / "nested" / "deep.png")
    files = index_image_folder(root)
    assert files.class_names == ("ants", "bees")
    assert files.labels.tolist() == [0, 0, 0, 1, 1, 1, 1]
    assert files.path(6).endswith("bees/nested/deep.png") and len(files) == 7
    assert files.paths.dtype.kind == "S"  # one numpy array, not a list of Python strings


def test_a_folder_with_one_class_is_a_clear_error(tmp_path):
    root = make_photos(tmp_path / "photos", classes=("ants",), per_class=2)
    with pytest.raises(DataError, match=r"one class folder \('ants'\); a classifier needs at least two"):
        index_image_folder(root)


def test_a_validation_folder_keeps_the_training_classes(tmp_path):
    train = index_image_folder(make_photos(tmp_path / "train", classes=("a", "b", "c"), per_class=1))
    val = index_image_folder(make_photos(tmp_path / "val", classes=("a", "c"), per_class=2), train.class_names)
    assert val.labels.tolist() == [0, 0, 2, 2]
    with pytest.raises(DataError, match=r"folders \['z'\] that are not among the classes"):
        index_image_folder(make_photos(tmp_path / "other", classes=("a", "z"), per_class=1), train.class_names)


def test_survey_reads_sizes_and_modes_from_headers(tmp_path):
    files = index_image_folder(make_photos(tmp_path / "p", per_class=5))
    found = survey(files, sample=100)
    expected = sorted(Image.open(files.path(i)).size[::-1] for i in range(len(files)))
    assert sorted(found.sizes) == expected and not found.grayscale and not found.uniform
    gray = index_image_folder(make_photos(tmp_path / "g", per_class=2, mode="L"))
    assert survey(gray).grayscale


def test_jpegs_decode_at_a_reduced_scale_but_never_below_what_is_needed(tmp_path):
    Image.fromarray(np.full((400, 600, 3), 128, np.uint8)).save(tmp_path / "big.jpg")
    assert decode(str(tmp_path / "big.jpg"), 3).shape == (400, 600, 3)
    reduced = decode(str(tmp_path / "big.jpg"), 3, min_size=(90, 90))
    assert reduced.shape == (100, 150, 3)  # 1/4 scale: the smallest that keeps both sides >= 90
    assert decode(str(tmp_path / "big.jpg"), 1, min_size=(90, 90)).shape == (100, 150, 1)


def test_other_formats_and_palette_images_decode_through_pillow(tmp_path):
    Image.new("P", (10, 8)).save(tmp_path / "p.png")
    Image.new("CMYK", (10, 8), (0, 255, 0, 0)).save(tmp_path / "cmyk.jpg")
    assert decode(str(tmp_path / "p.png"), 3).shape == (8, 10, 3)
    cmyk = decode(str(tmp_path / "cmyk.jpg"), 3)
    assert cmyk.shape == (8, 10, 3) and cmyk[..., 0].mean() > 200 and cmyk[..., 1].mean() < 50  # magenta


def test_an_unreadable_file_is_named(tmp_path):
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8 not a jpeg at all")
    with pytest.raises(UnreadableImageError, match=r"Unreadable image .*bad\.jpg"):
        decode(str(tmp_path / "bad.jpg"), 3)
    good = tmp_path / "good.jpg"
    Image.new("RGB", (8, 8)).save(good)
    truncated = tmp_path / "cut.jpg"
    truncated.write_bytes(good.read_bytes()[:60])
    files = index_image_files([str(tmp_path)], ("x",), 3)
    assert sorted(p.rsplit("/", 1)[-1] for p, _ in find_unreadable(files)) == ["bad.jpg", "cut.jpg"]


def test_evaluation_resizes_the_shorter_side_and_crops_the_centre():
    image = np.zeros((100, 200, 3), np.uint8)
    image[:, 90:110] = 255  # a white band in the middle
    out = EvalTransform((40, 40), crop_pct=0.8)(image)
    assert out.shape == (40, 40, 3)
    # shorter side 100 -> 40 / 0.8 = 50, so the image is 50 × 100, cropped at rows 5..45 and columns 30..70
    expected = cv2.resize(image, (100, 50), interpolation=cv2.INTER_AREA)[5:45, 30:70]
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("policy", ["none", "trivialaugment", "randaugment"])
def test_training_crops_are_a_function_of_the_seed(policy):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (90, 130, 3), dtype=np.uint8)
    transform = TrainTransform(TrainTransformConfig((32, 48), policy=policy))
    first, again, other = transform(image, 7), transform(image, 7), transform(image, 8)
    assert first.shape == (32, 48, 3) and first.dtype == np.uint8
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_grayscale_photos_keep_one_channel_through_every_policy():
    image = np.random.default_rng(0).integers(0, 255, (50, 60, 1), dtype=np.uint8)
    for policy in ("trivialaugment", "randaugment"):
        transform = TrainTransform(TrainTransformConfig((24, 24), policy=policy, channels=1))
        assert all(transform(image, seed).shape == (24, 24, 1) for seed in range(20))


def _dataset(root, training=True, on_corrupt="error") -> PhotoDataset:
    files = index_image_folder(root)
    transform = TrainTransform(TrainTransformConfig((24, 24))) if training else EvalTransform((24, 24))
    return PhotoDataset(PhotoFiles(files.paths, files.labels, files.class_names), transform, 5, on_corrupt)


def test_an_example_is_the_same_in_any_worker_and_changes_with_the_epoch(tmp_path):
    photos = _dataset(make_photos(tmp_path / "p", per_class=4))
    assert photos[(3, 0)].shape == (3, 24, 24) and photos[(3, 0)].dtype == torch.uint8
    assert torch.equal(photos[(3, 0)], photos[(3, 0)]) and not torch.equal(photos[(3, 0)], photos[(3, 1)])
    assert example_seed(5, 0, 3) != example_seed(5, 1, 3) != example_seed(5, 0, 4)
    labels = photos.files.labels
    batches = {
        workers: list(loader_for(photos, labels, 3, workers, shuffle=True, training=True, seed=1)) for workers in (0, 2)
    }
    for (x0, y0), (x2, y2) in zip(batches[0], batches[2], strict=True):
        assert torch.equal(x0, x2) and torch.equal(y0, y2)


def test_photos_made_on_demand_get_workers_and_tensors_in_memory_get_none():
    assert auto_workers(torch.zeros(4, 1, 8, 8), None) == 0
    assert auto_workers(torch.utils.data.TensorDataset(torch.zeros(4)), None) >= 1
    assert auto_workers(torch.utils.data.TensorDataset(torch.zeros(4)), 3) == 3


def test_an_unreadable_photo_stops_training_or_is_replaced_by_one_of_its_class(tmp_path):
    root = make_photos(tmp_path / "p", per_class=3)
    (root / "bees" / "0.jpg").write_bytes(b"\xff\xd8 broken")
    files = index_image_folder(root)
    broken = next(i for i in range(len(files)) if files.path(i).endswith("bees/0.jpg"))
    with pytest.raises(UnreadableImageError, match=r"bees/0\.jpg.*data\.on_corrupt=skip"):
        _dataset(root, training=False)[broken]
    stand_in = _dataset(root, training=False, on_corrupt="skip")[broken]
    # the next bee stands in (blue), not an ant (red)
    assert stand_in[2].float().mean() > stand_in[0].float().mean() + 50


def test_workers_decode_after_the_trainer_process_used_opencv(tmp_path):
    # a thread pool OpenCV made in the trainer is inherited half-alive by forked workers, which then hang
    root = make_photos(tmp_path / "p", per_class=2)
    script = f"""
import cv2, numpy as np, torch
from dualbranch.data.photo_dataset import PhotoDataset
from dualbranch.data.photo_transforms import EvalTransform
from dualbranch.data.photos import index_image_folder
from dualbranch.train.datamodule import loader_for
cv2.resize(np.zeros((3000, 3000, 3), np.uint8), (1000, 1000), interpolation=cv2.INTER_AREA)
files = index_image_folder({str(root)!r})
photos = PhotoDataset(files, EvalTransform((16, 16)))
print(sum(len(x) for x, _ in loader_for(photos, files.labels, 2, workers=2)))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "4"


def test_photo_normalisation_equals_the_statistics_of_the_stacked_photos(tmp_path):
    from dualbranch.train.kinds.image_inputs import ImagePreprocessing

    files = index_image_folder(make_photos(tmp_path / "p", per_class=5))
    streamed = ImagePreprocessing.fit_photos(files, (20, 24), 0.9)
    photos = PhotoDataset(files, EvalTransform((20, 24), 0.9))
    stacked = ImagePreprocessing.fit(torch.stack([photos[i] for i in range(len(photos))]))
    np.testing.assert_allclose(streamed.mean, stacked.mean, atol=2e-6)
    np.testing.assert_allclose(streamed.std, stacked.std, atol=2e-6)
    assert streamed.img_size == [20, 24] and streamed.crop_pct == 0.9 and streamed.streams
