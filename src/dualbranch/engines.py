"""Ways to run a model for inference, all called alike: (B, C, H, W) float tensor -> (B, classes) logits.

=================  ===================================================================  ========
engine             what runs                                                            exact?
=================  ===================================================================  ========
``eager``          the fp32 PyTorch model                                               reference
``compile``        ``torch.compile`` (Inductor), weights frozen and prepacked           ≈ fp32
``onnx``           the exported ONNX file in onnxruntime (:mod:`dualbranch.export`)     ≈ fp32
``openvino``       the model converted to OpenVINO, fp32 pinned (:mod:`.export`)        ≈ fp32
``int8-dynamic``   int8 weights for every Linear, dynamic activations (:mod:`.quantize`) int8
``int8-static``    PT2E static int8, calibrated, frozen, compiled with Inductor         int8
``openvino-int8``  NNCF post-training int8 of the OpenVINO model, calibrated            int8
=================  ===================================================================  ========

The fp32 engines agree with eager to about 1e-5 (checked in tests/test_deploy.py); the int8 ones are
judged by top-1 agreement on real data (benchmarks/int8_agreement.py). The calibrated engines
(:data:`CALIBRATED`) need real, model-ready images for accuracy; without them they calibrate on the
example batch, which is enough for a speed figure only.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

import torch
from torch import nn

from .errors import ConfigError

__all__ = ["CALIBRATED", "ENGINES", "build_engine"]

ENGINES = ("eager", "compile", "onnx", "openvino", "int8-dynamic", "int8-static", "openvino-int8")
CALIBRATED = ("int8-static", "openvino-int8")  # the engines whose accuracy depends on calibration images


def build_engine(
    name: str,
    model: nn.Module,
    example: torch.Tensor,
    calibration: Iterable[torch.Tensor] | None = None,
) -> Callable[[torch.Tensor], torch.Tensor]:
    """Build engine ``name`` for ``model`` (eval mode) and run it once on ``example`` (B, C, H, W).

    The first call is where ``compile`` and ``int8-static`` do their compilation, so it happens here and
    not inside a timed or user-facing call. ``calibration``: batches (B, C, H, W) of real, model-ready
    images for the :data:`CALIBRATED` engines (default: ``example`` alone, which is enough for a speed
    figure but not for accuracy).
    """
    model = model.eval()
    batches = list(calibration) if calibration is not None else [example]
    if name == "eager":
        runner: Callable[[torch.Tensor], torch.Tensor] = model
    elif name == "compile":
        from .quantize import FrozenCompiled

        # freezing: parameters become constants that Inductor folds and prepacks for oneDNN / MKL once,
        # instead of reading them in their training layout on every call (inference only: no gradients)
        runner = FrozenCompiled(model)
    elif name == "onnx":
        from .export import OnnxModel, export_onnx

        with tempfile.TemporaryDirectory() as folder:
            path = export_onnx(model, Path(folder) / "model.onnx")
            runner = OnnxModel(path)  # the session holds the graph in memory; the file can go
    elif name == "openvino":
        from .export import OpenVinoModel, to_openvino

        runner = OpenVinoModel(to_openvino(model))
    elif name == "openvino-int8":
        from .export import OpenVinoModel, to_openvino
        from .quantize import quantize_openvino_int8

        runner = OpenVinoModel(quantize_openvino_int8(to_openvino(model), batches))
    elif name == "int8-dynamic":
        from .quantize import quantize_dynamic_int8

        runner = quantize_dynamic_int8(model)
    elif name == "int8-static":
        from .quantize import quantize_static_int8

        runner = quantize_static_int8(model, batches)
    else:
        raise ConfigError(f"Unknown engine {name!r}; choose from {', '.join(ENGINES)}.")
    with torch.inference_mode():
        runner(example)
    return runner
