"""dualbranch: dual- and multi-branch transformers in PyTorch.

>>> import dualbranch
>>> model = dualbranch.create_model("crossvit_9_240", num_classes=10)
"""

from . import checkpoint, errors, models  # noqa: F401  (models: registers every model)
from .factory import create_model
from .registry import get_model_entry, list_models, register_model

__version__ = "0.1.0"
__all__ = ["__version__", "create_model", "get_model_entry", "list_models", "register_model"]
