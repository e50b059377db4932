"""Where a fold's metrics are logged: ``trainer.logger`` = csv | tensorboard | mlflow, Lightning's own loggers.

* ``csv`` (the default): ``logs/metrics.csv``. A resumed run appends to the file the interrupted one
  wrote (Lightning's CSV logger would delete it) and keeps its columns: rows of epochs that the
  resume repeats appear again, after the interrupted ones, as in ``history.jsonl``.
* ``tensorboard``: event files in ``logs/`` (``tensorboard --logdir RUN``); needs ``tensorboard`` or
  ``tensorboardX``.
* ``mlflow``: an MLflow run in a local file store, ``mlruns/`` in the fold's folder (``mlflow ui
  --backend-store-uri RUN/mlruns``); needs ``mlflow`` (or ``mlflow-skinny``).

``history.jsonl`` (one line per epoch, what the report plots) is written whatever the logger.
"""

from __future__ import annotations

import csv
import importlib.util
import os
from pathlib import Path
from typing import Any

from lightning.fabric.loggers.csv_logs import _ExperimentWriter
from lightning.pytorch.loggers import CSVLogger, MLFlowLogger, TensorBoardLogger

from ..errors import MissingDependencyError

__all__ = ["LOGGERS", "make_logger"]

LOGGERS = ("csv", "tensorboard", "mlflow")


class _AppendingWriter(_ExperimentWriter):
    """Lightning's CSV writer, except that an existing ``metrics.csv`` is continued, not deleted."""

    def _check_log_dir_exists(self) -> None:
        if self._fs.isfile(self.metrics_file_path):
            with open(self.metrics_file_path, newline="") as handle:
                header = next(csv.reader(handle), [])
            self.metrics_keys = sorted(header)  # new columns rewrite the file with the union of both

    def _rewrite_with_new_header(self, fieldnames: list[str]) -> None:
        with open(self.metrics_file_path, newline="") as handle:
            rows = list(csv.DictReader(handle))
        fields = sorted(set(fieldnames).union(*rows)) if rows else fieldnames
        self.metrics_keys = fields
        with open(self.metrics_file_path, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=fields)
            writer.writeheader()
            writer.writerows(rows)


class AppendingCSVLogger(CSVLogger):
    """``logs/metrics.csv`` that a resumed run continues."""

    @property
    def experiment(self) -> _AppendingWriter:
        if self._experiment is None:
            os.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _AppendingWriter(log_dir=self.log_dir)
        return self._experiment


def _needs(module: str, extra: str, name: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise MissingDependencyError(
            f"trainer.logger={name} needs {extra}, which is not installed: pip install {extra} "
            "(or set trainer.logger=csv)."
        )


def make_logger(name: str, out_dir: Path) -> Any:
    """The Lightning logger ``name`` (one of :data:`LOGGERS`) writing under the fold folder ``out_dir``."""
    out_dir = Path(out_dir)
    if name == "tensorboard":
        if importlib.util.find_spec("tensorboard") is None:
            _needs("tensorboardX", "tensorboard", name)
        return TensorBoardLogger(out_dir, name="", version="logs", default_hp_metric=False)
    if name == "mlflow":
        _needs("mlflow", "mlflow", name)
        # MLflow 3 refuses a file store unless asked for one; a local folder in the run is what this logger is
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        store = (out_dir / "mlruns").resolve()
        return MLFlowLogger(experiment_name="dualbranch", run_name=out_dir.resolve().name, tracking_uri=store.as_uri())
    return AppendingCSVLogger(out_dir, name="", version="logs")
