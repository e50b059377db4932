"""Deterministic views of a signal batch (B, C, T) for multi-view contrastive training.

MVCNet (Wang, Li, Chen, Li, Wu, Knowledge-Based Systems 2025, arXiv:2502.17482) contrasts each
trial with three augmented views, one per domain:

* time — :func:`amplitude_flip`: x -> -x (labels kept);
* frequency — :func:`hilbert_frequency_shift`: every frequency component moves up by Δf Hz
  (0.1 Hz in MVCNet) through the analytic signal, x -> Re( (x + i·H[x]) · e^{2πi·Δf·t} )
  (labels kept);
* space — :func:`channel_reflection`: each electrode takes the signal of its mirror image across
  the midline (C3 <-> C4, FC1 <-> FC2, midline 'z' electrodes stay), and :func:`swap_labels`
  exchanges the left- and right-hand classes.

:func:`mvcnet_views` makes the three, in the release's order (flip, frequency shift, reflection).
All functions are pure: no randomness, no state, tensors in and out, on the input's device.

Shape legend: B batch, C channels (electrodes), T samples, n FFT length (≥ T).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import torch

from ..errors import ConfigError, DataError

__all__ = [
    "amplitude_flip",
    "analytic_signal",
    "channel_reflection",
    "hilbert_frequency_shift",
    "mirror_channel_name",
    "mvcnet_views",
    "reflection_permutation",
    "swap_labels",
]


def amplitude_flip(x: torch.Tensor) -> torch.Tensor:
    """(B, C, T) -> -x: the amplitude reflected about zero (a sign flip of every sample)."""
    return -x


# ------------------------------------------------------------------ frequency
def analytic_signal(x: torch.Tensor, n: int | None = None) -> torch.Tensor:
    """The analytic signal x + i·H[x] along the last axis, by FFT (as ``scipy.signal.hilbert``).

    The real input is zero-padded to ``n`` samples (default: its length), transformed, the negative
    frequencies zeroed and the positive ones doubled (DC, and Nyquist for even n, kept once), and
    transformed back.

    Returns:
        A complex tensor (..., n).
    """
    n = x.shape[-1] if n is None else n
    if n < x.shape[-1]:
        raise ConfigError(f"FFT length n={n} is shorter than the signal ({x.shape[-1]} samples).")
    spectrum = torch.fft.fft(x, n=n, dim=-1)
    weights = torch.zeros(n, dtype=x.dtype, device=x.device)
    weights[0] = 1.0
    if n % 2 == 0:
        weights[1 : n // 2] = 2.0
        weights[n // 2] = 1.0
    else:
        weights[1 : (n + 1) // 2] = 2.0
    return torch.fft.ifft(spectrum * weights, dim=-1)


def hilbert_frequency_shift(x: torch.Tensor, delta_f: float, sfreq: float, pad_to_pow2: bool = True) -> torch.Tensor:
    """Shift every frequency component of ``x`` by ``delta_f`` Hz (single-sideband modulation).

    With a = x + i·H[x] the analytic signal, the output is Re(a(t) · e^{2πi·Δf·t}), t = k / sfreq:
    cos(2πft + φ) becomes cos(2π(f + Δf)t + φ) exactly when f sits on an FFT bin. As in the MVCNet
    release the signal is zero-padded to the next power of two before the transform (which limits
    the circular wrap-around of the Hilbert transform) and cropped back to T samples afterwards.

    The release fixes the sample spacing at 1/250 s whatever the recording; here ``sfreq`` is given,
    so the shift is ``delta_f`` Hz at any sampling rate (identical at 250 Hz).

    Args:
        x: real (..., T) signals, time last.
        delta_f: the shift in Hz (MVCNet: +0.1).
        sfreq: sampling frequency in Hz.
        pad_to_pow2: zero-pad to the next power of two ≥ T (the release's behaviour); False uses T.

    Returns:
        The shifted signals, same shape and dtype as ``x`` (computed in float64 for float64 input,
        float32 otherwise).
    """
    if sfreq <= 0:
        raise ConfigError(f"sfreq must be positive, got {sfreq}.")
    length = x.shape[-1]
    n = 1 << (length - 1).bit_length() if pad_to_pow2 else length
    work = x if x.dtype == torch.float64 else x.float()
    analytic = analytic_signal(work, n)[..., :length]
    # the phase in float64 (t·Δf grows with the trial), then the real part of a·e^{iφ}
    phase = (2.0 * math.pi * delta_f / sfreq) * torch.arange(length, dtype=torch.float64, device=x.device)
    cos, sin = phase.cos().to(work.dtype), phase.sin().to(work.dtype)
    return (analytic.real * cos - analytic.imag * sin).to(x.dtype)


# ------------------------------------------------------------------ space
# 10-20 / 10-10 / 10-5 names: letters then an electrode number or 'z' (midline), optionally the
# 10-5 'h' (half-way) suffix. Odd numbers lie over the left hemisphere, even over the right, and
# n <-> n + 1 (odd n) are mirror images: C3 <-> C4, FC1 <-> FC2, T7 <-> T8, P9 <-> P10, FFC1h <-> FFC2h.
_NAME = re.compile(r"^(?P<area>[A-Za-z]+?)(?P<pos>\d+|[zZ])(?P<half>[hH]?)$")
# letters that make up electrode area names (Fp, AF, F, FT, FC, T, TP, C, CP, P, PO, O, I, A, M, N
# and the 10-5 combinations); names with other letters (EOG1, ECG, STI 014) are not electrodes
_AREA_LETTERS = set("acfimnopt")


def mirror_channel_name(name: str) -> str:
    """The electrode mirrored across the midline: 'C3' -> 'C4', 'FC2' -> 'FC1', 'Cz' -> 'Cz'.

    Odd numbers map to the next even one and back; midline ('z') electrodes and names that are not
    10-20-style electrode names map to themselves. Surrounding spaces and trailing dots (as in
    PhysioNet's 'C3..') are ignored; the result keeps the input's letters and case.
    """
    core = name.strip().rstrip(".")
    match = _NAME.match(core)
    if match is None or not set(match["area"].lower()) <= _AREA_LETTERS:
        return name
    pos = match["pos"]
    if not pos.isdigit():
        return name  # midline
    number = int(pos)
    if number == 0:
        return name
    mirrored = number + 1 if number % 2 else number - 1
    return f"{match['area']}{mirrored}{match['half']}"


def _key(name: str) -> str:
    return name.strip().rstrip(".").lower()


def reflection_permutation(ch_names: Sequence[str]) -> list[int]:
    """Indices ``perm`` with ``reflected[:, i] = x[:, perm[i]]``: each channel reads its mirror image.

    Matching is case-insensitive ('FP1' finds 'Fp2'). A channel whose mirror is not in the montage,
    a midline channel, and a non-electrode channel keep their own signal. ``perm`` is an involution
    (applying it twice gives the identity).
    """
    index = {_key(name): i for i, name in enumerate(ch_names)}
    if len(index) != len(ch_names):
        raise DataError(f"Channel names must be unique, got {list(ch_names)}.")
    return [index.get(_key(mirror_channel_name(name)), i) for i, name in enumerate(ch_names)]


def channel_reflection(x: torch.Tensor, ch_names: Sequence[str]) -> torch.Tensor:
    """(B, C, T) -> (B, C, T): every electrode takes the signal of its left/right mirror image.

    ``ch_names`` names the C channels in order (``model.ch_names`` for a model built with
    ``chs_info``). A left-hand trial becomes (approximately) a right-hand one, so pair it with
    :func:`swap_labels`.
    """
    if x.shape[-2] != len(ch_names):
        raise DataError(f"{len(ch_names)} channel names for {x.shape[-2]} channels.")
    perm = torch.tensor(reflection_permutation(ch_names), device=x.device)
    return x.index_select(-2, perm)


def swap_labels(y: torch.Tensor, pairs: Sequence[tuple[int, int]] = ((0, 1),)) -> torch.Tensor:
    """Labels after a left/right reflection: each pair (a, b) of classes is exchanged, others kept.

    The default exchanges classes 0 and 1 (left hand, right hand in BCI Competition IV 2a); for a
    right-hand vs feet task, with no mirrored class, pass ``pairs=()`` (the release keeps such
    labels).
    """
    out = y.clone()
    for a, b in pairs:
        out[y == a] = b
        out[y == b] = a
    return out


def mvcnet_views(
    x: torch.Tensor,
    y: torch.Tensor,
    ch_names: Sequence[str],
    sfreq: float,
    delta_f: float = 0.1,
    label_pairs: Sequence[tuple[int, int]] = ((0, 1),),
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """MVCNet's three augmented views of a batch, each with its labels, in the release's order.

    Returns:
        ``[(-x, y), (frequency-shifted x, y), (reflected x, swapped y)]``; prepend ``(x, y)`` for
        the raw view.
    """
    return [
        (amplitude_flip(x), y),
        (hilbert_frequency_shift(x, delta_f, sfreq), y),
        (channel_reflection(x, ch_names), swap_labels(y, label_pairs)),
    ]
