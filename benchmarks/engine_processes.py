"""One process per engine, alternated: inference speed of dualbranch's engines against timm.

    PYTHONPATH=src python benchmarks/engine_processes.py --model crossvit_9_240 --batch 32 [--threads 2]
    (or through benchmarks/speed_vs_timm.py --processes, in the venv scripts/speed_vs_timm.sh builds)

Why processes: OpenVINO's thread pool (TBB) and PyTorch's (OpenMP) in one process keep spinning or
holding cores after their own calls, which slows whichever runs next; a process per engine gives each
its own pools, as in a deployment. The parent makes the model once (seeded random weights) and one
input batch, and starts a worker per engine (timm included) that loads the same weights, builds its
engine, runs it on the batch and waits. Then the parent times them alternately: each round asks every
worker in turn (the order reversed every other round) for one sample of enough calls to last
``--min-sample`` seconds, with a pause in between so that no worker's spinning threads overlap the
next one's sample. Only one worker computes at a time. Figures: median (min–max) ms per call over
``--repeats`` rounds, images/s, and the ratio timm time / engine time. Each engine's outputs are
compared with fp32 eager's (largest difference, top-1 agreement on the batch) and each reports the
precision it ran (:func:`dualbranch.engines.engine_precision`). The calibrated int8 engine calibrates
on the timing batch itself (random inputs): enough for a speed figure, not for accuracy.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from dualbranch.bench import machine_info, timm_model
from dualbranch.checkpoint import load_checkpoint, save_checkpoint
from dualbranch.engines import build_engine, engine_precision
from dualbranch.factory import create_model
from dualbranch.machine import summary_ms

DEFAULT_ENGINES = ("eager", "openvino", "openvino-bf16", "openvino-int8")


def _worker(args: argparse.Namespace) -> None:
    """A worker: build one engine, report, then time calls on request (stdin/stdout, one JSON per line)."""
    torch.set_num_threads(args.threads)
    folder = Path(args.folder)
    model = load_checkpoint(create_model(args.model), folder / "weights.safetensors").eval()
    x = torch.load(folder / "input.pt")
    if args.worker == "timm":
        runner, note = timm_model(args.model, model)
        if runner is None:
            raise SystemExit(note)
        precision: dict[str, Any] = {"precision": "fp32", "timm": note}
    else:
        runner = build_engine(args.worker, model, x)
        precision = engine_precision(args.worker, runner)
    with torch.inference_mode():
        out = runner(x)
    torch.save(out, folder / f"out-{args.worker}.pt")
    print(json.dumps({"ready": args.worker, **precision}), flush=True)
    while True:
        calls = int(sys.stdin.readline() or 0)  # 0 or a closed pipe: stop
        if calls == 0:
            return
        start = time.perf_counter()
        with torch.inference_mode():
            for _ in range(calls):
                runner(x)
        print(json.dumps({"seconds": time.perf_counter() - start}), flush=True)


class _Worker:
    def __init__(self, engine: str, args: argparse.Namespace, folder: Path) -> None:
        command = [sys.executable, __file__, "--worker", engine, "--model", args.model, "--folder", str(folder),
                   "--threads", str(args.threads)]  # fmt: skip
        self.engine = engine
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.ready: dict[str, Any] = {}

    def wait_ready(self) -> dict[str, Any]:
        line = self.process.stdout.readline()  # type: ignore[union-attr]
        if not line:
            raise RuntimeError(f"the {self.engine} worker exited before it was ready (its error is above)")
        self.ready = json.loads(line)
        return self.ready

    def run(self, calls: int) -> float:
        self.process.stdin.write(f"{calls}\n")  # type: ignore[union-attr]
        self.process.stdin.flush()  # type: ignore[union-attr]
        return json.loads(self.process.stdout.readline())["seconds"]  # type: ignore[union-attr]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()  # type: ignore[union-attr]  (the worker's cue to stop)
        self.process.wait(timeout=60)


def measure(args: argparse.Namespace, log: Any = lambda line: print(line, file=sys.stderr)) -> dict[str, Any]:
    """Time ``args.engines`` and timm on ``args.model`` at ``args.batch``, one process each (see above)."""
    before = machine_info()
    torch.manual_seed(0)
    model = create_model(args.model).eval()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        save_checkpoint(model, folder / "weights.safetensors")
        torch.save(torch.randn(args.batch, *model.input_shape), folder / "input.pt")
        names = ["timm", *args.engines]
        workers = {}
        try:
            for name in names:  # built one after another: conversions and calibrations do not overlap
                log(f"starting the {name} worker ...")
                workers[name] = _Worker(name, args, folder)
                workers[name].wait_ready()
            outputs = {name: torch.load(folder / f"out-{name}.pt") for name in names}
            calls = {}
            for name, worker in workers.items():  # warm-up, then calls per sample to last min_sample seconds
                for _ in range(args.warmup):
                    worker.run(1)
                calls[name] = max(1, math.ceil(args.min_sample / max(worker.run(1), 1e-6)))
            samples: dict[str, list[float]] = {name: [] for name in names}
            for round_ in range(args.repeats):
                log(f"round {round_ + 1}/{args.repeats}")
                for name in names if round_ % 2 == 0 else reversed(names):
                    time.sleep(args.settle)
                    samples[name].append(workers[name].run(calls[name]) / calls[name])
        finally:
            for worker in workers.values():
                worker.stop()
    reference = outputs["eager"]
    timm_ms = summary_ms(samples["timm"])["median_ms"]
    engines = {}
    for name in names:
        timing = summary_ms(samples[name])
        engines[name] = {
            **timing,
            "img_per_s": args.batch / (timing["median_ms"] / 1e3),
            "speedup_vs_timm": timm_ms / timing["median_ms"],
            "calls_per_sample": calls[name],
            "max_abs_diff_vs_eager": float((outputs[name] - reference).abs().max()),
            "top1_agreement_vs_eager": float((outputs[name].argmax(1) == reference.argmax(1)).float().mean()),
            **{k: v for k, v in workers[name].ready.items() if k != "ready"},
        }
    return {
        "model": args.model,
        "batch": args.batch,
        "threads": args.threads,
        "repeats": args.repeats,
        "method": "one process per engine, alternated (benchmarks/engine_processes.py)",
        "weights": "the same seeded random initialisation in every process (timm: the same tensors, timm's names)",
        "engines": engines,
        "machine": before,
        "load_average_after": machine_info()["load_average"],
    }


def table(result: dict[str, Any]) -> str:
    """Markdown: one row per engine with its time, images/s, ratio to timm, precision and agreement."""
    lines = [
        f"{result['model']}, batch {result['batch']}, {result['threads']} threads, {result['method']}; "
        f"load average {result['machine']['load_average'][0]:.2f} before, {result['load_average_after'][0]:.2f} after.",
        "",
        "| engine | precision | median ms (min–max) | img/s | vs timm | top-1 vs eager | max abs diff |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for name, row in result["engines"].items():
        lines.append(
            f"| {name} | {row['precision']} | {row['median_ms']:.1f} ({row['min_ms']:.1f}–{row['max_ms']:.1f}) "
            f"| {row['img_per_s']:.1f} | {row['speedup_vs_timm']:.2f}× | {row['top1_agreement_vs_eager']:.0%} "
            f"| {row['max_abs_diff_vs_eager']:.1e} |"
        )
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="crossvit_9_240")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--engines", nargs="+", default=list(DEFAULT_ENGINES))
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--min-sample", type=float, default=2.0, help="seconds per timed sample (default 2)")
    parser.add_argument("--settle", type=float, default=0.5, help="pause before each sample, seconds")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--output", help="write the JSON here")
    return parser


def main() -> None:
    args = parser().parse_args()
    if args.worker:
        _worker(args)
        return
    result = measure(args)
    text = json.dumps(result, indent=2)
    if args.output:
        Path(args.output).write_text(text + "\n")
    print(table(result))
    print(text)


if __name__ == "__main__":
    main()
