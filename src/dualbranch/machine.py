"""What this machine is, and how to time code on it fairly.

Every speed figure names the machine it was measured on (:func:`machine_info`: CPU model and the
instruction-set features that decide which kernels run, threads, load, versions), and every
comparison samples its contenders alternately (:func:`time_alternating`) so that drifting load from
other jobs hits all of them alike. :func:`machine_identity` is the part of :func:`machine_info` that
decides speed and stays put (no load): an engine choice measured under one identity is measured again
under another. The benchmark (:mod:`dualbranch.bench`) and ``predict --engine auto``
(:mod:`dualbranch.train.engine_auto`) share these.
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import time
from collections.abc import Callable
from typing import Any

import torch

__all__ = ["CPU_FEATURES", "cpu_features", "machine_identity", "machine_info", "time_alternating"]

Step = Callable[[], object]

# The instruction-set features that decide which kernels run: AVX-512 doubles the fp32 vector width over
# AVX2; VNNI does int8 multiply-accumulate in one instruction (without it int8 GEMMs gain little over
# fp32); BF16 and AMX are what a bf16 or AMX int8 path needs. Each is a set of /proc/cpuinfo flags, any
# of which counts (AVX-VNNI is the 256-bit form on CPUs without AVX-512).
CPU_FEATURES = {
    "AVX2": ("avx2",),
    "AVX-512": ("avx512f",),
    "VNNI": ("avx512_vnni", "avx_vnni"),
    "BF16": ("avx512_bf16",),
    "AMX": ("amx_tile", "amx_int8", "amx_bf16"),
}


def cpu_features(flags: set[str] | None = None) -> dict[str, bool]:
    """Which of :data:`CPU_FEATURES` this CPU has (from ``flags``, default /proc/cpuinfo; all False
    where it cannot be read)."""
    if flags is None:
        flags = set()
        try:
            with open("/proc/cpuinfo") as handle:
                line = next((line for line in handle if line.startswith("flags")), "")
            flags = set(line.split(":", 1)[-1].split())
        except OSError:
            pass
    return {name: any(flag in flags for flag in names) for name, names in CPU_FEATURES.items()}


def _versions() -> dict[str, str]:
    """Versions of dualbranch and of the optional engine libraries that are installed (found without
    importing them)."""
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for package in ("dualbranch", "onnxruntime", "openvino", "nncf", "torchao", "timm"):
        with contextlib.suppress(PackageNotFoundError):
            found[package] = version(package)
    return found


def _cpu_model() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next(line.split(":", 1)[1].strip() for line in handle if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return cpu


def machine_info() -> dict[str, Any]:
    """CPU model and features, logical CPUs, load, Python, torch and engine versions: what a figure was
    measured on. ``load_average`` (1, 5, 15 min) says how busy the machine was (others' jobs included)."""
    return {
        "cpu": _cpu_model(),
        "cpu_features": cpu_features(),
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "logical_cpus": os.cpu_count(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "versions": _versions(),
        "platform": platform.platform(),
    }


def machine_identity() -> dict[str, Any]:
    """What decides how fast an engine runs here and does not drift: CPU model and features, logical
    CPUs, torch's thread count, torch and engine library versions (no load)."""
    return {
        "cpu": _cpu_model(),
        "cpu_features": cpu_features(),
        "logical_cpus": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "versions": _versions(),
    }


def time_alternating(steps: dict[str, Step], repeats: int, warmup: int = 1, min_sample_s: float = 0.2) -> dict:
    """Median/min/max milliseconds per call of each step, sampled alternately (a, b, a, b, ...).

    Each step first runs ``warmup`` times; a sample then repeats the step enough times to last about
    ``min_sample_s`` (short steps are otherwise dominated by timer noise) and records the mean.
    """
    calls = {}
    for name, step in steps.items():
        for _ in range(warmup):
            step()
        start = time.perf_counter()
        step()
        calls[name] = max(1, math.ceil(min_sample_s / max(time.perf_counter() - start, 1e-6)))
    samples: dict[str, list[float]] = {name: [] for name in steps}
    for repeat in range(repeats):
        # reverse the order every other round so neither side always runs on a warmer cache
        order = list(steps) if repeat % 2 == 0 else list(reversed(steps))
        for name in order:
            start = time.perf_counter()
            for _ in range(calls[name]):
                steps[name]()
            samples[name].append((time.perf_counter() - start) / calls[name])
    return {name: summary_ms(values) for name, values in samples.items()}


def summary_ms(values: list[float]) -> dict[str, float]:
    """Median, min and max of ``values`` (seconds) in milliseconds, and how many there were."""
    ordered = sorted(values)
    middle = len(ordered) // 2
    median = ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
    return {"median_ms": median * 1e3, "min_ms": ordered[0] * 1e3, "max_ms": ordered[-1] * 1e3, "runs": len(values)}
