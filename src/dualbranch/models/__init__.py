"""Model families. Importing this package registers every model."""

from . import (
    crossvit_variants,  # noqa: F401  (registers the CrossViT family)
    forecasting,  # noqa: F401  (registers Gateformer, iTransformer and DLinear: task "forecasting")
    hybrid,  # noqa: F401  (registers the hybrid CNN + Transformer models)
    signal_variants,  # noqa: F401  (registers DBConformer and EEG Conformer)
)
from .base import MultiBranchModel
from .builder import MultiBranchNet
from .builder_config import BranchConfig, MultiBranchConfig
from .crossvit import CrossViT, CrossViTConfig
from .dbconformer import DBConformer
from .eeg_conformer import EEGConformer
from .mvcnet import MVCNet  # registers MVCNet

__all__ = [
    "BranchConfig",
    "CrossViT",
    "CrossViTConfig",
    "DBConformer",
    "EEGConformer",
    "MVCNet",
    "MultiBranchConfig",
    "MultiBranchModel",
    "MultiBranchNet",
]
