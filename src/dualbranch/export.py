"""Deployment files: ONNX, OpenVINO IR, a ``torch.export`` program (``.pt2``) and plain safetensors weights.

* ONNX goes through the TorchScript-free exporter (``torch.onnx.export(dynamo=True)``) with a
  dynamic batch axis; CrossViT's bicubic resize of the input for its second branch is inside the graph
  (an ONNX ``Resize`` node, cubic mode), so the file takes the same (B, C, H, W) tensor as the model.
  :class:`OnnxModel` runs it in onnxruntime behind the model's own calling convention.
* OpenVINO IR (``model.xml`` + ``model.bin``) comes from :func:`openvino.convert_model` with a dynamic
  batch axis and fp32 weights (``save_model`` would halve them to fp16 by default). :class:`OpenVinoModel`
  compiles it for the CPU with the precision pinned to fp32: on a CPU with bf16 OpenVINO would otherwise
  pick bf16 by itself, which moves the logits by ~1e-2. The ``openvino-bf16`` format writes the same
  fp32 IR and records the bf16 precision hint in the IR's runtime information
  (``<rt_info><dualbranch><inference_precision value="bf16"/>``), which :class:`OpenVinoModel` applies
  when it loads the file. OpenVINO's own tools do not read that entry (its ``runtime_options`` section
  is not applied to this hint either): compile with ``{"INFERENCE_PRECISION_HINT": "bf16"}`` there.
  The ``openvino-int8`` format writes a run's calibrated int8 model (:mod:`dualbranch.train.calibrated`).
* ``.pt2`` is a :func:`torch.export.export` program (also with a dynamic batch), loadable with
  :func:`torch.export.load` without this package's Python code.
* ``safetensors`` writes the weights with the model name in the metadata (:func:`save_checkpoint`).

Every format carries the model's :class:`~dualbranch.registry.WeightConfig` (how to feed it: input size,
mean and std, resizing and crop; its first convolution and classifier) as JSON: in the safetensors
metadata and the ONNX model's metadata (key ``weights``), in the OpenVINO IR's runtime information
(``<rt_info><dualbranch><weights>``) and as ``weights.json`` among the ``.pt2`` file's extra files.

``dualbranch export RUN_OR_MODEL --format FORMAT --output PATH`` uses these (the command line finds the
model: a run folder's, or a registered one). The formats that are also inference engines
(:data:`dualbranch.engines.ENGINES`) carry the engine's name.
"""

from __future__ import annotations

import json
import logging
import os
import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .engine_names import EXPORT_FORMATS, OPENVINO_PRECISION
from .errors import ConfigError, MissingDependencyError, MissingFileError, OutputExistsError
from .registry import WeightConfig
from .signal_stack import kept_signal_stack
from .weight_files import save_checkpoint

__all__ = [
    "FORMATS",
    "OPENVINO_FORMATS",
    "OnnxModel",
    "OpenVinoModel",
    "export_model",
    "export_onnx",
    "export_openvino",
    "export_pt2",
    "read_openvino",
    "recorded_precision",
    "to_openvino",
]

FORMATS = EXPORT_FORMATS
OPENVINO_FORMATS = OPENVINO_PRECISION  # the OpenVINO formats -> the precision hint each records
# where an IR written here records the inference precision OpenVinoModel compiles it with
PRECISION_KEY = ["dualbranch", "inference_precision"]
# OpenVINO's runtime precisions of a compiled layer -> the names this package reports
_PRECISION_NAMES = {"f32": "fp32", "bf16": "bf16", "f16": "fp16", "u8": "int8", "i8": "int8"}
_COMPUTE_LAYERS = ("FullyConnected", "MatMul", "Convolution")
# the engines that run the PyTorch model or its ONNX export: the way out when OpenVINO cannot convert it
NON_OPENVINO_ENGINES = ("eager", "compile", "onnx", "int8-dynamic")
MAX_BATCH = 4096  # upper bound of the exported dynamic batch axis


def _example_input(model: nn.Module, batch: int = 2) -> torch.Tensor:
    # batch 2, not 1: the exporter specialises a size-1 axis to a constant
    return torch.randn(batch, *model.input_shape)  # type: ignore[arg-type]


