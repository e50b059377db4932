"""Photo collections: image files indexed up front and decoded only when an example is needed.

:func:`index_image_folder` lists ``root/<class>/**/<file>`` without opening a single file, so a folder
of a million photos is ready in seconds and costs memory for its paths only; :func:`survey` reads the
headers of a seeded sample of them (sizes and colour modes), which is what choosing a pipeline and
an input size needs. :class:`PhotoFiles` holds the index: paths in one numpy array of bytes (not a
list of Python strings, whose reference counts would make every DataLoader worker copy the pages it
reads) and int64 labels.

:func:`decode` reads one file as uint8 (H, W, C): JPEGs through libjpeg-turbo (simplejpeg), which
can decode at 1/2, 1/4 or 1/8 of the size in the DCT domain when fewer pixels are needed, anything
else through Pillow.
"""

from __future__ import annotations

import io
import os
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import simplejpeg
import torch
from PIL import Image, UnidentifiedImageError

from ..errors import ConfigError, DataError, MissingFileError

__all__ = [
    "IMAGE_SUFFIXES",
    "PhotoFiles",
    "PhotoSurvey",
    "UnreadableImageError",
    "decode",
    "decode_bytes",
    "find_unreadable",
    "image_size",
    "index_image_files",
    "index_image_folder",
    "survey",
]

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
GRAY_MODES = {"L", "1", "I;16", "I", "LA"}  # Pillow modes of single-channel images
# what a damaged or foreign file raises while its header or pixels are read
READ_ERRORS = (OSError, UnidentifiedImageError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError)


class UnreadableImageError(DataError):
    """An image file that cannot be read; ``path`` names it. (One message argument, as every library error
    takes, so a DataLoader worker's error is re-raised in the trainer as this class.)"""

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path

    @classmethod
    def of(
        cls, path: str, reason: str, hint: str = "Remove or fix it, or set data.on_corrupt=skip."
    ) -> UnreadableImageError:
        return cls(f"Unreadable image {path} ({reason}). {hint}", path)


@dataclass(frozen=True)
class PhotoSurvey:
    """What the headers of a sample of files say: their (H, W) sizes and whether all are grayscale."""

    sizes: tuple[tuple[int, int], ...]
    grayscale: bool
    unreadable: tuple[str, ...] = ()

    @property
    def uniform(self) -> bool:
        """Whether every surveyed file has one size."""
        return len(set(self.sizes)) <= 1

    @property
    def common_size(self) -> tuple[int, int]:
        """The most common (H, W)."""
        return Counter(self.sizes).most_common(1)[0][0]

    @property
    def median_short_side(self) -> int:
        return int(np.median([min(s) for s in self.sizes]))

    @property
    def largest_side(self) -> int:
        return max(max(s) for s in self.sizes)


@dataclass(frozen=True)
class PhotoFiles:
    """Image files indexed, not decoded.

    Attributes:
        paths: (n,) bytes, each file's path (UTF-8, absolute or relative to the working directory).
        labels: (n,) int64 class codes in [0, len(class_names)).
        class_names: the K class names.
        channels: 1 (grayscale) or 3 (RGB): what every file is decoded to.
        on_corrupt: what reading an unreadable file does: "error" (stop, naming it) or "skip".
        survey: what the headers of a sample of the files said, when surveyed.
    """

    paths: np.ndarray
    labels: torch.Tensor
    class_names: tuple[str, ...]
    channels: int = 3
    on_corrupt: str = "error"
    survey: PhotoSurvey | None = None

    def __post_init__(self) -> None:
        if len(self.paths) != len(self.labels):
            raise DataError(f"{len(self.paths)} image files but {len(self.labels)} labels.")
        if len(self.paths) == 0:
            raise DataError("No image files: the dataset is empty; check the data path and limits.")
        if self.channels not in (1, 3):
            raise ConfigError(f"channels must be 1 or 3, got {self.channels}.")
        if self.on_corrupt not in ("error", "skip"):
            raise ConfigError(f"on_corrupt must be 'error' or 'skip', got {self.on_corrupt!r}.")

    def __len__(self) -> int:
        return len(self.paths)

    def path(self, i: int) -> str:
        """The path of file ``i``."""
        return bytes(self.paths[i]).decode()

    @property
    def sources(self) -> tuple[str, ...]:
        """Every file's path (for predictions and reports)."""
        return tuple(p.decode() for p in self.paths.tolist())

    def subset(self, index: np.ndarray | torch.Tensor) -> PhotoFiles:
        index = np.asarray(index, dtype=np.int64)
        return replace(self, paths=self.paths[index], labels=self.labels[torch.from_numpy(index)])

    @staticmethod
    def concat(parts: list[PhotoFiles]) -> PhotoFiles:
        """One index of ``parts`` (the same classes; the first part's channels and options)."""
        widest = max(p.paths.dtype.itemsize for p in parts)
        paths = np.concatenate([p.paths.astype(f"S{widest}") for p in parts])
        return replace(parts[0], paths=paths, labels=torch.cat([p.labels for p in parts]))


