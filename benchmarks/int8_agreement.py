"""int8 post-training quantization on a trained model: top-1 agreement with fp32 on the Fashion-MNIST test set.

    PYTHONPATH=src python benchmarks/int8_agreement.py [--run RUN_DIR] [--threads 2]

Without ``--run`` it first trains a short ``crossvit_fmnist`` run through the library (2 epochs on 20,000
images, a few minutes on 2 cores): agreement is only meaningful on a trained model. Measures, for the
dynamic and the static (PT2E, calibrated on 512 training images) int8 engines and for ONNX: agreement
with the fp32 model on all 10,000 test images (Xiao et al., 2017, arXiv:1708.07747), each engine's own
test accuracy, and throughput at batch 256 timed alternately with fp32 eager.
Writes benchmarks/results/int8_agreement.json.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import torch

from dualbranch.bench import machine_info, time_alternating
from dualbranch.data.images import load_fashion_mnist
from dualbranch.engines import build_engine
from dualbranch.quantize import top1_agreement
from dualbranch.train.config import load_config
from dualbranch.train.pipeline import fit, load_fold_models

RESULTS = Path(__file__).parent / "results" / "int8_agreement.json"
SHORT_RUN = [
    "optim.epochs=2",
    "data.limit_train=20000",
    "output.report=false",
    "output.name=int8-agreement",
    "trainer.progress_bar=false",
]


def normalised(images: torch.Tensor, mean: list[float], std: list[float]) -> torch.Tensor:
    """uint8 (N, C, H, W) -> the float input the run's model was trained on."""
    return (images.float() / 255 - torch.tensor(mean).view(1, -1, 1, 1)) / torch.tensor(std).view(1, -1, 1, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", help="a run folder made by `dualbranch fit` on Fashion-MNIST")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--engines", nargs="+", default=["int8-dynamic", "int8-static", "onnx"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--output", default=str(RESULTS))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    run_dir = Path(args.run) if args.run else Path("runs") / "int8-agreement"
    if not (run_dir / "model.safetensors").is_file():
        fit(load_config(None, [*SHORT_RUN, "output.overwrite=true"]))
    [fold], record = load_fold_models(run_dir)
    model, mean, std = fold.model, fold.preprocessing.mean, fold.preprocessing.std
    test = load_fashion_mnist("test")
    images = normalised(test.images, mean, std)
    calibration = list(normalised(load_fashion_mnist("train").images[:512], mean, std).split(128))
    with torch.inference_mode():
        fp32_accuracy = float(
            (torch.cat([model(x) for x in images.split(512)]).argmax(1) == test.labels).float().mean()
        )
    result = {
        "run": str(run_dir),
        "model": record.model_name,
        "machine": machine_info(),
        "threads": args.threads,
        "test_images": len(test),
        "fp32_accuracy": fp32_accuracy,
        "engines": {},
    }
    batch = images[:256]
    steps = {"eager": lambda: model(batch)}
    for engine in args.engines:
        runner = build_engine(engine, model, batch, calibration=calibration)
        agreement = top1_agreement(model, runner, images)
        with torch.inference_mode():
            predictions = torch.cat([runner(x) for x in images.split(512)]).argmax(1)
        agreement["accuracy"] = float((predictions == test.labels).float().mean())
        result["engines"][engine] = agreement
        steps[engine] = lambda runner=runner: runner(batch)
        print(f"{engine}: agreement {agreement['agreement']:.2%}, accuracy {agreement['accuracy']:.2%}")
    with torch.inference_mode():
        timings = time_alternating(steps, args.repeats, warmup=2)
    for engine, timing in timings.items():
        entry = result["engines"].setdefault(engine, {})
        entry.update(timing, img_per_s=len(batch) / (timing["median_ms"] / 1e3))
        entry["speedup_vs_eager"] = timings["eager"]["median_ms"] / timing["median_ms"]
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