def export_onnx(
    model: nn.Module, path: str | os.PathLike[str], opset: int | None = None, weights: str | None = None
) -> Path:
    """Write ``model`` as ONNX with input ``images`` (B, C, H, W) and output ``logits`` (B, classes);
    ``weights`` (a WeightConfig's JSON) goes into the model's metadata under ``weights``."""
    try:
        import onnxscript  # noqa: F401  (the dynamo exporter needs it; fail early with an install hint)
    except ImportError as err:
        raise MissingDependencyError(
            "ONNX export needs onnx and onnxscript: pip install 'dualbranch[deploy]'."
        ) from err
    model = model.eval()
    batch = torch.export.Dim("batch", min=1, max=MAX_BATCH)
    exporter_log = logging.getLogger("torch.onnx")
    level = exporter_log.level
    exporter_log.setLevel(logging.ERROR)  # it logs a warning for every torchvision op it cannot register
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # and warns about its own internal deprecations
        program = torch.onnx.export(
            model,
            (_example_input(model),),
            dynamo=True,
            dynamic_shapes=({0: batch},),
            input_names=["images"],
            output_names=["logits"],
            opset_version=opset,
            verbose=False,
        )
    exporter_log.setLevel(level)
    if weights is not None:
        program.model.metadata_props["weights"] = weights
    path = Path(path)
    program.save(str(path))
    return path


class OnnxModel:
    """An ONNX file in onnxruntime, called like the model: (B, C, H, W) float tensor -> (B, classes) tensor."""

    def __init__(self, path: str | os.PathLike[str], threads: int | None = None) -> None:
        try:
            import onnxruntime as ort
        except ImportError as err:
            raise MissingDependencyError(
                "The ONNX engine needs onnxruntime: pip install 'dualbranch[deploy]'."
            ) from err
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        array = x.detach().to(torch.float32).contiguous().numpy()
        return torch.from_numpy(self.session.run(None, {self.input_name: array})[0])


def _openvino() -> Any:
    """The ``openvino`` module, imported on demand so that a missing install is one clear line."""
    try:
        import openvino
    except ImportError as err:
        raise MissingDependencyError("The OpenVINO engines need openvino: pip install 'dualbranch[deploy]'.") from err
    return openvino


def to_openvino(model: nn.Module) -> Any:
    """``model`` (eval mode, with ``input_shape``) as an in-memory ``openvino.Model``: input (B, C, H, W)
    with a dynamic batch B, output (B, classes) logits, fp32 weights."""
    ov = _openvino()
    model = model.eval()
    with warnings.catch_warnings(), torch.no_grad():
        # the model's shape checks warn that tracing makes them constants, which is what a deployment
        # with a fixed image size wants. Tracing here (not inside convert_model) skips the trace check,
        # which re-runs the graph and imports torch.distributed: most of a conversion's time, for a
        # comparison that export_model's check and the engine's check against eager make anyway
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(model, _example_input(model), check_trace=False)
        try:
            return ov.convert_model(traced, input=[(-1, *model.input_shape)])  # type: ignore[misc]
        except ov.frontend.OpConversionFailure as err:
            raise ConfigError(
                f"{type(model).__name__} cannot be converted to OpenVINO ({_failed_ops(str(err))}); "
                f"the engines that do not convert to OpenVINO work: {', '.join(NON_OPENVINO_ENGINES)}."
            ) from err


def _failed_ops(log: str) -> str:
    """The operators OpenVINO's conversion log names ("-- aten::unfold with a message: ...")."""
    ops = sorted(set(re.findall(r"\b(?:aten|prim|quantized|torchvision)::\w+", log)))
    return "no conversion for " + ", ".join(ops) if ops else log.strip().splitlines()[0]


