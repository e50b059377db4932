"""Data kinds, the plugins of the run pipeline. Importing this package registers every kind."""

from . import images, signals  # noqa: F401  (each module registers its kind)
from .base import (
    KINDS,
    DataKind,
    FoldEvaluation,
    InputPipeline,
    LoaderInputs,
    RunData,
    kind_for_dataset,
    kind_named,
    stack_items,
)
from .forecasting import ForecastingKind  # noqa: F401  (registers the kind; listed after images and signals)

__all__ = [
    "KINDS",
    "DataKind",
    "FoldEvaluation",
    "InputPipeline",
    "LoaderInputs",
    "RunData",
    "kind_for_dataset",
    "kind_named",
    "stack_items",
]
