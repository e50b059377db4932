"""Building blocks shared by the models."""

from .attention import Attention
from .fusion import CrossAttentionBlock, CrossAttentionFusion
from .mlp import DropPath, Mlp
from .patch_embed import PatchEmbed
from .transformer import Block

__all__ = [
    "Attention",
    "Block",
    "CrossAttentionBlock",
    "CrossAttentionFusion",
    "DropPath",
    "Mlp",
    "PatchEmbed",
]
