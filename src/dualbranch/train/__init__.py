"""Training and evaluation: one run pipeline for every kind of data (``dualbranch fit / test / predict``).

Layout: :mod:`.config` and :mod:`.sections` (the run configuration), :mod:`.kinds` (data kinds:
images, signals, forecasting), :mod:`.objectives` (training objectives), :mod:`.scoring` (what a
kind's outputs are scored by), :mod:`.pipeline` (fit / test), :mod:`.fold_models` (a run's trained
models read back), :mod:`.evaluate` (metrics, predictions), :mod:`.predict`, :mod:`.report`,
:mod:`.run_folder`, and the Lightning side: :mod:`.task`, :mod:`.engine`, :mod:`.datamodule`, :mod:`.callbacks`,
:mod:`.checkpoint_io`.
"""

from .config import RunConfig, load_config
from .fold_models import load_fold_models
from .pipeline import fit, test
from .predict import predict

__all__ = ["RunConfig", "fit", "load_config", "load_fold_models", "predict", "test"]