class OpenVinoModel:
    """An OpenVINO model (in memory or an IR ``.xml`` file) compiled for the CPU, called like the model:
    (B, ...) float tensor -> (B, ...) tensor.

    ``threads`` defaults to torch's thread count, so OpenVINO and PyTorch are compared on the same cores.
    The latency hint gives one stream that uses all of them for each call (the throughput hint would
    split them into parallel streams that only a multi-request server fills). ``precision`` is the
    inference precision of whatever is not int8: "f32", or "bf16" (which OpenVINO silently replaces by
    f32 on a CPU without bf16 arithmetic: :meth:`precision_report` says what it chose). ``None``: the
    precision an IR written by :func:`export_openvino` records, else "f32".
    """

    def __init__(self, model: Any, threads: int | None = None, precision: str | None = "f32") -> None:
        ov = _openvino()
        core = ov.Core()
        if isinstance(model, (str, os.PathLike)):
            model = core.read_model(str(model))
        if precision is None:
            precision = recorded_precision(model) or "f32"
        self.requested = precision
        config = {
            "INFERENCE_PRECISION_HINT": precision,
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_NUM_THREADS": threads or torch.get_num_threads(),
        }
        with kept_signal_stack():  # the CPU plugin swaps in a signal stack of its own (see the module)
            self.compiled = core.compile_model(model, "CPU", config)
            self.request = self.compiled.create_infer_request()  # one request, reused: no allocation per call

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        array = x.detach().to(torch.float32).contiguous().numpy()
        # share_inputs avoids a copy of the batch; the outputs are copied, the request reuses its buffers
        results = self.request.infer([array], share_inputs=True)
        return torch.from_numpy(results[self.compiled.output(0)])

    def precision_report(self) -> dict[str, Any]:
        """What the CPU plugin compiled: ``requested`` (the hint given), ``inference_precision`` (the one
        it applies to floating-point layers: "bf16" only where the CPU has bf16 arithmetic) and
        ``compute_layers``, the number of matrix-multiply and convolution layers per runtime precision
        ("fp32", "bf16", "int8")."""
        applied = self.compiled.get_property("INFERENCE_PRECISION_HINT")  # an openvino.Type
        applied = applied.get_type_name() if hasattr(applied, "get_type_name") else str(applied)
        layers: dict[str, int] = {}
        for op in self.compiled.get_runtime_model().get_ops():
            info = op.get_rt_info()
            if str(info["layerType"].astype(str)) in _COMPUTE_LAYERS:
                runtime = str(info["runtimePrecision"].astype(str))
                name = _PRECISION_NAMES.get(runtime, runtime)
                layers[name] = layers.get(name, 0) + 1
        return {
            "requested": _PRECISION_NAMES.get(self.requested, self.requested),
            "inference_precision": _PRECISION_NAMES.get(applied, applied),
            "compute_layers": layers,
        }


def read_openvino(path: str | os.PathLike[str]) -> Any:
    """An OpenVINO IR file (``.xml``, with its ``.bin`` beside it) as an in-memory ``openvino.Model``."""
    return _openvino().Core().read_model(str(path))


def recorded_precision(ov_model: Any) -> str | None:
    """The inference precision an IR written by :func:`export_openvino` records, or None."""
    if not ov_model.has_rt_info(PRECISION_KEY):
        return None
    return str(ov_model.get_rt_info(PRECISION_KEY).astype(str))


def export_openvino(
    model: nn.Module | Any, path: str | os.PathLike[str], precision: str | None = None, weights: str | None = None
) -> Path:
    """Write ``model`` (a PyTorch model or an ``openvino.Model``) as OpenVINO IR: ``path`` (.xml) and the
    weights beside it (same name, .bin), kept in their own precision (fp32, or int8 after quantization).

    ``precision`` ("f32", "bf16"): recorded in the IR for :class:`OpenVinoModel` to compile it with;
    ``weights`` (a WeightConfig's JSON) under ``<rt_info><dualbranch><weights>``.
    """
    ov = _openvino()
    converted = to_openvino(model) if isinstance(model, nn.Module) else model
    if precision is not None:
        converted.set_rt_info(precision, PRECISION_KEY)
    if weights is not None:
        converted.set_rt_info(weights, ["dualbranch", "weights"])
    path = Path(path)
    ov.save_model(converted, str(path), compress_to_fp16=False)
    return path


def export_pt2(model: nn.Module, path: str | os.PathLike[str], weights: str | None = None) -> Path:
    """Write a :func:`torch.export.export` program of ``model`` (dynamic batch) to ``path``, with ``weights``
    (a WeightConfig's JSON) as its extra file ``weights.json``."""
    batch = torch.export.Dim("batch", min=1, max=MAX_BATCH)
    program = torch.export.export(model.eval(), (_example_input(model),), dynamic_shapes=({0: batch},))
    path = Path(path)
    torch.export.save(program, str(path), extra_files={"weights.json": weights} if weights is not None else None)
    return path


