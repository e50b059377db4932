"""The CrossViT oracle: reference figures (tests/data) and the deterministic weight fill and input."""

from __future__ import annotations

import functools
import json
import math
import zlib
from pathlib import Path

import torch

DATA = Path(__file__).parent / "data" / "crossvit_reference.json"


@functools.cache
def reference() -> dict:
    return json.loads(DATA.read_text())


def oracle_tensor(name: str, shape: tuple[int, ...]) -> torch.Tensor:
    """The fixture's deterministic value for the parameter with timm key ``name``."""
    n = math.prod(shape)
    phase = (zlib.crc32(name.encode("utf-8")) % 10007) / 10007 * 2 * math.pi
    base = torch.sin(0.5 * torch.arange(n, dtype=torch.float64) + phase).reshape(shape)
    if len(shape) == 1:
        return 1 + 0.1 * base if ("norm" in name and name.endswith(".weight")) else 0.02 * base
    if name.startswith(("pos_embed", "cls_token")):
        return 0.02 * base
    return base / math.sqrt(math.prod(shape[1:]))


def oracle_state_dict(timm_shapes: dict[str, list[int]]) -> dict[str, torch.Tensor]:
    """A full timm-named state dict filled with the oracle values."""
    return {name: oracle_tensor(name, tuple(shape)) for name, shape in timm_shapes.items()}


def oracle_input(batch: int, side: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    k = torch.arange(batch * 3 * side * side, dtype=torch.float64)
    return (1.5 * torch.sin(0.013 * k)).reshape(batch, 3, side, side).to(dtype)
