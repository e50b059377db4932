"""Random dilated kernels read over three views of each series: ROCKET's transform made to keep
amplitude, shape and change at once.

ROCKET (Dempster, Petitjean, Webb, DMKD 2020) z-normalises each series before its kernels; that
keeps the shape and drops the level and scale, which can be the class (counts of very different size).
Standardising each channel over the training set keeps them but lets a large series swamp the
kernels' biases. MultiRocket (Tan, Dempster, Bergmeir, Webb, DMKD 2022, arXiv:2102.00457) adds the
first difference of the series, which reads change rather than level. Here the kernels are split
evenly between three views of the same input — the cost is that of one view:

* ``level``: the series as given (the run standardises each channel over the training set);
* ``shape``: each series and channel z-normalised over its own real samples (ROCKET's);
* ``change``: the first difference of the ``shape`` view (MultiRocket's), 0 at the first sample.

Each view draws its own kernels (seeds ``seed``, ``seed + 1``, ``seed + 2``) and reads their outputs
by PPV, max and the longest stretch of positive values (MultiRocket's LSPV; :data:`.random_kernels.POOLS`):
the features are the views' [PPV, max, LSPV] blocks one after another. Samples past an example's real
length stay zero in every view, so the kernels' own length handling (:mod:`.random_kernels`) holds.

Shape legend: B batch, C channels, T samples, K kernels, P pools, F = P·K features.
"""

from __future__ import annotations

import torch
from torch import nn

from .random_kernels import POOLS, RandomDilatedKernels, real_lengths

__all__ = ["VIEWS", "MultiViewKernels", "series_views"]

VIEWS = ("level", "shape", "change")


def series_views(x: torch.Tensor, lengths: torch.Tensor) -> list[torch.Tensor]:
    """(B, C, T) zero-padded series and (B,) real lengths -> the three views, each (B, C, T), zero past
    each example's length. A constant channel's ``shape`` and ``change`` views are 0."""
    real = (torch.arange(x.shape[-1], device=x.device)[None, :] < lengths[:, None])[:, None, :]  # (B, 1, T)
    count = lengths.to(x.dtype)[:, None, None]  # (B, 1, 1)
    mean = (x * real).sum(dim=-1, keepdim=True) / count  # (B, C, 1)
    centred = (x - mean) * real
    std = (centred.square().sum(dim=-1, keepdim=True) / count).sqrt()  # (B, C, 1)
    shape = torch.where(std > 1e-8, centred / std.clamp(min=1e-8), torch.zeros_like(centred))
    change = torch.diff(shape, dim=-1, prepend=shape[..., :1]) * real  # first sample: 0
    return [x * real, shape, change]


class MultiViewKernels(nn.Module):
    """``num_kernels`` ROCKET kernels split evenly over the three views of :func:`series_views`
    (the first ``num_kernels mod 3`` views take one more; a view with none is left out).
    (B, C, T) -> (B, P·K) features, each view's pool blocks in turn. No parameters.

    Args:
        n_chans: C; n_times: T, the longest series.
        num_kernels: K over all views.
        seed: the first view's draw of kernels (the next views take seed + 1, seed + 2).
        pools: how each kernel's output is read (:data:`.random_kernels.POOLS`: PPV, max, LSPV).
    """

    def __init__(
        self, n_chans: int, n_times: int, num_kernels: int = 6666, seed: int = 0, pools: tuple[str, ...] = POOLS
    ) -> None:
        super().__init__()
        counts = [num_kernels // len(VIEWS) + (i < num_kernels % len(VIEWS)) for i in range(len(VIEWS))]
        self.view_names = tuple(name for name, count in zip(VIEWS, counts) if count > 0)
        self.views = nn.ModuleList(
            RandomDilatedKernels(n_chans, n_times, count, seed + i, pools=pools)
            for i, count in enumerate(counts)
            if count > 0
        )
        self.num_kernels, self.pools = num_kernels, tuple(pools)
        self.num_features = len(self.pools) * num_kernels

    def pool_columns(self, pools: tuple[str, ...]) -> torch.Tensor:
        """The feature columns (long, in order) that the named ``pools`` fill, over all views."""
        columns, start = [], 0
        for view in self.views:
            for pool in self.pools:
                if pool in pools:
                    columns.append(torch.arange(start, start + view.num_kernels))
                start += view.num_kernels
        return torch.cat(columns)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """(B, C, T) -> (B, P·K); ``lengths`` (B,) real samples per example (default: from trailing zeros)."""
        lengths = real_lengths(x) if lengths is None else lengths
        views = series_views(x, lengths)
        return torch.cat([kernels(view, lengths) for kernels, view in zip(self.views, views)], dim=1)
