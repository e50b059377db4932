"""The image kind: Fashion-MNIST, scikit-learn's digits, image folders and ``.npz`` arrays.

Two paths, one kind (:mod:`.image_inputs`): small images of one size are decoded once and held in
memory as uint8 (n, C, H, W); photo folders — larger or mixed sizes, or more than
``data.memory_budget_gb`` holds — are indexed up front and decoded, cropped and augmented in
DataLoader workers (:mod:`dualbranch.data.photo_dataset`). ``data.pipeline: auto`` chooses
(:mod:`.image_choices`), prints why with the recipe, and can be set to ``memory`` or ``stream``.
Either way the input pipeline normalises by the per-channel mean and std of the fold's training
images (the kind's preprocessing, saved as JSON with, for photos, the evaluation resize and crop).

Shape legend: n examples, B batch, C channels, H×W image, K classes.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...data.images import (
    FASHION_MNIST_DIR,
    ImageData,
    load_digits,
    load_fashion_mnist,
    load_npz,
    open_image,
)
from ...data.photo_dataset import PhotoDataset
from ...data.photo_transforms import EvalTransform, TrainTransform, TrainTransformConfig
from ...data.photos import PhotoFiles, find_unreadable, index_image_files, index_image_folder, survey
from ...data.shards import ImageShards, ShardStream
from ...errors import ConfigError, DataError
from ...evaluation.protocols import Fold
from ...factory import create_model
from ...models.hog_fusion import LANDMARKS
from ...registry import WeightConfig
from ..sections import EvaluationSection
from .base import DataKind, FoldEvaluation, LoaderInputs, RunData, register_kind
from .image_choices import (
    SMALL_IMAGE,
    choose_flips,
    choose_image_model,
    choose_photo_side,
    choose_pipeline,
    photo_augmentation,
)
from .image_inputs import NORMALIZATION_SAMPLE, ImageInputs, ImagePreprocessing
from .image_loading import load_shards, memory_parts
from .image_report import attention_maps, mistakes
from .image_sections import ImageAugmentSection, ImageDataSection

__all__ = ["ImageAugmentSection", "ImageDataSection", "ImageKind"]

log = logging.getLogger(__name__)


def _are_photos(examples: Any) -> bool:
    """Whether ``examples`` are streamed photos (larger than small images), which get the photo recipe."""
    return isinstance(examples, PhotoFiles | ImageShards) and examples.survey.largest_side > SMALL_IMAGE


def _train_count(dataset: RunData) -> int:
    return len(dataset) - (0 if dataset.own_test is None else len(dataset.own_test))


@register_kind
class ImageKind(DataKind):
    name = "images"
    datasets = ("fashion_mnist", "digits", "image_folder", "npz", "image_shards")
    data_section = ImageDataSection
    augment_section = ImageAugmentSection

    def _load_arrays(self, data: ImageDataSection, path: str | None, split: str, classes: tuple | None) -> ImageData:
        if data.name == "fashion_mnist":
            return load_fashion_mnist(split, path or FASHION_MNIST_DIR)
        if data.name == "digits":
            return load_digits(split)
        if path is None:
            raise ConfigError(f"data.name={data.name} needs data.path (a file).")
        return load_npz(path, classes)

    def _load_folders(self, data: ImageDataSection, seed: int, progress: bool) -> tuple[Any, list[int], list]:
        """An image-folder run's examples (in memory or indexed), the size of each part, and the decisions."""
        if data.path is None:
            raise ConfigError("data.name=image_folder needs data.path (a folder of class sub-folders).")
        files = [index_image_folder(data.path)]
        for path in (data.val_path, data.test_path):
            if path:
                files.append(index_image_folder(path, files[0].class_names))
        everything = PhotoFiles.concat(files)
        surveyed = survey(everything, seed=seed)
        channels = data.channels or (1 if surveyed.grayscale else 3)
        pipeline, why = choose_pipeline(data.pipeline, surveyed, len(everything), channels, data.memory_budget_gb)
        data.pipeline = pipeline  # resolved: the run's config.yaml says which path it took
        if pipeline == "memory":
            parts = memory_parts(data, progress)
            return ImageData.concat(parts), [len(p) for p in parts], [("data.pipeline", pipeline, why)]
        examples = dataclasses.replace(everything, channels=channels, on_corrupt=data.on_corrupt, survey=surveyed)
        return examples, [len(p) for p in files], [("data.pipeline", pipeline, why)]

    def load(self, data: ImageDataSection, seed: int, progress: bool = True) -> RunData:
        installed = (FASHION_MNIST_DIR / "t10k-images-idx3-ubyte.gz").is_file()
        if data.name == "fashion_mnist" and data.path is None and not installed:
            log.warning(
                "Fashion-MNIST is not installed at %s (apt-get install dataset-fashion-mnist); "
                "using scikit-learn's digits instead.",
                FASHION_MNIST_DIR,
            )
            data = dataclasses.replace(data, name="digits")
        decided: list = []
        if data.name == "image_folder":
            examples, sizes, decided = self._load_folders(data, seed, progress)
        elif data.name == "image_shards":
            examples, sizes, decided = load_shards(data, seed)
        else:
            train = self._load_arrays(data, data.path, "train", None)
            parts = [train]
            if data.val_path:
                parts.append(self._load_arrays(data, data.val_path, "val", train.class_names))
            if data.test_path or data.name in ("fashion_mnist", "digits"):
                parts.append(self._load_arrays(data, data.test_path or data.path, "test", train.class_names))
            examples, sizes = (ImageData.concat(parts) if len(parts) > 1 else train), [len(p) for p in parts]
        bounds = np.cumsum([0, *sizes])
        own_val = np.arange(bounds[1], bounds[2]) if data.val_path else None
        has_test = data.test_path or data.name in ("fashion_mnist", "digits")
        own_test = np.arange(bounds[-2], bounds[-1]) if has_test else None
        return RunData(examples, examples.labels.numpy(), examples.class_names, None, own_test, own_val, decided)

    def folds(self, dataset: RunData, data: ImageDataSection, evaluation: EvaluationSection, seed: int) -> list[Fold]:  # type: ignore[override]
        if not isinstance(dataset.examples, ImageShards):
            return super().folds(dataset, data, evaluation, seed)
        if evaluation.protocol != "none" or data.limit_train or data.limit_eval:
            raise ConfigError(
                "image_shards are read split by split: use evaluation.protocol=none without data.limit_train / "
                "data.limit_eval, and give validation and test shards their own paths (data.val_path, data.test_path)."
            )
        if dataset.own_test is None:
            raise ConfigError(
                "image_shards need test shards: give data.test_path (e.g. OUT/val or OUT/test of `dualbranch data "
                "pack`, which packs a folder's train/ val/ test/ sub-folders each to its own split)."
            )
        held_out = [i for i in (dataset.own_val, dataset.own_test) if i is not None]
        train = np.setdiff1d(np.arange(len(dataset)), np.concatenate(held_out)) if held_out else np.arange(len(dataset))
        return [Fold("run", train, dataset.own_val, dataset.own_test)]

    def default_model(self, dataset: RunData) -> tuple[str, str]:
        examples = dataset.examples
        if isinstance(examples, PhotoFiles | ImageShards):
            surveyed = examples.survey  # type: ignore[union-attr]
            size = surveyed.common_size if not _are_photos(examples) else (surveyed.median_short_side,) * 2
            return choose_image_model(size, _train_count(dataset), True, examples.channels)  # type: ignore[arg-type]
        channels, height, width = examples.shape  # type: ignore[attr-defined]
        return choose_image_model((height, width), _train_count(dataset), False, channels)

    def recipe(self, dataset: RunData, n_train: int, model_name: str) -> list[tuple[str, Any, str]]:
        examples = dataset.examples
        small_streamed: list[tuple[str, Any, str]] = []
        if isinstance(examples, PhotoFiles | ImageShards):
            surveyed = examples.survey
            if _are_photos(examples):
                return self._photo_recipe(examples, n_train, model_name)
            # small images streamed (forced, or too many for memory): the in-memory recipe, made in the workers
            height, width = surveyed.common_size  # type: ignore[union-attr]
            small_streamed = [
                ("data.img_size", [height, width], "the images' own size"),
                ("augment.crop_scale", [1.0, 1.0], "small images are used whole, as in memory"),
                ("data.crop_pct", 1.0, "small images are evaluated whole"),
            ]
        else:
            _, height, width = examples.shape  # type: ignore[attr-defined]
        side = min(height, width)
        choices: list[tuple[str, Any, str]] = [
            *small_streamed,
            ("augment.translate", side // 12, f"shifts of up to 1/12 of a {side}-px side"),
            (
                "augment.erase_prob",
                0.1 if side >= 24 else 0.0,
                "random erasing" if side >= 24 else "no erasing below 24 px",
            ),
        ]
        if side >= 64:
            choices.append(("augment.randaug_ops", 1, f"one RandAugment operation at {side} px"))
        if not isinstance(examples, ImageShards):  # shards are read in order, not sampled
            test = np.array([], dtype=np.int64) if dataset.own_test is None else dataset.own_test
            choices.append(("augment.hflip", *choose_flips(examples, np.setdiff1d(np.arange(len(dataset)), test))))
        return choices

    def _photo_recipe(self, files: Any, n_train: int, model_name: str) -> list[tuple[str, Any, str]]:
        with torch.device("meta"):
            own_side = int(create_model(model_name).input_shape[-1])  # type: ignore[attr-defined]
        side, why = choose_photo_side(files.survey, n_train, model_name, files.channels, own_side)  # type: ignore[arg-type]
        return [
            ("data.img_size", [side, side], why),
            ("augment.hflip", 0.5, "photographs: a mirror image shows the same thing"),
        ]

    def schedule_recipe(self, dataset: RunData, epochs: int) -> list[tuple[str, Any, str]]:
        examples = dataset.examples
        if not _are_photos(examples):
            return []
        return photo_augmentation(epochs)

    def _shape(self, dataset: RunData, data: ImageDataSection) -> tuple[int, int, int]:
        examples = dataset.examples
        if not isinstance(examples, PhotoFiles | ImageShards):
            return tuple(examples.shape)  # type: ignore[attr-defined]
        if data.img_size is None:
            raise ConfigError("Streamed photos need data.img_size (the recipe sets it when model.name is auto).")
        return (examples.channels, *data.img_size)

    def model_args(
        self, dataset: RunData, data: ImageDataSection, model_fields: set[str], model_name: str
    ) -> dict[str, Any]:
        if "img_size" not in model_fields:
            raise ConfigError(
                f"model.name={model_name} does not read images; pick an image model (`dualbranch models`)."
            )
        shape = self._shape(dataset, data)
        derived = {
            "num_classes": len(dataset.class_names), "in_chans": shape[0], "img_size": list(shape[1:]),
            # a kernel classifier keeps every training image as a landmark, up to its own number
            "landmarks": min(_train_count(dataset), LANDMARKS),
        }  # fmt: skip
        return {k: v for k, v in derived.items() if k in model_fields}

    def describe(self, dataset: RunData, data: ImageDataSection) -> dict[str, Any]:
        streams = isinstance(dataset.examples, PhotoFiles | ImageShards)
        return {"input_shape": list(self._shape(dataset, data)), "pipeline": "stream" if streams else "memory"}

    def fit_preprocessing(self, train: Any, data: ImageDataSection) -> ImagePreprocessing:
        given = data.mean is not None and data.std is not None
        channels = train.channels if isinstance(train, PhotoFiles | ImageShards) else train.shape[0]
        for key in ("mean", "std"):
            values = getattr(data, key)
            if values is not None and len(values) != channels:
                raise ConfigError(
                    f"data.{key} gives {len(values)} values for {channels}-channel images; give one each."
                )
        if isinstance(train, PhotoFiles | ImageShards):
            size = tuple(data.img_size)  # type: ignore[arg-type]
            if given:
                return ImagePreprocessing(data.mean, data.std, list(size), data.crop_pct, "bicubic", "stream")  # type: ignore[arg-type]
            if isinstance(train, ImageShards):  # packed in a random order: the first photos are a sample
                stream = ShardStream(train, EvalTransform(size, data.crop_pct))  # type: ignore[arg-type]
                first = range(min(len(train), NORMALIZATION_SAMPLE))
                return ImagePreprocessing.fit_sample([stream[i] for i in first], size, data.crop_pct)  # type: ignore[arg-type]
            return ImagePreprocessing.fit_photos(train, size, data.crop_pct)  # type: ignore[arg-type]
        if given:
            return ImagePreprocessing(data.mean, data.std, list(train.images.shape[-2:]))  # type: ignore[arg-type]
        return ImagePreprocessing.fit(train.images)

    def read_preprocessing(self, values: dict[str, Any] | None, record: dict[str, Any]) -> ImagePreprocessing:
        if values is None:
            raise DataError("An image run keeps preprocessing.json beside each model; it is missing.")
        return ImagePreprocessing.from_json(values)

    def fed_as(self, weights: WeightConfig) -> dict[str, Any]:
        if weights.mean is None:  # weights that record no normalisation were not fed in a known way
            return {}
        fed = {
            "img_size": weights.input_size[1:],
            "mean": weights.mean,
            "std": weights.std,
            "crop_pct": weights.crop_pct,
        }
        return {
            key: list(value) if isinstance(value, tuple) else value for key, value in fed.items() if value is not None
        }

    def loader_inputs(  # type: ignore[override]
        self, examples: Any, preprocessing: ImagePreprocessing, training: bool, augment: Any = None, seed: int = 0
    ) -> LoaderInputs:
        if not isinstance(examples, PhotoFiles | ImageShards):
            return examples.images  # uint8: normalised batch by batch in the input pipeline
        size = tuple(preprocessing.img_size)  # type: ignore[arg-type]
        if training and augment is not None:
            transform: TrainTransform | EvalTransform = TrainTransform(
                TrainTransformConfig(
                    size, tuple(augment.crop_scale), augment.translate, augment.hflip,  # type: ignore[arg-type]
                    "trivialaugment" if augment.trivial_augment else "randaugment",
                    augment.randaug_ops, augment.randaug_magnitude, examples.channels,
                )
            )  # fmt: skip
        else:
            transform = EvalTransform(size, preprocessing.crop_pct or 1.0)  # type: ignore[arg-type]
        if isinstance(examples, ImageShards):
            return ShardStream(examples, transform, seed)
        return PhotoDataset(examples, transform, seed, examples.on_corrupt)

    def input_pipeline(self, preprocessing: ImagePreprocessing, augment: ImageAugmentSection) -> ImageInputs:  # type: ignore[override]
        return ImageInputs(preprocessing, augment)

    def read_inputs(
        self, paths: Sequence[str], record: dict[str, Any], on_corrupt: str = "error"
    ) -> tuple[list[str], Any, list[tuple[str, str]]]:
        channels, height, width = record["input_shape"]
        classes = tuple(record["class_names"])
        if len(paths) == 1 and paths[0].endswith(".npz"):
            data = load_npz(paths[0], classes, labels_required=False)
            names = [f"{paths[0]}[{i}]" for i in range(len(data))]
            if tuple(data.shape) != (channels, height, width):
                raise DataError(
                    f"{paths[0]}: images are {tuple(data.shape)}, the model needs {tuple(record['input_shape'])}."
                )
            return names, data, []
        files = index_image_files(list(paths), classes, channels)
        skipped = find_unreadable(files)
        if skipped and on_corrupt == "error":
            listed = "; ".join(f"{path} ({reason})" for path, reason in skipped[:5])
            more = f" and {len(skipped) - 5} more" if len(skipped) > 5 else ""
            raise DataError(
                f"{len(skipped)} of {len(files)} inputs cannot be read: {listed}{more}. Fix or remove them, or "
                "skip them with --on-corrupt skip."
            )
        if skipped:
            bad = {path for path, _ in skipped}
            keep = np.array([i for i, p in enumerate(files.sources) if p not in bad], dtype=np.int64)
            if len(keep) == 0:
                raise DataError(f"None of the {len(files)} inputs can be read, e.g. {skipped[0][0]}.")
            files = files.subset(keep)
        if record.get("data", {}).get("pipeline") == "stream":
            return list(files.sources), files, skipped
        images = np.stack([_squashed(files.path(i), channels, (height, width)) for i in range(len(files))])
        labels = torch.zeros(len(images), dtype=torch.long)
        return list(files.sources), ImageData(torch.from_numpy(images), labels, classes), skipped

    def report_sections(
        self, folds: list[FoldEvaluation], record: dict[str, Any], metrics: dict[str, Any], thumbnails: int
    ) -> list[str]:
        sections = ["<h2>Hardest mistakes</h2>", mistakes(folds, record["class_names"], thumbnails)]
        attention = attention_maps(folds[0])
        if attention:
            sections += [
                "<h2>Cross-attention</h2>",
                "<p class=\"note\">Where each branch's CLS token looks in the other branch's patches (last stage, "
                "mean over heads; brighter = more attention).</p>",
                attention,
            ]
        return sections


def _squashed(path: str, channels: int, size: tuple[int, int]) -> np.ndarray:
    """An image file as uint8 (C, H, W), resized (bicubic) to ``size``, as an in-memory run's images were."""
    return open_image(Path(path), "L" if channels == 1 else "RGB", size)
