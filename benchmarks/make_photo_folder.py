"""Generate a synthetic JPEG photo folder (``OUT/train/<class>/*.jpg``, ``OUT/val/<class>/*.jpg``).

    python benchmarks/make_photo_folder.py OUT [--n-train 2000] [--n-val 500] [--classes 10] [--seed 0]
        [--quality 90] [--workers N]

Stands in for a real photo collection in the streaming-data benchmarks (issue 22): mixed sizes around
400×300 (width 300–500, height 200–400 drawn independently, so both orientations occur) and content a
model can learn but not trivially. Each class has a shape (disc, square, triangle, star, ring, cross,
ellipse, diamond) and a hue band, drawn one to three times at a random position, scale and rotation
over a random two-colour gradient background, with distractor shapes of other kinds in random colours,
a hue jitter that makes neighbouring classes' colours overlap, and per-pixel noise; beyond eight
classes a fill texture (solid, stripes, dots) tells apart classes that share a shape.

Needs only Pillow and numpy. Every image is drawn from its own seed (``--seed``, split, index), so the
folder is the same byte for byte whatever ``--workers`` is. Classes are balanced (image ``i`` belongs
to class ``i mod classes``). Refuses to write into a non-empty ``OUT/train`` or ``OUT/val``. Prints
JSON: images, bytes, seconds, images/s, workers, and the machine (CPU, threads, load average before
and after).
"""

from __future__ import annotations

import argparse
import colorsys
import json
import math
import os
import sys
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

SHAPES = ("disc", "square", "triangle", "star", "ring", "cross", "ellipse", "diamond")
TEXTURES = ("solid", "stripes", "dots")
SPLIT_IDS = {"train": 0, "val": 1}
NOISE_BANK_SIZE = (512, 640)  # rows, columns: larger than any image, so one random window covers it


def class_names(classes: int) -> list[str]:
    """Folder names ``class_00`` … (zero-padded so that sorted order is label order)."""
    width = max(2, len(str(classes - 1)))
    return [f"class_{c:0{width}d}" for c in range(classes)]


