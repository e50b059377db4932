"""Deployment files: ONNX, a ``torch.export`` program (``.pt2``) and plain safetensors weights.

* ONNX goes through the TorchScript-free exporter (``torch.onnx.export(dynamo=True)``) with a
  dynamic batch axis; CrossViT's bicubic resize of the input for its second branch is inside the graph
  (an ONNX ``Resize`` node, cubic mode), so the file takes the same (B, C, H, W) tensor as the model.
  :class:`OnnxModel` runs it in onnxruntime behind the model's own calling convention.
* ``.pt2`` is a :func:`torch.export.export` program (also with a dynamic batch), loadable with
  :func:`torch.export.load` without this package's Python code.
* ``safetensors`` writes the weights with the model name in the metadata (:func:`save_checkpoint`).

``dualbranch export RUN_OR_MODEL --format onnx|pt2|safetensors --output PATH`` uses these (the
command line finds the model: a run folder's, or a registered one).
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import torch
from torch import nn

from .checkpoint import save_checkpoint
from .errors import ConfigError, MissingDependencyError, MissingFileError, OutputExistsError

__all__ = ["FORMATS", "OnnxModel", "export_model", "export_onnx", "export_pt2"]

FORMATS = ("onnx", "pt2", "safetensors")
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
    if output.exists() and not overwrite:
        raise OutputExistsError(f"{output} exists; pass --overwrite to replace it.")
    if not output.parent.is_dir():
        raise MissingFileError(f"The folder {output.parent} does not exist; create it first.")
    meta = dict(meta or {})
    model = model.eval()
    # write next to the target and rename, so a failed export never leaves half a file at `output`
    partial = output.with_name(f".{output.stem}.partial{output.suffix}")
    if fmt == "onnx":
        export_onnx(model, partial)
    elif fmt == "pt2":
        export_pt2(model, partial)
    else:
        save_checkpoint(model, partial, metadata=meta)
    partial.replace(output)
    summary: dict[str, object] = {"output": str(output), "format": fmt, "bytes": output.stat().st_size, **meta}
    if check and fmt != "safetensors":
        x = _example_input(model, batch=3)
        runner = OnnxModel(output) if fmt == "onnx" else torch.export.load(str(output)).module()
        with torch.inference_mode():
            summary["max_abs_diff"] = float((runner(x) - model(x)).abs().max())
    return summary
