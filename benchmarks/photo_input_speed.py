"""The streaming photo input: images/s per worker against timm's loader, and how long training waits on it.

    # in a venv with timm and torchvision beside dualbranch (scripts/speed_vs_timm.sh builds one):
    python benchmarks/photo_input_speed.py loader FOLDER/train [--size 224] [--workers 1 2] [--batches 20]
    # in the project's venv:
    .venv/bin/python benchmarks/photo_input_speed.py wait FOLDER [--model crossvit_9_240] [--updates 30]

``loader``: the same photos through dualbranch's training loader (libjpeg-turbo decoding, albumentations'
random-resized crop, flip and RandAugment 2 operations at magnitude 9; uint8 batches) and through timm's
``create_loader`` with the same transforms (``scale=(0.08, 1)``, ``hflip=0.5``,
``auto_augment="rand-m9-mstd0.5"``, its prefetcher, which hands uint8 batches from the workers too),
``--workers`` worker processes each, alternated ``--repeats`` times; the median images/s, per worker.

``wait``: ``dualbranch fit`` of ``--model`` on ``FOLDER/train`` (validation ``FOLDER/val``) with the
defaults, for ``--updates`` updates after 3 of warm-up, timing each step and the wait for its batch
(from the end of one step to the start of the next): the share of the time training waits on data.

Prints JSON with the machine (CPU, features, threads, load) and versions.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch

from dualbranch.bench import machine_info


def _rate(loader, batches: int) -> float:
    """Images/s over ``batches`` batches, after the first (the workers' start-up)."""
    iterator = iter(loader)
    next(iterator)
    started, count = time.perf_counter(), 0
    for _ in range(batches):
        x, _ = next(iterator)
        count += len(x)
    return count / (time.perf_counter() - started)


def loaders(folder: Path, size: int, workers: int, batch: int) -> dict:
    """The two loaders over ``folder``, built once: name -> zero-argument factory of a fresh loader."""
    from timm.data import ImageDataset, create_loader

    from dualbranch.data.photo_dataset import PhotoDataset
    from dualbranch.data.photo_transforms import TrainTransform, TrainTransformConfig
    from dualbranch.data.photos import index_image_folder
    from dualbranch.train.datamodule import loader_for

    files = index_image_folder(folder)
    transform = TrainTransform(TrainTransformConfig((size, size), (0.08, 1.0), hflip=0.5, policy="randaugment"))
    photos = PhotoDataset(files, transform)
    timm_set = ImageDataset(str(folder))
    return {
        "dualbranch": lambda: loader_for(photos, files.labels, batch, workers, shuffle=True, training=True),
        "timm": lambda: create_loader(
            timm_set, input_size=(3, size, size), batch_size=batch, is_training=True, scale=(0.08, 1.0),
            hflip=0.5, auto_augment="rand-m9-mstd0.5", interpolation="bicubic", num_workers=workers,
            use_prefetcher=True, device=torch.device("cpu"), persistent_workers=False,
        ),
    }  # fmt: skip


def compare_loaders(args: argparse.Namespace) -> dict:
    import timm

    results = {}
    for workers in args.workers:
        made = loaders(args.folder, args.size, workers, args.batch)
        rates: dict[str, list[float]] = {name: [] for name in made}
        for _ in range(args.repeats):
            for name, make in made.items():  # alternated, so drifting load hits both
                rates[name].append(_rate(make(), args.batches))
        medians = {name: statistics.median(r) for name, r in rates.items()}
        results[f"{workers} workers"] = {
            **{f"{name}_images_per_s": round(m, 1) for name, m in medians.items()},
            **{f"{name}_images_per_s_per_worker": round(m / workers, 1) for name, m in medians.items()},
            "dualbranch_vs_timm": round(medians["dualbranch"] / medians["timm"], 2),
            "samples": rates,
        }
    return {"size": args.size, "batch": args.batch, "timm": timm.__version__, "results": results}


def data_wait(args: argparse.Namespace) -> dict:
    import lightning as L

    from dualbranch.train.config import load_config
    from dualbranch.train.pipeline import fit

    class Timer(L.Callback):
        def __init__(self) -> None:
            self.steps: list[float] = []
            self.waits: list[float] = []
            self.mark = 0.0

        def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:  # type: ignore[no-untyped-def]
            now = time.perf_counter()
            if trainer.global_step > 3:  # after the warm-up (and the workers' start)
                self.waits.append(now - self.mark)
            self.mark = now

        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:  # type: ignore[no-untyped-def]
            now = time.perf_counter()
            if trainer.global_step > 3:
                self.steps.append(now - self.mark)
            self.mark = now
            if trainer.global_step >= args.updates + 3:
                trainer.should_stop = True

    timer = Timer()
    with tempfile.TemporaryDirectory() as root:
        config = load_config(
            None,
            ["data.name=image_folder", f"data.path={args.folder / 'train'}", f"data.val_path={args.folder / 'val'}",
             f"model.name={args.model}", f"output.root={root}", "output.report=false", "trainer.progress_bar=false",
             "optim.epochs=1", "data.limit_eval=64"],
        )  # fmt: skip
        fit(config, callbacks=[timer])
    wait, step = sum(timer.waits), sum(timer.steps)
    return {
        "model": args.model, "updates": len(timer.steps), "seconds_training": round(step, 2),
        "seconds_waiting": round(wait, 3), "wait_share": round(wait / (wait + step), 4),
        "median_step_s": round(statistics.median(timer.steps), 3), "threads": torch.get_num_threads(),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    loader = sub.add_parser("loader")
    loader.add_argument("folder", type=Path)
    loader.add_argument("--size", type=int, default=224)
    loader.add_argument("--batch", type=int, default=64)
    loader.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    loader.add_argument("--batches", type=int, default=20)
    loader.add_argument("--repeats", type=int, default=3)
    wait = sub.add_parser("wait")
    wait.add_argument("folder", type=Path)
    wait.add_argument("--model", default="crossvit_9_240")
    wait.add_argument("--updates", type=int, default=30)
    args = parser.parse_args()
    result = compare_loaders(args) if args.what == "loader" else data_wait(args)
    print(json.dumps({**result, "machine": machine_info()}, indent=2))


if __name__ == "__main__":
    main()
