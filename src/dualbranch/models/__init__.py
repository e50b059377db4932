"""Model families. Importing this package registers every model."""

from . import (
    crossvit_variants,  # noqa: F401  (registers the CrossViT family)
    forecasting,  # noqa: F401  (registers Gateformer, iTransformer and DLinear: task "forecasting")
    hog_fusion,  # noqa: F401  (registers the hybrids with a gradient-histogram branch)
    hybrid,  # noqa: F401  (registers the hybrid CNN + Transformer models)
    signal_variants,  # noqa: F401  (registers DBConformer and EEG Conformer)
)
from .base import MultiBranchModel
from .builder import MultiBranchNet
from .builder_config import BranchConfig, MultiBranchConfig
from .crossvit import CrossViT, CrossViTConfig
from .dbconformer import DBConformer
from .eeg_conformer import EEGConformer
from .hog_fusion import HogFusionNet
from .mvcnet import MVCNet  # registers MVCNet

__all__ = [
    "BranchConfig",
    "CrossViT",
    "CrossViTConfig",
    "DBConformer",
    "EEGConformer",
    "HogFusionNet",
    "MVCNet",
    "MultiBranchConfig",
    "MultiBranchModel",
    "MultiBranchNet",
]
