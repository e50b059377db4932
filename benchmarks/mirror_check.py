"""Measure the mirror check (``dualbranch.data.mirror_check``) on the image sets on this machine.

    python benchmarks/mirror_check.py [FOLDER ...] [--side 32] [--seeds 3]
        [--output benchmarks/results/mirror_check.json]

The in-memory recipe chooses horizontal flips only where a linear probe on thumbnails recognises mirror
images as well as the originals. This prints, for scikit-learn's digits, Fashion-MNIST and each image
folder given (its ``train/`` part, resized to ``--side`` px squares as the in-memory path would hold
it), the probe's accuracy on held-out images and on their mirror images, the share of the above-chance
accuracy the mirror images keep, whether flips are chosen, and the seconds the check took — for
``--seeds`` samplings, so the spread around the threshold shows. JSON, with the machine.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from dualbranch.data.images import load_digits, load_fashion_mnist, load_image_folder
from dualbranch.data.mirror_check import MIN_KEPT, check_mirror
from dualbranch.machine import machine_info


def measure(images: torch.Tensor, labels: torch.Tensor, seeds: int) -> dict:
    runs = []
    for seed in range(seeds):
        started = time.perf_counter()
        check = check_mirror(images, labels, seed=seed)
        runs.append({
            "seed": seed, "accuracy": round(check.accuracy, 4), "mirrored_accuracy": round(check.mirrored_accuracy, 4),
            "chance": round(check.chance, 4), "kept": round(check.kept, 3), "flips": check.allows_flips,
            "seconds": round(time.perf_counter() - started, 2),
        })  # fmt: skip
    return {
        "shape": list(images.shape),
        "kept_mean": round(float(np.mean([r["kept"] for r in runs])), 3),
        "flips_chosen": sum(r["flips"] for r in runs),
        "runs": runs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="*", type=Path, help="folders with train/<class>/ images")
    parser.add_argument("--side", type=int, default=32, help="the square side folders are resized to")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--output", type=Path, default=Path(__file__).parent / "results" / "mirror_check.json")
    args = parser.parse_args()
    sets: dict[str, dict] = {}
    digits = load_digits("train")
    sets["digits (8 px)"] = measure(digits.images, digits.labels, args.seeds)
    fashion = load_fashion_mnist("train")
    sets["fashion_mnist (28 px)"] = measure(fashion.images, fashion.labels, args.seeds)
    for folder in args.folders:
        data = load_image_folder(folder / "train", img_size=(args.side, args.side), channels=3, progress=False)
        sets[f"{folder.name} ({args.side} px)"] = measure(data.images, data.labels, args.seeds)
    result = {"min_kept": MIN_KEPT, "sets": sets, "machine": {**machine_info(), "threads": torch.get_num_threads()}}
    print(json.dumps(result, indent=1))
    args.output.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
