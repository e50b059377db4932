"""Image datasets: Fashion-MNIST (the embedded default), scikit-learn's digits, image folders, arrays.

Every loader returns an :class:`ImageData`: uint8 images (N, C, H, W) held in memory, int64 labels
(N,) and class names. Loading is checked up front, so a corrupt file is reported by path before
training starts rather than an hour into it.

Fashion-MNIST: Han Xiao, Kashif Rasul, Roland Vollgraf. "Fashion-MNIST: a Novel Image Dataset for
Benchmarking Machine Learning Algorithms." arXiv:1708.07747, 2017 (MIT licence). Here it is read from
the Debian package ``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``).
Digits: the UCI optical handwritten digits (Alpaydin & Kaynak, 1998), as shipped by scikit-learn.
"""

from __future__ import annotations

import gzip
import logging
import os
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..errors import ConfigError, DataError, MissingFileError

__all__ = [
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_DIR",
    "ImageData",
    "ImageDataError",
    "load_digits",
    "load_fashion_mnist",
    "load_image_folder",
    "load_npz",
]

log = logging.getLogger(__name__)

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


MAX_IMPLIED_CLASSES = 1_000_000  # more classes than this from bare integer labels is a labelling mistake


class ImageDataError(DataError):
    """Image data that cannot be used as given; the message says where and what to do.

    Its own name stays (it is public); as a :class:`~dualbranch.errors.DataError` it is also a ValueError."""


@dataclass
class ImageData:
    """Images in memory. ``images``: uint8 (N, C, H, W); ``labels``: int64 (N,) in [0, len(class_names)).

    ``sources`` optionally names where each image came from (file paths), for reports and predictions.
    """

    images: torch.Tensor
    labels: torch.Tensor
    class_names: tuple[str, ...]
    sources: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.images.ndim != 4:
            raise ImageDataError(f"images must be (N, C, H, W), got shape {tuple(self.images.shape)}.")
        if len(self.images) != len(self.labels):
            raise ImageDataError(f"{len(self.images)} images but {len(self.labels)} labels.")
        if len(self.images) == 0:
            raise ImageDataError("The dataset is empty: no images were found; check the data path and limits.")
        if self.images.dtype != torch.uint8:
            raise ImageDataError(f"images must be uint8 0..255, got {self.images.dtype}.")
        if self.labels.min() < 0 or self.labels.max() >= len(self.class_names):
            bad = self.labels[(self.labels < 0) | (self.labels >= len(self.class_names))][0].item()
            raise ImageDataError(
                f"Label {bad} is outside the {len(self.class_names)} classes (0..{len(self.class_names) - 1}); "
                f"fix the labels, or give the full list of class names."
            )

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    @staticmethod
    def concat(parts: list[ImageData]) -> ImageData:
        """One ImageData of ``parts`` (same classes, e.g. a folder's train / val / test); channels must agree."""
        channels = {part.shape[0] for part in parts}
        if len(channels) > 1:
            raise ImageDataError(
                f"The training, validation and test images have different channel counts {sorted(channels)}."
            )
        sources = None
        if all(part.sources for part in parts):
            sources = tuple(s for part in parts for s in part.sources)  # type: ignore[union-attr]
        images = torch.cat([part.images for part in parts])
        return ImageData(images, torch.cat([part.labels for part in parts]), parts[0].class_names, sources)

    def subset(self, index: torch.Tensor | np.ndarray) -> ImageData:
        index = torch.as_tensor(index, dtype=torch.long)
        sources = tuple(self.sources[i] for i in index.tolist()) if self.sources else None
        return ImageData(self.images[index], self.labels[index], self.class_names, sources)


def _read_idx(path: Path, offset: int) -> np.ndarray:
    try:
        with gzip.open(path) as handle:
            return np.frombuffer(handle.read(), dtype=np.uint8, offset=offset)
    except (OSError, EOFError) as err:
        raise ImageDataError(f"{path}: cannot read ({err}); reinstall the dataset-fashion-mnist package.") from err


def load_fashion_mnist(split: str = "train", root: str | os.PathLike[str] = FASHION_MNIST_DIR) -> ImageData:
    """Fashion-MNIST's 60,000 training or 10,000 test images (1×28×28) from the IDX files in ``root``."""
    prefix = {"train": "train", "test": "t10k"}.get(split)
    if prefix is None:
        raise ConfigError(f"split must be 'train' or 'test', got {split!r}.")
    root = Path(root)
    images_path = root / f"{prefix}-images-idx3-ubyte.gz"
    if not images_path.is_file():
        raise MissingFileError(
            f"Fashion-MNIST is not at {root}. Install it with `apt-get install dataset-fashion-mnist` "
            f"(scripts/setup.sh does), or use data.name=digits."
        )
    images = _read_idx(images_path, 16).reshape(-1, 1, 28, 28)
    labels = _read_idx(root / f"{prefix}-labels-idx1-ubyte.gz", 8)
    return ImageData(torch.from_numpy(images.copy()), torch.from_numpy(labels.astype(np.int64)), FASHION_MNIST_CLASSES)