def _files_under(folder: Path) -> list[str]:
    """Image files anywhere under ``folder``, sorted (os.walk: no Path object per file)."""
    found = []
    for directory, subdirs, names in os.walk(folder, followlinks=True):
        subdirs.sort()
        found += [os.path.join(directory, n) for n in sorted(names) if os.path.splitext(n)[1].lower() in IMAGE_SUFFIXES]
    return found


def index_image_folder(root: str | os.PathLike[str], class_names: tuple[str, ...] | None = None) -> PhotoFiles:
    """Index ``root/<class>/**/<image file>`` (one sub-folder per class, sorted by name) without reading files.

    ``class_names`` fixes the class list (e.g. to the training folder's, for a validation folder): a
    folder outside it is an error, a class without a folder has no examples here. The channel count
    is left at 3; :func:`survey` tells whether the files are grayscale.
    """
    root = Path(root)
    if not root.is_dir():
        raise MissingFileError(f"Image folder {root} does not exist.")
    found = tuple(sorted(p.name for p in root.iterdir() if p.is_dir()))
    classes = class_names or found
    if not classes:
        raise DataError(f"{root} has no class sub-folders; expected {root}/<class name>/<image files>.")
    unknown = set(found) - set(classes)
    if unknown:
        raise DataError(f"{root} has folders {sorted(unknown)} that are not among the classes {list(classes)}.")
    paths: list[str] = []
    labels: list[int] = []
    for label, name in enumerate(classes):
        files = _files_under(root / name) if (root / name).is_dir() else []
        paths += files
        labels += [label] * len(files)
    if class_names is None:
        empty = [name for label, name in enumerate(classes) if label not in set(labels)]
        if empty:
            raise DataError(f"{root}: class folder(s) {empty} hold no images ({', '.join(sorted(IMAGE_SUFFIXES))}).")
        if len(classes) < 2:
            raise DataError(
                f"{root} has one class folder ({classes[0]!r}); a classifier needs at least two. Put each class's "
                f"images in a folder of its own: {root}/<class name>/<image files>."
            )
    if not paths:
        raise DataError(f"{root} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))}).")
    encoded = np.array([p.encode() for p in paths], dtype=bytes)
    return PhotoFiles(encoded, torch.tensor(labels, dtype=torch.long), tuple(classes))


def index_image_files(inputs: list[str], class_names: tuple[str, ...], channels: int) -> PhotoFiles:
    """Files and folders (searched recursively) given on a command line, as an index with every label 0."""
    paths: list[str] = []
    for item in inputs:
        if os.path.isdir(item):
            paths += _files_under(Path(item))
        elif os.path.isfile(item):
            paths.append(item)
        else:
            raise MissingFileError(f"{item} does not exist.")
    if not paths:
        raise DataError(f"No images found in {', '.join(inputs)} ({', '.join(sorted(IMAGE_SUFFIXES))}).")
    encoded = np.array([p.encode() for p in paths], dtype=bytes)
    return PhotoFiles(encoded, torch.zeros(len(paths), dtype=torch.long), class_names, channels)


