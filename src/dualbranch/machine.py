"""What this machine is, and how to time code on it fairly.

Every speed figure names the machine it was measured on (:func:`machine_info`: CPU model and the
instruction-set features that decide which kernels run, threads, load, versions), and every
comparison samples its contenders alternately (:func:`time_alternating`) so that drifting load from
other jobs hits all of them alike. :func:`machine_identity` is the part of :func:`machine_info` that
decides speed and stays put (no load): an engine choice measured under one identity is measured again
under another. The CPU's features come from :mod:`dualbranch.hardware` (training's precision choice reads them
too). The benchmark (:mod:`dualbranch.bench`) and ``predict --engine auto``
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

from .hardware import CPU_FEATURES, cpu_features

__all__ = ["CPU_FEATURES", "cpu_features", "machine_identity", "machine_info", "time_alternating"]

Step = Callable[[], object]


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
