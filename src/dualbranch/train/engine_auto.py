"""``predict --engine auto``: the fastest engine that agrees with fp32 eager, measured once on this machine.

On the run's first fold model and a seeded sample of the inputs being predicted (real inputs, up to
:data:`SAMPLE_INPUTS`, made model input by the fold's pipeline):

1. every candidate (:data:`CANDIDATES`) is built and run on the whole sample. It qualifies when it
   agrees with fp32 eager: class scores (a run whose scoring has classes) need top-1 agreement
   ≥ :data:`AGREEMENT_FLOOR`; other outputs (forecasts) need a relative error
   ‖y − y_eager‖₂ / ‖y_eager‖₂ ≤ :data:`RELATIVE_ERROR_CEILING`. A candidate that cannot be built here
   (a library not installed, a model OpenVINO cannot convert, int8 calibration data that is gone) is
   skipped with its reason;
2. eager and the qualifying candidates are timed alternately on one batch (medians of
   :data:`TIMING_REPEATS` samples, :func:`dualbranch.machine.time_alternating`);
3. the fastest wins. What was chosen and why is printed, and the choice, every measurement and the
   identity it was made under (CPU model and features, threads, library versions, predict's batch
   size, the weights' digest, the candidates and floors) go to ``RUN/engine_choice.json``. A later ``auto``
   with the same identity reuses the choice without measuring; a different one (another machine,
   thread count, upgraded library, retrained weights) measures again and says what changed, and so
   does a call with more inputs than the choice was measured on (up to :data:`SAMPLE_INPUTS`): a
   choice made on a handful of inputs is replaced by one made on more.

The floors: 99 % top-1 agreement is what the int8 engines reach on converged models (docs/deployment.md,
benchmarks/results/int8_agreement.json), so a model on which an
engine flips more than one class in a hundred keeps fp32. bf16 keeps 8 significant bits: a chain of
bf16 matrix multiplies ends about 0.5 % off in relative terms, so a 1 % ceiling admits bf16 forecasts
and refuses an engine that distorts them, while the forecasting models' own errors are tens of percent.

Not candidates: ``compile`` and ``int8-static`` compile in every ``predict`` process (and for every new
batch size), which costs more than they save on one call; the ``predict`` engine list still has
``compile``.
"""

from __future__ import annotations

import datetime
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ..engines import engine_precision
from ..errors import DualbranchError
from ..machine import machine_identity, time_alternating
from ..safe_io import atomic_write_text
from .calibrated import weights_digest

__all__ = [
    "AGREEMENT_FLOOR",
    "CANDIDATES",
    "CHOICE_FILE",
    "RELATIVE_ERROR_CEILING",
    "SAMPLE_INPUTS",
    "choose_engine",
]

CANDIDATES = ("eager", "onnx", "openvino", "openvino-bf16", "int8-dynamic", "openvino-int8")
AGREEMENT_FLOOR = 0.99  # top-1 agreement with fp32 eager, for class scores
RELATIVE_ERROR_CEILING = 0.01  # ‖y − y_eager‖₂ / ‖y_eager‖₂, for other outputs (forecasts)
SAMPLE_INPUTS = 256  # inputs the agreement is measured on
TIMING_BATCH = 64  # the largest batch timed (predict's own batch, or the sample, when smaller)
TIMING_REPEATS = 5
CHOICE_FILE = "engine_choice.json"

Runner = Callable[[torch.Tensor], torch.Tensor]


def _outputs(runner: Runner, sample: torch.Tensor, batch: int) -> torch.Tensor:
    with torch.inference_mode():
        return torch.cat([runner(part) for part in sample.split(batch)]).float()


def _agreement(reference: torch.Tensor, got: torch.Tensor, classes: bool) -> dict[str, Any]:
    """Whether ``got`` (n, ...) agrees with ``reference`` (n, ...) closely enough, and by how much."""
    if classes:
        agreement = float((got.argmax(-1) == reference.argmax(-1)).float().mean())
        ok = agreement >= AGREEMENT_FLOOR
        why = f"top-1 agreement {agreement:.1%} {'≥' if ok else '<'} {AGREEMENT_FLOOR:.0%}"
        return {"top1_agreement": agreement, "qualifies": ok, "why": why}
    error = float((got - reference).norm() / reference.norm().clamp_min(1e-12))
    ok = error <= RELATIVE_ERROR_CEILING
    return {"relative_error": error, "qualifies": ok, "why": f"relative error {error:.2%} {'≤' if ok else '>'} 1%"}


def _identity(model: torch.nn.Module, batch_size: int) -> dict[str, Any]:
    return {
        **machine_identity(),
        "batch_size": batch_size,
        "weights_sha256": weights_digest(model),
        "candidates": list(CANDIDATES),
        "agreement_floor": AGREEMENT_FLOOR,
        "relative_error_ceiling": RELATIVE_ERROR_CEILING,
    }


