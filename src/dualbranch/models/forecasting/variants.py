"""Registered forecasting models: Gateformer, iTransformer, DLinear, PatchTST, Informer and Autoformer
(task ``"forecasting"``).

Defaults are ETTh1's multivariate setting at horizon 96 (7 variates, look-back 96) with each
official script's sizes; ``create_model("gateformer", n_vars=21, pred_len=336)`` fits other data.
The tiny configurations (3 variates, look-back 32, horizon 8, no dropout) are for the contract tests.

Shape legend: L look-back (seq_len), H horizon (pred_len), C variates (n_vars).
"""

from __future__ import annotations

from typing import Any

from ...registry import WeightConfig, register_model
from .autoformer import Autoformer
from .base import forecasting_builder
from .dlinear import DLinear
from .gateformer import Gateformer
from .informer import Informer
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

INFORMER_PAPER = (
    "Zhou, Zhang, Peng, Zhang, Li, Xiong, Zhang. Informer: Beyond Efficient Transformer for Long Sequence "
    "Time-Series Forecasting. AAAI 2021 (arXiv:2012.07436)"
)
AUTOFORMER_PAPER = (
    "Wu, Xu, Wang, Long. Autoformer: Decomposition Transformers with Auto-Correlation for Long-Term Series "
    "Forecasting. NeurIPS 2021 (arXiv:2106.13008)"
)

_TINY_WINDOW = {"n_vars": 3, "seq_len": 32, "pred_len": 8}
_ETTH1 = (96, 7)  # the default input: look-back 96 of ETTh1's 7 variates
_build_gateformer = forecasting_builder(Gateformer)
_build_itransformer = forecasting_builder(ITransformer)
_build_dlinear = forecasting_builder(DLinear)
_build_patchtst = forecasting_builder(PatchTST)
_build_informer = forecasting_builder(Informer)
_build_autoformer = forecasting_builder(Autoformer)
_TINY_ENCDEC = {**_TINY_WINDOW, "label_len": 16, "d_model": 16, "d_ff": 32, "n_heads": 2, "dropout": 0.0}
# the encoder-decoder forecasters embed each step's variates together, in the encoder (the look-back) and in
# the decoder (start token and horizon), and project each decoder step back to the variates
_ENCDEC_FIRST = ("enc_embed.value", "dec_embed.value")


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


@register_model(
    paper=INFORMER_PAPER,
    task="forecasting",
    # 20 of 32 encoder queries and 15 of 16 decoder queries active: the sparse path is exercised
    tiny={**_TINY_ENCDEC, "label_len": 8, "d_model": 32, "d_ff": 64, "n_heads": 4, "factor": 5},
    weights=WeightConfig(_ETTH1, first_conv=_ENCDEC_FIRST, classifier=("projection",)),
)
def informer(**overrides: Any) -> Informer:
    """Informer, 11,328,007 parameters at ETTh1's 96 -> 96 setting with its 4 time features (``n_marks=4``).
    See models/forecasting/informer.py."""
    return _build_informer(**overrides)


@register_model(
    paper=AUTOFORMER_PAPER,
    task="forecasting",
    tiny={**_TINY_ENCDEC, "moving_avg": 7, "factor": 2},
    # the forecast is the seasonal projection plus the trend each decoder layer projects to the variates
    weights=WeightConfig(_ETTH1, first_conv=_ENCDEC_FIRST, classifier=("projection", "decoder.*.trend_projection")),
)
def autoformer(**overrides: Any) -> Autoformer:
    """Autoformer, 10,535,943 parameters at ETTh1's 96 -> 96 setting with its 4 time features (``n_marks=4``).
    See models/forecasting/autoformer.py."""
    return _build_autoformer(**overrides)
