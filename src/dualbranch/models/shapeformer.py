"""ShapeFormer: a class-specific shapelet Transformer fused with a generic convolutional Transformer.

Le, Luo, Aickelin, Tran, "ShapeFormer: Shapelet Transformer for Multivariate Time Series
Classification", KDD 2024 (arXiv:2405.14608); sizes and layer order as the official code
(github.com/xuanmay2701/shapeformer, MIT licence), written anew:

* **class-specific branch** — S shapelets discovered offline from the training set
  (:mod:`.shapelet_discovery`, ``num_shapelets`` per class). The *shapelet filter* of shapelet k
  (channel c_k, place [s_k, e_k), length L_k) finds the best-matching subsequence of channel c_k within
  ``filter_window`` samples of its place (squared distance times a complexity-invariance factor capped
  at ``max_ci``) and embeds the difference: Linear_1(best subsequence) − Linear_2(shapelet). The
  shapelets are parameters (learned through Linear_2). Position embeddings of c_k, s_k and e_k (one-hot,
  each through a Linear) are added; one Transformer layer (attention → scale by the shapelets'
  weights → LayerNorm → feed-forward → LayerNorm → scale) runs over the S tokens; the first token is
  the branch's output. The weights start at softmax(20 · gain) · S (the discovery's information gains).
* **generic branch** — a Conv2d over time (1 × 8) then across channels (C × 1), each with BatchNorm and
  GELU, learned positions, one Transformer layer over the T time steps, global average pooling.
* **fusion** — the two outputs concatenated, one Linear (``final_layer``).

The attention is the official one: q, k, v without bias, scores scaled by 1/sqrt(D) (the whole width),
the heads' output LayerNorm-ed. Four modules of the official model that its forward never uses
(``local_layer``, ``local_pos_layer``, ``out2``, ``local_merge``; 5,244 parameters at BasicMotions'
sizes) are left out: this model's parameter count is the official count minus theirs.

Until it is fitted (:meth:`ShapeFormer.fit_closed_form`, which a training run calls before its first
update, or ``shapelets=`` / ``shapelet_info=`` given), the class-specific branch holds a placeholder
layout — ramps of T / 10 samples, evenly spread — that has the fitted model's number of tokens. A
checkpoint carries its shapelets: loading one rebuilds the branch to its shapes.

Shape legend: B batch, C channels, T samples, S shapelets, L_k shapelet k's length, D_s shapelet token
width, D_g generic token width, K classes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError
from .base import init_head
from .shapelet_discovery import discover_shapelets
from .signal_base import SignalModel

__all__ = ["ShapeFormer"]


class ShapeletAttention(nn.Module):
    """The official attention: q, k, v (no bias), softmax(q kᵀ / sqrt(D)), heads concatenated, LayerNorm."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads, self.scale = num_heads, dim**-0.5
        self.query, self.key, self.value = (nn.Linear(dim, dim, bias=False) for _ in range(3))
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N, D) -> (B, N, D)."""
        b, n, _ = x.shape
        q, k, v = (f(x).reshape(b, n, self.num_heads, -1).transpose(1, 2) for f in (self.query, self.key, self.value))
        attention = torch.softmax(q @ k.transpose(-2, -1) * self.scale, dim=-1)  # (B, heads, N, N)
        return self.norm((attention @ v).transpose(1, 2).reshape(b, n, -1))  # (B, N, heads, D/h) -> (B, N, D)


class FeedForward(nn.Sequential):
    def __init__(self, dim: int, hidden: int, dropout: float) -> None:
        super().__init__(
            nn.Linear(dim, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, dim), nn.Dropout(dropout)
        )


class ShapeletFilter(nn.Module):
    """One shapelet (L,) on channel ``channel``, matched within [region_start, region_end) -> (B, 1, D)."""

    def __init__(
        self, values: np.ndarray, channel: int, start: int, end: int, n_times: int, dim: int, window: int,
        max_ci: float, ci_norm: float,
    ) -> None:  # fmt: skip
        super().__init__()
        self.shapelet = nn.Parameter(torch.as_tensor(np.asarray(values), dtype=torch.float32).clone())
        self.length, self.channel = len(values), channel
        self.region = (max(start - window, 0), min(end + window, n_times))
        if self.region[1] - self.region[0] < self.length:
            raise ConfigError(f"A shapelet of {self.length} samples does not fit its search region {self.region}.")
        self.max_ci, self.ci_norm = max_ci, ci_norm
        steps = np.diff(np.asarray(values, dtype=np.float64))
        # the official filter: sqrt for the shapelet's complexity, none for the windows'
        self.shapelet_ci = float(np.sqrt(np.sum(steps**2)) + 1 / ci_norm)
        self.embed_window = nn.Linear(self.length, dim)
        self.embed_shapelet = nn.Linear(self.length, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        region = x[:, self.channel, self.region[0] : self.region[1]]  # (B, R)
        windows = region.unfold(1, self.length, 1)  # (B, W, L)
        ci = region.diff(dim=1).square().unfold(1, self.length - 1, 1).sum(dim=2) + 1 / self.ci_norm  # (B, W)
        ratio = torch.maximum(ci, ci.new_tensor(self.shapelet_ci)) / torch.minimum(ci, ci.new_tensor(self.shapelet_ci))
        distance = (windows - self.shapelet).square().sum(dim=2) * ratio.clamp(max=self.max_ci)  # (B, W)
        best = windows[torch.arange(x.shape[0], device=x.device), distance.argmin(dim=1)]  # (B, L)
        # the shapelet's embedding through the Linear's weights, not a module call: FLOP counting's module
        # hooks cannot take a parameter (no grad_fn) as a module input
        reference = nn.functional.linear(self.shapelet, self.embed_shapelet.weight, self.embed_shapelet.bias)  # (D,)
        return (self.embed_window(best) - reference)[:, None]  # (B, 1, D)


def _one_hot_size(values: np.ndarray) -> int:
    return int(values.max()) + 1


def placeholder_shapelets(n_chans: int, n_times: int, count: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """The unfitted layout: ``count`` rising ramps from −1 to 1 of max(2, T / 10) samples, evenly spread over
    the channels and the series; rows ``[series, start, end, gain, class, channel]`` with gain 0."""
    length = min(max(2, n_times // 10), n_times)
    starts = np.linspace(0, n_times - length, count).round().astype(int) if count > 1 else np.zeros(1, int)
    info = np.array([[0, s, s + length, 0.0, 0, k % n_chans] for k, s in enumerate(starts)], dtype=np.float64)
    return info, [np.linspace(-1.0, 1.0, length) for _ in range(count)]


class ShapeFormer(SignalModel):
    """ShapeFormer for (B, C, T) series; see the module docstring.

    Args (beyond :class:`~.signal_base.SignalModel`'s):
        shapelets, shapelet_info: discovered shapelets (lists of L_k values) and their rows
            ``[series, start, end, gain, class, channel]``; None: the placeholder layout until fitted.
        num_shapelets: shapelets per class when discovering (the official BasicMotions setting is 10).
        discovery_window: how far from its place a candidate is compared (official ``window_size``).
        num_pip: the share of a series' samples that become perceptually important points.
        filter_window: how far from its place a shapelet filter searches (official ShapeBlock: 50).
        shape_embed_dim, pos_embed_dim: D_s (the two must agree: positions are added to the tokens).
        local_embed_dim: D_g; dim_ff: the feed-forward width; num_heads: attention heads; dropout.
        max_ci, ci_norm: the shapelet filter's complexity cap and its 1/ci_norm offset.
        candidate_ci: "official" or "paper" complexity of candidates (see shapelet_discovery).
    """

    default_n_chans = 6  # BasicMotions, the official repository's example

    def __init__(
        self,
        n_chans: int | None = None,
        n_outputs: int = 4,
        n_times: int = 100,
        sfreq: float | None = None,
        chs_info: Sequence[dict[str, Any]] | None = None,
        shapelets: Sequence[Sequence[float]] | None = None,
        shapelet_info: Sequence[Sequence[float]] | None = None,
        num_shapelets: int = 10,
        discovery_window: int = 100,
        num_pip: float = 0.2,
        filter_window: int = 50,
        shape_embed_dim: int = 128,
        pos_embed_dim: int = 128,
        local_embed_dim: int = 48,
        dim_ff: int = 256,
        num_heads: int = 4,
        dropout: float = 0.4,
        max_ci: float = 3.0,
        ci_norm: float = 1000.0,
        candidate_ci: Literal["official", "paper"] = "official",
    ) -> None:
        super().__init__(n_chans, n_outputs, n_times, sfreq, chs_info)
        if shape_embed_dim != pos_embed_dim:
            raise ConfigError(
                f"pos_embed_dim ({pos_embed_dim}) must equal shape_embed_dim ({shape_embed_dim}): the position "
                "embeddings are added to the shapelet tokens; give both the same value."
            )
        if (shapelets is None) != (shapelet_info is None):
            raise ConfigError(
                "Give both shapelets and shapelet_info (as discover_shapelets returns them: values and rows), or "
                "neither (the shapelets are then discovered when the model is trained)."
            )
        if candidate_ci not in ("official", "paper"):
            raise ConfigError(f"candidate_ci must be 'official' or 'paper', got {candidate_ci!r}.")
        self.num_shapelets, self.discovery_window, self.num_pip = num_shapelets, discovery_window, num_pip
        self.filter_window, self.max_ci, self.ci_norm, self.candidate_ci = filter_window, max_ci, ci_norm, candidate_ci
        self.shape_dim, self.local_dim, self.dim_ff, self.num_heads = (
            shape_embed_dim,
            local_embed_dim,
            dim_ff,
            num_heads,
        )
        self.dropout = dropout
        self.num_branches, self.num_stages = 2, 2
        self.branch_widths = (shape_embed_dim, local_embed_dim)
        self.num_features = shape_embed_dim + local_embed_dim
        # generic branch
        self.embed_time = nn.Sequential(
            nn.ZeroPad2d(
                (3, 4, 0, 0)
            ),  # PyTorch's padding="same" for a kernel of 8, as the official code, without its copy
            nn.Conv2d(1, local_embed_dim, (1, 8)),
            nn.BatchNorm2d(local_embed_dim),
            nn.GELU(),
        )
        self.embed_channels = nn.Sequential(
            nn.Conv2d(local_embed_dim, local_embed_dim, (self.n_chans, 1)), nn.BatchNorm2d(local_embed_dim), nn.GELU()
        )
        self.local_pos = nn.Parameter(torch.empty(n_times, local_embed_dim).uniform_(-0.02, 0.02))
        self.local_drop = nn.Dropout(dropout)
        self.local_attention = ShapeletAttention(local_embed_dim, num_heads)
        self.local_norm1, self.local_norm2 = nn.LayerNorm(local_embed_dim), nn.LayerNorm(local_embed_dim)
        self.local_ff = FeedForward(local_embed_dim, dim_ff, dropout)
        # class-specific branch
        self.shape_attention = ShapeletAttention(shape_embed_dim, num_heads)
        self.shape_norm1, self.shape_norm2 = nn.LayerNorm(shape_embed_dim), nn.LayerNorm(shape_embed_dim)
        self.shape_ff = FeedForward(shape_embed_dim, dim_ff, dropout)
        self.register_buffer("fitted", torch.tensor(shapelets is not None))
        if shapelets is None:
            info, values = placeholder_shapelets(self.n_chans, n_times, num_shapelets * max(n_outputs, 1))
        else:
            info, values = np.asarray(shapelet_info, dtype=np.float64), [np.asarray(s) for s in shapelets]
        self._build_shapelets(info, values)
        self.final_layer = self._make_head(n_outputs)
        init_head(self.final_layer)

    def _build_shapelets(self, info: np.ndarray, values: list[np.ndarray]) -> None:
        """(Re)build the class-specific branch's shapelet-dependent parts from ``info`` (S, 6) and ``values``."""
        if info.ndim != 2 or info.shape[1] != 6 or len(info) != len(values) or not len(values):
            raise ConfigError(
                f"shapelet_info must be (S, 6) rows for S ≥ 1 shapelets; got {info.shape}, {len(values)}."
            )
        if int(info[:, 5].max()) >= self.n_chans or int(info[:, 2].max()) > self.n_times:
            raise ConfigError(f"shapelet_info names channels or samples outside {self.n_chans} × {self.n_times}.")
        device = self.local_pos.device
        self.register_buffer("shapelet_info", torch.as_tensor(info, dtype=torch.float64, device=device))
        self.shapelet_filters = nn.ModuleList(
            ShapeletFilter(v, int(r[5]), int(r[1]), int(r[2]), self.n_times, self.shape_dim, self.filter_window,
                           self.max_ci, self.ci_norm)
            for r, v in zip(info, values)
        ).to(device)  # fmt: skip
        # one-hot positions (channel, start, end), each as wide as its largest value + 1, as the official code
        for name, column in (("channel", 5), ("start", 1), ("end", 2)):
            index = torch.as_tensor(info[:, column].astype(np.int64), device=device)
            self.register_buffer(
                f"{name}_one_hot", nn.functional.one_hot(index, _one_hot_size(info[:, column])).float()
            )
            setattr(self, f"{name}_embed", nn.Linear(_one_hot_size(info[:, column]), self.shape_dim).to(device))
        gains = torch.as_tensor(info[:, 3], dtype=torch.float32, device=device)
        self.shapelet_weight = nn.Parameter(torch.softmax(gains * 20, dim=0) * len(gains))

    def _make_head(self, n_outputs: int) -> nn.Module:
        return nn.Identity() if n_outputs == 0 else nn.Linear(self.num_features, n_outputs)

    def reset_classifier(self, num_classes: int) -> None:
        """A new head for ``num_classes`` (0: none; forward gives (B, D_s + D_g)); the shapelets are kept."""
        self.n_outputs = num_classes
        self.final_layer = init_head(self._make_head(num_classes), self.local_pos.device)

    def no_weight_decay(self) -> set[str]:
        return {"local_pos"}

    # ----------------------------------------------------------------- discovery
    def needs_closed_form_fit(self) -> bool:
        """Whether the shapelets are still to be discovered (``fit_closed_form``)."""
        return not bool(self.fitted)

    def fit_closed_form(self, x: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
        """Discover the shapelets of the training examples ``x`` (n, C, T), ``labels`` (n,) and rebuild the
        class-specific branch with them (new parameters: call before making the optimizer)."""
        self._check_input(x)
        found = discover_shapelets(
            x.detach().cpu().double().numpy(), labels.detach().cpu().numpy(), self.num_shapelets,
            self.discovery_window, self.num_pip, self.candidate_ci,
        )  # fmt: skip
        self._build_shapelets(found.info, found.values)
        self.fitted.fill_(True)
        return {"shapelets": float(len(found)), "mean_length": float(np.mean([len(v) for v in found.values]))}

    def adapt_to_state_dict(self, state_dict: dict[str, Any], prefix: str = "") -> None:
        """Rebuild the class-specific branch to the shapelets a state dict carries (their number and
        lengths), so that it loads; nothing changes when they are this model's."""
        info = state_dict.get(f"{prefix}shapelet_info")
        if info is None or (
            info.shape == self.shapelet_info.shape and torch.equal(info.cpu(), self.shapelet_info.cpu())
        ):
            return
        values = [state_dict[f"{prefix}shapelet_filters.{k}.shapelet"].detach().cpu().numpy() for k in range(len(info))]
        self._build_shapelets(info.detach().cpu().double().numpy(), values)

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any, **kwargs: Any) -> None:
        self.adapt_to_state_dict(state_dict, prefix)  # plain load_state_dict too
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    # ----------------------------------------------------------------- forward
    def _generic_tokens(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, C, T) -> (embedded tokens (B, T, D_g), after the Transformer layer (B, T, D_g))."""
        tokens = (
            self.embed_channels(self.embed_time(x[:, None])).squeeze(2).transpose(1, 2)
        )  # (B, D_g, 1, T) -> (B, T, D_g)
        attended = self.local_norm1(tokens + self.local_attention(self.local_drop(tokens + self.local_pos)))
        return tokens, self.local_norm2(attended + self.local_ff(attended))

    def _shapelet_tokens(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, C, T) -> (filtered tokens with positions (B, S, D_s), after the Transformer layer (B, S, D_s))."""
        tokens = torch.cat([f(x) for f in self.shapelet_filters], dim=1)  # (B, S, D_s)
        positions = sum(getattr(self, f"{n}_embed")(getattr(self, f"{n}_one_hot")) for n in ("channel", "start", "end"))
        tokens = tokens + positions  # (S, D_s) broadcast over the batch
        weight = self.shapelet_weight[None, :, None]  # (1, S, 1)
        attended = self.shape_norm1((tokens + self.shape_attention(tokens)) * weight)
        return tokens, self.shape_norm2(attended + self.shape_ff(attended)) * weight

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """(B, C, T) -> [shapelet tokens (B, S, D_s), generic tokens (B, T, D_g)], after their Transformer layers."""
        self._check_input(x)
        return [self._shapelet_tokens(x)[1], self._generic_tokens(x)[1]]

    def forward_head(self, features: list[torch.Tensor], pre_logits: bool = False) -> torch.Tensor:
        """The first shapelet token and the mean generic token, concatenated (B, D_s + D_g) -> logits (B, K)."""
        pooled = torch.cat([features[0][:, 0], features[1].mean(dim=1)], dim=1)
        return pooled if pre_logits or self.n_outputs == 0 else self.final_layer(pooled)

    def forward_intermediates(
        self,
        x: torch.Tensor,
        indices: int | list[int] | None = None,
        norm: bool = False,
        output_fmt: Literal["NCHW", "NLC"] = "NCHW",
        intermediates_only: bool = False,
    ) -> tuple[list[torch.Tensor], list[list[torch.Tensor]]] | list[list[torch.Tensor]]:
        """Stage 0: the embedded tokens (shapelet filters + positions; convolutions), stage 1: after the
        Transformer layers (already normalised: ``norm`` changes nothing); per branch as (B, D, N)
        maps ("NCHW") or (B, N, D) tokens ("NLC")."""
        if output_fmt not in ("NCHW", "NLC"):
            raise ConfigError(f"output_fmt must be 'NCHW' or 'NLC', got {output_fmt!r}.")
        self._check_input(x)
        shape, generic = self._shapelet_tokens(x), self._generic_tokens(x)
        stages = [[shape[0], generic[0]], [shape[1], generic[1]]]
        taken = [
            [t.transpose(1, 2) if output_fmt == "NCHW" else t for t in stages[i]] for i in self.stage_indices(indices)
        ]
        return taken if intermediates_only else (stages[1], taken)
