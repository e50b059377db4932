"""Hybrid CNN + Transformer models made with the generic builder.

``hybrid_cnn_vit_tiny`` (for 28×28 grayscale images, Fashion-MNIST scale):

* branch 0, local: a CNN tokenizer (stride 2: a 14×14 grid of 64-wide tokens) and CNN encoder
  stages (ConvNeXt-style blocks on the token grid);
* branch 1, global: a 4-px patch embedding (7×7 grid, 192 wide) and Transformer stages;
* after each of the 3 stages, CrossViT's CLS-token cross-attention fusion (Chen, Fan, Panda,
  ICCV 2021, arXiv:2103.14899), so the CNN branch's summary token reads the Transformer's tokens and
  vice versa at a cost linear in the number of tokens.
"""

from __future__ import annotations

from typing import Any

from ..registry import register_model
from .builder import MultiBranchNet
from .builder_config import BranchConfig, MultiBranchConfig

__all__ = ["HYBRID_CNN_VIT_TINY"]

PAPER = "Generic dualbranch builder; fusion from Chen, Fan, Panda. CrossViT. ICCV 2021 (arXiv:2103.14899)"

HYBRID_CNN_VIT_TINY = MultiBranchConfig(
    branches=(
        BranchConfig(
            tokenizer="cnn", patch_size=2, embed_dim=64, encoder="cnn", depth=(2, 2, 2), num_heads=2, pos_embed=False
        ),
        BranchConfig(
            tokenizer="patch", patch_size=4, embed_dim=192, encoder="transformer", depth=(1, 1, 1), num_heads=4
        ),
    ),
    img_size=28,
    in_chans=1,
    num_classes=10,
    fusion="cross_attention",
)


@register_model(paper=PAPER, tiny={"num_classes": 10})
def hybrid_cnn_vit_tiny(**overrides: Any) -> MultiBranchNet:
    """CNN branch (14×14 tokens) + ViT branch (7×7 tokens), cross-attention fusion; 28×28×1 input."""
    return MultiBranchNet(HYBRID_CNN_VIT_TINY, **overrides)
