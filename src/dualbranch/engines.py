"""Ways to run a model for inference, all called alike: (B, ...) float tensor -> (B, ...) outputs
(images (B, C, H, W) -> logits (B, classes); windows (B, L, C) -> forecasts (B, H, C)).

One vocabulary for ``predict --engine``, ``bench --engines`` and ``export --format``
(:mod:`dualbranch.engine_names`):

=================  ===================================================================  ========
engine             what runs                                                            exact?
=================  ===================================================================  ========
``eager``          the fp32 PyTorch model                                               reference
``compile``        ``torch.compile`` (Inductor), weights frozen and prepacked           ≈ fp32
``onnx``           the exported ONNX file in onnxruntime (:mod:`dualbranch.export`)     ≈ fp32
``openvino``       the model converted to OpenVINO, fp32 pinned (:mod:`.export`)        ≈ fp32
``openvino-bf16``  the same OpenVINO model with OpenVINO's bf16 inference precision     bf16
``int8-dynamic``   int8 weights for every Linear, dynamic activations (:mod:`.quantize`) int8
``int8-static``    PT2E static int8, calibrated, frozen, compiled with Inductor         int8
``openvino-int8``  NNCF post-training int8 of the OpenVINO model, calibrated            int8
=================  ===================================================================  ========

``predict`` called two of them ``torch`` and ``int8`` before; those names (:data:`OLD_NAMES`) still
work, with a note, until dualbranch :data:`OLD_NAMES_UNTIL`.

The fp32 engines agree with eager to about 1e-5 (checked in tests/test_deploy.py); bf16 keeps 8
significant bits, so its logits move by about 1e-2 (top-1 agreement is what counts); the int8 ones
are judged by top-1 agreement on real data (benchmarks/int8_agreement.py). ``openvino-bf16`` on a
CPU without bf16 arithmetic (AVX512-BF16 or AMX) silently runs fp32: :func:`engine_precision` says
what actually ran. The calibrated engines (:data:`CALIBRATED`) need real, model-ready inputs for
accuracy; without them they calibrate on the example batch, which is enough for a speed figure only.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .engine_names import CALIBRATED, ENGINES, OLD_NAMES, OLD_NAMES_UNTIL, OPENVINO_PRECISION, engine_name
from .export import OnnxModel, OpenVinoModel, export_onnx, to_openvino
from .quantize import FrozenCompiled, quantize_dynamic_int8, quantize_openvino_int8, quantize_static_int8

__all__ = [
    "CALIBRATED",
    "ENGINES",
    "OLD_NAMES",
    "OLD_NAMES_UNTIL",
    "OPENVINO_PRECISION",
    "build_engine",
    "engine_name",
    "engine_precision",
    "is_quantized",
]

Runner = Callable[[torch.Tensor], torch.Tensor]


def build_engine(
    name: str,
    model: nn.Module,
    example: torch.Tensor,
    calibration: Iterable[torch.Tensor] | None = None,
    converted: Any = None,
) -> Runner:
    """Build engine ``name`` for ``model`` (eval mode) and run it once on ``example`` (B, ...).

    The first call is where ``compile`` and ``int8-static`` do their compilation, so it happens here and
    not inside a timed or user-facing call. ``calibration``: batches (B, ...) of real, model-ready inputs
    for the :data:`CALIBRATED` engines (default: ``example`` alone, which is enough for a speed figure but
    not for accuracy). ``converted``: the model already converted to OpenVINO (:func:`to_openvino`), so
    that several OpenVINO engines share one conversion; for ``openvino-int8`` it may also be the
    quantized model itself (``calibration`` is then not used).
    """
    name = engine_name(name)
    model = model.eval()
    batches = list(calibration) if calibration is not None else [example]
    if name == "eager":
        runner: Runner = model
    elif name == "compile":
        # freezing: parameters become constants that Inductor folds and prepacks for oneDNN / MKL once,
        # instead of reading them in their training layout on every call (inference only: no gradients)
        runner = FrozenCompiled(model)
    elif name == "onnx":
        with tempfile.TemporaryDirectory() as folder:
            path = export_onnx(model, Path(folder) / "model.onnx")
            runner = OnnxModel(path)  # the session holds the graph in memory; the file can go
    elif name in OPENVINO_PRECISION:
        ov_model = converted if converted is not None else to_openvino(model)
        if name == "openvino-int8" and not is_quantized(ov_model):
            ov_model = quantize_openvino_int8(ov_model, batches)
        runner = OpenVinoModel(ov_model, precision=OPENVINO_PRECISION[name])
    elif name == "int8-dynamic":
        runner = quantize_dynamic_int8(model)
    else:  # int8-static: engine_name has vouched for the name
        runner = quantize_static_int8(model, batches)
    with torch.inference_mode():
        runner(example)
    return runner


def is_quantized(ov_model: Any) -> bool:
    """Whether an ``openvino.Model`` holds quantize/dequantize pairs (NNCF's int8)."""
    return any(op.get_type_name() == "FakeQuantize" for op in ov_model.get_ops())


def engine_precision(name: str, runner: Runner) -> dict[str, Any]:
    """What precision engine ``name`` actually runs in: ``{"precision": "fp32" | "bf16" | "int8", ...}``.

    For the OpenVINO engines this is read back from the compiled model (see
    :meth:`dualbranch.export.OpenVinoModel.precision_report`), so an ``openvino-bf16`` that fell back
    to fp32 on a CPU without bf16 says ``"fp32"`` with a ``note``; the others run what their name says.
    """
    if isinstance(runner, OpenVinoModel):
        report = runner.precision_report()
        layers = report["compute_layers"]
        # the lowest precision any matrix multiply or convolution runs in
        precision = "int8" if layers.get("int8") else "bf16" if layers.get("bf16") else "fp32"
        result = {"precision": precision, **report}
        if report["requested"] == "bf16" and report["inference_precision"] != "bf16":
            result["note"] = "this CPU has no bf16 arithmetic (AVX512-BF16 or AMX): OpenVINO ran fp32"
        return result
    return {"precision": "int8" if name.startswith("int8") else "fp32"}
