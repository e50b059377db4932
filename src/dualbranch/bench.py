"""The project's speed benchmark: ``dualbranch bench MODEL``.

For one registered model it measures, after warm-up and with the thread count set explicitly:
parameters and GMACs; inference latency and throughput at each requested batch size; the time of one
training step (forward + backward + AdamW step); peak resident memory of a forward and of a training
step (each in a fresh process, so earlier runs cannot hide it); and the achieved GFLOP/s
(2 × MACs × img/s) against this machine's measured fp32 matrix-multiply peak.

Every figure is the median of ``repeats`` timed samples with its min and max. With ``vs_timm`` the
same variant from timm (Wightman, 2019, https://github.com/huggingface/pytorch-image-models) runs in
the same process, on the same input and threads, with identical weights, and the two are timed
alternately (so drifting machine load hits both), giving ``speedup = timm time / our time``.
Deployment engines (:mod:`dualbranch.engines`) are timed the same way and each is checked against the
fp32 eager model first.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from .engines import build_engine, engine_name, engine_precision
from .factory import create_model
from .flops import count_macs, count_params
from .machine import CPU_FEATURES, cpu_features, machine_info, time_alternating

# CPU_FEATURES and cpu_features live in dualbranch.hardware (training's precision choice reads them too),
# machine_info and time_alternating in dualbranch.machine (predict's engine choice uses them too);
# the benchmarks import them from here

__all__ = [
    "CPU_FEATURES",
    "bench_model",
    "cpu_features",
    "machine_info",
    "machine_line",
    "matmul_peak_gflops",
    "time_alternating",
]

Step = Callable[[], object]


def machine_line(result: dict[str, Any]) -> str:
    """One line for beside a table: CPU, its features (✓/✗), threads and the measured fp32 peak."""
    machine = result["machine"]
    features = " ".join(f"{name} {'✓' if has else '✗'}" for name, has in machine.get("cpu_features", {}).items())
    load = machine.get("load_average")
    busy = f", load average {load[0]:.1f}" if load else ""
    return (
        f"{machine['cpu']} ({features}; {machine['logical_cpus']} logical CPUs{busy}), {result['threads']} threads, "
        f"torch {machine['torch']}; fp32 matmul peak {result['matmul_peak_gflops']:.0f} GFLOP/s"
    )


def matmul_peak_gflops(size: int = 2048, repeats: int = 5) -> float:
    """This machine's fp32 matrix-multiply rate (GFLOP/s) at the current thread count: the best of
    ``repeats`` timed ``size``×``size`` products (2·size³ FLOPs each)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    out = torch.empty(size, size)
    torch.mm(a, b, out=out)
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b, out=out)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def timm_model(name: str, ours: nn.Module) -> tuple[nn.Module | None, str]:
    """timm's implementation of ``name`` with ``ours``' weights, or (None, why not)."""
    try:
        import timm
    except ImportError:
        return None, "timm is not installed (pip install timm), so --vs timm is skipped"
    if name not in timm.list_models(name):
        return None, f"timm has no model named {name!r}, so --vs timm is skipped"
    if not hasattr(ours, "published_state_dict"):
        return None, f"{name} cannot export timm-named weights, so --vs timm is skipped"
    theirs = timm.create_model(name, pretrained=False, num_classes=ours.num_classes)
    theirs.load_state_dict(ours.published_state_dict("timm"), strict=True)
    return theirs.eval(), f"timm {timm.__version__}"


def _inference_step(model: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> Step:
    def step() -> object:
        with torch.inference_mode():
            return model(x)

    return step


def _training_step(model: nn.Module, x: torch.Tensor, labels: torch.Tensor) -> Step:
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)

    def step() -> object:
        loss = nn.functional.cross_entropy(model(x), labels)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss

    return step


def _rates(timing: dict[str, float], batch: int, macs: int, peak: float) -> dict[str, float]:
    images_per_s = batch / (timing["median_ms"] / 1e3)
    achieved = 2 * macs * images_per_s / 1e9
    return {**timing, "img_per_s": images_per_s, "gflops": achieved, "fraction_of_peak": achieved / peak}


