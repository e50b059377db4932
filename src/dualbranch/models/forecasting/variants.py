"""Registered forecasting models: Gateformer, iTransformer, DLinear and PatchTST (task ``"forecasting"``).

Defaults are ETTh1's multivariate setting at horizon 96 (7 variates, look-back 96) with each
official script's sizes; ``create_model("gateformer", n_vars=21, pred_len=336)`` fits other data.
The tiny configurations (3 variates, look-back 32, horizon 8, no dropout) are for the contract tests.

Shape legend: L look-back (seq_len), H horizon (pred_len), C variates (n_vars).
"""

from __future__ import annotations

from typing import Any

from ...registry import WeightConfig, register_model
from .base import forecasting_builder
from .dlinear import DLinear
from .gateformer import Gateformer
from .itransformer import ITransformer
from .patchtst import PatchTST

GATEFORMER_PAPER = (
    "Lan, Oermann. Gateformer: Advancing Multivariate Time Series Forecasting through Temporal and "
    "Variate-Wise Attention with Gated Representations. ICML 2025 workshop FMSD (arXiv:2505.00307)"
)
ITRANSFORMER_PAPER = (
    "Liu, Hu, Zhang, Wu, Wang, Ma, Long. iTransformer: Inverted Transformers Are Effective for Time Series "
    "Forecasting. ICLR 2024 (arXiv:2310.06625)"
)
DLINEAR_PAPER = (
    "Zeng, Chen, Zhang, Xu. Are Transformers Effective for Time Series Forecasting? AAAI 2023 (arXiv:2205.13504)"
)

PATCHTST_PAPER = (
    "Nie, Nguyen, Sinthong, Kalagnanam. A Time Series is Worth 64 Words: Long-term Forecasting with Transformers. "
    "ICLR 2023 (arXiv:2211.14730)"
)

_TINY_WINDOW = {"n_vars": 3, "seq_len": 32, "pred_len": 8}
_ETTH1 = (96, 7)  # the default input: look-back 96 of ETTh1's 7 variates
_build_gateformer = forecasting_builder(Gateformer)
_build_itransformer = forecasting_builder(ITransformer)
_build_dlinear = forecasting_builder(DLinear)
_build_patchtst = forecasting_builder(PatchTST)


@register_model(
    paper=GATEFORMER_PAPER,
    task="forecasting",
    tiny={**_TINY_WINDOW, "d_model": 16, "d_ff": 32, "n_heads": 2, "dropout": 0.0},
    # each variate's window enters twice: whole (the variate branch) and in patches (the temporal branch)
    weights=WeightConfig(_ETTH1, first_conv=("global_embed", "patch_embed.proj"), classifier=("head",)),
)
def gateformer(**overrides: Any) -> Gateformer:
    """Gateformer, 133,344 parameters at ETTh1's 96 -> 96 configuration. See models/forecasting/gateformer.py."""
    return _build_gateformer(**overrides)


@register_model(
    paper=ITRANSFORMER_PAPER,
    task="forecasting",
    tiny={**_TINY_WINDOW, "d_model": 16, "d_ff": 32, "n_heads": 2, "dropout": 0.0},
    weights=WeightConfig(_ETTH1, first_conv=("embed",), classifier=("head",)),
)
def itransformer(**overrides: Any) -> ITransformer:
    """iTransformer, 841,568 parameters at ETTh1's 96 -> 96 configuration. See models/forecasting/itransformer.py."""
    return _build_itransformer(**overrides)


@register_model(
    paper=DLINEAR_PAPER,
    task="forecasting",
    tiny={**_TINY_WINDOW, "kernel_size": 5},
    # two linear maps from the window to the horizon (seasonal, trend): first layer and head at once
    weights=WeightConfig(
        _ETTH1,
        first_conv=("seasonal_weight", "trend_weight"),
        classifier=("seasonal_weight", "seasonal_bias", "trend_weight", "trend_bias"),
    ),
)
def dlinear(**overrides: Any) -> DLinear:
    """DLinear, 18,624 parameters at look-back 96, horizon 96. See models/forecasting/dlinear.py."""
    return _build_dlinear(**overrides)


@register_model(
    paper=PATCHTST_PAPER,
    task="forecasting",
    tiny={
        **_TINY_WINDOW,
        "d_model": 16,
        "d_ff": 32,
        "n_heads": 2,
        "n_layers": 2,
        "patch_len": 8,
        "stride": 4,
        "dropout": 0.0,
    },
    weights=WeightConfig(_ETTH1, first_conv=("patch_embed",), classifier=("head",)),
)
def patchtst(**overrides: Any) -> PatchTST:
    """PatchTST, 35,168 parameters at look-back 96, horizon 96 (ETTh1 sizes). See models/forecasting/patchtst.py."""
    return _build_patchtst(**overrides)
