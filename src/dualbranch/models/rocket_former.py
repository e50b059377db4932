"""RocketFormer: random dilated kernels (ROCKET) fused with a patch Transformer, for any series.

Two branches read the same (multivariate, possibly zero-padded) series:

* **kernel branch** — ROCKET's random dilated convolution kernels (Dempster, Petitjean, Webb,
  DMKD 2020, arXiv:1910.13051; :class:`~dualbranch.layers.random_kernels.RandomDilatedKernels`),
  never trained, split evenly over three views of the series — as given (level), z-normalised per
  series (shape, ROCKET's) and its first difference (change, MultiRocket's;
  :class:`~dualbranch.layers.kernel_views.MultiViewKernels`) — pooled into PPV, max and the longest
  stretch of positive values (MultiRocket's LSPV), standardised, and classified by a ridge
  classifier fitted in closed form with its penalty chosen by leave-one-out error (as ROCKET's
  ``RidgeClassifierCV``; :mod:`dualbranch.layers.ridge`), its scores calibrated by a temperature
  chosen on the same leave-one-out scores; whether it reads LSPV or ROCKET's two pools alone is chosen
  by the leave-one-out likelihood too;
* **Transformer branch** — a convolutional stem (InceptionTime's and ConvTran's local inductive bias),
  non-overlapping patches, learned positions, pre-norm Transformer blocks, mean of the patch tokens
  that lie inside the real series.

The kernel branch is fitted once, from the training examples, before the first gradient update
(:meth:`RocketFormer.fit_closed_form`; a training run calls it through ``fit_closed_form`` — a model
that has one is fitted so). Gradient training then sees the Transformer branch's logits alone — the
kernel branch has no parameters, and running thousands of kernels on every batch would cost more than the
whole fit — and inference adds the two: logits = τ · ridge scores + w · Transformer logits, a product of
the two branches' class probabilities. The Transformer's weight w (1 until chosen) is chosen after
training, by the lowest cross-entropy on examples held out of both branches' fits
(:meth:`RocketFormer.choose_fusion`, :mod:`dualbranch.layers.branch_choice`): w = 0 where the
Transformer branch would only hurt (a small set it overfits), the kernel branch then deciding alone; a
training run holds out ``FUSION_HELD_OUT`` of its training examples for it (or uses its validation
split), then fits the kernel branch again on all.
Series of unequal lengths arrive zero-padded at the end: both branches read only the real samples (each
example's length is up to its last non-zero sample), and the kernels, run eagerly, read groups of series of
similar lengths only up to the longest of each group (a traced or exported forward reads the full length).

Shape legend: B batch, C channels, T samples, F = 3 × kernels features (2 × for weights saved before LSPV),
W stem width, N patch tokens, D token width, K classes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import torch
from torch import nn

from ..errors import ConfigError
from ..layers.branch_choice import choose_branch_weight
from ..layers.example_memo import ExampleMemo
from ..layers.kernel_views import MultiViewKernels
from ..layers.random_kernels import POOLS, real_lengths, traced
from ..layers.ridge import fit_ridge_classifier
from ..layers.transformer import Block
from .base import init_head
from .signal_base import SignalModel

__all__ = ["RidgeFusionHead", "RocketFormer"]

FIT_CHUNK = 256  # examples computed at once (the Transformer while choosing the fusion; series of one length)
LENGTH_CHUNK = 32  # series of similar lengths whose kernel features are computed at once, cropped to their longest
# the stem reads a long series with a stride that leaves at most this many steps (the Transformer branch's
# cost then stays that of a short series: ACSF1's 1,460 samples are read every 6th, by kernels of 13)
MAX_STEM_STEPS = 256
# share of the training examples a run keeps out of both fits to choose the Transformer's weight on
FUSION_HELD_OUT = 0.2
# the kernel features the ridge classifier may read, first ROCKET's: chosen by leave-one-out likelihood
POOL_CHOICES = (("ppv", "max"), ("ppv", "max", "lspv"))


class RidgeFusionHead(nn.Module):
    """The classifier: a Linear on the Transformer branch's pooled tokens (trained) plus the kernel
    branch's ridge classifier (buffers, fitted in closed form; zero until then), the Transformer's logits
    weighted by ``transformer_weight`` (a buffer: 1 until :meth:`RocketFormer.choose_fusion`)."""

    def __init__(self, num_kernel_features: int, width: int, n_outputs: int) -> None:
        super().__init__()
        self.linear = nn.Linear(width, n_outputs)
        self.register_buffer("ridge_weight", torch.zeros(n_outputs, num_kernel_features))
        self.register_buffer("ridge_bias", torch.zeros(n_outputs))
        self.register_buffer("temperature", torch.ones(()))
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))
        self.register_buffer("transformer_weight", torch.ones(()))

    @staticmethod
    def complete(state_dict: dict[str, Any], prefix: str) -> None:
        """Weights saved before the Transformer's weight was chosen hold none: they added the two (w = 1)."""
        if f"{prefix}ridge_weight" in state_dict and f"{prefix}transformer_weight" not in state_dict:
            state_dict[f"{prefix}transformer_weight"] = torch.ones(())

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any, **kwargs: Any) -> None:
        self.complete(state_dict, prefix)  # plain load_state_dict (a resumed run's checkpoint) too
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def kernel_logits(self, kernel: torch.Tensor) -> torch.Tensor:
        """kernel (B, F) standardised features -> (B, K) the kernel branch's calibrated ridge scores."""
        return self.temperature * (kernel @ self.ridge_weight.T + self.ridge_bias)

    def forward(self, kernel: torch.Tensor | None, pooled: torch.Tensor) -> torch.Tensor:
        """kernel (B, F) standardised features or None (the Transformer alone), pooled (B, D) -> (B, K)."""
        logits = self.linear(pooled)
        if kernel is None:
            return logits
        return self.kernel_logits(kernel) + self.transformer_weight * logits