def class_style(label: int, classes: int) -> tuple[str, str, float]:
    """(shape, texture, hue centre) of a class: shapes cycle first, then textures, with hues spread."""
    shape = SHAPES[label % len(SHAPES)]
    texture = TEXTURES[(label // len(SHAPES)) % len(TEXTURES)]
    hue = (label * 0.618034) % 1.0  # golden-ratio steps keep any number of classes' hues apart
    return shape, texture, hue


def polygon(shape: str, cx: float, cy: float, r: float, angle: float) -> list[tuple[float, float]]:
    """Vertices of a polygonal shape of radius ``r`` centred at (cx, cy), rotated by ``angle`` radians."""
    if shape == "square":
        radii, count = [r] * 4, 4
    elif shape == "triangle":
        radii, count = [r] * 3, 3
    elif shape == "diamond":
        radii, count = [r, 0.55 * r] * 2, 4
    elif shape == "star":
        radii, count = [r, 0.45 * r] * 5, 10
    elif shape == "cross":
        arm = 0.35 * r
        corners = [(arm, r), (arm, arm), (r, arm), (r, -arm), (arm, -arm), (arm, -r)]
        corners += [(-x, -y) for x, y in corners]
        cos, sin = math.cos(angle), math.sin(angle)
        return [(cx + x * cos - y * sin, cy + x * sin + y * cos) for x, y in corners]
    else:
        raise ValueError(f"not a polygon: {shape}")
    return [
        (cx + rad * math.cos(angle + 2 * math.pi * k / count), cy + rad * math.sin(angle + 2 * math.pi * k / count))
        for k, rad in enumerate(radii)
    ]


def shape_mask(size: tuple[int, int], shape: str, cx: float, cy: float, r: float, angle: float) -> Image.Image:
    """An 'L' mask of the shape (255 inside) on an image of ``size`` (width, height)."""
    mask = Image.new("L", size, 0)
    draw = ImageDraw.Draw(mask)
    if shape in ("disc", "ring"):
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=255)
        if shape == "ring":
            inner = 0.55 * r
            draw.ellipse((cx - inner, cy - inner, cx + inner, cy + inner), fill=0)
    elif shape == "ellipse":
        # a rotated ellipse as a 24-gon: Pillow's ellipse() is axis-aligned
        points = [(r * math.cos(t), 0.5 * r * math.sin(t)) for t in np.linspace(0, 2 * math.pi, 24, endpoint=False)]
        cos, sin = math.cos(angle), math.sin(angle)
        draw.polygon([(cx + x * cos - y * sin, cy + x * sin + y * cos) for x, y in points], fill=255)
    else:
        draw.polygon(polygon(shape, cx, cy, r, angle), fill=255)
    return mask


def texture_mask(size: tuple[int, int], texture: str, rng: np.random.Generator) -> Image.Image | None:
    """Where a textured fill keeps the shape's colour (None for solid fill)."""
    if texture == "solid":
        return None
    width, height = size
    period = int(rng.integers(6, 14))
    yy, xx = np.mgrid[0:height, 0:width]
    if texture == "stripes":
        keep = ((xx + yy) // (period // 2)) % 2 == 0
    else:
        keep = ((xx % period) < period // 2) & ((yy % period) < period // 2)
    return Image.fromarray((keep * 255).astype(np.uint8), "L")


def random_colour(rng: np.random.Generator, hue: float | None = None, jitter: float = 0.0) -> tuple[int, int, int]:
    """An RGB colour; with ``hue`` its hue lies within ``jitter`` of it and it is saturated and bright."""
    if hue is None:
        h, s, v = rng.random(), rng.uniform(0.1, 0.9), rng.uniform(0.2, 0.95)
    else:
        h, s, v = (hue + rng.uniform(-jitter, jitter)) % 1.0, rng.uniform(0.55, 1.0), rng.uniform(0.5, 1.0)
    return tuple(int(255 * c) for c in colorsys.hsv_to_rgb(h, s, v))  # type: ignore[return-value]


def gradient_background(size: tuple[int, int], rng: np.random.Generator) -> Image.Image:
    """A linear gradient between two random muted colours, at a random direction."""
    width, height = size
    a = np.array(random_colour(rng), np.float32)
    b = np.array(random_colour(rng), np.float32)
    angle = rng.uniform(0, 2 * math.pi)
    # drawn at 1/8 scale and enlarged: a linear ramp survives bilinear resizing, at a 60th of the cost
    small = (max(2, width // 8), max(2, height // 8))
    ramp_x = np.linspace(0, 1, small[0], dtype=np.float32) * math.cos(angle)
    ramp_y = np.linspace(0, 1, small[1], dtype=np.float32) * math.sin(angle)
    t = ramp_y[:, None] + ramp_x[None, :]
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    pixels = a + t[..., None] * (b - a)
    return Image.fromarray(pixels.astype(np.uint8), "RGB").resize(size, Image.Resampling.BILINEAR)


def draw_shape(image: Image.Image, shape: str, colour, rng: np.random.Generator, texture_fill=None) -> None:
    """Paste one shape of ``colour`` at a random position, scale and rotation (in place)."""
    width, height = image.size
    r = rng.uniform(0.12, 0.32) * min(width, height)
    cx, cy = rng.uniform(0.1, 0.9) * width, rng.uniform(0.1, 0.9) * height
    # the mask covers only the shape's bounding square (pasting a whole-image mask costs 5x more)
    left, top = max(0, int(cx - r) - 1), max(0, int(cy - r) - 1)
    right, bottom = min(width, int(cx + r) + 2), min(height, int(cy + r) + 2)
    box = (right - left, bottom - top)
    mask = shape_mask(box, shape, cx - left, cy - top, r, rng.uniform(0, 2 * math.pi))
    if texture_fill is not None:
        mask = Image.fromarray(np.minimum(np.asarray(mask), np.asarray(texture_fill)[top:bottom, left:right]), "L")
    image.paste(colour, (left, top, right, bottom), mask=mask)


def render(label: int, classes: int, seed: int, split: str, index: int, noise: np.ndarray) -> Image.Image:
    """One image of class ``label``, fully determined by (seed, split, index)."""
    rng = np.random.default_rng([seed, SPLIT_IDS[split], index])
    size = (int(rng.integers(300, 501)), int(rng.integers(200, 401)))
    image = gradient_background(size, rng)
    shape, texture, hue = class_style(label, classes)
    others = [s for s in SHAPES if s != shape]
    for _ in range(int(rng.integers(0, 3))):  # distractors first, so the class shape is mostly on top
        draw_shape(image, others[int(rng.integers(len(others)))], random_colour(rng), rng)
    fill = texture_mask(size, texture, rng)
    for _ in range(int(rng.integers(1, 4))):
        draw_shape(image, shape, random_colour(rng, hue, jitter=0.09), rng, fill)
    if rng.random() < 0.3:
        image = image.filter(ImageFilter.BoxBlur(float(rng.uniform(0.5, 1.5))))
    # per-pixel noise: a random window of a shared noise bank (drawing fresh noise would double the time)
    top, left = int(rng.integers(0, noise.shape[0] - size[1])), int(rng.integers(0, noise.shape[1] - size[0]))
    scale = rng.uniform(0.3, 1.0)
    window = noise[top : top + size[1], left : left + size[0]] * scale
    pixels = np.asarray(image, np.float32) + window
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")


_NOISE: np.ndarray | None = None


def _init_worker(seed: int) -> None:
    global _NOISE
    _NOISE = np.random.default_rng([seed, 99]).normal(0, 12, (*NOISE_BANK_SIZE, 3)).astype(np.float32)


def _write_chunk(job: tuple[str, str, list[int], int, int, int]) -> tuple[int, int]:
    """Render and save the images ``indices`` of one split; returns (count, bytes written)."""
    out, split, indices, classes, seed, quality = job
    assert _NOISE is not None
    names = class_names(classes)
    total = 0
    for index in indices:
        label = index % classes
        path = Path(out) / split / names[label] / f"{split}_{index:07d}.jpg"
        render(label, classes, seed, split, index, _NOISE).save(path, "JPEG", quality=quality)
        total += path.stat().st_size
    return len(indices), total


def machine() -> dict:
    """CPU model, logical CPUs, load average (others' jobs included), Python, Pillow and numpy versions."""
    import platform

    import PIL

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next(line.split(":", 1)[1].strip() for line in handle if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "load_average": list(os.getloadavg()),
        "python": platform.python_version(),
        "pillow": PIL.__version__,
        "numpy": np.__version__,
    }


def make_folder(out: Path, n_train: int, n_val: int, classes: int, seed: int, quality: int, workers: int) -> dict:
    """Write the folder and return its summary (images, bytes, seconds, images/s)."""
    for split in SPLIT_IDS:
        if (out / split).exists() and any((out / split).iterdir()):
            raise SystemExit(f"make_photo_folder: {out / split} is not empty; choose a new OUT or remove it first")
    for split in SPLIT_IDS:
        for name in class_names(classes):
            (out / split / name).mkdir(parents=True, exist_ok=True)
    chunk = 64
    jobs = [
        (str(out), split, list(range(start, min(start + chunk, count))), classes, seed, quality)
        for split, count in (("train", n_train), ("val", n_val))
        for start in range(0, count, chunk)
    ]
    before = machine()
    start = time.perf_counter()
    images = size = 0
    if workers <= 1:
        _init_worker(seed)
        results = map(_write_chunk, jobs)
        for count, nbytes in results:
            images, size = images + count, size + nbytes
    else:
        with Pool(workers, initializer=_init_worker, initargs=(seed,)) as pool:
            for count, nbytes in pool.imap_unordered(_write_chunk, jobs):
                images, size = images + count, size + nbytes
    seconds = time.perf_counter() - start
    return {
        "out": str(out),
        "images": images,
        "train": n_train,
        "val": n_val,
        "classes": classes,
        "bytes": size,
        "mean_bytes_per_image": round(size / max(images, 1)),
        "seconds": round(seconds, 2),
        "images_per_s": round(images / seconds, 1),
        "workers": workers,
        "seed": seed,
        "quality": quality,
        "machine": before,
        "load_average_after": list(os.getloadavg()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder to create (train/ and val/ go inside)")
    parser.add_argument("--n-train", type=int, default=2000)
    parser.add_argument("--n-val", type=int, default=500)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quality", type=int, default=90, help="JPEG quality, 1-95")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes (1: none)")
    args = parser.parse_args(argv)
    if args.classes < 2 or args.n_train < 0 or args.n_val < 0 or not 1 <= args.quality <= 95:
        parser.error("need --classes >= 2, --n-train/--n-val >= 0 and --quality in 1..95")
    result = make_folder(args.out, args.n_train, args.n_val, args.classes, args.seed, args.quality, args.workers)
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
