"""dualbranch: dual- and multi-branch transformers in PyTorch.

>>> import dualbranch
>>> model = dualbranch.create_model("crossvit_9_240", num_classes=10)

Importing the package loads nothing heavy (no torch, Lightning or matplotlib), so ``dualbranch --help``
answers at once: ``create_model``, ``list_models``, ``get_model_entry``, ``register_model`` and the
submodules (``dualbranch.models``, ``dualbranch.checkpoint``, ...) are loaded when first used, the
models registered before any of the registry's functions is handed out.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"
__all__ = ["__version__", "create_model", "get_model_entry", "list_models", "register_model"]

_FUNCTIONS = {"create_model": "factory", "get_model_entry": "registry", "list_models": "registry",
              "register_model": "registry"}  # fmt: skip
_SUBMODULES = {
    "bench", "checkpoint", "cli", "data", "deploy_cli", "engines", "errors", "evaluation", "export", "factory",
    "features", "flops", "layers", "models", "optional", "quantize", "registry", "safe_io", "signal_plots", "train",
}  # fmt: skip


def __getattr__(name: str) -> Any:
    if name in _FUNCTIONS:
        importlib.import_module(f"{__name__}.models")  # registers every model
        return getattr(importlib.import_module(f"{__name__}.{_FUNCTIONS[name]}"), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_FUNCTIONS, *_SUBMODULES})
