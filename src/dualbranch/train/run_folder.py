"""A run folder: its layout, its fold folders, and its record (``run.json``). Making, locking and
replacing one is :mod:`.run_place`.

Layout (one model: the fold "run" lives in the run folder itself; k folds: ``folds/fold_<k>/``)::

    config.yaml         the resolved configuration
    run.json            the run record (:class:`RunRecord`): kind, model and its arguments, classes,
                        input shape, protocol, fold names, and the data kind's own facts
    metrics.json        test metrics, one vocabulary for every kind (dualbranch.evaluation.metrics)
    predictions.csv     every test prediction: fold, index, group, true, predicted, probabilities
    report.html         the report
    model.safetensors, preprocessing.json, history.jsonl, checkpoints/, logs/
                        of each fold's model, in its fold folder
    .lock               held by the process that owns the folder (:mod:`.run_lock`)

Only the primary process (rank 0) creates, replaces or writes the folder; every file is written
atomically (safe_io.py).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import CheckpointError, RunFolderError
from ..safe_io import atomic_write_text
from .kinds import kind_named

__all__ = ["RUN_FORMAT_VERSION", "RunRecord", "fold_dir", "is_primary_process", "read_record"]

RUN_FORMAT_VERSION = 2  # of run.json; format 1 (before the first release) is refused


def is_primary_process() -> bool:
    """True in the process that owns the run folder: rank 0 under torchrun or Lightning's DDP launcher."""
    if "RANK" in os.environ:
        return os.environ["RANK"] == "0"
    return os.environ.get("LOCAL_RANK", "0") == "0" and os.environ.get("NODE_RANK", "0") == "0"


def fold_dir(run_dir: Path, fold: str) -> Path:
    """Where fold ``fold``'s model lives: the run folder for the single fold "run", else folds/<fold>."""
    return Path(run_dir) if fold == "run" else Path(run_dir) / "folds" / fold


@dataclass
class RunRecord:
    """What a run learned from its data, needed to rebuild and feed its models later (``run.json``)."""

    kind: str
    model_name: str
    model_args: dict[str, Any]
    class_names: list[str]
    input_shape: list[int]
    protocol: str = "none"
    folds: list[str] = field(default_factory=lambda: ["run"])
    data: dict[str, Any] = field(default_factory=dict)  # the data kind's own facts

    def save(self, run_dir: Path) -> None:
        atomic_write_text(
            Path(run_dir) / "run.json", json.dumps({"format_version": RUN_FORMAT_VERSION, **asdict(self)}, indent=2)
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def read_record(run_dir: str | os.PathLike[str]) -> RunRecord:
    """The record of a run folder (format 2).

    Raises RunFolderError for a folder that is not a run, CheckpointError for a damaged file or one
    written by a newer dualbranch.
    """
    path = Path(run_dir) / "run.json"
    if not path.is_file():
        raise RunFolderError(f"{run_dir} is not a dualbranch run folder (no run.json); give a folder `fit` made.")
    try:
        values = json.loads(path.read_text())
    except ValueError as err:
        raise CheckpointError(f"{path}: not valid JSON ({err}); the run folder is damaged.") from err
    if not isinstance(values, dict):
        raise CheckpointError(f"{path}: expected a JSON object; the run folder is damaged.")
    version = values.pop("format_version", 1)
    if not isinstance(version, int) or version > RUN_FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: run folder format {version!r} was written by a newer dualbranch; this version reads "
            f"format {RUN_FORMAT_VERSION} and older. Upgrade dualbranch to use this run."
        )
    if version < RUN_FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: run folder format {version} was written before dualbranch 0.1.0 was released and is no "
            f"longer read; train the run again with this version (`dualbranch fit` with its config.yaml's settings)."
        )
    known = set(RunRecord.__dataclass_fields__)
    required = {"kind", "model_name", "model_args", "class_names", "input_shape"}
    unknown, missing = set(values) - known, required - set(values)
    if unknown or missing:
        found = {"unknown keys": unknown, "missing keys": missing}
        problems = ", ".join(f"{label} {sorted(keys)}" for label, keys in found.items() if keys)
        raise CheckpointError(
            f"{path}: {problems}; the file was edited or damaged. Re-create the run folder with `dualbranch fit`."
        )
    record = RunRecord(**values)
    kind_named(record.kind, path)  # a kind this version does not have is named here
    return record