class RocketFormer(SignalModel):
    """Random-kernel branch + Transformer branch for (B, C, T) series; see the module docstring.

    Args (beyond :class:`~.signal_base.SignalModel`'s):
        num_kernels: ROCKET kernels over the three views (6,666: F = 3 × 6,666 = 19,998 features, about
            the 20,000 of ROCKET's 10,000 kernels read by two pools).
        kernel_seed: the draw of the kernels (the views draw from kernel_seed, + 1, + 2); a run sets it to
            ``trainer.seed``, so each seed draws its own kernels.
        embed_dim: D; depth: Transformer blocks (one stage each); num_heads: attention heads.
        patch_size: stem steps per token (default: about 32 tokens, ``sizes_for_length``).
        stem_width, stem_kernel: the convolutional stem (a series longer than ``MAX_STEM_STEPS`` is read
            with stride s = ⌈T / 256⌉ and kernels of 2s + 1 samples instead).
        mlp_ratio, drop_rate, attn_drop_rate, drop_path_rate: the Transformer's usual options.
    """

    default_n_chans = 1
    fusion_held_out = FUSION_HELD_OUT  # a training run holds this share out to choose_fusion on

    def __init__(
        self,
        n_chans: int | None = None,
        n_outputs: int = 2,
        n_times: int = 128,
        sfreq: float | None = None,
        chs_info: Sequence[dict[str, Any]] | None = None,
        num_kernels: int = 6666,
        kernel_seed: int = 0,
        embed_dim: int = 64,
        depth: int = 2,
        num_heads: int = 4,
        patch_size: int | None = None,
        stem_width: int = 64,
        stem_kernel: int = 7,
        mlp_ratio: float = 2.0,
        drop_rate: float = 0.1,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.1,
    ) -> None:
        super().__init__(n_chans, n_outputs, n_times, sfreq, chs_info)
        self.stem_stride = -(-n_times // MAX_STEM_STEPS)
        steps = -(-n_times // self.stem_stride)  # the stem's output length
        patch = patch_size if patch_size is not None else self.sizes_for_length(steps)["patch_size"]
        if not 1 <= patch <= steps:
            raise ConfigError(f"patch_size must be in 1..{steps} (the stem's steps), got {patch}.")
        if depth < 2:
            raise ConfigError(f"depth must be 2 or more (one stage per block), got {depth}.")
        if stem_kernel % 2 == 0:
            raise ConfigError(f"stem_kernel must be odd (a centred convolution), got {stem_kernel}.")
        if num_kernels < 1:
            raise ConfigError(f"num_kernels must be 1 or more (ROCKET draws 10,000), got {num_kernels}.")
        self.patch_size, self.embed_dim = patch, embed_dim
        self.kernel_seed = kernel_seed
        self.num_branches, self.num_stages = 2, depth
        # the training examples' kernel features, from a closed-form fit to the next (a run's refit on all)
        self.feature_memo = ExampleMemo()
        self._build_kernel_branch(num_kernels, POOLS)
        kernel = stem_kernel if self.stem_stride == 1 else 2 * self.stem_stride + 1
        self.stem_steps = steps
        self.stem = nn.Sequential(
            nn.Conv1d(self.n_chans, stem_width, kernel, self.stem_stride, padding=kernel // 2, bias=False),
            nn.BatchNorm1d(stem_width),
            nn.GELU(),
        )
        self.num_tokens = -(-steps // patch)  # the end is zero-padded to whole patches
        self.patch_embed = nn.Conv1d(stem_width, embed_dim, patch, stride=patch)
        self.pos_embed = nn.Parameter(torch.zeros(1, self.num_tokens, embed_dim))
        self.pos_drop = nn.Dropout(drop_rate)
        rates = [drop_path_rate * i / max(depth - 1, 1) for i in range(depth)]
        self.blocks = nn.ModuleList(
            Block(embed_dim, num_heads, mlp_ratio, drop=drop_rate, attn_drop=attn_drop_rate, drop_path=r) for r in rates
        )
        self.norm = nn.LayerNorm(embed_dim)
        self.final_layer = self._make_head(n_outputs)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        init_head(self)

    def _build_kernel_branch(self, num_kernels: int, pools: tuple[str, ...]) -> None:
        """The kernels and their features' standardisation (the head, which reads them, is made after)."""
        self.feature_memo.forget()
        self.kernels = MultiViewKernels(self.n_chans, self.n_times, num_kernels, self.kernel_seed, pools)
        kernel_features = self.kernels.num_features
        self.register_buffer("feature_mean", torch.zeros(kernel_features))
        self.register_buffer("feature_std", torch.ones(kernel_features))
        self.branch_widths = (kernel_features, self.embed_dim)
        self.num_features = kernel_features + self.embed_dim

    @staticmethod
    def sizes_for_length(n_times: int) -> dict[str, Any]:
        """Patch length for ``n_times`` samples: about 32 tokens, at least one sample each."""
        return {"patch_size": max(1, round(n_times / 32))}

    def _make_head(self, n_outputs: int) -> nn.Module:
        if n_outputs == 0:
            return nn.Identity()
        return RidgeFusionHead(self.kernels.num_features, self.embed_dim, n_outputs)

    def reset_classifier(self, num_classes: int) -> None:
        """A new head for ``num_classes`` (its ridge part unfitted; 0: none, forward gives (B, F + D))."""
        self.n_outputs = num_classes
        self.final_layer = init_head(self._make_head(num_classes), self.pos_embed.device)

    def no_weight_decay(self) -> set[str]:
        return {"pos_embed"}

    # ----------------------------------------------------------------- closed-form fit
    def needs_closed_form_fit(self) -> bool:
        """Whether the kernel branch's classifier is still to be fitted (``fit_closed_form``)."""
        return isinstance(self.final_layer, RidgeFusionHead) and not bool(self.final_layer.fitted)

    @torch.no_grad()
    def kernel_features(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """(n, C, T) -> (n, F) raw kernel features (PPV, max, LSPV), computed in chunks of series of similar
        lengths: each chunk is read only up to its longest series (a set of unequal lengths pads every
        series to the longest of all). ``lengths`` (n,): the real lengths, if known."""
        return self._features_by_length(x, real_lengths(x) if lengths is None else lengths)

    def _features_by_length(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """:meth:`kernel_features` with gradients where the caller has them (the eager forward pass)."""
        if bool((lengths == x.shape[-1]).all()):  # one length: nothing to crop, larger chunks cost less
            return torch.cat([self.kernels(*part) for part in zip(x.split(FIT_CHUNK), lengths.split(FIT_CHUNK))])
        order = torch.argsort(lengths)  # shortest first
        # a chunk's zeros after its longest series change no feature
        parts = order.split(LENGTH_CHUNK)
        features = torch.cat(
            [self.kernels(x[part][..., : int(lengths[part].max())], lengths[part]) for part in parts]
        )  # (n, F) shortest first; each chunk (b, C, T_b)
        return features[torch.argsort(order)]

    @torch.no_grad()
    def fit_closed_form(self, x: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
        """Fit the kernel branch on the training examples ``x`` (n, C, T) and ``labels`` (n,): the
        features' standardisation and the ridge classifier, reading ROCKET's PPV and max or those and LSPV,
        whichever gives the examples' classes the higher leave-one-out likelihood (the unread features
        weigh 0). Returns what was chosen (``pools``: how many were read)."""
        self._check_input(x)
        features = self.feature_memo.rows_of(x.float(), self.kernel_features, keep_only=True)  # (n, F)
        if self.feature_memo.hits:  # a refit on examples seen before (a run's last fit): nothing to keep for
            self.feature_memo.forget()
        self.feature_mean.copy_(features.mean(dim=0))
        self.feature_std.copy_(features.std(dim=0, unbiased=False).clamp(min=1e-6))
        head: RidgeFusionHead = self.final_layer  # type: ignore[assignment]
        standardised = (features - self.feature_mean) / self.feature_std
        candidates = [pools for pools in POOL_CHOICES if set(pools) <= set(self.kernels.pools)] or [self.kernels.pools]
        fits = []
        for pools in candidates:
            columns = self.kernels.pool_columns(pools)
            chosen = standardised if len(columns) == standardised.shape[1] else standardised[:, columns]
            fits.append((fit_ridge_classifier(chosen, labels, self.n_outputs), columns, pools))
        # the first best: ROCKET's pools unless LSPV makes the held-out classes likelier
        fit, columns, pools = max(fits, key=lambda entry: entry[0].loo_log_likelihood)
        head.ridge_weight.zero_()
        head.ridge_weight[:, columns] = fit.weight.to(head.ridge_weight)
        head.ridge_bias.copy_(fit.bias)
        head.temperature.fill_(fit.temperature)
        head.fitted.fill_(True)
        likelihoods = {f"loo_log_likelihood_{len(p)}_pools": f.loo_log_likelihood for f, _, p in fits}
        return {
            "alpha": fit.alpha, "temperature": fit.temperature, "loo_accuracy": fit.loo_accuracy,
            "pools": float(len(pools)), **likelihoods,
        }  # fmt: skip

    @torch.no_grad()
    def choose_fusion(self, x: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
        """Choose the Transformer's weight w on ``x`` (n, C, T) and ``labels`` (n,), examples neither branch
        was fitted on (:func:`~dualbranch.layers.branch_choice.choose_branch_weight`; w = 0: the kernel
        branch alone). Kept in the head's ``transformer_weight`` buffer, so saved with the weights.
        Returns w, the held-out accuracies of the kernel branch, the plain sum and the choice, and the held-out
        cross-entropy and accuracy at each weight of the grid."""
        if self.needs_closed_form_fit():
            raise ConfigError("choose_fusion needs the kernel branch fitted first: call fit_closed_form(x, labels).")
        head: RidgeFusionHead = self.final_layer  # type: ignore[assignment]
        was_training = self.training
        self.eval()
        features = self.feature_memo.rows_of(x.float(), self.kernel_features)  # (n, F), kept for the refit
        kernel = head.kernel_logits((features - self.feature_mean) / self.feature_std)
        transformer = torch.cat([head.linear(self._pooled_tokens(part)) for part in x.float().split(FIT_CHUNK)])
        self.train(was_training)
        choice = choose_branch_weight(kernel, transformer, labels)
        head.transformer_weight.fill_(choice.weight)
        return {
            "transformer_weight": choice.weight, "held_out": len(labels), "kernel_accuracy": choice.accuracy[0.0],
            "sum_accuracy": choice.accuracy[1.0], "chosen_accuracy": choice.accuracy[choice.weight],
            **{f"cross_entropy_w{w:g}": ce for w, ce in choice.cross_entropy.items()},
            **{f"accuracy_w{w:g}": a for w, a in choice.accuracy.items()},
        }  # fmt: skip

    def adapt_to_state_dict(self, state_dict: dict[str, Any], prefix: str = "") -> None:
        """Let older weights load: saved before ``transformer_weight`` existed (:meth:`RidgeFusionHead.complete`),
        or with another kernel branch — before LSPV (ROCKET's PPV and max) or another number of kernels: the
        branch is rebuilt to the file's (the same ``kernel_seed`` draws the same kernels again)."""
        RidgeFusionHead.complete(state_dict, f"{prefix}final_layer.")
        mean = state_dict.get(f"{prefix}feature_mean")
        kernels = sum(
            v.numel() for k, v in state_dict.items() if k.startswith(f"{prefix}kernels.views.") and ".bias_" in k
        )
        if mean is None or not kernels or mean.numel() % kernels or not 1 <= mean.numel() // kernels <= len(POOLS):
            return  # not a kernel branch this model ever had: the load reports the mismatch
        pools = POOLS[: mean.numel() // kernels]
        if (kernels, pools) == (self.kernels.num_kernels, self.kernels.pools):
            return
        device = self.feature_mean.device
        self._build_kernel_branch(kernels, pools)
        self.to(device)
        if isinstance(self.final_layer, RidgeFusionHead):
            self.final_layer = init_head(self._make_head(self.n_outputs), device)

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any, **kwargs: Any) -> None:
        self.adapt_to_state_dict(state_dict, prefix)  # plain load_state_dict (a resumed run, fine-tuning) too
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    # ----------------------------------------------------------------- forward
    def _transformer(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(B, C, T) -> (tokens (B, N, D) after the blocks, the tokens after each block)."""
        stem = self.stem(x)  # (B, W, T / stem_stride)
        padded = nn.functional.pad(stem, (0, self.num_tokens * self.patch_size - self.stem_steps))
        tokens = self.pos_drop(self.patch_embed(padded).transpose(1, 2) + self.pos_embed)  # (B, W, N) -> (B, N, D)
        stages = []
        for block in self.blocks:
            tokens = block(tokens)
            stages.append(tokens)
        return tokens, stages

    def _pooled_tokens(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, T) -> (B, D) the Transformer branch's mean of the tokens inside the real series."""
        lengths = real_lengths(x)
        tokens, _ = self._transformer(x, lengths)
        return (self.norm(tokens) * self._token_weights(lengths)).sum(dim=1)

    def _token_weights(self, lengths: torch.Tensor) -> torch.Tensor:
        """(B,) real lengths -> (B, N, 1) mean-pooling weights of the patches that start inside the series."""
        starts = torch.arange(self.num_tokens, device=lengths.device) * (self.patch_size * self.stem_stride)  # (N,)
        inside = (starts[None, :] < lengths[:, None]).float()  # (B, N)
        return (inside / inside.sum(dim=1, keepdim=True))[..., None]

    def _standardised(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        # cropping to each chunk's longest series depends on the data: a traced, exported or meta forward
        # (MAC counting) reads the full length instead, with the same features
        full = x.device.type == "meta" or traced()
        features = self.kernels(x, lengths) if full else self._features_by_length(x, lengths)  # (B, F)
        return ((features - self.feature_mean) / self.feature_std)[:, None, :]  # (B, 1, F)

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """(B, C, T) -> [standardised kernel features (B, 1, F), normalised patch tokens (B, N, D) with
        the padding's tokens zeroed]."""
        self._check_input(x)
        lengths = real_lengths(x)
        tokens, _ = self._transformer(x, lengths)
        weights = self._token_weights(lengths)  # (B, N, 1)
        # tokens past the real series weigh 0; the head's mean over tokens then rescales by N / real tokens
        return [self._standardised(x, lengths), self.norm(tokens) * weights * self.num_tokens]

    def forward_head(self, features: list[torch.Tensor], pre_logits: bool = False) -> torch.Tensor:
        """[kernel (B, 1, F), tokens (B, N, D)] -> logits (B, K); ``pre_logits``: (B, F + D). In training
        mode the logits are the Transformer branch's (the kernel branch is fitted in closed form)."""
        kernel, pooled = features[0][:, 0], features[1].mean(dim=1)  # (B, F), (B, D)
        if pre_logits or self.n_outputs == 0:
            return torch.cat([kernel, pooled], dim=1)
        return self.final_layer(None if self.training else kernel, pooled)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and self.n_outputs > 0:
            # gradient training: the Transformer branch alone, without running the kernels
            self._check_input(x)
            return self.final_layer(None, self._pooled_tokens(x))
        return self.forward_head(self.forward_features(x))

    def forward_intermediates(
        self,
        x: torch.Tensor,
        indices: int | list[int] | None = None,
        norm: bool = False,
        output_fmt: Literal["NCHW", "NLC"] = "NCHW",
        intermediates_only: bool = False,
    ) -> tuple[list[torch.Tensor], list[list[torch.Tensor]]] | list[list[torch.Tensor]]:
        """After each Transformer block: [kernel features, patch tokens] as maps (B, F, 1) and (B, D, N)
        ("NCHW") or tokens (B, 1, F) and (B, N, D) ("NLC"); the kernel branch is the same at every stage."""
        if output_fmt not in ("NCHW", "NLC"):
            raise ConfigError(f"output_fmt must be 'NCHW' or 'NLC', got {output_fmt!r}.")
        take = self.stage_indices(indices)
        final = self.forward_features(x)
        lengths = real_lengths(x)
        weights = self._token_weights(lengths) * self.num_tokens
        _, stages = self._transformer(x, lengths)
        intermediates = []
        for i in take:
            tokens = self.norm(stages[i]) * weights if norm else stages[i]
            pair = [final[0], tokens]
            intermediates.append([t.transpose(1, 2) for t in pair] if output_fmt == "NCHW" else pair)
        return intermediates if intermediates_only else (final, intermediates)
