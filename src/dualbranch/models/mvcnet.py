"""MVCNet: a CNN and a Transformer in parallel, tied together by multi-view contrastive training.

Ziwei Wang, Siyang Li, Xiaoqing Chen, Wei Li, Dongrui Wu. "MVCNet: Multi-View Contrastive Network for
Motor Imagery Classification." Knowledge-Based Systems, 2025. arXiv:2502.17482. Implemented from the
paper's description; sizes and the training objective were checked against the authors' release
(github.com/wzwvv/MVCNet), which has no licence, so none of its code is used here.

Two branches read the same (B, C, T) trial:

* CNN (branch 0, the IFNet stem of Wang, Yao, Wang, IEEE TNSRE 2023, with one frequency band):
  1×1 channel mixing C -> F + BN, depthwise temporal convolution (kernel 63) + BN, GELU, average
  pooling over ``patch_size`` samples -> N_p = ⌊T / patch_size⌋ tokens of width F, dropout; the
  flattened (B, F·N_p) vector is the embedding h that ``final_layer`` classifies;
* Transformer (branch 1): the channels are the tokens and the first T' = N_p·patch_size samples of
  each channel are its token vector (no embedding, no positions); ``transformer_depth`` post-norm
  encoder layers (2 heads, ReLU feed-forward of width max(2T', 128), as PyTorch's
  ``TransformerEncoderLayer``) -> (B, C, T'), flattened and projected by Linear -> LayerNorm -> ReLU
  -> Linear -> Tanh to z of the embedding's width E = F·N_p.

Inference uses the CNN branch and its classifier only (the release evaluates ``netF`` + ``netC``).
The Transformer and the projector exist for training: :meth:`MVCNet.forward_views` returns the
logits, h and z of one view, and :func:`dualbranch.layers.contrastive.multi_view_contrastive_loss`
combines the views (raw, amplitude flip, +0.1 Hz Hilbert shift, left/right reflection — see
:mod:`dualbranch.layers.signal_views`):

    loss = Σ_views CE(logits_v, y_v) + λ_cv · mean_v NT-Xent([h_0; z_0], [h_v; z_v])
           + λ_cm · NT-Xent([h_0; …; h_3], [z_0; …; z_3]),      τ = 0.2

Parameter count at 22 channels × 1001 samples (250 Hz), 4 classes, F = 64, patch 125 (N_p = 8,
E = 512, T' = 1000), one encoder layer — ``benchmarks/mvcnet_params.py``, ``tests/test_mvcnet.py``:

=======================================================  ==========  ==================================
part                                                     params      how
=======================================================  ==========  ==================================
CNN: Conv1d 22→64 (1×1, no bias) + BN(64)                     1,536  1,408 + 128
  depthwise Conv1d 64, kernel 63 (no bias) + BN(64)            4,160  4,032 + 128
``final_layer``: Linear 512→4                                 2,052
**inference path**                                        **7,748**
encoder layer, width 1000, 2 heads, feed-forward 2000     8,011,000  qkv 3,003,000 + out 1,001,000 +
                                                                     FF 2,002,000 + 2,001,000 + 2 LN
                                                                     4,000
projector: Linear 22,000→2,048, LN(2048), Linear          46,111,232  45,058,048 + 4,096 + 1,049,088
  2,048→512, Tanh
**total**                                               **54,129,980**
=======================================================  ==========  ==================================

The release's model registers 54,132,032 parameters at this input: 2,052 more, exactly a
Linear(512, 4). Its IFNet module builds its own classifier (``fc``) but returns the flattened
features without calling it, and a separate Linear(512, 4) classifies them; the first is counted but
never trained. An unused layer has no place here (as for EEG Conformer's unused head in this
library), so :data:`PUBLISHED_UNUSED_PARAMS` records the difference. The release builds the encoder
with one layer (``nlayer=1``; the "2 layers" comments belong to other, unused encoder factories).

Choices. The Transformer reads T' = ⌊T / patch_size⌋·patch_size samples, the span the CNN's pooling
covers: the release crops its 1001-, 1251- and 2561-sample datasets by one sample for the encoder
(1000, 1250, 2560) and keeps 750, which is this rule. Weights start as in the release: the CNN's
convolutions truncated-normal (std 0.01), the attention's input projection Xavier-uniform with zero
biases (as ``nn.MultiheadAttention``), everything else PyTorch's default.

Shape legend
    B batch   C channels (n_chans)   T samples (n_times)   F CNN filters   N_p = ⌊T / patch_size⌋
    T' = N_p·patch_size   E = F·N_p embedding width
    branch 0 CNN tokens (B, N_p, F)   branch 1 channel tokens (B, C, T')
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import torch
from torch import nn

from ..errors import ConfigError
from ..layers.attention import Attention
from ..layers.conformer import TemporalPatchTokens
from ..layers.contrastive import EMBEDDING, LOGITS, PROJECTION
from ..layers.mlp import Mlp
from ..registry import WeightConfig, register_model
from .base import init_head
from .signal_base import SignalModel, signal_builder

__all__ = ["MVCNET_PAPER", "PUBLISHED_UNUSED_PARAMS", "MVCNet", "PostNormBlock"]

MVCNET_PAPER = (
    "Wang, Li, Chen, Li, Wu. MVCNet: Multi-View Contrastive Network for Motor Imagery Classification. "
    "Knowledge-Based Systems 2025 (arXiv:2502.17482)"
)

#: Parameters of the release's unused IFNet classifier: Linear(E, n_outputs), E = 512 at 22 × 1001.
PUBLISHED_UNUSED_PARAMS = {"linear_per_class": 512 + 1}


class PostNormBlock(nn.Module):
    """Post-norm Transformer encoder layer (Vaswani et al., 2017; PyTorch's ``TransformerEncoderLayer``).

    ``x = norm1(x + attn(x))`` then ``x = norm2(x + mlp(x))``, dropout on the attention weights, after
    the attention, inside and after the feed-forward. (B, N, D) -> (B, N, D).
    """

    def __init__(
        self, dim: int, num_heads: int, ff_dim: int, drop: float = 0.1, activation: type[nn.Module] = nn.ReLU
    ) -> None:
        super().__init__()
        self.attn = Attention(dim, num_heads, attn_drop=drop, proj_drop=drop)
        self.norm1 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, ff_dim, act_layer=activation, drop=drop)
        self.norm2 = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm1(x + self.attn(x))
        return self.norm2(x + self.mlp(x))


class MVCNet(SignalModel):
    """MVCNet with braindecode's arguments. Input (B, n_chans, n_times) -> logits (B, n_outputs).

    ``forward`` runs the CNN branch and ``final_layer`` only. ``forward_features`` returns both
    branches' tokens, [CNN (B, N_p, F), Transformer (B, C, T')]; ``forward_head`` reads the CNN's.
    The Transformer and projector are trained through :meth:`forward_views`; their parameter names
    start with :attr:`training_only_modules`.

    Stages (``forward_intermediates``, ``features_only``): stage 0 is each branch's full-resolution
    input map — the CNN's filtered signal (B, F, T) (after the depthwise convolution and GELU, before
    pooling) and the Transformer's input tokens, the cropped trial (B, T', C) channel-first; stage 1
    is each branch's output, the CNN's pooled tokens (B, F, N_p) and the encoder's output (B, T', C).

    Args:
        n_chans, n_outputs, n_times, sfreq, chs_info: as in braindecode (see
            :class:`~dualbranch.models.signal_base.SignalModel`). ``sfreq`` and ``chs_info`` are
            what the frequency-shift and reflection views need.
        n_filters: CNN filters F (64).
        temporal_kernel: depthwise temporal kernel (63, odd).
        patch_size: samples averaged into one CNN token (125).
        drop_prob: dropout on the CNN embedding (0.5).
        transformer_depth: encoder layers (1); transformer_heads: attention heads (2, must divide T').
        transformer_ff: feed-forward width (None: max(2T', 128)).
        transformer_drop_prob: dropout in the encoder (0.1).
        projector_ratio: projector hidden width as a multiple of E (4).
        activation: class of the CNN's non-linearity (GELU).
    """

    #: Submodules that only the training objective uses (``forward`` never runs them).
    training_only_modules: tuple[str, ...] = ("transformer", "projector")

    def __init__(
        self,
        n_chans: int | None = None,
        n_outputs: int = 2,
        n_times: int = 1001,
        sfreq: float | None = 250.0,
        chs_info: Sequence[dict[str, Any]] | None = None,
        n_filters: int = 64,
        temporal_kernel: int = 63,
        patch_size: int = 125,
        drop_prob: float = 0.5,
        transformer_depth: int = 1,
        transformer_heads: int = 2,
        transformer_ff: int | None = None,
        transformer_drop_prob: float = 0.1,
        projector_ratio: int = 4,
        activation: type[nn.Module] = nn.GELU,
    ) -> None:
        super().__init__(n_chans, n_outputs, n_times, sfreq, chs_info)
        if self.n_times < patch_size:
            raise ConfigError(f"n_times={self.n_times} is shorter than one patch (patch_size={patch_size}).")
        if transformer_depth < 1:
            raise ConfigError(f"transformer_depth must be at least 1, got {transformer_depth}.")
        self.num_patches = self.n_times // patch_size
        self.transformer_times = self.num_patches * patch_size  # T'
        if self.transformer_times % transformer_heads:
            raise ConfigError(
                f"The Transformer's token width T'={self.transformer_times} (⌊n_times / patch_size⌋·patch_size) "
                f"is not divisible by transformer_heads={transformer_heads}."
            )
        self.embed_dim = n_filters * self.num_patches  # E
        self.num_branches = 2
        self.num_stages = 2
        self.branch_widths = (n_filters, self.transformer_times)
        self.num_features = self.embed_dim
        ff_dim = transformer_ff if transformer_ff is not None else max(2 * self.transformer_times, 128)

        # branch 0: CNN (IFNet stem)
        self.cnn = TemporalPatchTokens(self.n_chans, n_filters, temporal_kernel, patch_size, activation)
        self.cnn_drop = nn.Dropout(drop_prob)
        # branch 1: Transformer over channel tokens, and its projector to the embedding width
        self.transformer = nn.ModuleList(
            PostNormBlock(self.transformer_times, transformer_heads, ff_dim, transformer_drop_prob)
            for _ in range(transformer_depth)
        )
        hidden = projector_ratio * self.embed_dim
        self.projector = nn.Sequential(
            nn.Linear(self.n_chans * self.transformer_times, hidden),
            nn.LayerNorm(hidden),
            nn.ReLU(),
            nn.Linear(hidden, self.embed_dim),
            nn.Tanh(),
        )
        self.final_layer: nn.Module = self._make_head(n_outputs)
        self._init_weights()

    # ----------------------------------------------------------------- construction
    def _make_head(self, n_outputs: int) -> nn.Module:
        return nn.Linear(self.embed_dim, n_outputs) if n_outputs > 0 else nn.Identity()

    def _init_weights(self) -> None:
        for conv in (self.cnn.mix, self.cnn.depthwise):
            nn.init.trunc_normal_(conv.weight, std=0.01)
        for block in self.transformer:
            nn.init.xavier_uniform_(block.attn.qkv.weight)
            nn.init.zeros_(block.attn.qkv.bias)
            nn.init.zeros_(block.attn.proj.bias)

    def reset_classifier(self, num_classes: int) -> None:
        """A fresh ``final_layer`` for ``num_classes`` (0: none, forward returns the (B, E) embedding)."""
        self.n_outputs = num_classes
        self.final_layer = init_head(self._make_head(num_classes), self.cnn.mix.weight.device)

    # ----------------------------------------------------------------- branches
    def _cnn_map(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, T) -> (B, F, T): channel mixing, depthwise temporal filter, GELU (before pooling)."""
        cnn = self.cnn
        return cnn.act(cnn.bn2(cnn.depthwise(cnn.bn1(cnn.mix(x)))))

    def _cnn_tokens(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, T) -> (B, N_p, F): the CNN branch's pooled tokens."""
        return self.cnn.patch_pool(self._cnn_map(x)).transpose(1, 2)

    def _channel_tokens(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, T) -> (B, C, T'): the Transformer's input, one token per channel."""
        return x[..., : self.transformer_times]

    def _encode(self, tokens: torch.Tensor) -> torch.Tensor:
        for block in self.transformer:
            tokens = block(tokens)
        return tokens

    def embedding(self, cnn_tokens: torch.Tensor) -> torch.Tensor:
        """(B, N_p, F) -> (B, E): flattened filter-major (as the release), then dropout."""
        return self.cnn_drop(cnn_tokens.transpose(1, 2).flatten(1))

    def projection(self, channel_tokens: torch.Tensor) -> torch.Tensor:
        """Encoded (B, C, T') -> (B, E): the projector's output, in (-1, 1)."""
        return self.projector(channel_tokens.flatten(1))

    # ----------------------------------------------------------------- forward
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, T) -> logits (B, n_outputs): the CNN branch and ``final_layer`` only."""
        self._check_input(x)
        return self.forward_head([self._cnn_tokens(x)])

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """(B, C, T) -> [CNN tokens (B, N_p, F), encoded channel tokens (B, C, T')]."""
        self._check_input(x)
        return [self._cnn_tokens(x), self._encode(self._channel_tokens(x))]

    def forward_head(self, features: list[torch.Tensor], pre_logits: bool = False) -> torch.Tensor:
        """Classify the CNN tokens ``features[0]`` (the Transformer's are not used at inference).

        Returns logits (B, n_outputs), or the (B, E) embedding with ``pre_logits`` or no head.
        """
        h = self.embedding(features[0])
        if pre_logits or self.n_outputs == 0:
            return h
        return self.final_layer(h)

    def forward_views(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """What the multi-view contrastive objective needs from one view ``x`` (B, C, T).

        Returns:
            ``{"logits": (B, n_outputs), "embedding": (B, E), "projection": (B, E)}`` — the CNN
            classifier's logits (the embedding itself when ``n_outputs == 0``), the CNN embedding h
            that the classifier reads (after dropout), and the Transformer's projection z. Call once
            per view and pass the list to
            :func:`dualbranch.layers.contrastive.multi_view_contrastive_loss`.
        """
        self._check_input(x)
        h = self.embedding(self._cnn_tokens(x))
        z = self.projection(self._encode(self._channel_tokens(x)))
        logits = self.final_layer(h) if self.n_outputs > 0 else h
        return {LOGITS: logits, EMBEDDING: h, PROJECTION: z}

    def forward_train(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The training path of the contract: :meth:`forward_views` of ``x``."""
        return self.forward_views(x)

    # ----------------------------------------------------------------- intermediates
    def forward_intermediates(
        self,
        x: torch.Tensor,
        indices: int | list[int] | None = None,
        norm: bool = False,
        output_fmt: Literal["NCHW", "NLC"] = "NCHW",
        intermediates_only: bool = False,
    ) -> tuple[list[torch.Tensor], list[list[torch.Tensor]]] | list[list[torch.Tensor]]:
        """Both branches' maps at the chosen stages (see the class docstring), ``[[cnn, transformer]]``.

        Args:
            indices: None (both stages), n (the last n) or a list of stage indices.
            norm: accepted for the contract; changes nothing (BatchNorm and the encoder's LayerNorm are
                inside the branches, there is no separate final norm).
            output_fmt: "NCHW" gives channel-first maps — CNN (B, F, T) / (B, F, N_p), Transformer
                (B, T', C), a map over electrodes; "NLC" gives tokens, (B, T, F) / (B, N_p, F) and
                (B, C, T').
            intermediates_only: return only the intermediates (stopping after the last one needed).

        Returns:
            ``intermediates[k][b]``, preceded by the final features (as ``forward_features``) unless
            ``intermediates_only``.
        """
        if output_fmt not in ("NCHW", "NLC"):
            raise ConfigError(f"output_fmt must be 'NCHW' or 'NLC', got {output_fmt!r}.")
        take = self.stage_indices(indices)
        self._check_input(x)

        def fmt(cnn_channel_first: torch.Tensor, tokens: torch.Tensor) -> list[torch.Tensor]:
            if output_fmt == "NCHW":
                return [cnn_channel_first, tokens.transpose(1, 2)]
            return [cnn_channel_first.transpose(1, 2), tokens]

        intermediates: list[list[torch.Tensor]] = []
        cnn_map, channel_tokens = self._cnn_map(x), self._channel_tokens(x)
        if 0 in take:
            intermediates.append(fmt(cnn_map, channel_tokens))
            if intermediates_only and take[-1] == 0:
                return intermediates
        cnn_tokens = self.cnn.patch_pool(cnn_map).transpose(1, 2)  # (B, N_p, F)
        encoded = self._encode(channel_tokens)
        if 1 in take:
            intermediates.append(fmt(cnn_tokens.transpose(1, 2), encoded))
            if intermediates_only:
                return intermediates
        return [cnn_tokens, encoded], intermediates


# ------------------------------------------------------------------ registry
_build_mvcnet = signal_builder(MVCNet)


@register_model(
    paper=MVCNET_PAPER,
    # small, and without dropout: the contract tests compare two forward passes in training mode
    tiny={
        "n_chans": 4,
        "n_times": 64,
        "n_outputs": 3,
        "n_filters": 8,
        "temporal_kernel": 15,
        "patch_size": 16,
        "drop_prob": 0.0,
        "transformer_drop_prob": 0.0,
    },
    weights=WeightConfig((22, 1001), first_conv=("cnn.mix",), classifier=("final_layer",)),
)
def mvcnet(**overrides: Any) -> MVCNet:
    """MVCNet: 54,129,980 parameters (7,748 at inference) at 22 channels × 1001 samples, 4 classes."""
    return _build_mvcnet(**overrides)
