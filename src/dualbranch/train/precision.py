"""``trainer.precision: auto``: mixed precision where it pays, full precision elsewhere.

* On a GPU: ``bf16-mixed`` where the GPU has bfloat16 (Ampere and later), else ``16-mixed``.
* On a CPU with AMX (Intel Xeon since Sapphire Rapids), whose tile units multiply bfloat16 matrices
  several times faster than fp32: a short measurement of this run's training step, fp32 and bf16
  autocast alternated, and ``bf16-mixed`` if it is at least :data:`MIN_SPEEDUP` × faster. The ratio of
  alternated steps hardly moves with machine load, and the decision is kept per machine, model and
  input (``~/.cache/dualbranch/precision.json``), so the same command decides the same way again.
* On other CPUs, AVX512-BF16 ones included: ``32-true``, with no measurement. Without AVX512-BF16, bf16
  autocast trains many times slower than fp32 (the bf16 row of ``benchmarks/train_step_speed.py``;
  figures in docs/recipes.md); with it but without AMX's tiles, fp32 is kept as the safe choice.

Shape legend: B batch; the input shape is the model's own.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..hardware import cpu_features
from ..safe_io import atomic_write_text

__all__ = ["MIN_SPEEDUP", "choose_precision", "training_step_speedup"]

MIN_SPEEDUP = 1.2  # bf16 must train at least this much faster than fp32 to be chosen on a CPU
_MEASURE_BATCH = 8


def _cache_file() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "dualbranch" / "precision.json"


def training_step_speedup(build: Callable[[], nn.Module], repeats: int = 5) -> float:
    """fp32 step time / bf16-autocast step time of a forward + backward + AdamW step of the model
    ``build()`` makes, on a random batch of :data:`_MEASURE_BATCH`; medians of alternated steps."""
    model = build().train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = torch.randn(_MEASURE_BATCH, *model.input_shape)  # type: ignore[attr-defined]

    def step(bf16: bool) -> float:
        started = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = model(x)
        F.mse_loss(out.float(), torch.zeros_like(out, dtype=torch.float32)).backward()
        optimizer.step()
        optimizer.zero_grad()
        return time.perf_counter() - started

    step(False), step(True)  # warm-up: one-time kernel choices
    times: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(repeats):
        for bf16 in (False, True):
            times[bf16].append(step(bf16))
    return statistics.median(times[False]) / statistics.median(times[True])


def choose_precision(
    accelerator: str, build: Callable[[], nn.Module], key: str, measure: Callable[..., float] = training_step_speedup
) -> tuple[str, str]:
    """(Lightning precision, why) for ``trainer.precision: auto``; ``key`` names the model and input
    (the cache key of a measured decision, with the CPU and torch version)."""
    if accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available()):
        if torch.cuda.is_bf16_supported():
            return "bf16-mixed", "a GPU with bfloat16: mixed precision"
        return "16-mixed", "a GPU without bfloat16: float16 mixed precision"
    if not cpu_features()["AMX"]:
        return "32-true", "a CPU without AMX: full precision, bf16 is measured only where AMX can pay for it"
    cache = _cache_file()
    saved = json.loads(cache.read_text()) if cache.is_file() else {}
    entry = f"{key}|{torch.__version__}|{torch.get_num_threads()} threads"
    if entry not in saved:
        saved[entry] = round(measure(build), 3)
        cache.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(cache, json.dumps(saved, indent=1))
    speedup = saved[entry]
    if speedup >= MIN_SPEEDUP:
        return "bf16-mixed", f"AMX: bf16 autocast trains {speedup:.2f}× as fast as fp32 here (measured)"
    return "32-true", f"AMX, but bf16 autocast trains only {speedup:.2f}× as fast as fp32 here (measured)"
