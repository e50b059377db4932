"""From the ``data`` section of a run config to train / validation / test splits and loaders."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from ..data.images import (
    FASHION_MNIST_DIR,
    ImageData,
    ImageDataError,
    load_digits,
    load_fashion_mnist,
    load_image_folder,
    load_npz,
)
from .config import ConfigError, DataSection

__all__ = ["DATASETS", "ImageDataModule", "Splits", "TensorDataModule", "load_splits", "stratified_split"]

DATASETS = ("fashion_mnist", "digits", "image_folder", "npz")
log = logging.getLogger(__name__)


@dataclass
class Splits:
    train: ImageData
    val: ImageData
    test: ImageData | None

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.train.class_names


def stratified_split(data: ImageData, ratio: float, seed: int) -> tuple[ImageData, ImageData]:
    """Hold out ``ratio`` of every class (at least one sample each) as validation."""
    if not 0 < ratio < 1:
        raise ConfigError(
            f"data.val_ratio must be between 0 and 1 (exclusive) for image runs, got {ratio}; "
            "or give a validation set with data.val_path."
        )
    generator = torch.Generator().manual_seed(seed)
    train_index, val_index = [], []
    for label in range(len(data.class_names)):
        members = torch.nonzero(data.labels == label).flatten()
        if len(members) < 2:
            raise ImageDataError(
                f"Class {data.class_names[label]!r} has {len(members)} sample(s); a train/validation split "
                f"needs at least 2 per class. Add samples or give data.val_path."
            )
        members = members[torch.randperm(len(members), generator=generator)]
        n_val = max(1, round(len(members) * ratio))
        val_index.append(members[:n_val])
        train_index.append(members[n_val:])
    return data.subset(torch.cat(train_index).sort().values), data.subset(torch.cat(val_index).sort().values)


def _load(section: DataSection, path: str | None, split: str, class_names: tuple[str, ...] | None) -> ImageData:
    name = section.name
    if name == "fashion_mnist":
        return load_fashion_mnist(split, path or FASHION_MNIST_DIR)
    if name == "digits":
        return load_digits(split)
    if path is None:
        raise ConfigError(f"data.name={name} needs data.path (a folder or file).")
    if name == "image_folder":
        return load_image_folder(path, section.img_size, section.channels, section.on_corrupt, class_names)
    if name == "npz":
        return load_npz(path, class_names)
    raise ConfigError(f"Unknown dataset {name!r}; known: {', '.join(DATASETS)}.")


def _limit(data: ImageData, n: int | None) -> ImageData:
    return data if n is None or n >= len(data) else data.subset(torch.arange(n))


def load_splits(section: DataSection, seed: int) -> Splits:
    """Train / validation / test data as the config describes (validation split off when not given).

    Fashion-MNIST falls back to scikit-learn's digits (with a warning) where its Debian package is
    not installed, so the default run works everywhere.
    """
    if (
        section.name == "fashion_mnist"
        and section.path is None
        and not (FASHION_MNIST_DIR / "t10k-images-idx3-ubyte.gz").is_file()
    ):
        log.warning(
            "Fashion-MNIST is not installed at %s (apt-get install dataset-fashion-mnist); "
            "using scikit-learn's digits instead.",
            FASHION_MNIST_DIR,
        )
        section = dataclasses.replace(section, name="digits")
    if section.name not in DATASETS:
        close = [d for d in DATASETS if d.startswith(section.name[:3])]
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"data.name: unknown dataset {section.name!r}{hint}; known: {', '.join(DATASETS)}.")
    full = _load(section, section.path, "train", None)
    if section.val_path:
        train, val = full, _load(section, section.val_path, "val", full.class_names)
    else:
        train, val = stratified_split(full, section.val_ratio, seed)
    test = None
    if section.test_path:
        test = _load(section, section.test_path, "test", full.class_names)
    elif section.name in ("fashion_mnist", "digits"):
        test = _load(section, section.path, "test", None)
    for name, part in (("validation", val), ("test", test)):
        if part is not None and part.shape[0] != train.shape[0]:
            raise ImageDataError(
                f"The {name} images have {part.shape[0]} channels but the training images {train.shape[0]}."
            )
    return Splits(
        _limit(train, section.limit_train), _limit(val, section.limit_eval), test and _limit(test, section.limit_eval)
    )


class _Tensors(Dataset):
    def __init__(self, inputs: torch.Tensor, labels: torch.Tensor) -> None:
        self.inputs, self.labels = inputs, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.inputs[index], self.labels[index]


class TensorDataModule(L.LightningDataModule):
    """Loaders over in-memory (inputs (N, ...), labels (N,)) tensors, images or signals alike.

    Shards by rank itself, so one process and several see the same global batches (the sampler's
    order depends on the seed and epoch only). ``val`` may be None: no validation.
    """

    def __init__(
        self,
        train: tuple[torch.Tensor, torch.Tensor],
        val: tuple[torch.Tensor, torch.Tensor] | None,
        section: DataSection,
        seed: int,
    ) -> None:
        super().__init__()
        self.train_data, self.val_data, self.section, self.seed = train, val, section, seed

    def _loader(self, data: tuple[torch.Tensor, torch.Tensor], batch_size: int, shuffle: bool) -> DataLoader:
        world = self.trainer.world_size if self.trainer else 1
        rank = self.trainer.global_rank if self.trainer else 0
        dataset = _Tensors(*data)
        sampler = DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=shuffle, seed=self.seed)
        return DataLoader(
            dataset,
            batch_size=batch_size,
            sampler=sampler,
            num_workers=self.section.num_workers,
            persistent_workers=self.section.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_data, self.section.batch_size, self.section.shuffle)

    def val_dataloader(self) -> DataLoader | list:
        return [] if self.val_data is None else self._loader(self.val_data, self.section.eval_batch_size, False)


class ImageDataModule(TensorDataModule):
    """Loaders over the in-memory uint8 images of :class:`Splits`."""

    def __init__(self, splits: Splits, section: DataSection, seed: int) -> None:
        train, val = (splits.train.images, splits.train.labels), (splits.val.images, splits.val.labels)
        super().__init__(train, val, section, seed)
        self.splits = splits
