"""Multivariate time-series forecasting models: input window (B, L, C) -> forecast (B, H, C_out).

Importing this package registers Gateformer, iTransformer, DLinear, PatchTST, Informer and Autoformer
(task ``"forecasting"``).
The contract is :class:`~dualbranch.models.forecasting.base.ForecastingModel`.

Shape legend: B batch, L look-back (seq_len), H horizon (pred_len), C variates (n_vars), C_out forecast variates.
"""

from . import variants  # noqa: F401  (registers the forecasting models)
from .autoformer import Autoformer
from .base import ForecastingModel
from .dlinear import DLinear
from .gateformer import Gateformer
from .informer import Informer
from .itransformer import ITransformer
from .patchtst import PatchTST

__all__ = ["Autoformer", "DLinear", "ForecastingModel", "Gateformer", "ITransformer", "Informer", "PatchTST"]
