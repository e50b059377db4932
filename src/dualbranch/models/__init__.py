"""Model families. Importing this package registers every model."""

from . import crossvit_variants  # noqa: F401  (registers the CrossViT family)
from .base import MultiBranchModel
from .crossvit import CrossViT, CrossViTConfig

__all__ = ["CrossViT", "CrossViTConfig", "MultiBranchModel"]