def image_size(path: str) -> tuple[tuple[int, int], str]:
    """(H, W) and Pillow mode of an image file, from its header only."""
    with Image.open(path) as image:
        return (image.height, image.width), image.mode


def survey(files: PhotoFiles, sample: int = 256, seed: int = 0) -> PhotoSurvey:
    """Read the headers of up to ``sample`` files chosen at random (seeded): their sizes and modes."""
    n = len(files)
    picked = np.sort(np.random.default_rng(seed).choice(n, size=min(n, sample), replace=False))
    sizes, modes, unreadable = [], set(), []
    for i in picked.tolist():
        try:
            size, mode = image_size(files.path(i))
        except READ_ERRORS:
            unreadable.append(files.path(i))
            continue
        sizes.append(size)
        modes.add(mode)
    if not sizes:
        raise DataError(f"None of the {len(picked)} image files sampled could be read, e.g. {unreadable[0]}.")
    return PhotoSurvey(tuple(sizes), modes <= GRAY_MODES, tuple(unreadable))


def _jpeg_scaled(data: bytes, channels: int, min_size: tuple[int, int] | None) -> np.ndarray:
    """A JPEG as uint8 (H, W, C), decoded at the smallest DCT scale that keeps at least ``min_size``."""
    colorspace = "GRAY" if channels == 1 else "RGB"
    if min_size is None:
        array = simplejpeg.decode_jpeg(data, colorspace=colorspace, fastdct=False, fastupsample=False)
    else:
        array = simplejpeg.decode_jpeg(
            data, colorspace=colorspace, fastdct=False, fastupsample=False,
            min_height=max(1, min_size[0]), min_width=max(1, min_size[1]),
        )  # fmt: skip
    return array if array.ndim == 3 else array[:, :, None]


def decode(path: str, channels: int, min_size: tuple[int, int] | None = None) -> np.ndarray:
    """One image file as uint8 (H, W, C), C = ``channels`` (1: grayscale, 3: RGB).

    ``min_size`` (h, w): the caller needs no more than this many pixels of the whole image, so a JPEG
    may be decoded at a reduced scale (never below ``min_size``). Raises :class:`UnreadableImageError`.
    """
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as err:
        raise UnreadableImageError.of(path, str(err) or type(err).__name__) from err
    return decode_bytes(data, path, channels, min_size)


def decode_bytes(data: bytes, name: str, channels: int, min_size: tuple[int, int] | None = None) -> np.ndarray:
    """An encoded image (the bytes of a file; ``name`` says where it came from) as uint8 (H, W, C): see
    :func:`decode`."""
    try:
        if data[:2] == b"\xff\xd8":  # a JPEG, whatever its name
            try:
                return _jpeg_scaled(data, channels, min_size)
            except ValueError:
                pass  # CMYK and other JPEGs libjpeg-turbo's fast path refuses: Pillow reads them below
        with Image.open(io.BytesIO(data)) as image:
            if image.mode in ("P", "PA", "LA", "RGBA") or "transparency" in image.info:
                image = image.convert("RGBA").convert("RGB") if channels == 3 else image.convert("L")
            array = np.asarray(image.convert("L" if channels == 1 else "RGB"), dtype=np.uint8)
    except READ_ERRORS as err:
        raise UnreadableImageError.of(name, str(err) or type(err).__name__) from err
    return array[:, :, None] if array.ndim == 2 else array


def find_unreadable(files: PhotoFiles) -> list[tuple[str, str]]:
    """(path, reason) of every file in ``files`` that does not decode (each is decoded in full)."""
    unreadable = []
    for i in range(len(files)):
        try:
            decode(files.path(i), files.channels)
        except UnreadableImageError as err:
            unreadable.append((err.path, str(err.__cause__ or err)))
    return unreadable
