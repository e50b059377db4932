"""Building blocks shared by the models."""

from .attention import Attention
from .fusion import CrossAttentionBlock, CrossAttentionFusion
from .fusion_factory import FusionSpec, build_fusion, fusion_names, register_fusion
from .fusion_joint import AllAttentionFusion
from .fusion_sum import ClassTokenFusion, NoFusion, PairwiseFusion
from .mlp import DropPath, Mlp
from .patch_embed import PatchEmbed
from .transformer import Block

__all__ = [
    "AllAttentionFusion",
    "Attention",
    "Block",
    "ClassTokenFusion",
    "CrossAttentionBlock",
    "CrossAttentionFusion",
    "DropPath",
    "FusionSpec",
    "Mlp",
    "NoFusion",
    "PairwiseFusion",
    "PatchEmbed",
    "build_fusion",
    "fusion_names",
    "register_fusion",
]
