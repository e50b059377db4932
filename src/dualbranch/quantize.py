"""Post-training int8 quantization, and how often the quantized model agrees with the fp32 one.

Three paths, each on a copy (the fp32 model is left untouched):

* **dynamic** (:func:`quantize_dynamic_int8`): every ``nn.Linear`` gets int8 weights, activations are
  quantized per batch at run time (``torch.ao.quantization.quantize_dynamic``, fbgemm/x86 kernels).
  No calibration data; attention, norms and the convolutional stem stay fp32.
* **static** (:func:`quantize_static_int8`): PT2E (Jacob et al., 2018, "Quantization and Training of
  Neural Networks for Efficient Integer-Arithmetic-Only Inference") — ``torch.export`` the model,
  insert observers with the X86 Inductor quantizer (``torchao``; the PT2E API moved there from
  ``torch.ao``), calibrate on real images, convert, and compile with Inductor, which lowers the
  quantize/dequantize patterns to int8 convolution and matmul kernels. Inductor runs with ``freezing``:
  the weights become constants, so their quantization is folded away once and they are prepacked for
  oneDNN's int8 kernels (VNNI where the CPU has it); without it every call re-quantizes every weight.
  Needs ``torchao``.
* **OpenVINO** (:func:`quantize_openvino_int8`): NNCF post-training quantization of an OpenVINO model,
  calibrated on real images: NNCF's Transformer scheme (SmoothQuant moves activation outliers into the
  weights; norms and softmax stay in floating point), the mixed preset (symmetric int8 weights,
  asymmetric activations, which suits GELU outputs), NNCF's full bias correction (layer by layer on the
  quantized graph: more top-1 agreement than the fast variant for more calibration time and the same int8
  graph; the figures are in docs/deployment.md), NNCF's overflow fix on every layer where the CPU quantizing
  the model has no VNNI (7-bit weights, which the 16-bit sums of int8 products without VNNI cannot
  overflow), and the cheap but sensitive layers left in fp32 (:data:`KEEP_FP32`). Needs ``nncf`` and
  ``openvino``.

:func:`top1_agreement` measures the fraction of images where the fp32 and the quantized model predict
the same class: the figure a deployment cares about (the benchmark uses the Fashion-MNIST test set).
"""

from __future__ import annotations

import contextlib
import copy
import logging
import sys
import warnings
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from .errors import DataError, MissingDependencyError
from .hardware import cpu_features
from .signal_stack import kept_signal_stack

__all__ = [
    "KEEP_FP32",
    "FrozenCompiled",
    "quantize_dynamic_int8",
    "quantize_openvino_int8",
    "quantize_static_int8",
    "top1_agreement",
]

# Layers that stay fp32 in the OpenVINO int8 model, as patterns on the converted graph's node names
# (``__module.<module path>/aten::linear/MatMul``). The patch embeddings see raw pixels: int8 there cost
# most of the disagreements with fp32 (measured in docs/deployment.md). The others run on
# one token per image, so int8 would save almost nothing, and sit where an error is not averaged away.
KEEP_FP32 = (
    r"__module\.patch_embed\..*",  # every patch-embedding (stem) convolution
    # the generic builder's tokenizers: a patch embedding, and the first convolution of a CNN tokenizer.
    # A convolution followed by BatchNorm loses its module name in the conversion (it takes the name of
    # the folded BN multiply), so the VGG tokenizer's convolutions stay int8: with full bias correction
    # that costs little (docs/deployment.md)
    r"__module\.embed\.\d+\.tokenizer\.proj(\.0)?/.*",
    r"__module\.head\..*",  # the classifiers: their output is the logits
    r".*\.fusion\.(projs|revert_projs)\..*",  # a branch's CLS token into the other branch's width and back
    r".*\.fusion\.layers\..*\.attn\.(wq|proj)/.*",  # the cross-attention's CLS query and its output
)

Runner = Callable[[torch.Tensor], torch.Tensor]


