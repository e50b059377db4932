"""dualbranch: dual- and multi-branch transformers in PyTorch.

>>> import dualbranch
>>> model = dualbranch.create_model("crossvit_9_240", num_classes=10)

Importing the package loads nothing heavy (no torch, Lightning or matplotlib), so ``dualbranch --help``
answers at once: ``create_model``, ``list_models``, ``get_model_entry`` and ``register_model``, and
the submodules ``dualbranch.models``, ``dualbranch.checkpoint`` and ``dualbranch.errors``, load when
first used (every model is registered before a registry function is handed out).
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["__version__", "create_model", "get_model_entry", "list_models", "register_model"]


def __getattr__(name: str) -> Any:
    # PEP 562: what `import dualbranch` used to load at once, loaded on first use. Each import names a
    # submodule (`from .x import y`), never `from . import x`: that would ask this function for `x` again.
    if name == "create_model":
        from .factory import create_model  # factory imports the models: every one is registered

        return create_model
    if name in ("get_model_entry", "list_models", "register_model"):
        from .models import MultiBranchModel
        from .registry import get_model_entry, list_models, register_model

        return {"get_model_entry": get_model_entry, "list_models": list_models, "register_model": register_model}[name]
    if name == "models":
        from .models import MultiBranchModel  # noqa: F401  (the import makes `models` an attribute here)
    elif name == "checkpoint":
        from .checkpoint import save_checkpoint  # noqa: F401
    elif name == "errors":
        from .errors import DualbranchError  # noqa: F401
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return globals()[name]


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__, "checkpoint", "errors", "models"})