def load_digits(split: str = "train", test_fraction: float = 0.2, seed: int = 0) -> ImageData:
    """scikit-learn's 1,797 8×8 digits (16 grey levels, rescaled to 0..255), split deterministically."""
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    images = torch.from_numpy((bunch.images * 255 / 16).round().astype(np.uint8)).unsqueeze(1)
    labels = torch.from_numpy(bunch.target.astype(np.int64))
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    n_test = round(len(labels) * test_fraction)
    index = order[n_test:] if split == "train" else order[:n_test]
    return ImageData(images[index], labels[index], tuple(str(d) for d in range(10)))


def load_npz(
    path: str | os.PathLike[str], class_names: tuple[str, ...] | None = None, labels_required: bool = True
) -> ImageData:
    """Arrays from an ``.npz`` with images ``x`` and labels ``y`` (N,).

    ``x``: (N, H, W), (N, H, W, C) or (N, C, H, W); uint8 0..255, or floats (in [0, 1], scaled to
    0..255, or already in 0..255). ``y``: integer class indices 0..K-1, or strings (class names; the
    classes are then the sorted distinct names, or ``class_names`` when given). Without
    ``labels_required`` (``predict``), ``y`` may be absent and every label is 0.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"Array file {path} does not exist.")
    try:
        with np.load(path, allow_pickle=False) as arrays:
            missing = ({"x", "y"} if labels_required else {"x"}) - set(arrays.files)
            if missing:
                raise ImageDataError(
                    f"{path}: needs arrays 'x' and 'y'; missing {sorted(missing)} (has {arrays.files})."
                )
            x = arrays["x"]
            y = arrays["y"] if "y" in arrays.files else np.zeros(len(x), dtype=np.int64)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        if isinstance(err, ImageDataError):
            raise
        if "Object arrays" in str(err):
            raise ImageDataError(
                f"{path}: holds pickled Python objects, which are refused (loading them could run code); save "
                f"plain numeric arrays with np.savez(path, x=images, y=labels)."
            ) from err
        raise ImageDataError(f"{path}: not a readable .npz file ({err}); it may be truncated.") from err
    if np.issubdtype(x.dtype, np.floating) and not np.isfinite(x).all():
        # located in the array as the user saved it, before any change of layout
        where = tuple(int(i) for i in np.argwhere(~np.isfinite(x))[0])
        raise ImageDataError(f"{path}: x holds NaN or Inf (first at index {where}).")
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4 and x.shape[-1] in (1, 3, 4) and x.shape[1] not in (1, 3, 4):
        x = x.transpose(0, 3, 1, 2)  # (N, H, W, C) -> (N, C, H, W)
    elif x.ndim != 4:
        raise ImageDataError(f"{path}: x must be (N, H, W), (N, H, W, C) or (N, C, H, W); got {x.shape}.")
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer) or x.dtype == np.bool_):
        raise ImageDataError(f"{path}: x must hold real numbers (uint8 0..255 or floats), got dtype {x.dtype}.")
    if x.size and (x.min() < 0 or x.max() > 255):
        # clipping or wrapping would silently change the images (standardised data, 16-bit scans)
        raise ImageDataError(
            f"{path}: x holds values in [{x.min()}, {x.max()}]; give uint8 0..255 or floats in [0, 1] "
            f"(undo any standardisation, rescale 16-bit images to 8 bits)."
        )
    if np.issubdtype(x.dtype, np.floating):
        x = x * 255 if x.max(initial=0) <= 1.0 else x
        x = np.round(x)
    if y.ndim == 1 and y.dtype.kind in "US":  # class names as strings
        names_found, y = np.unique(y.astype(str), return_inverse=True)
        if class_names is not None:
            unknown = sorted(set(names_found.tolist()) - set(class_names))
            if unknown:
                raise ImageDataError(f"{path}: labels {unknown[:5]} are not among the classes {list(class_names)}.")
            y = np.array([class_names.index(name) for name in names_found.tolist()], dtype=np.int64)[y]
        else:
            class_names = tuple(names_found.tolist())
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise ImageDataError(
            f"{path}: y must be a 1-D array of class indices (integers) or class names (strings), got {y.dtype} "
            f"{y.shape}."
        )
    n_classes = int(y.max()) + 1 if len(y) else 0
    if class_names is None and n_classes > MAX_IMPLIED_CLASSES:
        # without class names, labels 0..max(y) name the classes: a stray huge label would make
        # billions of them (and exhaust memory) instead of an error
        raise ImageDataError(
            f"{path}: y holds the label {n_classes - 1}, which would mean {n_classes:,} classes; labels must be "
            f"class indices 0..K-1. Re-encode them (e.g. np.unique(y, return_inverse=True)) or give class names."
        )
    names = class_names or tuple(str(i) for i in range(n_classes))
    try:
        return ImageData(torch.from_numpy(x.astype(np.uint8)), torch.from_numpy(y.astype(np.int64)), tuple(names))
    except ImageDataError as err:
        raise ImageDataError(f"{path}: {err}") from err


def open_image(path: Path, mode: str, size: tuple[int, int] | None) -> np.ndarray:
    """One image file as uint8 (C, H, W) in PIL ``mode`` ("L" or "RGB"), resized (bicubic) to ``size`` (H, W)."""
    from PIL import Image

    with Image.open(path) as image:
        image = image.convert(mode)
        if size is not None and image.size != (size[1], size[0]):
            image = image.resize((size[1], size[0]), Image.Resampling.BICUBIC)
        array = np.asarray(image, dtype=np.uint8)
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)  # (C, H, W)


def load_image_folder(
    root: str | os.PathLike[str],
    img_size: tuple[int, int] | None = None,
    channels: int | None = None,
    on_corrupt: str = "error",
    class_names: tuple[str, ...] | None = None,
    progress: bool = True,
) -> ImageData:
    """Images in ``root/<class>/<file>`` (PNG, JPEG, …), one sub-folder per class (sorted by name).

    Args:
        img_size: (H, W) to resize to; by default the most common size in the folder.
        channels: 1 (grayscale) or 3 (RGB); by default 1 if every image is grayscale, else 3.
        on_corrupt: "error" stops at the first unreadable file, naming it; "skip" logs and skips it.
        class_names: fix the class list (e.g. to the training set's, for a validation folder).
        progress: show progress bars while checking and loading.
    """
    from PIL import Image, UnidentifiedImageError

    root = Path(root)
    if not root.is_dir():
        raise MissingFileError(f"Image folder {root} does not exist.")
    if on_corrupt not in ("error", "skip"):
        raise ConfigError(f"on_corrupt must be 'error' or 'skip', got {on_corrupt!r}.")
    found = tuple(sorted(p.name for p in root.iterdir() if p.is_dir()))
    classes = class_names or found
    if not classes:
        raise ImageDataError(f"{root} has no class sub-folders; expected {root}/<class name>/<image files>.")
    unknown = set(found) - set(classes)
    if unknown:
        raise ImageDataError(f"{root} has folders {sorted(unknown)} that are not among the classes {list(classes)}.")
    files = [
        (path, label)
        for label, name in enumerate(classes)
        if (root / name).is_dir()
        for path in sorted((root / name).rglob("*"))
        if path.suffix.lower() in IMAGE_SUFFIXES
    ]
    empty = [name for label, name in enumerate(classes) if not any(lab == label for _, lab in files)]
    if empty:
        raise ImageDataError(f"{root}: class folder(s) {empty} hold no images ({', '.join(sorted(IMAGE_SUFFIXES))}).")

    # Pass 1: open every header (fast) so corrupt files surface before any decoding work.
    good, sizes, modes, skipped = [], Counter(), set(), []
    for path, label in tqdm(files, desc=f"checking {root.name}", unit="img", leave=False, disable=not progress):
        try:
            with Image.open(path) as image:
                image.verify()
            with Image.open(path) as image:  # verify() leaves the file unusable; reopen for the size
                sizes[(image.height, image.width)] += 1
                modes.add(image.mode)
            good.append((path, label))
        except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as err:
            if on_corrupt == "error":
                raise ImageDataError(
                    f"Unreadable image {path} ({err}). Remove or fix it, or set data.on_corrupt=skip."
                ) from err
            skipped.append(path)
            log.warning("skipping unreadable image %s (%s)", path, err)
    size = tuple(img_size) if img_size else sizes.most_common(1)[0][0]
    channels = channels or (1 if modes <= {"L", "1", "I;16", "I"} else 3)
    mode = {1: "L", 3: "RGB"}.get(channels)
    if mode is None:
        raise ConfigError(f"channels must be 1 or 3, got {channels}.")

    # Pass 2: decode, convert and resize.
    images = np.empty((len(good), channels, size[0], size[1]), dtype=np.uint8)
    for i, (path, _) in enumerate(
        tqdm(good, desc=f"loading {root.name}", unit="img", leave=False, disable=not progress)
    ):
        try:
            images[i] = open_image(path, mode, size)  # type: ignore[arg-type]
        except (OSError, ValueError) as err:  # truncated data only shows when decoding
            raise ImageDataError(f"Unreadable image {path} ({err}). Remove or fix it.") from err
    labels = torch.tensor([label for _, label in good], dtype=torch.long)
    data = ImageData(torch.from_numpy(images), labels, tuple(classes), tuple(str(p) for p, _ in good))
    if skipped:
        log.warning("%d unreadable image(s) skipped in %s", len(skipped), root)
    return data
