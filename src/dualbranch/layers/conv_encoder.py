"""A CNN encoder for a token branch: the patch tokens are put back on their grid and convolved.

Lets a branch of a multi-branch model be a CNN while its interface stays tokens (B, 1 + N, D), so
any fusion strategy can join it with Transformer branches. A CNN has no CLS token; the branch keeps
one as a summary slot that each stage updates from the globally pooled feature map, so fusions that
exchange CLS tokens (class-token, cross-attention) carry the CNN branch's content too, and the
classifier can read it.

Shape legend: B batch, h×w token grid, N = h·w patch tokens, T = 1 + N tokens with CLS, D width,
E = D·mlp_ratio expanded width.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from .mlp import DropPath

__all__ = ["CONV_BLOCKS", "ConvBlock", "ConvTokenEncoder", "ResidualConvBlock"]


class ConvBlock(nn.Module):
    """Inverted-residual block on a map, ConvNeXt-style (Liu et al., CVPR 2022): (B, D, h, w) -> same.

    ``x + drop_path(pw2(act(pw1(norm(dw(x))))))`` with ``dw`` a depthwise k×k convolution (the spatial
    mixing) and ``pw1``/``pw2`` 1×1 convolutions D -> E -> D (the channel mixing).
    """

    def __init__(
        self,
        dim: int,
        kernel_size: int = 3,
        mlp_ratio: float = 4.0,
        drop_path: float = 0.0,
        norm_layer: type[nn.Module] = nn.BatchNorm2d,
        act_layer: type[nn.Module] = nn.GELU,
    ) -> None:
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd so the grid keeps its size, got {kernel_size}.")
        hidden = max(int(dim * mlp_ratio), 1)
        self.dw = nn.Conv2d(dim, dim, kernel_size, padding=kernel_size // 2, groups=dim)
        self.norm = norm_layer(dim)
        self.pw1 = nn.Conv2d(dim, hidden, 1)
        self.act = act_layer()
        self.pw2 = nn.Conv2d(hidden, dim, 1)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.drop_path(self.pw2(self.act(self.pw1(self.norm(self.dw(x))))))


class ResidualConvBlock(nn.Module):
    """ResNet's basic block (He et al., CVPR 2016) on a map: (B, D, h, w) -> same.

    ``act(x + drop_path(bn(conv(act(bn(conv(x)))))))`` with dense 3×3 convolutions. Dense convolutions
    cost more multiply-adds than a depthwise block but run near the machine's GEMM rate on a CPU,
    where depthwise convolutions (and their backward) are memory-bound; ``mlp_ratio`` is unused.
    """

    def __init__(
        self,
        dim: int,
        kernel_size: int = 3,
        mlp_ratio: float = 4.0,
        drop_path: float = 0.0,
        norm_layer: type[nn.Module] = nn.BatchNorm2d,
        act_layer: type[nn.Module] = nn.GELU,
    ) -> None:
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd so the grid keeps its size, got {kernel_size}.")
        pad = kernel_size // 2
        self.conv1 = nn.Conv2d(dim, dim, kernel_size, padding=pad, bias=False)
        self.norm1 = norm_layer(dim)
        self.act1 = act_layer()
        self.conv2 = nn.Conv2d(dim, dim, kernel_size, padding=pad, bias=False)
        self.norm2 = norm_layer(dim)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        # an activation module per call site: int8 quantizers (torchao's PT2E) match patterns per module
        self.act2 = act_layer()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act2(x + self.drop_path(self.norm2(self.conv2(self.act1(self.norm1(self.conv1(x)))))))


CONV_BLOCKS: dict[str, type[nn.Module]] = {"convnext": ConvBlock, "basic": ResidualConvBlock}


class ConvTokenEncoder(nn.Module):
    """One stage of CNN blocks on a branch's tokens: (B, T, D) -> (B, T, D).

    The patch tokens are reshaped to their (h, w) grid, run through ``depth`` conv blocks (``block``:
    ``"convnext"`` :class:`ConvBlock` or ``"basic"`` :class:`ResidualConvBlock`) and
    flattened back; the CLS token receives ``summary(mean of the new patch tokens)`` (a norm and a
    linear map), a residual update, since no convolution sees it.

    Args:
        dim: token width D.
        depth: number of conv blocks.
        grid: (h, w), the branch's token grid.
        kernel_size, mlp_ratio: of the conv blocks.
        drop_path: stochastic-depth rate of each block (one entry per block).
        norm_layer: norm class of the conv blocks (maps); token_norm_layer: norm constructor for the
            CLS summary (takes a width).
        act_layer: activation class.
        block: the block kind, a key of ``CONV_BLOCKS``.
    """

    def __init__(
        self,
        dim: int,
        depth: int,
        grid: tuple[int, int],
        kernel_size: int = 3,
        mlp_ratio: float = 4.0,
        drop_path: list[float] | None = None,
        norm_layer: type[nn.Module] = nn.BatchNorm2d,
        token_norm_layer: Callable[[int], nn.Module] = nn.LayerNorm,
        act_layer: type[nn.Module] = nn.GELU,
        block: str = "convnext",
    ) -> None:
        super().__init__()
        rates = drop_path or [0.0] * depth
        if len(rates) != depth:
            raise ValueError(f"Give one drop-path rate per block: {len(rates)} rates for {depth} blocks.")
        self.grid = tuple(grid)
        self.blocks = nn.Sequential(
            *(CONV_BLOCKS[block](dim, kernel_size, mlp_ratio, rate, norm_layer, act_layer) for rate in rates)
        )
        self.summary = nn.Sequential(token_norm_layer(dim), nn.Linear(dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: (B, 1 + h·w, D), CLS first -> the same shape."""
        batch, _, width = x.shape
        cls, patches = x[:, :1], x[:, 1:]
        fmap = patches.transpose(1, 2).reshape(batch, width, *self.grid)  # (B, N, D) -> (B, D, h, w)
        patches = self.blocks(fmap).flatten(2).transpose(1, 2)  # (B, D, h, w) -> (B, N, D)
        cls = cls + self.summary(patches.mean(dim=1, keepdim=True))  # (B, 1, D)
        return torch.cat([cls, patches], dim=1)
