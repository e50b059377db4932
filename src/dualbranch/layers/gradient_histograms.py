"""Histograms of oriented gradients (HOG; Dalal and Triggs, CVPR 2005) as a torch module.

The descriptor behind the classic HOG + SVM baseline: the image's gradients, their magnitude voted
into orientation bins per cell, the cells' histograms normalised in overlapping blocks. Made of
convolutions, pooling and element-wise ops only, so it runs batched, on any device, and exports
with the model it belongs to (ONNX, OpenVINO, ``torch.export``).

* gradients: centred differences [-1, 0, 1] of the channel mean (the border pixels, lacking a
  neighbour, do not vote);
* orientations: unsigned (0–180°), :data:`BINS` bins, each pixel's magnitude shared between its two
  nearest bins by linear interpolation (Dalal and Triggs's vote). The angle is never computed: the
  gradient's doubled angle 2θ is a unit vector ((gx² − gy²), 2 gx gy) / |g|², and its angular distance to
  each bin centre comes from a dot product and ``acos``;
* cells: a fixed :data:`CELLS` × :data:`CELLS` grid over the image (cells of side / 8 pixels), so the
  descriptor has the same length at every input size;
* blocks: 2 × 2 cells, stride one cell, L2-Hys normalisation (L2, clipped at 0.2, L2 again).

Shape legend: B batch, C channels, H×W image, O orientation bins, G cells a side, F features.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional

__all__ = ["BINS", "CELLS", "GradientHistograms"]

BINS = 9  # Dalal and Triggs's choice for unsigned orientations (20° bins)
CELLS = 8  # cells a side: 8-px cells at 64 px, 16-px cells at 128 px
_BLOCK = 2
_CLIP = 0.2  # L2-Hys
_EPS = 1e-10


class GradientHistograms(nn.Module):
    """(B, C, H, W) images -> (B, F) HOG descriptors, F = (G − 1)² · 4 · O with G = min(8, H / 2, W / 2).

    Args:
        img_size: (H, W) of the images it reads (sets the cell size; a side not divisible by the cell
            count loses its last rows or columns to whole cells).
    """

    def __init__(self, img_size: tuple[int, int]) -> None:
        super().__init__()
        height, width = img_size
        self.cells = max(2, min(CELLS, height // 2, width // 2))
        self.cell_size = (height // self.cells, width // self.cells)
        centres = (torch.arange(BINS, dtype=torch.float64) + 0.5) * math.pi / BINS
        # the bin centres' doubled angles as unit vectors (O, 2): plain buffers, not saved (always the same)
        doubled = torch.stack([torch.cos(2 * centres), torch.sin(2 * centres)], dim=1).float()
        self.register_buffer("bin_directions", doubled, persistent=False)
        derivative = torch.tensor([[0.0, 0.0, 0.0], [-1.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
        self.register_buffer("kernels", torch.stack([derivative, derivative.T])[:, None], persistent=False)
        blocks = self.cells - _BLOCK + 1
        self.num_features = blocks * blocks * _BLOCK * _BLOCK * BINS

    def cell_histograms(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, O, G, G): each cell's mean vote per orientation bin, before the blocks'
        normalisation."""
        gray = x.mean(dim=1, keepdim=True)  # (B, 1, H, W)
        # centred differences inside the image; the border pixels, which lack a neighbour, do not vote
        gradients = functional.pad(functional.conv2d(gray, self.kernels), (1, 1, 1, 1))  # (B, 2, H, W)
        gx, gy = gradients[:, 0], gradients[:, 1]  # (B, H, W) each
        square = gx.square() + gy.square()
        magnitude = (square + _EPS).sqrt()
        # (B, 2, H, W): the doubled angle's unit vector; a flat pixel (no gradient) points nowhere useful
        # but votes with a magnitude of ~0
        doubled = torch.stack([gx.square() - gy.square(), 2 * gx * gy], dim=1) / (square + _EPS)[:, None]
        cosine = torch.einsum("bkhw,ok->bohw", doubled, self.bin_directions).clamp(-1.0, 1.0)  # (B, O, H, W)
        # distance in the doubled angle is twice the orientation's; a bin spans π / O of orientation
        share = (1.0 - torch.acos(cosine) * (BINS / (2 * math.pi))).clamp(min=0.0)
        votes = share * magnitude[:, None]  # (B, O, H, W)
        cells = functional.avg_pool2d(votes, self.cell_size)  # (B, O, G', G') (a mean: blocks are normalised)
        return cells[:, :, : self.cells, : self.cells]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cells = self.cell_histograms(x)  # (B, O, G, G)
        blocks = functional.unfold(cells, _BLOCK)  # (B, O·4, (G−1)²): each 2×2 block of cells
        blocks = blocks / (blocks.square().sum(dim=1, keepdim=True) + _EPS).sqrt()
        blocks = blocks.clamp(max=_CLIP)
        blocks = blocks / (blocks.square().sum(dim=1, keepdim=True) + _EPS).sqrt()
        return blocks.transpose(1, 2).flatten(1)  # (B, (G−1)², O·4) -> (B, F)
