"""A small CNN stage that turns an image into tokens: the convolutional tokenizer of hybrid models.

Strided 3×3 convolutions (stride 2 or 3, each followed by a norm and an activation, the last one
plain) reduce the image by the patch size; the last feature map's cells are the tokens. Compared
with a patch embedding (one linear map per patch) the tokens see overlapping, nonlinear local
features, the idea behind convolutional stems (e.g. Xiao et al., "Early Convolutions Help
Transformers See Better", NeurIPS 2021, and CrossViT†'s three-convolution stem).

:class:`VGGTokenizer` spends more: two 3×3 convolutions at each resolution before a 2×2 max-pool
(Simonyan & Zisserman, "Very Deep Convolutional Networks", ICLR 2015), so the first features are
computed at the image's full resolution. On small images (28×28) that is what makes a model learn
fast, and dense convolutions on a few channels train near the GEMM rate of a CPU. On photos (128 px and
more) full resolution costs most of the model's compute for little gain; ``stem_stride=2`` makes the
first convolution strided instead, as the stems of photo networks are (ResNet's, He et al., CVPR 2016),
and drops the last pool, so the tokens keep the same grid at under half the multiply-adds.

Shape legend: B batch, C input channels, H×W image, h×w token grid, N = h·w tokens, D token width.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["ConvTokenizer", "VGGTokenizer", "conv_tokenizer_strides"]


def conv_tokenizer_strides(patch_size: int) -> tuple[int, ...]:
    """Strides whose product is ``patch_size``, 2s first, then 3s: 4 -> (2, 2), 6 -> (2, 3), 1 -> (1,)."""
    if patch_size < 1:
        raise ValueError(f"patch_size must be positive, got {patch_size}.")
    strides, rest = [], patch_size
    for factor in (2, 3):
        while rest % factor == 0:
            strides.append(factor)
            rest //= factor
    if rest != 1:
        raise ValueError(
            f"The CNN tokenizer reduces by strides of 2 and 3, so its patch size must be 2^a·3^b; got {patch_size}."
        )
    return tuple(strides) or (1,)


def _conv(c_in: int, c_out: int, stride: int) -> nn.Conv2d:
    # stride 3 with a 3×3 kernel tiles exactly without padding; stride 1 or 2 pads to "same"/half size
    return nn.Conv2d(c_in, c_out, kernel_size=3, stride=stride, padding=0 if stride == 3 else 1)


class ConvTokenizer(nn.Module):
    """(B, C, H, W) -> (B, N, D): strided conv-norm-act layers, then a plain conv to the token width.

    The channel count doubles with every layer and ends at ``embed_dim`` (three layers for D = 64:
    16, 32, 64).

    Args:
        img_size: (H, W) this tokenizer expects.
        patch_size: total stride, 2^a·3^b.
        in_chans: input channels C.
        embed_dim: token width D.
        norm_layer: norm class for the feature maps (takes the channel count).
        act_layer: activation class.
    """

    def __init__(
        self,
        img_size: tuple[int, int],
        patch_size: int,
        in_chans: int,
        embed_dim: int,
        norm_layer: type[nn.Module] = nn.BatchNorm2d,
        act_layer: type[nn.Module] = nn.ReLU,
    ) -> None:
        super().__init__()
        strides = conv_tokenizer_strides(patch_size)
        widths = [max(embed_dim >> (len(strides) - 1 - i), 1) for i in range(len(strides))]
        layers: list[nn.Module] = []
        c_in = in_chans
        for i, (stride, width) in enumerate(zip(strides, widths)):
            layers.append(_conv(c_in, width, stride))
            if i < len(strides) - 1:
                layers += [norm_layer(width), act_layer()]
            c_in = width
        self.proj = nn.Sequential(*layers)
        self.img_size = tuple(img_size)
        self.patch_size = patch_size
        grid = []
        for side in self.img_size:
            for stride in strides:
                side = (side + 2 * (0 if stride == 3 else 1) - 3) // stride + 1
            grid.append(side)
        if min(grid) < 1:
            raise ValueError(f"Image size {self.img_size} is too small for a CNN tokenizer of stride {patch_size}.")
        self.grid_size = (grid[0], grid[1])
        self.num_patches = grid[0] * grid[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.proj(x)  # (B, D, h, w)
        return x.flatten(2).transpose(1, 2)  # (B, h·w, D)


class VGGTokenizer(nn.Module):
    """(B, C, H, W) -> (B, N, D): ``log2(patch_size)`` stages of [conv-norm-act] × 2 and a 2×2 max-pool.

    Widths double per stage and end at ``embed_dim`` (D = 64, patch 4: 32, 64); a pool floors odd
    sides, so a 28×28 image with patch 4 gives a 7×7 grid.

    Args:
        img_size: (H, W) this tokenizer expects.
        patch_size: total stride, a power of 2 (at least 2).
        in_chans: input channels C.
        embed_dim: token width D.
        norm_layer: norm class for the feature maps; act_layer: activation class.
        stem_stride: 1, or 2 for a strided first convolution in place of the last stage's pool (the
            same total stride and grid; each stage then works at half the resolution).
    """

    def __init__(
        self,
        img_size: tuple[int, int],
        patch_size: int,
        in_chans: int,
        embed_dim: int,
        norm_layer: type[nn.Module] = nn.BatchNorm2d,
        act_layer: type[nn.Module] = nn.ReLU,
        stem_stride: int = 1,
    ) -> None:
        super().__init__()
        stages = patch_size.bit_length() - 1
        if patch_size < 2 or patch_size != 1 << stages:
            raise ValueError(
                f"The VGG tokenizer halves the image per stage: patch_size must be 2, 4, 8, ...; got {patch_size}."
            )
        if stem_stride not in (1, 2):
            raise ValueError(f"The VGG tokenizer's stem_stride is 1 or 2; got {stem_stride}.")
        layers: list[nn.Module] = []
        c_in = in_chans
        for stage in range(stages):
            width = max(embed_dim >> (stages - 1 - stage), 1)
            for i, c in enumerate((c_in, width)):
                stride = stem_stride if stage == i == 0 else 1
                layers += [nn.Conv2d(c, width, 3, stride, padding=1, bias=False), norm_layer(width), act_layer()]
            if stem_stride == 1 or stage < stages - 1:
                layers.append(nn.MaxPool2d(2))
            c_in = width
        self.proj = nn.Sequential(*layers)
        self.img_size = tuple(img_size)
        self.patch_size = patch_size
        # a strided convolution rounds a side up, a pool rounds it down
        first = [-(-side // stem_stride) for side in self.img_size]
        self.grid_size = (first[0] * stem_stride // patch_size, first[1] * stem_stride // patch_size)
        if min(self.grid_size) < 1:
            raise ValueError(f"Image size {self.img_size} is too small for a VGG tokenizer of stride {patch_size}.")
        self.num_patches = self.grid_size[0] * self.grid_size[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.proj(x)  # (B, D, h, w)
        return x.flatten(2).transpose(1, 2)  # (B, h·w, D)
