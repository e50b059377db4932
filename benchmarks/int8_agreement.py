"""Every deployment engine on a trained model: top-1 agreement with fp32 on the Fashion-MNIST test set.

    PYTHONPATH=src python benchmarks/int8_agreement.py --run RUN_DIR [--threads 2] [--engines ...]

``RUN_DIR`` is a run folder made by ``dualbranch fit`` on Fashion-MNIST (the issue's target needs a
model trained to convergence, e.g. the default ``dualbranch fit``). Without ``--run`` it first trains a
short ``crossvit_fmnist`` run (2 epochs on 20,000 images): enough to exercise the script, not for the
target. For each engine it measures agreement with the fp32 eager model on all 10,000 test images
(Xiao et al., 2017, arXiv:1708.07747), the largest logit difference, the engine's own test accuracy,
and throughput at batch 256 timed alternately with fp32 eager (medians; the machine may be shared, so
the ratios are what count). The calibrated engines see up to 512 of the run's own training examples,
exactly as ``dualbranch predict --engine openvino-int8`` does. Targets checked: agreement ≥ 99.5 % for
every int8 engine and for bf16 (``openvino-bf16``, 8 significant bits), logits within 1e-4 for every
fp32 one. Writes benchmarks/results/int8_agreement.json.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import torch

from dualbranch.bench import machine_info, time_alternating
from dualbranch.engines import CALIBRATED, build_engine
from dualbranch.train.calibrated import calibration_batches
from dualbranch.train.config import load_config
from dualbranch.train.kinds import kind_named
from dualbranch.train.pipeline import fit, load_fold_models

RESULTS = Path(__file__).parent / "results" / "int8_agreement.json"
SHORT_RUN = [
    "optim.epochs=2",
    "data.limit_train=20000",
    "output.report=false",
    "output.name=int8-agreement",
    "trainer.progress_bar=false",
]
FP32_ENGINES = ("compile", "onnx", "openvino")
TARGET_AGREEMENT, TARGET_LOGITS = 0.995, 1e-4
BATCH = 256


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", help="a run folder made by `dualbranch fit` on Fashion-MNIST")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument(
        "--engines",
        nargs="+",
        default=["int8-dynamic", "int8-static", "openvino-int8", "onnx", "openvino", "openvino-bf16"],
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--output", default=str(RESULTS))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    run_dir = Path(args.run) if args.run else Path("runs") / "int8-agreement"
    if not (run_dir / "model.safetensors").is_file():
        fit(load_config(None, [*SHORT_RUN, "output.overwrite=true"]))
    [fold], record = load_fold_models(run_dir)
    kind = kind_named(record.kind)
    config = load_config(run_dir / "config.yaml")
    pipeline = kind.input_pipeline(fold.preprocessing, config.augment)
    dataset = config.kind.load(config.data, config.trainer.seed)
    if dataset.own_test is None:
        raise SystemExit(f"{run_dir}: its data has no test split of its own; train it on fashion_mnist")
    model, test_index = fold.model, dataset.own_test
    with torch.no_grad():
        images = pipeline.prepare(kind.loader_inputs(dataset.examples.subset(test_index), fold.preprocessing, False))
    labels = torch.from_numpy(dataset.y[test_index])
    calibration = calibration_batches(run_dir, fold.name, fold.preprocessing, pipeline)
    with torch.inference_mode():
        # batches of 256 throughout (with one shorter tail): a compiled engine compiles once per shape
        reference = torch.cat([model(x) for x in images.split(BATCH)])
    predicted = reference.argmax(1)
    metrics_file = run_dir / "metrics.json"
    result = {
        "run": str(run_dir),
        "model": record.model_name,
        "epochs": config.optim.epochs,
        "train_examples": config.data.limit_train or "all",
        "run_metrics_accuracy": json.loads(metrics_file.read_text()).get("accuracy")
        if metrics_file.is_file()
        else None,
        "machine": machine_info(),
        "threads": args.threads,
        "timing": "alternating samples, medians; the CPU may be shared with other jobs, so read the ratios",
        "test_images": len(labels),
        "calibration_images": sum(len(b) for b in calibration),
        "fp32_accuracy": float((predicted == labels).float().mean()),
        "engines": {},
    }
    batch = images[:BATCH].clone()
    steps = {"eager": lambda: model(batch)}
    for engine in args.engines:
        runner = build_engine(engine, model, batch, calibration=calibration if engine in CALIBRATED else None)
        with torch.inference_mode():
            logits = torch.cat([runner(x) for x in images.split(BATCH)])
        same = int((logits.argmax(1) == predicted).sum())
        agreement = {
            "agreement": same / len(labels),
            "disagreements": len(labels) - same,
            "n": len(labels),
            "max_abs_logit_diff": float((logits - reference).abs().max()),
            "accuracy": float((logits.argmax(1) == labels).float().mean()),
        }
        if engine in FP32_ENGINES:
            agreement["meets_target"] = agreement["max_abs_logit_diff"] <= TARGET_LOGITS
        else:
            agreement["meets_target"] = agreement["agreement"] >= TARGET_AGREEMENT
        result["engines"][engine] = agreement
        steps[engine] = lambda runner=runner: runner(batch)
        print(
            f"{engine}: agreement {agreement['agreement']:.2%} ({agreement['disagreements']} differ), "
            f"max logit diff {agreement['max_abs_logit_diff']:.1e}, accuracy {agreement['accuracy']:.2%}",
            flush=True,
        )
    with torch.inference_mode():
        timings = time_alternating(steps, args.repeats, warmup=2)
    for engine, timing in timings.items():
        entry = result["engines"].setdefault(engine, {})
        entry.update(timing, img_per_s=len(batch) / (timing["median_ms"] / 1e3))
        entry["speedup_vs_eager"] = timings["eager"]["median_ms"] / timing["median_ms"]
    result["load_average_after"] = list(os.getloadavg())
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
