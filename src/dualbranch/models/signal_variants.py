"""Registered signal models: DBConformer, EEG Conformer (its single-branch baseline), CrossViT-1D, RocketFormer,
ShapeFormer.

Defaults are the papers' reference input (22 EEG channels, 1001 samples at 250 Hz, as BCI
Competition IV 2a, 2 classes); ``create_model("dbconformer", n_chans=64, n_times=641, n_outputs=2)``
fits other data. ``num_classes`` is accepted as an alias of ``n_outputs``.
"""

from __future__ import annotations

from typing import Any

from ..registry import WeightConfig, register_model
from .crossvit_1d import CrossViT1D
from .dbconformer import DBConformer
from .eeg_conformer import EEGConformer
from .rocket_former import RocketFormer
from .shapeformer import ShapeFormer
from .signal_base import signal_builder

DBCONFORMER_PAPER = (
    "Wang, Wang, Jia, He, Li, Wu. DBConformer: Dual-Branch Convolutional Transformer for EEG Decoding. "
    "IEEE JBHI 2026 (arXiv:2506.21140)"
)
EEG_CONFORMER_PAPER = (
    "Song, Zheng, Liu, Gao. EEG Conformer: Convolutional Transformer for EEG Decoding and Visualization. "
    "IEEE TNSRE 2022"
)

# Small, and without dropout: the contract tests compare two forward passes in training mode.
_NO_DROPOUT = {"drop_prob": 0.0, "att_drop_prob": 0.0}
_build_dbconformer = signal_builder(DBConformer)
_build_eeg_conformer = signal_builder(EEGConformer)
_build_crossvit_1d = signal_builder(CrossViT1D)
_build_rocketformer = signal_builder(RocketFormer)


@register_model(
    paper=DBCONFORMER_PAPER,
    tiny={
        "n_chans": 4,
        "n_times": 64,
        "n_outputs": 3,
        "patch_size": 16,
        "temporal_kernel": 15,
        "spatial_kernel": 9,
        "head_drop_prob": 0.0,
        **_NO_DROPOUT,
    },
    # the temporal branch's 1×1 convolution mixes the channels; the spatial branch embeds each channel
    # on its own with one shared convolution, which reads no channel count
    weights=WeightConfig((22, 1001), first_conv=("temporal_embed.mix",), classifier=("final_layer",)),
)
def dbconformer(**overrides: Any) -> DBConformer:
    """DBConformer, 93,746 parameters at 22 channels × 1001 samples, 2 classes (the paper: 93,747 with a
    bias the softmax cancels). See models/dbconformer.py."""
    return _build_dbconformer(**overrides)


@register_model(
    paper=EEG_CONFORMER_PAPER,
    tiny={"n_chans": 4, "n_times": 128, "n_outputs": 3, "att_depth": 2, "fc_drop_prob": (0.0, 0.0), **_NO_DROPOUT},
    # the temporal convolution reads each electrode alike; the spatial one spans them (kernel C × 1)
    weights=WeightConfig((22, 1001), first_conv=("patch_embedding.spatial",), classifier=("final_layer",)),
)
def eeg_conformer(**overrides: Any) -> EEGConformer:
    """EEG Conformer, 789,506 parameters at 22 channels × 1001 samples, 2 classes. See models/eeg_conformer.py."""
    return _build_eeg_conformer(**overrides)


CROSSVIT_PAPER = (
    "Chen, Fan, Panda. CrossViT: Cross-Attention Multi-Scale Vision Transformer for Image Classification. "
    "ICCV 2021 (arXiv:2103.14899); here in 1-D, over small and large temporal patches"
)


@register_model(
    paper=CROSSVIT_PAPER,
    tiny={
        "n_chans": 2,
        "n_times": 32,
        "n_outputs": 3,
        "embed_dim": (16, 32),
        "num_heads": (2, 2),
        "stem_width": 8,
        "drop_rate": 0.0,
        "drop_path_rate": 0.0,
    },
    weights=WeightConfig((1, 128), first_conv=("stem.0",), classifier=("final_layer.0", "final_layer.1")),
)
def crossvit_1d(**overrides: Any) -> CrossViT1D:
    """CrossViT over small and large temporal patches of a series (univariate or multivariate), with a
    convolutional stem; the default for short or few-channel series. See models/crossvit_1d.py."""
    return _build_crossvit_1d(**overrides)


ROCKETFORMER_PAPER = (
    "Dempster, Petitjean, Webb. ROCKET: Exceptionally fast and accurate time series classification using "
    "random convolutional kernels. Data Mining and Knowledge Discovery 34, 2020 (arXiv:1910.13051); fused "
    "here with a patch Transformer branch"
)


@register_model(
    paper=ROCKETFORMER_PAPER,
    tiny={
        "n_chans": 2,
        "n_times": 32,
        "n_outputs": 3,
        "num_kernels": 50,
        "embed_dim": 32,
        "num_heads": 2,
        "stem_width": 8,
        "drop_rate": 0.0,
        "drop_path_rate": 0.0,
    },
    weights=WeightConfig((1, 128), first_conv=("stem.0",), classifier=("final_layer",)),
)
def rocketformer(**overrides: Any) -> RocketFormer:
    """ROCKET's random dilated kernels (a ridge classifier fitted in closed form) fused with a patch
    Transformer; the default for series that are not EEG-like. See models/rocket_former.py."""
    return _build_rocketformer(**overrides)


SHAPEFORMER_PAPER = (
    "Le, Luo, Aickelin, Tran. ShapeFormer: Shapelet Transformer for Multivariate Time Series Classification. "
    "KDD 2024 (arXiv:2405.14608)"
)
_build_shapeformer = signal_builder(ShapeFormer)


@register_model(
    paper=SHAPEFORMER_PAPER,
    tiny={
        "n_chans": 2,
        "n_times": 32,
        "n_outputs": 3,
        "num_shapelets": 2,
        "shape_embed_dim": 32,
        "pos_embed_dim": 32,
        "local_embed_dim": 16,
        "dim_ff": 32,
        "num_heads": 2,
        "dropout": 0.0,
    },
    # the generic branch's convolution across the channels (after a per-channel temporal one)
    weights=WeightConfig((6, 100), first_conv=("embed_channels.0",), classifier=("final_layer",)),
)
def shapeformer(**overrides: Any) -> ShapeFormer:
    """ShapeFormer: discovered shapelets' class-specific Transformer + a generic convolutional Transformer
    (at BasicMotions' size, 6 × 100, 4 classes, by default). See models/shapeformer.py."""
    return _build_shapeformer(**overrides)
