"""Image to patch tokens: a single strided convolution, or CrossViT's three-convolution stem (†).

Shape legend: B batch, C input channels, H×W image, h×w token grid, N = h·w tokens, D width.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

__all__ = ["PatchEmbed", "conv_stem_strides", "patch_grid_size"]


def _conv_out(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


def conv_stem_strides(patch_size: int) -> tuple[int, int]:
    """Strides of the stem's 2nd and 3rd convolutions, whose product with the first (4) is the patch.

    CrossViT† (Chen et al., 2021, Sec. 4.1) replaces the linear patch embedding by three convolutions:
    7×7 stride 4, then two 3×3. The published models use patch 12 -> strides (3, 1) and patch 16 ->
    (2, 2); other patch sizes 4·a·b with a, b ≤ 3 follow the same rule (largest stride first).
    """
    if patch_size % 4:
        raise ValueError(f"The convolutional (†) stem needs a patch size divisible by 4, got {patch_size}.")
    rest = patch_size // 4
    for second in (3, 2, 1):
        if rest % second == 0 and rest // second <= 3:
            return second, rest // second
    raise ValueError(
        f"The convolutional (†) stem supports patch sizes 4·a·b with a, b in {{1, 2, 3}} "
        f"(4, 8, 12, 16, 24, 36); got {patch_size}. Use stem='patch' for other sizes."
    )


def _stem_geometry(patch_size: int, stem: str) -> list[tuple[int, int, int]]:
    """(kernel, stride, padding) of each convolution of a stem."""
    if stem == "patch":
        return [(patch_size, patch_size, 0)]
    if stem == "conv3":
        s2, s3 = conv_stem_strides(patch_size)
        # a stride-3 3×3 conv tiles exactly without padding; stride 1 or 2 keeps "same"-style padding
        return [(7, 4, 3), (3, s2, (4 - s2) // 2), (3, s3, (4 - s3) // 2)]
    raise ValueError(f"Unknown stem {stem!r}: use 'patch' or 'conv3'.")


def patch_grid_size(img_size: tuple[int, int], patch_size: int, stem: str = "patch") -> tuple[int, int]:
    """(h, w), the token grid a stem makes of an (H, W) image, without building it.

    Raises a ValueError when the image is smaller than one patch.
    """
    grid = []
    for side in img_size:
        for kernel, stride, padding in _stem_geometry(patch_size, stem):
            side = _conv_out(side, kernel, stride, padding)
        grid.append(side)
    if min(grid) < 1:
        raise ValueError(
            f"Image size {tuple(img_size)} is smaller than one patch of {patch_size} pixels; "
            "use a larger img_size or a smaller patch_size."
        )
    return grid[0], grid[1]


class PatchEmbed(nn.Module):
    """Cut an image into patch tokens: (B, C, H, W) -> (B, N, D), N = h·w.

    Args:
        img_size: (H, W) this embedding expects.
        patch_size: side of a square patch (the stride of the whole stem).
        in_chans: input channels C (1 for grayscale works as is).
        embed_dim: token width D.
        stem: ``"patch"`` (one conv, kernel = stride = patch) or ``"conv3"`` (CrossViT†'s 3-conv stem).
    """

    def __init__(
        self,
        img_size: tuple[int, int],
        patch_size: int,
        in_chans: int,
        embed_dim: int,
        stem: str = "patch",
    ) -> None:
        super().__init__()
        self.img_size = tuple(img_size)
        self.patch_size = patch_size
        geometry = _stem_geometry(patch_size, stem)
        if stem == "patch":
            self.proj: nn.Module = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)
        else:
            _, (_, s2, p2), (_, s3, p3) = geometry
            self.proj = nn.Sequential(
                nn.Conv2d(in_chans, embed_dim // 4, kernel_size=7, stride=4, padding=3),
                nn.ReLU(inplace=True),
                nn.Conv2d(embed_dim // 4, embed_dim // 2, kernel_size=3, stride=s2, padding=p2),
                nn.ReLU(inplace=True),
                nn.Conv2d(embed_dim // 2, embed_dim, kernel_size=3, stride=s3, padding=p3),
            )
        self.grid_size = patch_grid_size(self.img_size, patch_size, stem)
        self.num_patches = self.grid_size[0] * self.grid_size[1]
        unseen = [side % patch_size for side in self.img_size]
        if stem == "patch" and any(unseen):
            # a strided patch cut ignores the remainder: say so rather than silently train on a crop
            warnings.warn(
                f"A {self.img_size[0]}×{self.img_size[1]} input to a {patch_size}-px patch embedding leaves the last "
                f"{unseen[0]} row(s) and {unseen[1]} column(s) unseen; resize the images to a multiple of "
                f"{patch_size} (data.img_size) or pick a model whose patches divide the image.",
                stacklevel=2,
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.proj(x)  # (B, D, h, w)
        return x.flatten(2).transpose(1, 2)  # (B, h·w, D)
