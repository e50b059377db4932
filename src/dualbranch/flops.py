"""Multiply-accumulate (MAC) counting that sees through fused attention.

PyTorch's :class:`~torch.utils.flop_counter.FlopCounterMode` counts matrix multiplies and
convolutions, and the CUDA fused-attention kernels, but counts the CPU fused-attention kernel
(``_scaled_dot_product_flash_attention_for_cpu``) as zero, so a model that uses
``scaled_dot_product_attention`` looks cheaper than it is. We register that kernel (and its backward)
with the same formula as the other attention kernels: QKᵀ and AV as explicit matrix multiplies, the
convention of the CrossViT paper's FLOPs column (which, like most vision papers, reports MACs).
Element-wise work (softmax, norms, activations, the bicubic resize) is not counted.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count

__all__ = ["count_macs", "count_params"]


def _cpu_attention(query, key, value, *args, out_val=None, **kwargs) -> int:
    return sdpa_flop_count(query.shape, key.shape, value.shape)


def _cpu_attention_backward(grad_out, query, key, value, *args, out_val=None, **kwargs) -> int:
    return sdpa_backward_flop_count(grad_out.shape, query.shape, key.shape, value.shape)


# Formulas marked "raw" receive the tensors themselves rather than their shapes.
_cpu_attention._get_raw = True  # type: ignore[attr-defined]
_cpu_attention_backward._get_raw = True  # type: ignore[attr-defined]
_aten = torch.ops.aten
_CPU_ATTENTION_FORMULAS = {
    _aten._scaled_dot_product_flash_attention_for_cpu: _cpu_attention,
    _aten._scaled_dot_product_flash_attention_for_cpu_backward: _cpu_attention_backward,
}


def count_params(model: nn.Module) -> int:
    """Number of parameters (works for models on the meta device)."""
    return sum(p.numel() for p in model.parameters())


def count_macs(model: nn.Module, x: torch.Tensor | None = None, backward: bool = False) -> int:
    """MACs of one forward (and, with ``backward=True``, backward) pass of ``model`` on ``x``.

    ``x`` defaults to one sample of ``model.input_shape`` on the model's device. Build the model on
    the meta device (``with torch.device("meta"): ...``) to count without allocating any weights.
    """
    if x is None:
        device = next(model.parameters()).device
        x = torch.zeros(1, *model.input_shape, device=device)  # type: ignore[arg-type]
    counter = FlopCounterMode(display=False, custom_mapping=_CPU_ATTENTION_FORMULAS)
    was_training = model.training
    model.train(backward)
    try:
        with counter:
            if backward:
                model(x).sum().backward()
            else:
                with torch.no_grad():
                    model(x)
    finally:
        model.train(was_training)
    return counter.get_total_flops() // 2
