"""Hybrid CNN + Transformer models made with the generic builder.

``hybrid_cnn_vit_tiny`` (for 28×28 grayscale images, Fashion-MNIST scale):

* branch 0, local: a CNN tokenizer (stride 2: a 14×14 grid of 64-wide tokens) and CNN encoder
  stages (ConvNeXt-style blocks on the token grid);
* branch 1, global: a 4-px patch embedding (7×7 grid, 192 wide) and Transformer stages;
* after each of the 3 stages, CrossViT's CLS-token cross-attention fusion (Chen, Fan, Panda,
  ICCV 2021, arXiv:2103.14899), so the CNN branch's summary token reads the Transformer's tokens and
  vice versa at a cost linear in the number of tokens.

``hybrid_vgg_vit_tiny`` (the default model for small images): a VGG-style CNN branch (Simonyan &
Zisserman, ICLR 2015; two full-resolution 3×3 convolutions per scale, then ResNet basic blocks, He et
al., CVPR 2016) on a 7×7 grid and a Transformer branch on 7-px patches (4×4 grid), with the same
cross-attention fusion after each of 2 stages.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ..registry import WeightConfig, register_model
from .builder import MultiBranchNet
from .builder_config import BranchConfig, MultiBranchConfig

__all__ = [
    "HYBRID_CNN_VIT_TINY",
    "HYBRID_ENDS",
    "HYBRID_VGG_VIT_PHOTO",
    "HYBRID_VGG_VIT_SMALL",
    "HYBRID_VGG_VIT_TINY",
    "HYBRID_VGG_VIT_TINY_PATCH8",
]

PAPER = "Generic dualbranch builder; fusion from Chen, Fan, Panda. CrossViT. ICCV 2021 (arXiv:2103.14899)"
# both branches read the image: the CNN tokenizer's first convolution and the patch embedding; one head each
HYBRID_ENDS = {"first_conv": ("embed.0.tokenizer.proj", "embed.1.tokenizer.proj"), "classifier": ("head.0", "head.1")}

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


@register_model(paper=PAPER, tiny={"num_classes": 10}, weights=WeightConfig((1, 28, 28), **HYBRID_ENDS))
def hybrid_cnn_vit_tiny(**overrides: Any) -> MultiBranchNet:
    """CNN branch (14×14 tokens) + ViT branch (7×7 tokens), cross-attention fusion; 28×28×1 input."""
    return MultiBranchNet(HYBRID_CNN_VIT_TINY, **overrides)


HYBRID_VGG_VIT_TINY = MultiBranchConfig(
    branches=(
        BranchConfig(
            tokenizer="vgg", patch_size=4, embed_dim=64, encoder="resnet", depth=(1, 1), num_heads=2, pos_embed=False
        ),
        BranchConfig(
            tokenizer="patch",
            patch_size=7,
            embed_dim=64,
            encoder="transformer",
            depth=(1, 1),
            num_heads=2,
            mlp_ratio=2.0,
        ),
    ),
    img_size=28,
    in_chans=1,
    num_classes=10,
    fusion="cross_attention",
)


@register_model(paper=PAPER, tiny={"num_classes": 10}, weights=WeightConfig((1, 28, 28), **HYBRID_ENDS))
def hybrid_vgg_vit_tiny(**overrides: Any) -> MultiBranchNet:
    """The small-image default: a CNN branch (VGG tokens 7×7, width 64, ResNet blocks) and a Transformer
    branch (7-px patches, 4×4 tokens, width 64), joined by cross-attention after each of 2 stages; 28×28×1
    input by default. 0.40 M parameters.

    Why this shape: on small images the CNN branch's full-resolution 3×3 convolutions learn within an
    epoch or two what patch Transformers need tens of epochs for, and dense convolutions on few channels
    train near a CPU's GEMM rate; the coarse Transformer branch adds a global view at little cost.
    """
    return MultiBranchNet(HYBRID_VGG_VIT_TINY, **overrides)


HYBRID_VGG_VIT_TINY_PATCH8 = dataclasses.replace(
    HYBRID_VGG_VIT_TINY,
    branches=(HYBRID_VGG_VIT_TINY.branches[0], dataclasses.replace(HYBRID_VGG_VIT_TINY.branches[1], patch_size=8)),
    img_size=32,
    in_chans=3,
)


@register_model(paper=PAPER, tiny={"num_classes": 10}, weights=WeightConfig((3, 32, 32), **HYBRID_ENDS))
def hybrid_vgg_vit_tiny_patch8(**overrides: Any) -> MultiBranchNet:
    """``hybrid_vgg_vit_tiny`` with 8-px patches, for small images whose side is a multiple of 8 (CIFAR's
    32 px: 4×4 tokens; 64 px: 8×8), which 7-px patches would not cover; 32×32×3 input by default."""
    return MultiBranchNet(HYBRID_VGG_VIT_TINY_PATCH8, **overrides)


HYBRID_VGG_VIT_SMALL = MultiBranchConfig(
    branches=(
        BranchConfig(
            tokenizer="vgg", patch_size=8, embed_dim=128, encoder="resnet", depth=(1, 1), num_heads=4, pos_embed=False
        ),
        BranchConfig(
            tokenizer="patch",
            patch_size=16,
            embed_dim=128,
            encoder="transformer",
            depth=(1, 1),
            num_heads=4,
            mlp_ratio=2.0,
        ),
    ),
    img_size=128,
    in_chans=3,
    num_classes=1000,
    fusion="cross_attention",
)


@register_model(paper=PAPER, tiny={"num_classes": 10}, weights=WeightConfig((3, 128, 128), **HYBRID_ENDS))
def hybrid_vgg_vit_small(**overrides: Any) -> MultiBranchNet:
    """The photo default for collections trained from scratch: a CNN branch (VGG tokens on an 8-px grid,
    width 128, ResNet blocks) and a Transformer branch (16-px patches, width 128), joined by
    cross-attention after each of 2 stages; 3×128×128 input by default (any multiple of 16).

    Why this shape: the hybrid_vgg_vit_tiny idea at photo scale — full-resolution convolutions learn
    from a few hundred or thousand photos what patch Transformers need ImageNet for, while the
    Transformer branch's 16-px patches give a global view at little cost.
    """
    return MultiBranchNet(HYBRID_VGG_VIT_SMALL, **overrides)


HYBRID_VGG_VIT_PHOTO = dataclasses.replace(
    HYBRID_VGG_VIT_SMALL,
    branches=(
        dataclasses.replace(HYBRID_VGG_VIT_SMALL.branches[0], tokenizer="vgg_s2"),
        HYBRID_VGG_VIT_SMALL.branches[1],
    ),
)


@register_model(paper=PAPER, tiny={"num_classes": 10}, weights=WeightConfig((3, 128, 128), **HYBRID_ENDS))
def hybrid_vgg_vit_photo(**overrides: Any) -> MultiBranchNet:
    """The photo default: ``hybrid_vgg_vit_small`` with a strided first convolution (ResNet's stem idea,
    He et al., CVPR 2016) in place of the tokenizer's last pool — the same 8-px token grid, 353 M instead
    of 816 M multiply-adds per 128-px photo; 3×128×128 input by default (any multiple of 16).

    Why: at photo sizes the full-resolution convolutions of the VGG tokenizer are three quarters of the
    compute; spent on more updates instead, the same training time reaches a better model.
    """
    return MultiBranchNet(HYBRID_VGG_VIT_PHOTO, **overrides)