def quantize_dynamic_int8(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with dynamically quantized int8 ``nn.Linear`` layers (eval mode)."""
    from torch.ao.quantization import quantize_dynamic

    if "fbgemm" in torch.backends.quantized.supported_engines:
        torch.backends.quantized.engine = "fbgemm"  # the x86 kernels; qnnpack is the ARM fallback
    with warnings.catch_warnings():
        # torch 2.13 announces that torch.ao quantization and its quantized dtypes will move to torchao;
        # the kernels still work, and bench/tests check the results
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*quantized tensor creation functions.*")
        return quantize_dynamic(copy.deepcopy(model).eval(), {nn.Linear}, dtype=torch.qint8)


def quantize_static_int8(model: nn.Module, calibration: Iterable[torch.Tensor], compile: bool = True) -> Runner:
    """PT2E static int8 quantization of ``model`` calibrated on ``calibration`` batches (B, C, H, W).

    Returns the converted program, compiled with Inductor and frozen (:class:`FrozenCompiled`) when
    ``compile`` (without it the int8 arithmetic is only simulated in fp32 and runs slower than the
    original). The program takes any batch size; compiled, each new one costs a compilation first.
    """
    torchao_log = logging.getLogger("torchao")
    level = torchao_log.level
    # on a CPU-only torch, torchao logs a warning for each of its CUDA kernel libraries it cannot load
    torchao_log.setLevel(logging.ERROR)
    try:
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
        from torchao.quantization.pt2e.quantizer import x86_inductor_quantizer as x86
    except ImportError as err:
        raise MissingDependencyError(
            "Static (PT2E) int8 quantization needs torchao: pip install 'dualbranch[deploy]'."
        ) from err
    finally:
        torchao_log.setLevel(level)
    batches = list(calibration)
    if not batches:
        raise DataError("Static quantization needs at least one calibration batch of real images.")
    example = batches[0][:2] if len(batches[0]) > 1 else batches[0].repeat(2, 1, 1, 1)
    batch = torch.export.Dim("batch", min=1, max=4096)
    program = torch.export.export(copy.deepcopy(model).eval(), (example,), dynamic_shapes=({0: batch},)).module()
    quantizer = x86.X86InductorQuantizer().set_global(x86.get_default_x86_inductor_quantization_config())
    prepared = prepare_pt2e(program, quantizer)
    with torch.inference_mode():
        for images in batches:
            prepared(images)
    converted = convert_pt2e(prepared)
    # static shapes: with a dynamic batch, Inductor's int8 convolution lowering fails its fake-tensor
    # stride check (torch 2.13); so each new batch size compiles once (in the engine's warm-up)
    return FrozenCompiled(converted, dynamic=False) if compile else converted


class FrozenCompiled:
    """``torch.compile`` (Inductor) of an inference-only module with ``freezing`` on: its parameters become
    constants, folded and prepacked once for oneDNN / MKL (int8 weights quantized once, for a PT2E model).

    Called like the module, (B, ...) -> (B, ...), always without gradients. Freezing is set in Inductor's
    global config around every call, because the compilation (and any recompilation for a new input
    shape) happens inside the call; passing it as ``torch.compile(options=...)`` does not reach the
    pass that prepacks quantized weights (torch 2.13: ``UnsupportedOperatorException: qconv_prepack``).
    """

    def __init__(self, module: nn.Module | Callable[..., torch.Tensor], dynamic: bool = False) -> None:
        self.compiled = torch.compile(module, dynamic=dynamic)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        from torch._inductor import config

        with config.patch(freezing=True), torch.inference_mode():
            return self.compiled(x)


def quantize_openvino_int8(
    model: Any, calibration: Iterable[torch.Tensor], keep_fp32: tuple[str, ...] = KEEP_FP32
) -> Any:
    """NNCF int8 post-training quantization of the ``openvino.Model`` ``model`` (from
    :func:`dualbranch.export.to_openvino`), calibrated on ``calibration`` batches (B, C, H, W) of real,
    model-ready images (all of them, one image per calibration step; 300–512 is plenty).

    ``keep_fp32``: regular expressions of node names left in floating point. Returns a new
    ``openvino.Model`` with int8 weights and quantize/dequantize pairs around the int8 operations.
    """
    try:
        import nncf
    except ImportError as err:
        raise MissingDependencyError(
            "The OpenVINO int8 engine needs nncf and openvino: pip install 'dualbranch[deploy]'."
        ) from err
    # one image per item: NNCF's statistics (ranges, bias correction) are defined per sample
    images = [image[None].detach().float().contiguous().numpy() for batch in calibration for image in batch]
    if not images:
        raise DataError("OpenVINO int8 quantization needs at least one calibration batch of real images.")
    nncf.set_log_level(logging.ERROR)  # it logs every step of its pipeline at INFO
    # without VNNI, int8 products are summed in pairs into saturating 16-bit integers: NNCF's overflow fix
    # then quantizes the weights to 7 bits so that no pair overflows (with VNNI only the first layer needs it)
    overflow_fix = nncf.OverflowFix.FIRST_LAYER if cpu_features()["VNNI"] else nncf.OverflowFix.ENABLE
    # its progress bars go to stdout, where `dualbranch predict` writes its CSV: send them to stderr
    # it compiles models with OpenVINO, whose CPU plugin swaps the thread's signal stack (see signal_stack)
    with contextlib.redirect_stdout(sys.stderr), kept_signal_stack():
        return nncf.quantize(
            model,
            nncf.Dataset(images),
            preset=nncf.QuantizationPreset.MIXED,
            model_type=nncf.ModelType.TRANSFORMER,
            target_device=nncf.TargetDevice.CPU,
            subset_size=len(images),
            fast_bias_correction=False,  # the full algorithm: more agreement (see above)
            # validate=False: a model without CrossViT's fusion (DBConformer, ...) simply has nothing to keep
            ignored_scope=nncf.IgnoredScope(patterns=list(keep_fp32), validate=False),
            advanced_parameters=nncf.AdvancedQuantizationParameters(overflow_fix=overflow_fix),
        )


@torch.inference_mode()
def top1_agreement(reference: Runner, candidate: Runner, images: torch.Tensor, batch_size: int = 256) -> dict:
    """How often ``candidate`` predicts the same class as ``reference`` on ``images`` (N, C, H, W).

    Returns ``agreement`` (fraction), ``disagreements`` (count), ``n`` and ``max_abs_logit_diff``.
    """
    same, largest = 0, 0.0
    for start in range(0, len(images), batch_size):
        x = images[start : start + batch_size]
        expected, got = reference(x), candidate(x)
        same += int((expected.argmax(1) == got.argmax(1)).sum())
        largest = max(largest, float((expected - got).abs().max()))
    n = len(images)
    return {"agreement": same / n, "disagreements": n - same, "n": n, "max_abs_logit_diff": largest}
