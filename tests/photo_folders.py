"""Small JPEG photo folders for tests: mixed sizes, both orientations, a class you can tell by colour."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

COLOURS = ((200, 40, 40), (40, 60, 200), (40, 170, 60))


def make_photos(
    root: Path,
    classes: tuple[str, ...] = ("ants", "bees"),
    per_class: int = 6,
    sides: tuple[int, int] = (60, 140),
    seed: int = 0,
    mode: str = "RGB",
) -> Path:
    """``root/<class>/<i>.jpg``: each photo a noisy field of its class's colour, of a random size in
    ``sides`` (width and height drawn separately), so no two sizes need agree."""
    rng = np.random.default_rng(seed)
    for label, name in enumerate(classes):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            width, height = (int(v) for v in rng.integers(sides[0], sides[1], 2))
            pixels = np.array(COLOURS[label % len(COLOURS)]) + rng.integers(-30, 30, (height, width, 3))
            image = Image.fromarray(pixels.clip(0, 255).astype(np.uint8))
            (image.convert("L") if mode == "L" else image).save(folder / f"{i}.jpg", quality=90)
    return root
