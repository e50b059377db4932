"""Deployment files: ONNX, OpenVINO IR, a ``torch.export`` program (``.pt2``) and plain safetensors weights.

* ONNX goes through the TorchScript-free exporter (``torch.onnx.export(dynamo=True)``) with a
  dynamic batch axis; CrossViT's bicubic resize of the input for its second branch is inside the graph
  (an ONNX ``Resize`` node, cubic mode), so the file takes the same (B, C, H, W) tensor as the model.
  :class:`OnnxModel` runs it in onnxruntime behind the model's own calling convention.
* OpenVINO IR (``model.xml`` + ``model.bin``) comes from :func:`openvino.convert_model` with a dynamic
  batch axis and fp32 weights (``save_model`` would halve them to fp16 by default). :class:`OpenVinoModel`
  compiles it for the CPU with the precision pinned to fp32: on a CPU with bf16 OpenVINO would otherwise
  pick bf16 by itself, which moves the logits by ~1e-2 and was slower on CrossViT.
* ``.pt2`` is a :func:`torch.export.export` program (also with a dynamic batch), loadable with
  :func:`torch.export.load` without this package's Python code.
* ``safetensors`` writes the weights with the model name in the metadata (:func:`save_checkpoint`).

``dualbranch export RUN_OR_MODEL --format onnx|openvino|pt2|safetensors --output PATH`` uses these (the
command line finds the model: a run folder's, or a registered one).
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .checkpoint import save_checkpoint
from .errors import ConfigError, MissingDependencyError, MissingFileError, OutputExistsError

__all__ = [
    "FORMATS",
    "OnnxModel",
    "OpenVinoModel",
    "export_model",
    "export_onnx",
    "export_openvino",
    "export_pt2",
    "to_openvino",
]

FORMATS = ("onnx", "openvino", "pt2", "safetensors")
MAX_BATCH = 4096  # upper bound of the exported dynamic batch axis


def _example_input(model: nn.Module, batch: int = 2) -> torch.Tensor:
    # batch 2, not 1: the exporter specialises a size-1 axis to a constant
    return torch.randn(batch, *model.input_shape)  # type: ignore[arg-type]


def export_onnx(model: nn.Module, path: str | os.PathLike[str], opset: int | None = None) -> Path:
    """Write ``model`` as ONNX with input ``images`` (B, C, H, W) and output ``logits`` (B, classes)."""
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
        return ov.convert_model(traced, input=[(-1, *model.input_shape)])  # type: ignore[misc]


class OpenVinoModel:
    """An OpenVINO model (in memory or an IR ``.xml`` file) compiled for the CPU, called like the model:
    (B, C, H, W) float tensor -> (B, classes) tensor.

    ``threads`` defaults to torch's thread count, so OpenVINO and PyTorch are compared on the same cores.
    The latency hint gives one stream that uses all of them for each call (the throughput hint would
    split them into parallel streams that only a multi-request server fills). ``precision`` pins the
    floating-point arithmetic of whatever is not int8 ("f32"; "bf16" is OpenVINO's own choice on a
    bf16-capable CPU).
    """

    def __init__(self, model: Any, threads: int | None = None, precision: str = "f32") -> None:
        ov = _openvino()
        core = ov.Core()
        if isinstance(model, (str, os.PathLike)):
            model = core.read_model(str(model))
        config = {
            "INFERENCE_PRECISION_HINT": precision,
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_NUM_THREADS": threads or torch.get_num_threads(),
        }
        self.compiled = core.compile_model(model, "CPU", config)
        self.request = self.compiled.create_infer_request()  # one request, reused: no allocation per call

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        array = x.detach().to(torch.float32).contiguous().numpy()
        # share_inputs avoids a copy of the batch; the outputs are copied, the request reuses its buffers
        results = self.request.infer([array], share_inputs=True)
        return torch.from_numpy(results[self.compiled.output(0)])


def export_openvino(model: nn.Module | Any, path: str | os.PathLike[str]) -> Path:
    """Write ``model`` (a PyTorch model or an ``openvino.Model``) as OpenVINO IR: ``path`` (.xml) and the
    weights beside it (same name, .bin), kept in their own precision (fp32, or int8 after quantization)."""
    ov = _openvino()
    converted = to_openvino(model) if isinstance(model, nn.Module) else model
    path = Path(path)
    ov.save_model(converted, str(path), compress_to_fp16=False)
    return path


def export_pt2(model: nn.Module, path: str | os.PathLike[str]) -> Path:
    """Write a :func:`torch.export.export` program of ``model`` (dynamic batch) to ``path``."""
    batch = torch.export.Dim("batch", min=1, max=MAX_BATCH)
    program = torch.export.export(model.eval(), (_example_input(model),), dynamic_shapes=({0: batch},))
    path = Path(path)
    torch.export.save(program, str(path))
    return path


def export_model(
    model: nn.Module,
    fmt: str,
    output: str | os.PathLike[str],
    overwrite: bool = False,
    meta: dict[str, str] | None = None,
    check: bool = True,
) -> dict[str, object]:
    """Export ``model`` (eval mode; it has ``input_shape``) to ``output`` as ``fmt`` (one of :data:`FORMATS`).

    ``meta`` describes where the model came from (written into safetensors, returned in the summary).
    Refuses to replace an existing file unless ``overwrite``. With ``check``, the exported file is
    loaded back and its outputs on a random batch compared with the model's (returned as
    ``max_abs_diff``).
    """
    if fmt not in FORMATS:
        raise ConfigError(f"Unknown export format {fmt!r}; choose from {', '.join(FORMATS)}.")
    output = Path(output)
    if fmt == "openvino" and output.suffix != ".xml":
        raise ConfigError(f"OpenVINO IR is an .xml file (weights in a .bin beside it); name it {output.stem}.xml.")
    # OpenVINO IR is two files: the weights (.bin) and the graph (.xml) that names them by its own stem
    outputs = [output.with_suffix(".bin"), output] if fmt == "openvino" else [output]
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
        if fmt == "onnx":
            export_onnx(model, partials[0])
        elif fmt == "openvino":
            export_openvino(model, partials[-1])
        elif fmt == "pt2":
            export_pt2(model, partials[0])
        else:
            save_checkpoint(model, partials[0], metadata=meta)
        for partial, path in zip(partials, outputs):
            partial.replace(path)
    finally:
        for partial in partials:
            partial.unlink(missing_ok=True)
    size = sum(path.stat().st_size for path in outputs)
    summary: dict[str, object] = {"output": str(output), "format": fmt, "bytes": size, **meta}
    if fmt == "openvino":
        summary["files"] = [str(path) for path in outputs]
    if check and fmt != "safetensors":
        x = _example_input(model, batch=3)
        runner = _reload(fmt, output)
        with torch.inference_mode():
            summary["max_abs_diff"] = float((runner(x) - model(x)).abs().max())
    return summary


def _reload(fmt: str, path: Path) -> Callable[[torch.Tensor], torch.Tensor]:
    """An exported file loaded back as a callable on (B, C, H, W) batches."""
    if fmt == "onnx":
        return OnnxModel(path)
    if fmt == "openvino":
        return OpenVinoModel(path)
    return torch.export.load(str(path)).module()
