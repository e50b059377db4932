"""What every image model made of CLS-first token branches shares: heads, pooling, intermediates.

CrossViT and the generic builder's models differ in how they embed an image and in what their
stages hold; from the stage outputs on they are the same, and that part lives here.

Shape legend
    B batch   C input channels   H×W input   n branches, b a branch   K stages
    h_b×w_b token grid of branch b, N_b = h_b·w_b, T_b = 1 + N_b tokens with CLS   D_b width
"""

from __future__ import annotations

import abc
from typing import Literal

import torch
from torch import nn

from ..errors import ConfigError, DataError
from .base import MultiBranchModel, init_head

__all__ = ["TokenBranchModel"]


class TokenBranchModel(MultiBranchModel):
    """Base for image models whose branches are token sequences with the CLS token first.

    Subclasses set ``input_shape``, ``branch_widths``, ``num_classes``, ``global_pool`` and the
    modules ``norm`` (per branch), ``head_drop`` and ``head`` (from ``_make_heads``), and implement
    ``embed_tokens``, ``stage_modules`` and ``token_grid``.
    """

    global_pool: str
    norm: nn.ModuleList
    head: nn.ModuleList
    head_drop: nn.Module

    @abc.abstractmethod
    def embed_tokens(self, x: torch.Tensor) -> list[torch.Tensor]:
        """(B, C, H, W) -> list of (B, T_b, D_b), CLS first, before the first stage."""

    @abc.abstractmethod
    def stage_modules(self) -> nn.ModuleList:
        """The K stages, each mapping the list of branch tokens to a new list of the same shapes."""

    @abc.abstractmethod
    def token_grid(self, branch: int) -> tuple[int, int]:
        """(h_b, w_b), the patch-token grid of a branch."""

    # ----------------------------------------------------------------- heads
    def _make_heads(self, num_classes: int) -> nn.ModuleList:
        return nn.ModuleList(
            nn.Linear(dim, num_classes) if num_classes > 0 else nn.Identity() for dim in self.branch_widths
        )

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        """New per-branch heads for ``num_classes`` (0: no head, forward returns pooled features)."""
        if global_pool is not None:
            if global_pool not in ("token", "avg"):
                raise ConfigError(f"global_pool must be 'token' or 'avg', got {global_pool!r}.")
            self.global_pool = global_pool
        self.num_classes = num_classes
        self.head = init_head(self._make_heads(num_classes), next(self.parameters()).device)

    # ----------------------------------------------------------------- forward
    def _check_input(self, x: torch.Tensor) -> None:
        expected = self.input_shape
        if x.ndim != 4 or tuple(x.shape[1:]) != expected:
            raise DataError(
                f"{type(self).__name__} expects input of shape (batch, {expected[0]}, {expected[1]}, "
                f"{expected[2]}) (channels, height, width), got {tuple(x.shape)}. Resize the images to "
                f"{expected[1]}×{expected[2]}, or build the model with img_size=(H, W) and "
                f"in_chans=C to match your data."
            )

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """(B, C, H, W) -> list of n normalised token tensors (B, T_b, D_b); index 0 is the CLS token."""
        xs = self.embed_tokens(x)
        for stage in self.stage_modules():
            xs = stage(xs)
        return [norm(t) for norm, t in zip(self.norm, xs)]

    def forward_head(self, features: list[torch.Tensor], pre_logits: bool = False) -> torch.Tensor:
        """Pool each branch (CLS or patch mean), then the mean of the branch heads: (B, num_classes).

        With ``pre_logits=True`` (or no head) returns the pooled branches concatenated:
        (B, num_features) with num_features = Σ D_b.
        """
        pooled = [t[:, 1:].mean(dim=1) if self.global_pool == "avg" else t[:, 0] for t in features]
        pooled = [self.head_drop(p) for p in pooled]
        if pre_logits or self.num_classes == 0:
            return torch.cat(pooled, dim=1)
        return torch.stack([head(p) for head, p in zip(self.head, pooled)]).mean(dim=0)

    # ----------------------------------------------------------------- intermediates
    def tokens_to_map(self, branch: int, tokens: torch.Tensor) -> torch.Tensor:
        """Patch tokens of a branch as a 2-D map: (B, T_b, D_b) -> (B, D_b, h_b, w_b) (CLS dropped)."""
        batch, _, width = tokens.shape
        # (B, N_b, D_b) -> (B, D_b, N_b) -> (B, D_b, h_b, w_b)
        return tokens[:, 1:].transpose(1, 2).reshape(batch, width, *self.token_grid(branch))

    def forward_intermediates(
        self,
        x: torch.Tensor,
        indices: int | list[int] | None = None,
        norm: bool = False,
        output_fmt: Literal["NCHW", "NLC"] = "NCHW",
        intermediates_only: bool = False,
    ) -> tuple[list[torch.Tensor], list[list[torch.Tensor]]] | list[list[torch.Tensor]]:
        """Outputs of chosen stages (after their fusion), per branch.

        Args:
            indices: None (every stage), an int n (the last n stages) or a list of stage indices.
            norm: apply the final per-branch norm to the intermediates.
            output_fmt: "NCHW" gives patch-token maps (B, D_b, h_b, w_b); "NLC" the raw tokens
                (B, T_b, D_b) with the CLS token first.
            intermediates_only: return only the intermediates (and stop after the last one needed).

        Returns:
            ``intermediates[k][b]`` for the k-th chosen stage and branch b, preceded by the final
            features (as ``forward_features``) unless ``intermediates_only``.
        """
        if output_fmt not in ("NCHW", "NLC"):
            raise ConfigError(f"output_fmt must be 'NCHW' or 'NLC', got {output_fmt!r}.")
        take = self.stage_indices(indices)
        xs = self.embed_tokens(x)
        intermediates: list[list[torch.Tensor]] = []
        for i, stage in enumerate(self.stage_modules()):
            xs = stage(xs)
            if i in take:
                outs = [self.norm[b](t) if norm else t for b, t in enumerate(xs)]
                if output_fmt == "NCHW":
                    outs = [self.tokens_to_map(b, t) for b, t in enumerate(outs)]
                intermediates.append(outs)
                if intermediates_only and i == take[-1]:
                    return intermediates
        return [n(t) for n, t in zip(self.norm, xs)], intermediates
