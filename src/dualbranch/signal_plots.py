"""Plots of per-channel weights (e.g. DBConformer's channel attention): a topomap or a bar plot.

With electrode positions (MNE ``chs_info`` whose ``loc`` holds 3-D coordinates) the weights are drawn
on the scalp with :func:`mne.viz.plot_topomap`; without them, as bars, one per channel.

Shape legend: C channels.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["has_positions", "plot_channel_weights"]


def has_positions(chs_info: Sequence[dict[str, Any]] | None) -> bool:
    """True when every channel has a finite, non-zero 3-D position (what a topomap needs)."""
    if not chs_info:
        return False
    locs = np.array([np.asarray(ch.get("loc", np.zeros(12)), dtype=float)[:3] for ch in chs_info])
    return bool(np.isfinite(locs).all() and (np.abs(locs).sum(axis=1) > 0).all())


def plot_channel_weights(
    weights: Any,
    chs_info: Sequence[dict[str, Any]] | None = None,
    ch_names: Sequence[str] | None = None,
    ax: Any = None,
    title: str = "Channel attention",
    kind: str = "auto",
    vlim: tuple[float, float] | None = None,
) -> Any:
    """Draw one weight per channel; returns the matplotlib Figure.

    Args:
        weights: (C,) or (B, C) (averaged over B), e.g. ``model.channel_attention_weights(x)``.
        chs_info: MNE channel descriptions; with positions, ``kind="auto"`` draws a topomap.
        ch_names: bar labels when there is no ``chs_info``.
        ax: matplotlib Axes to draw into (a new figure otherwise).
        kind: "auto", "topomap" or "bar".
        vlim: the topomap's colour range (default: MNE's, from 0 for positive weights); pass the data's
            (min, max) to show small differences between near-uniform weights.
    """
    import matplotlib.pyplot as plt

    values = np.asarray(weights.detach().cpu() if hasattr(weights, "detach") else weights, dtype=float)
    if values.ndim == 2:
        values = values.mean(axis=0)
    if values.ndim != 1:
        raise ValueError(f"weights must be (C,) or (B, C), got shape {values.shape}.")
    if chs_info is not None and len(chs_info) != len(values):
        raise ValueError(f"{len(values)} weights but chs_info describes {len(chs_info)} channels.")
    if kind not in ("auto", "topomap", "bar"):
        raise ValueError(f"kind must be 'auto', 'topomap' or 'bar', got {kind!r}.")
    if kind == "auto":
        kind = "topomap" if has_positions(chs_info) else "bar"
    if kind == "topomap" and not has_positions(chs_info):
        raise ValueError("A topomap needs chs_info with electrode positions (set a montage in MNE first).")

    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4) if kind == "topomap" else (max(4, 0.25 * len(values)), 3))
    if kind == "topomap":
        import mne

        info = mne.create_info([ch["ch_name"] for ch in chs_info], sfreq=1.0, ch_types="eeg")  # type: ignore[union-attr]
        with info._unlock():
            for target, source in zip(info["chs"], chs_info):  # type: ignore[arg-type]
                target["loc"] = np.asarray(source["loc"], dtype=float).copy()
        image, _ = mne.viz.plot_topomap(values, info, axes=ax, show=False, cmap="viridis", vlim=vlim or (None, None))
        ax.figure.colorbar(image, ax=ax, shrink=0.7)
    else:
        names = ch_names or ([ch["ch_name"] for ch in chs_info] if chs_info else None)
        names = list(names) if names is not None else [str(i) for i in range(len(values))]
        ax.bar(range(len(values)), values)
        ax.set_xticks(range(len(values)), names, rotation=90, fontsize=7)
        ax.set_ylabel("weight")
    ax.set_title(title)
    return ax.figure