def export_model(
    model: nn.Module,
    fmt: str,
    output: str | os.PathLike[str],
    overwrite: bool = False,
    meta: dict[str, str] | None = None,
    check: bool = True,
    openvino_model: Any = None,
    weights: WeightConfig | None = None,
) -> dict[str, object]:
    """Export ``model`` (eval mode; it has ``input_shape``) to ``output`` as ``fmt`` (one of :data:`FORMATS`).

    ``meta`` describes where the model came from (written into safetensors, returned in the summary).
    Refuses to replace an existing file unless ``overwrite``. With ``check``, the exported file is
    loaded back and its outputs on a random batch compared with the model's (returned as
    ``max_abs_diff``; the OpenVINO formats also return the ``precision`` the CPU plugin chose).
    ``openvino_model``: the ``openvino.Model`` to write for an OpenVINO format instead of converting
    ``model`` (``openvino-int8`` needs it: the calibrated int8 model of :mod:`dualbranch.train.calibrated`).
    ``weights``: how the model is fed, written into the file (see the module docstring) and the summary.
    """
    if fmt not in FORMATS:
        raise ConfigError(f"Unknown export format {fmt!r}; choose from {', '.join(FORMATS)}.")
    output = Path(output)
    is_openvino = fmt in OPENVINO_FORMATS
    if is_openvino and output.suffix != ".xml":
        raise ConfigError(f"OpenVINO IR is an .xml file (weights in a .bin beside it); name it {output.stem}.xml.")
    if fmt == "openvino-int8" and openvino_model is None:
        raise ConfigError(
            "openvino-int8 is calibrated on a run's training data: export a run folder, not a model name "
            "(or export --format openvino and quantize it with NNCF yourself)."
        )
    # OpenVINO IR is two files: the weights (.bin) and the graph (.xml) that names them by its own stem
    outputs = [output.with_suffix(".bin"), output] if is_openvino else [output]
    existing = [path for path in outputs if path.exists()]
    if existing and not overwrite:
        raise OutputExistsError(f"{existing[0]} exists; pass --overwrite to replace it.")
    if not output.parent.is_dir():
        raise MissingFileError(f"The folder {output.parent} does not exist; create it first.")
    meta = dict(meta or {})
    model = model.eval()
    # write next to the target and rename, so a failed export never leaves half a file at `output`; the
    # .bin goes first, so an .xml at `output` always has its own weights beside it
    partials = [path.with_name(f".{output.stem}.partial{path.suffix}") for path in outputs]
    try:
        recorded = None if weights is None else weights.to_json()
        if fmt == "onnx":
            export_onnx(model, partials[0], weights=recorded)
        elif is_openvino:
            source = openvino_model if openvino_model is not None else model
            export_openvino(source, partials[-1], precision=OPENVINO_FORMATS[fmt], weights=recorded)
        elif fmt == "pt2":
            export_pt2(model, partials[0], weights=recorded)
        else:
            save_checkpoint(model, partials[0], metadata=meta, weights=weights)
        for partial, path in zip(partials, outputs):
            partial.replace(path)
    finally:
        for partial in partials:
            partial.unlink(missing_ok=True)
    size = sum(path.stat().st_size for path in outputs)
    summary: dict[str, object] = {"output": str(output), "format": fmt, "bytes": size, **meta}
    if weights is not None:
        summary["weights"] = json.loads(weights.to_json())
    if is_openvino:
        summary["files"] = [str(path) for path in outputs]
    if check and fmt != "safetensors":
        x = _example_input(model, batch=3)
        runner = _reload(fmt, output)
        with torch.inference_mode():
            summary["max_abs_diff"] = float((runner(x) - model(x)).abs().max())
        if isinstance(runner, OpenVinoModel):
            summary["precision"] = runner.precision_report()
    return summary


def _reload(fmt: str, path: Path) -> Callable[[torch.Tensor], torch.Tensor]:
    """An exported file loaded back as a callable on (B, ...) batches, as a user would load it."""
    if fmt == "onnx":
        return OnnxModel(path)
    if fmt in OPENVINO_FORMATS:
        return OpenVinoModel(path, precision=None)  # the precision the file records
    return torch.export.load(str(path)).module()
