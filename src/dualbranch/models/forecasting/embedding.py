"""Time-step tokens of the encoder-decoder forecasters (Informer, Autoformer) and their decoder input.

Informer (Zhou et al., AAAI 2021) and Autoformer (Wu et al., NeurIPS 2021) embed every time step of
a window as one token of width D — unlike iTransformer (a token per variate) or PatchTST (a token per
patch). Learnt from the official code (Time-Series-Library, ``DataEmbedding`` and
``DataEmbedding_wo_pos``, MIT licence), written here:

* value: a width-3 convolution over time from the C variates to D channels, circular padding (the
  window wraps around), no bias, Kaiming-normal initialisation (fan in, leaky-ReLU gain);
* time features (``timeF``, M > 0): a linear map M -> D without bias of each step's calendar features;
* positions (Informer only): the fixed sinusoids of Vaswani et al. (2017);
* the sum, then dropout.

:func:`decoder_start` builds the decoder's input as both papers' "generative-style" decoder reads it:
the last ``label_len`` known steps (the start token) followed by placeholders for the H steps to
forecast.

Shape legend
    B batch   T steps   C variates   M time features   D model width   L look-back   H horizon
    S start-token length (label_len)
"""

from __future__ import annotations

import torch
from torch import nn

from ...errors import ConfigError
from .layers import sinusoid_positions

__all__ = ["StepEmbedding", "check_encoder_decoder", "decoder_start", "split_marks"]


class StepEmbedding(nn.Module):
    """Values (B, T, C) and time features (B, T, M) or None -> step tokens (B, T, D).

    Args:
        n_vars: C.
        d_model: D.
        n_marks: M (0: no time-feature embedding, as the official code without ``x_mark``).
        dropout: after the sum.
        positions: add the fixed sinusoidal positions (Informer: yes; Autoformer: no).
        max_len: the longest T the positions must cover.
    """

    def __init__(
        self, n_vars: int, d_model: int, n_marks: int, dropout: float, positions: bool = True, max_len: int = 0
    ) -> None:
        super().__init__()
        self.value = nn.Conv1d(n_vars, d_model, kernel_size=3, padding=1, padding_mode="circular", bias=False)
        nn.init.kaiming_normal_(self.value.weight, mode="fan_in", nonlinearity="leaky_relu")
        self.marks = nn.Linear(n_marks, d_model, bias=False) if n_marks > 0 else None
        table = sinusoid_positions(max(max_len, 1), d_model) if positions else None
        self.register_buffer("positions", table, persistent=False)
        self.drop = nn.Dropout(dropout)

    def forward(self, values: torch.Tensor, marks: torch.Tensor | None = None) -> torch.Tensor:
        tokens = self.value(values.transpose(1, 2)).transpose(1, 2)  # (B, T, C) -> (B, C, T) -> (B, D, T) -> (B, T, D)
        if self.marks is not None and marks is not None:
            tokens = tokens + self.marks(marks.to(tokens.dtype))
        if self.positions is not None:
            tokens = tokens + self.positions[: values.shape[1]].to(tokens.dtype)
        return self.drop(tokens)


def decoder_start(
    series: torch.Tensor, label_len: int, pred_len: int, fill: torch.Tensor | None = None
) -> torch.Tensor:
    """Decoder input (B, S + H, C): the last S = ``label_len`` steps of ``series`` (B, L, C), then H
    placeholder steps: ``fill`` (B, 1, C) repeated (Autoformer's trend: the window mean), zeros without it."""
    start = series[:, series.shape[1] - label_len :]  # (B, S, C)
    if fill is None:
        future = series.new_zeros(series.shape[0], pred_len, series.shape[2])  # (B, H, C)
    else:
        future = fill.expand(-1, pred_len, -1)  # (B, 1, C) -> (B, H, C)
    return torch.cat([start, future], dim=1)


def check_encoder_decoder(e_layers: int, d_layers: int, label_len: int, seq_len: int) -> None:
    """Raise a ConfigError unless an encoder-decoder forecaster's layer counts and start length fit."""
    if e_layers < 1 or d_layers < 1:
        raise ConfigError(f"Need e_layers, d_layers ≥ 1; got {e_layers}, {d_layers}.")
    if not 0 <= label_len <= seq_len:
        raise ConfigError(
            f"label_len={label_len} must be in 0..seq_len={seq_len} (the known steps that start the decoder)."
        )


def split_marks(
    marks: torch.Tensor | None, seq_len: int, label_len: int
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Time features (B, L + H, M) or None -> the encoder's (B, L, M) and the decoder's (B, S + H, M)."""
    if marks is None:
        return None, None
    return marks[:, :seq_len], marks[:, seq_len - label_len :]  # (B, L, M), (B, S + H, M)
