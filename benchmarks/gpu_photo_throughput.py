"""GPU training throughput fed by the streaming photo path, against timm's training step on synthetic
tensors already on the GPU (what ``timm``'s ``benchmark.py --bench train`` measures), in one process on
one GPU (issue 22's GPU target).

    python benchmarks/gpu_photo_throughput.py PHOTOS [--models crossvit_9_240 crossvit_18_240]
        [--batch 256] [--steps 40] [--warmup 8] [--workers N] [--output results.json]

PHOTOS holds ``train/<class>/*.jpg`` (benchmarks/make_photo_folder.py makes one). For each model, in
this order, each timed over ``--steps`` steps after ``--warmup``:

* ``timm_synthetic``: timm's model, a batch of random tensors made once on the GPU;
* ``dualbranch_synthetic``: dualbranch's model of the same name, the same loop and tensors;
* ``dualbranch_stream``: dualbranch's model fed by its streaming loader — JPEGs decoded in DataLoader
  workers (simplejpeg), RandomResizedCrop + flip + TrivialAugment (albumentations), uint8 batches
  pinned and copied without blocking, normalised on the GPU — as ``fit`` builds it.

Every step is bf16 autocast (``bf16-mixed``), channels-last, AdamW, cross-entropy. Reported per run:
images/s, the share of the step time spent waiting on the loader, and GPU utilisation sampled by NVML
every 100 ms; and the ratios stream / timm_synthetic (the target: ≥ 0.9) and stream / synthetic (the
loader's cost). Prints JSON with the GPU, driver, CPU and versions.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import threading
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from dualbranch import create_model
from dualbranch.data.photo_dataset import PhotoDataset
from dualbranch.data.photo_transforms import TrainTransform, TrainTransformConfig
from dualbranch.data.photos import index_image_folder
from dualbranch.train.datamodule import loader_for

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


class Utilisation:
    """GPU utilisation (%) sampled by NVML every 100 ms while the block runs."""

    def __enter__(self) -> Utilisation:
        self.samples: list[int] = []
        self._stop = threading.Event()
        try:
            import pynvml

            pynvml.nvmlInit()
            handle = pynvml.nvmlDeviceGetHandleByIndex(torch.cuda.current_device())
            self._read = lambda: pynvml.nvmlDeviceGetUtilizationRates(handle).gpu
        except Exception:  # no NVML: utilisation is reported as null
            self._read = None
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while self._read is not None and not self._stop.wait(0.1):
            self.samples.append(int(self._read()))

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def mean(self) -> float | None:
        return round(sum(self.samples) / len(self.samples), 1) if self.samples else None


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _train(model: torch.nn.Module, batches: Any, steps: int, warmup: int, classes: int, device: str) -> dict[str, Any]:
    """Train ``warmup + steps`` steps on ``batches`` (an iterator of (x uint8 or float (B, C, H, W), y (B,)))."""
    model = model.to(device).to(memory_format=torch.channels_last).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.05, fused=device == "cuda")
    mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1) * 255
    std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1) * 255
    waited, images, started = 0.0, 0, 0.0
    with Utilisation() as utilisation:
        for step in range(warmup + steps):
            if step == warmup:
                _sync(device)
                started, waited, images = time.perf_counter(), 0.0, 0
                utilisation.samples.clear()
            asked = time.perf_counter()
            x, y = next(batches)
            waited += time.perf_counter() - asked
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True) % classes
            if x.dtype == torch.uint8:  # (B, C, H, W) uint8 -> normalised float, on the GPU
                x = (x.float() - mean) / std
            x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device, dtype=torch.bfloat16):
                loss = F.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            images += len(y)
        _sync(device)
    seconds = time.perf_counter() - started
    return {
        "images_per_s": round(images / seconds, 3),
        "data_wait_share": round(waited / seconds, 4),
        "gpu_utilisation_pct": utilisation.mean,
        "steps": steps,
    }


def _synthetic(batch: int, size: int, classes: int, device: str) -> Any:
    x = torch.randn(batch, 3, size, size, device=device)
    y = torch.randint(0, classes, (batch,), device=device)
    while True:
        yield x, y


def _stream(folder: Path, batch: int, size: int, workers: int, pin: bool, seed: int = 0) -> Any:
    files = index_image_folder(folder)
    transform = TrainTransform(TrainTransformConfig(size=(size, size), policy="trivialaugment"))
    dataset = PhotoDataset(files, transform, seed=seed)
    epoch = [0]
    loader = loader_for(dataset, files.labels, batch, workers, shuffle=True, training=True, seed=seed,
                        pin_memory=pin, epoch_of=lambda: epoch[0])  # fmt: skip
    while True:
        yield from loader
        epoch[0] += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("photos", type=Path)
    parser.add_argument("--models", nargs="+", default=["crossvit_9_240", "crossvit_18_240"])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=8)
    parser.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 1))
    parser.add_argument("--output", type=Path)
    parser.add_argument("--device", default="cuda", help="cpu: a smoke run of the script itself")
    args = parser.parse_args()
    import timm

    device = args.device
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.benchmark = True
    classes = len(index_image_folder(args.photos / "train").class_names)
    report: dict[str, Any] = {
        "gpu": torch.cuda.get_device_name() if device == "cuda" else None,
        "cpu": platform.processor() or platform.machine(),
        "cpu_threads": os.cpu_count(),
        "versions": {"torch": torch.__version__, "timm": timm.__version__, "cuda": torch.version.cuda},
        "batch": args.batch,
        "workers": args.workers,
        "models": {},
    }
    for name in args.models:
        size = int(name.rsplit("_", 1)[-1])
        runs = {}
        synthetic = _synthetic(args.batch, size, classes, device)
        stream = _stream(args.photos / "train", args.batch, size, args.workers, device == "cuda")
        for run, model, batches in (
            ("timm_synthetic", timm.create_model(name, num_classes=classes), synthetic),
            ("dualbranch_synthetic", create_model(name, num_classes=classes), synthetic),
            ("dualbranch_stream", create_model(name, num_classes=classes), stream),
        ):
            runs[run] = _train(model, batches, args.steps, args.warmup, classes, device)
        streamed = runs["dualbranch_stream"]["images_per_s"]
        runs["stream_over_timm_synthetic"] = round(streamed / runs["timm_synthetic"]["images_per_s"], 3)
        runs["stream_over_own_synthetic"] = round(streamed / runs["dualbranch_synthetic"]["images_per_s"], 3)
        report["models"][name] = runs
        print(json.dumps({name: runs}), flush=True)
        if device == "cuda":
            torch.cuda.empty_cache()
    text = json.dumps(report, indent=2)
    print(text)
    if args.output:
        args.output.write_text(text + "\n")


if __name__ == "__main__":
    main()