def _differences(old: dict[str, Any], new: dict[str, Any]) -> str:
    changed = [f"{key} {old.get(key)!r} -> {value!r}" for key, value in new.items() if old.get(key) != value]
    return "; ".join(change if len(change) < 120 else change.split(" ", 1)[0] for change in changed)


def _stored(path: Path) -> dict[str, Any] | None:
    try:
        choice = json.loads(path.read_text())
        return choice if isinstance(choice, dict) and "engine" in choice and "identity" in choice else None
    except (OSError, ValueError):
        return None  # absent or unreadable: measure (and write it) again


def choose_engine(
    run_dir: str | os.PathLike[str],
    model: torch.nn.Module,
    sample: torch.Tensor,
    classes: bool,
    build: Callable[[str], Runner],
    batch_size: int,
    log: Callable[[str], None],
) -> tuple[str, Runner | None]:
    """The engine ``auto`` picks for ``model`` (see the module docstring) and, when it was measured now,
    its built runner (None when the stored choice was reused: the caller builds it).

    ``sample``: (n, ...) model-ready real inputs; ``classes``: whether the outputs are class scores;
    ``build(name)``: the engine ``name`` for ``model``, as ``predict`` runs it.
    """
    path = Path(run_dir) / CHOICE_FILE
    batch = max(1, min(batch_size, len(sample), TIMING_BATCH))
    identity = _identity(model, batch_size)
    stored = _stored(path)
    larger = stored is not None and stored.get("sample_inputs", 0) < min(len(sample), SAMPLE_INPUTS)
    if stored is not None and stored["identity"] == identity and not larger:
        chosen = stored["engine"]
        log(
            f"engine auto: {chosen} ({stored.get('why', '')}; measured {stored.get('measured', '?')} on this "
            f"machine; delete {path} to measure again)"
        )
        return chosen, None
    if stored is not None and stored["identity"] != identity:
        changed = _differences(stored["identity"], identity)
        log(f"engine auto: measuring again, {path} was made under another setup ({changed})")
    elif stored is not None:
        log(f"engine auto: measuring again on {len(sample)} inputs ({path} was measured on {stored['sample_inputs']})")
    reference = _outputs(model, sample, batch)
    candidates: dict[str, dict[str, Any]] = {
        "eager": {"qualifies": True, "why": "the fp32 reference", "precision": "fp32"}
    }
    runners: dict[str, Runner] = {"eager": model}
    for name in CANDIDATES[1:]:
        try:
            runner = build(name)
        except DualbranchError as err:  # not installed, not convertible, no calibration data: say so, go on
            candidates[name] = {"qualifies": False, "why": f"skipped: {err}"}
            continue
        candidates[name] = {
            **_agreement(reference, _outputs(runner, sample, batch), classes),
            "precision": engine_precision(name, runner)["precision"],
        }
        if candidates[name]["qualifies"]:
            runners[name] = runner
    x = sample[:batch]
    timings = time_alternating({name: _step(runner, x) for name, runner in runners.items()}, TIMING_REPEATS)
    for name, timing in timings.items():
        candidates[name]["median_ms"] = timing["median_ms"]
        candidates[name]["speedup_vs_eager"] = timings["eager"]["median_ms"] / timing["median_ms"]
    chosen = min(timings, key=lambda name: timings[name]["median_ms"])
    floor = f"top-1 agreement ≥ {AGREEMENT_FLOOR:.0%}" if classes else f"relative error ≤ {RELATIVE_ERROR_CEILING:.0%}"
    why = (
        f"the fastest of the engines with {floor} on {len(sample)} inputs: "
        f"{candidates[chosen]['speedup_vs_eager']:.2f}× eager at batch {batch}"
    )
    setup = f"batch {batch}, {identity['threads']} threads, {identity['cpu']}"
    log(f"engine auto: measured on {len(sample)} of the inputs, {setup}:")
    for name, facts in candidates.items():
        speed = f"{facts['median_ms']:8.1f} ms {facts['speedup_vs_eager']:5.2f}×" if "median_ms" in facts else " " * 20
        log(f"  {name:<14}{speed}  {facts.get('precision', '')} {facts['why']}")
    log(f"engine auto: chose {chosen}, {why}; stored in {path}")
    measured = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    choice = {
        "engine": chosen,
        "why": why,
        "measured": measured,
        "sample_inputs": len(sample),
        "candidates": candidates,
        "identity": identity,
    }
    atomic_write_text(path, json.dumps(choice, indent=2) + "\n")
    return chosen, runners[chosen]


def _step(runner: Runner, x: torch.Tensor) -> Callable[[], object]:
    def step() -> object:
        with torch.inference_mode():
            return runner(x)

    return step
