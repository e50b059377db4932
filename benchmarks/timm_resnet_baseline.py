"""A from-scratch timm ResNet-18 on a photo folder within a wall-time budget: the baseline of
benchmarks/photo_accuracy.py, run in a venv that has timm and torchvision (scripts/speed_vs_timm.sh
makes one; PyPI's torchvision does not load beside the project's own CPU torch).

    python benchmarks/timm_resnet_baseline.py TRAIN_DIR VAL_DIR --seconds 600 --size 128 [--threads 2]

The recipe a practitioner would use for a short from-scratch run: timm's training transforms
(random-resized crops, horizontal flips), AdamW (lr 2e-3, weight decay 0.05), a one-cycle schedule
sized to the steps that fit the budget (timed on the first steps), label smoothing 0.1; evaluation
with timm's resize-and-centre-crop (crop_pct 0.875). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import time

import timm
import torch
from timm.data import ImageDataset, create_loader, resolve_data_config

STARTED = time.perf_counter()
TIMED_FROM, TIMED_TO = 5, 25  # the steps whose speed plans the schedule (at the one-cycle's starting rate)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("train")
    parser.add_argument("val")
    parser.add_argument("--seconds", type=float, required=True, help="wall time for everything, evaluation included")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    train_set, val_set = ImageDataset(args.train), ImageDataset(args.val)
    classes = len(train_set.reader.class_to_idx)
    model = timm.create_model("resnet18", pretrained=False, num_classes=classes).to(memory_format=torch.channels_last)
    config = resolve_data_config({"input_size": (3, args.size, args.size), "crop_pct": 0.875}, model=model)
    common = {"batch_size": args.batch, "num_workers": args.workers, "use_prefetcher": False, "device": "cpu"}
    train = create_loader(train_set, **config, is_training=True, **common)
    val = create_loader(val_set, **config, is_training=False, **common)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3 / 25, weight_decay=0.05)  # one-cycle starts at max/25
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=0.1)
    eval_seconds = 1.5 * len(val_set) * 0.01  # kept aside for the evaluation (about 10 ms a photo at this size)

    def batches():
        while True:
            yield from train

    steps, scheduler, budget_steps, first = 0, None, None, 0.0
    model.train()
    for x, y in batches():
        if steps == TIMED_FROM:  # the first steps are slower (workers starting, allocations): not timed
            first = time.perf_counter()
        if steps == TIMED_TO and scheduler is None:  # the steps that fit the rest of the budget, at the speed measured
            per_step = (time.perf_counter() - first) / (TIMED_TO - TIMED_FROM)
            budget_steps = max(10, int((args.seconds - eval_seconds - (time.perf_counter() - STARTED)) / per_step))
            scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, 2e-3, total_steps=budget_steps)
        loss = loss_fn(model(x.contiguous(memory_format=torch.channels_last)), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        steps += 1
        if budget_steps is not None and steps >= budget_steps + TIMED_TO:
            break
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for x, y in val:
            correct += int((model(x).argmax(1) == y).sum())
            total += len(y)
    print(json.dumps({
        "model": "timm resnet18", "accuracy": correct / total, "steps": steps, "epochs": round(steps * args.batch /
        len(train_set), 2), "size": args.size, "seconds": round(time.perf_counter() - STARTED, 1),
        "timm": timm.__version__, "torch": torch.__version__, "threads": args.threads,
    }))  # fmt: skip


if __name__ == "__main__":
    main()
