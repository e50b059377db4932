"""The streaming photo path against the in-memory path on the same images: Fashion-MNIST written as a PNG
folder, trained with the same recipe and seed through each (issue 22: within 0.5 points).

    .venv/bin/python benchmarks/fmnist_stream_vs_memory.py [--budget 16880] [--threads 1] [-- overrides]

Writes Fashion-MNIST's 60,000 training and 10,000 test images as ``train/<class>/*.png`` and
``test/<class>/*.png`` in a temporary folder, then runs ``dualbranch fit --config fashion_mnist
data.name=image_folder data.path=train data.test_path=test`` twice at once, one process each with
``--threads`` threads: ``data.pipeline=memory`` (decoded up front, the in-memory path) and
``data.pipeline=stream`` (decoded in DataLoader workers from the files). Everything else is the built-in
config's (its budget unless ``--budget`` gives updates). Prints JSON with both accuracies, the gap in
points and each run's seconds, and writes benchmarks/results/fmnist_stream_vs_memory.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

from dualbranch.bench import machine_info
from dualbranch.data.images import load_fashion_mnist

RESULTS = Path(__file__).parent / "results" / "fmnist_stream_vs_memory.json"


def _write(root: Path) -> None:
    for split in ("train", "test"):
        data = load_fashion_mnist(split)
        for i, (image, label) in enumerate(zip(data.images, data.labels.tolist())):
            folder = root / split / data.class_names[label].replace("/", "-")
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image[0].numpy()).save(folder / f"{i:05d}.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", help="optim.budget for both runs (default: the config's)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("extra", nargs="*", help="more overrides for both runs, after --")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        _write(root)
        written = time.perf_counter() - started
        common = [
            "--config", "fashion_mnist", "data.name=image_folder", f"data.path={root / 'train'}",
            f"data.test_path={root / 'test'}", f"trainer.threads={args.threads}", "trainer.progress_bar=false",
            "output.report=false", f"output.root={root / 'runs'}", *args.extra,
        ]  # fmt: skip
        if args.budget:
            common.append(f"optim.budget={args.budget}")
        runs = {}
        for pipeline in ("memory", "stream"):
            command = [sys.executable, "-m", "dualbranch.cli", "fit", *common, f"data.pipeline={pipeline}",
                       f"output.name={pipeline}"]  # fmt: skip
            runs[pipeline] = (subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True),
                              time.perf_counter())  # fmt: skip
        found = {}
        for pipeline, (process, began) in runs.items():
            log = process.communicate()[0]
            if process.returncode != 0:
                raise SystemExit(f"{pipeline} failed:\n{log[-3000:]}")
            metrics = json.loads((root / "runs" / pipeline / "metrics.json").read_text())
            recipe = json.loads((root / "runs" / pipeline / "recipe.json").read_text())
            found[pipeline] = {
                "accuracy": metrics["accuracy"],
                "seconds": round(time.perf_counter() - began, 1),
                "recipe": {c["key"]: c["value"] for c in recipe["choices"]},
            }
    report = {
        "what": "Fashion-MNIST as PNG folders through the in-memory and the streaming path, same recipe and seed",
        "command": "benchmarks/fmnist_stream_vs_memory.py " + " ".join(sys.argv[1:]),
        "png_written_seconds": round(written, 1),
        "runs": found,
        "gap_points": round(100 * (found["stream"]["accuracy"] - found["memory"]["accuracy"]), 2),
        "machine": machine_info(),
    }
    text = json.dumps(report, indent=1)
    print(text)
    RESULTS.write_text(text + "\n")


if __name__ == "__main__":
    main()