def peak_memory_mb(impl: str, name: str, batch: int, train: bool, threads: int) -> float | None:
    """Peak extra resident memory (MiB) of one forward (or training step) of a fresh model, measured in a
    child process from the kernel's high-water mark (Linux only; None elsewhere or on failure)."""
    if not os.path.exists("/proc/self/clear_refs"):
        return None
    code = f"from dualbranch.bench import _memory_probe; _memory_probe({impl!r}, {name!r}, {batch}, {train}, {threads})"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    try:
        return float(result.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as handle:
        return next(int(line.split()[1]) for line in handle if line.startswith(field + ":"))


def _memory_probe(impl: str, name: str, batch: int, train: bool, threads: int) -> None:
    """Child-process side of :func:`peak_memory_mb`: prints the peak extra MiB."""
    torch.set_num_threads(threads)
    model = create_model(name)
    x = torch.randn(batch, *model.input_shape)
    if impl == "timm":
        model = timm_model(name, model)[0]
    step = _training_step(model.train(), x, torch.zeros(batch, dtype=torch.long)) if train else None
    baseline = _status_kib("VmRSS")
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")  # reset the high-water mark (VmHWM) to the current resident size
    if step is not None:
        step()
    else:
        _inference_step(model.eval(), x)()
    print((_status_kib("VmHWM") - baseline) / 1024)


def bench_model(
    name: str,
    batches: tuple[int, ...] = (1, 32),
    threads: int | None = None,
    repeats: int = 5,
    warmup: int = 2,
    vs_timm: bool = False,
    engines: tuple[str, ...] = ("eager",),
    train_batch: int | None = None,
    memory: bool = True,
    peak_gflops: float | None = None,
    log: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
) -> dict[str, Any]:
    """Benchmark one registered model; returns the JSON-ready results (see the module docstring).

    ``engines``: any of :data:`dualbranch.engines.ENGINES`; "eager" (fp32) is the reference and is
    always measured. ``train_batch`` defaults to the largest of ``batches``; 0 skips training.
    """
    engines = tuple(dict.fromkeys(engine_name(engine) for engine in engines))  # a ConfigError for unknown names
    threads = threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = create_model(name).eval()
    shape = tuple(model.input_shape)  # type: ignore[arg-type]
    macs = count_macs(model)
    train_macs = count_macs(model, backward=True)  # forward + backward of one image
    model.zero_grad(set_to_none=True)
    peak = peak_gflops or matmul_peak_gflops()
    log(
        f"{name}: {count_params(model) / 1e6:.2f} M params, {macs / 1e9:.2f} GMACs; fp32 matmul peak {peak:.0f} GFLOP/s"
    )
    result: dict[str, Any] = {
        "model": name,
        "params": count_params(model),
        "gmacs": macs / 1e9,
        "input": list(shape),
        "threads": threads,
        "repeats": repeats,
        "warmup": warmup,
        "machine": machine_info(),
        "matmul_peak_gflops": peak,
        "measurements": [],
    }
    theirs = None
    if vs_timm:
        theirs, note = timm_model(name, model)
        result["timm"] = note
        log(note if theirs is not None else f"note: {note}")
    reference_batch = max(batches)
    x_ref = torch.randn(reference_batch, *shape)
    with torch.inference_mode():
        reference = model(x_ref)
        if theirs is not None:
            result["timm_logits_max_abs_diff"] = float((theirs(x_ref) - reference).abs().max())

    runners: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {"eager": model}
    for engine in engines:
        if engine == "eager":
            continue
        log(f"building engine {engine} ...")
        try:
            runner = build_engine(engine, model, x_ref)
        except ImportError as err:  # an optional dependency (onnxruntime, torchao) is missing: say so, go on
            result.setdefault("engines", {})[engine] = {"skipped": str(err)}
            log(f"note: engine {engine} skipped: {err}")
            continue
        with torch.inference_mode():
            out = runner(x_ref)
        runners[engine] = runner
        precision = engine_precision(engine, runner)
        result.setdefault("engines", {})[engine] = {
            "max_abs_diff": float((out - reference).abs().max()),
            "top1_agreement": float((out.argmax(1) == reference.argmax(1)).float().mean()),
            **precision,
        }
        if "note" in precision:
            log(f"note: {engine}: {precision['note']}")
    if theirs is not None:
        runners["timm"] = theirs

    for batch in batches:
        x = x_ref[:batch].clone()
        log(f"inference, batch {batch} ...")
        timings = time_alternating({k: _inference_step(r, x) for k, r in runners.items()}, repeats, warmup)
        for key, timing in timings.items():
            impl, engine = ("timm", "eager") if key == "timm" else ("dualbranch", key)
            entry = {"impl": impl, "engine": engine, "mode": "inference", "batch": batch}
            result["measurements"].append({**entry, **_rates(timing, batch, macs, peak)})

    train_batch = reference_batch if train_batch is None else train_batch
    if train_batch:
        log(f"training step, batch {train_batch} ...")
        x, labels = torch.randn(train_batch, *shape), torch.randint(0, max(model.num_classes, 1), (train_batch,))
        trainers = {"eager": _training_step(create_model(name).train(), x, labels)}
        if theirs is not None:
            trainers["timm"] = _training_step(timm_model(name, model)[0].train(), x, labels)  # type: ignore[union-attr]
        timings = time_alternating(trainers, repeats, warmup)
        for key, timing in timings.items():
            impl = "timm" if key == "timm" else "dualbranch"
            entry = {"impl": impl, "engine": "eager", "mode": "train", "batch": train_batch}
            result["measurements"].append({**entry, **_rates(timing, train_batch, train_macs, peak)})

    if memory:
        log("peak memory (fresh processes) ...")
        impls = ["dualbranch"] + (["timm"] if theirs is not None else [])
        for row in result["measurements"]:
            if row["engine"] == "eager" and row["impl"] in impls:
                row["peak_memory_mb"] = peak_memory_mb(row["impl"], name, row["batch"], row["mode"] == "train", threads)
    if theirs is not None:
        result["speedup_vs_timm"] = _speedups(result["measurements"])
    return result


def _speedups(rows: list[dict[str, Any]]) -> dict[str, float]:
    """timm time / our time for each (engine, mode, batch) we measured against timm's eager model."""
    timm = {(r["mode"], r["batch"]): r["median_ms"] for r in rows if r["impl"] == "timm"}
    ratios = {}
    for row in rows:
        key = (row["mode"], row["batch"])
        if row["impl"] == "dualbranch" and key in timm:
            ratios[f"{row['engine']}/{row['mode']}/b{row['batch']}"] = timm[key] / row["median_ms"]
    return ratios


def format_table(results: list[dict[str, Any]]) -> str:
    """A markdown table of benchmark results: one row per (model, implementation, engine, mode, batch),
    under a line naming the machine, its CPU features and its measured fp32 peak."""
    lines = [
        f"Machine: {machine_line(results[0])}." if results else "",
        "",
        "| model | impl | engine | mode | batch | median ms (min–max) | img/s | GFLOP/s (% peak) | peak MiB "
        "| vs timm |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        ratios = result.get("speedup_vs_timm", {})
        for row in result["measurements"]:
            ratio = ratios.get(f"{row['engine']}/{row['mode']}/b{row['batch']}") if row["impl"] != "timm" else None
            memory = row.get("peak_memory_mb")
            lines.append(
                f"| {result['model']} | {row['impl']} | {row['engine']} | {row['mode']} | {row['batch']} "
                f"| {row['median_ms']:.1f} ({row['min_ms']:.1f}–{row['max_ms']:.1f}) | {row['img_per_s']:.1f} "
                f"| {row['gflops']:.0f} ({row['fraction_of_peak']:.0%}) "
                f"| {'-' if memory is None else f'{memory:.0f}'} | {'-' if ratio is None else f'{ratio:.2f}×'} |"
            )
    return "\n".join(lines)


def to_json(results: list[dict[str, Any]]) -> str:
    return json.dumps(results, indent=2)
