"""Ways to run a model for inference, all called alike: (B, C, H, W) float tensor -> (B, classes) logits.

===============  =====================================================================  ============
engine           what runs                                                              exact?
===============  =====================================================================  ============
``eager``        the fp32 PyTorch model                                                 reference
``compile``      ``torch.compile`` (Inductor) of the fp32 model                         ≈ fp32
``onnx``         the exported ONNX file in onnxruntime (:mod:`dualbranch.export`)       ≈ fp32
``int8-dynamic`` int8 weights for every Linear, dynamic activations (:mod:`.quantize`)  int8
``int8-static``  PT2E static int8, calibrated, compiled with Inductor (:mod:`.quantize`) int8
===============  =====================================================================  ============

The fp32 engines agree with eager to about 1e-5 (checked in tests/test_deploy.py); the int8 ones are
judged by top-1 agreement on real data (benchmarks/int8_agreement.py).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

import torch
from torch import nn

from .errors import ConfigError

__all__ = ["ENGINES", "build_engine"]

ENGINES = ("eager", "compile", "onnx", "int8-dynamic", "int8-static")


def build_engine(
    name: str,
    model: nn.Module,
    example: torch.Tensor,
    calibration: Iterable[torch.Tensor] | None = None,
) -> Callable[[torch.Tensor], torch.Tensor]:
    """Build engine ``name`` for ``model`` (eval mode) and run it once on ``example`` (B, C, H, W).

    The first call is where ``compile`` and ``int8-static`` do their compilation, so it happens here and
    not inside a timed or user-facing call. ``calibration``: batches of real, normalised images for
    ``int8-static`` (default: ``example`` alone, which is enough for a speed figure but not for accuracy).
    """
    model = model.eval()
    if name == "eager":
        runner: Callable[[torch.Tensor], torch.Tensor] = model
    elif name == "compile":
        runner = torch.compile(model, dynamic=False)
    elif name == "onnx":
        from .export import OnnxModel, export_onnx

        with tempfile.TemporaryDirectory() as folder:
            path = export_onnx(model, Path(folder) / "model.onnx")
            runner = OnnxModel(path)  # the session holds the graph in memory; the file can go
    elif name == "int8-dynamic":
        from .quantize import quantize_dynamic_int8

        runner = quantize_dynamic_int8(model)
    elif name == "int8-static":
        from .quantize import quantize_static_int8

        runner = quantize_static_int8(model, calibration if calibration is not None else [example])
    else:
        raise ConfigError(f"Unknown engine {name!r}; choose from {', '.join(ENGINES)}.")
    with torch.inference_mode():
        runner(example)
    return runner
