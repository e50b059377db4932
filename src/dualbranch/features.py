"""Feature extraction: a model's per-branch feature maps from chosen stages.

Shape legend: B batch, b branch, D_b width, h_b×w_b token grid of branch b, T_b tokens with CLS.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["FeatureExtractor"]


class FeatureExtractor(nn.Module):
    """Wrap a model so ``forward(x)`` returns ``features[k][b]`` for the k-th chosen stage, branch b.

    Image branches give 2-D maps (B, D_b, h_b, w_b) (``output_fmt="NCHW"``) or tokens
    (B, T_b, D_b) (``"NLC"``). ``feature_info`` describes each map (stage, branch, channels, stride).

    Args:
        model: any dualbranch model (it must implement ``forward_intermediates``).
        out_indices: stages to return; None means every stage. Negative indices count from the end.
        norm: apply the model's final per-branch norm to each map.
    """

    def __init__(
        self,
        model: nn.Module,
        out_indices: tuple[int, ...] | None = None,
        norm: bool = False,
        output_fmt: str = "NCHW",
    ) -> None:
        super().__init__()
        self.model = model
        num_stages: int = model.num_stages  # type: ignore[assignment]
        indices = range(num_stages) if out_indices is None else out_indices
        self.out_indices = model.stage_indices(list(indices))  # type: ignore[operator]
        self.norm = norm
        self.output_fmt = output_fmt
        self.feature_info = [
            {"stage": stage, "branch": b, "num_chs": model.branch_widths[b]}  # type: ignore[index]
            for stage in self.out_indices
            for b in range(model.num_branches)  # type: ignore[arg-type]
        ]
        if hasattr(model, "token_grid"):  # image branches: where each map sits on the input
            height = model.input_shape[1]  # type: ignore[index]
            for info in self.feature_info:
                grid = model.token_grid(info["branch"])
                info.update(grid=grid, reduction=height / grid[0])

    def forward(self, x: torch.Tensor) -> list[list[torch.Tensor]]:
        return self.model.forward_intermediates(  # type: ignore[operator]
            x, self.out_indices, norm=self.norm, output_fmt=self.output_fmt, intermediates_only=True
        )
