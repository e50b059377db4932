"""A run's OpenVINO int8 models: calibrated once on the fold's training data, stored in the run, reused.

NNCF calibration reads up to :data:`CALIBRATION_EXAMPLES` of a fold's training examples and costs more
than the predictions it serves, so it runs once per fold, at ``dualbranch export RUN --format
openvino-int8`` or at the first ``predict --engine openvino-int8`` (or ``auto``), and the quantized
model is kept in the fold's folder::

    <fold folder>/engines/openvino-int8/
        calibration.json         the record (written last): the fold, the SHA-256 of the calibration
                                 inputs and how many there were, the SHA-256 of the fp32 weights it was
                                 made from, the IR's two files and their SHA-256, library versions
        int8-<digest>.xml, .bin  the quantized OpenVINO IR, named by its contents

Every write goes through :mod:`dualbranch.safe_io` (temporary file, fsync, rename) and the record goes
last, so a crash leaves the previous record naming complete files. Later calls load the stored model
and never read the training data, which may have moved. Each load checks the record: files that do
not match their checksums are a one-line :class:`CheckpointError` (delete the folder to calibrate
again); fp32 weights that changed since (a resumed run) make the stored model stale, and it is
calibrated again.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import CheckpointError, DataError, DualbranchError, RunFolderError
from ..export import export_openvino, read_openvino, to_openvino
from ..machine import machine_identity
from ..quantize import quantize_openvino_int8
from ..safe_io import atomic_write, atomic_write_text, sha256_chunks, sha256_file
from .config import load_config
from .datamodule import batches_of
from .kinds import InputPipeline, LoaderInputs
from .pipeline import folds_of
from .run_folder import fold_dir

__all__ = [
    "CALIBRATION_EXAMPLES",
    "calibration_batches",
    "calibration_folder",
    "stored_int8",
    "tensor_digest",
    "weights_digest",
]

CALIBRATION_EXAMPLES = 512  # training examples a calibrated engine sees; NNCF's default is 300
RECORD = "calibration.json"


def calibration_folder(run_dir: str | os.PathLike[str], fold: str) -> Path:
    """Where fold ``fold``'s calibrated int8 model is kept."""
    return fold_dir(Path(run_dir), fold) / "engines" / "openvino-int8"


def model_ready_batches(inputs: LoaderInputs, pipeline: InputPipeline, batch_size: int) -> list[torch.Tensor]:
    """Loader inputs (n, ...) (a tensor, or a Dataset made on demand) as model input, in batches (B, ...)."""
    labels = torch.zeros(len(inputs), dtype=torch.long)  # batches_of serves labels beside; none are needed
    return [pipeline.prepare(batch) for batch, _ in batches_of(inputs, labels, batch_size)]


@torch.no_grad()
def calibration_batches(
    run_dir: str | os.PathLike[str],
    fold: str,
    preprocessing: Any,
    pipeline: InputPipeline,
    limit: int = CALIBRATION_EXAMPLES,
    batch_size: int = 64,
) -> list[torch.Tensor]:
    """Up to ``limit`` of fold ``fold``'s training examples as model input: batches (B, ...) made by
    the fold's ``preprocessing`` and input ``pipeline`` (no augmentation), in a seeded random order."""
    config_file = Path(run_dir) / "config.yaml"
    if not config_file.is_file():
        raise RunFolderError(f"{run_dir} has no config.yaml, which says where the training data to calibrate on is.")
    config = load_config(config_file)
    try:
        dataset = config.kind.load(config.data, config.trainer.seed, progress=False)
    except DualbranchError as err:
        raise DataError(
            f"openvino-int8 is calibrated once on the training data of {run_dir}, which cannot be read now "
            f"({err}); restore it where {config_file} says, or choose another engine."
        ) from err
    folds = {f.name: f for f in folds_of(config, dataset)}
    if fold not in folds:
        raise RunFolderError(f"The config in {run_dir} gives folds {sorted(folds)}, not the run's {fold!r}.")
    train = folds[fold].train
    rng = np.random.default_rng(config.trainer.seed)
    # a random sample, not the first examples: a sorted or grouped dataset would calibrate on one class
    index = np.sort(rng.choice(train, size=min(limit, len(train)), replace=False))
    inputs = config.kind.loader_inputs(dataset.examples.subset(index), preprocessing, training=False)
    return model_ready_batches(inputs, pipeline, batch_size)


def _chunks(tensor: torch.Tensor) -> list[bytes]:
    tensor = tensor.detach().contiguous()
    return [f"{tuple(tensor.shape)}{tensor.dtype};".encode(), tensor.reshape(-1).view(torch.uint8).numpy().tobytes()]


def tensor_digest(tensors: list[torch.Tensor]) -> str:
    """SHA-256 of the tensors' shapes, dtypes and bytes, in order."""
    return sha256_chunks(chunk for tensor in tensors for chunk in _chunks(tensor))


def weights_digest(model: torch.nn.Module) -> str:
    """SHA-256 of a model's state: every parameter and buffer, by name."""
    state = model.state_dict()
    return sha256_chunks(chunk for name in sorted(state) for chunk in [name.encode(), *_chunks(state[name])])


def _read_record(folder: Path) -> dict[str, Any] | None:
    path = folder / RECORD
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
        files = {
            kind: (folder / record["files"][kind]["name"], record["files"][kind]["sha256"]) for kind in ("xml", "bin")
        }
    except (ValueError, KeyError, TypeError) as err:
        raise CheckpointError(
            f"{path} is damaged ({err}); delete {folder} to calibrate openvino-int8 again from the training data."
        ) from err
    for file, expected in files.values():
        if not file.is_file() or sha256_file(file) != expected:
            what = "is missing" if not file.is_file() else "does not match the checksum in its record"
            raise CheckpointError(
                f"The stored openvino-int8 model {file} {what} (damaged or edited); delete {folder} to "
                f"calibrate again from the training data."
            )
    return record


def _store(folder: Path, quantized: Any, record: dict[str, Any]) -> None:
    """Write the quantized IR under content-derived names, then the record that names them; drop the files
    of earlier calibrations."""
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".calibrating-") as scratch:
        saved = export_openvino(quantized, Path(scratch) / "model.xml", precision="f32")
        xml, weights = saved, saved.with_suffix(".bin")
        name = f"int8-{sha256_chunks([sha256_file(xml).encode(), sha256_file(weights).encode()])[:16]}"
        files = {}
        for kind, source in (("bin", weights), ("xml", xml)):  # the weights first: an .xml always has its .bin
            target = folder / f"{name}.{kind}"
            atomic_write(target, lambda tmp, source=source: shutil.copyfile(source, tmp))
            files[kind] = {"name": target.name, "sha256": sha256_file(target)}
    atomic_write_text(folder / RECORD, json.dumps({**record, "files": files}, indent=2) + "\n")
    for old in folder.glob("int8-*"):
        if old.name not in (files["xml"]["name"], files["bin"]["name"]):
            old.unlink(missing_ok=True)


def stored_int8(
    run_dir: str | os.PathLike[str],
    fold: str,
    model: torch.nn.Module,
    preprocessing: Any,
    pipeline: InputPipeline,
    log: Callable[[str], None],
) -> tuple[Any, dict[str, Any]]:
    """Fold ``fold``'s calibrated OpenVINO int8 model (an ``openvino.Model``) and its record: the stored
    one when it was made from ``model``'s weights, else calibrated now on the fold's training data
    (:func:`calibration_batches`) and stored (see the module docstring)."""
    folder = calibration_folder(run_dir, fold)
    weights = weights_digest(model)
    record = _read_record(folder)
    if record is not None and record.get("weights_sha256") == weights and record.get("fold") == fold:
        return read_openvino(folder / record["files"]["xml"]["name"]), record
    if record is not None:
        log(f"note: the stored openvino-int8 model in {folder} was made from other weights; calibrating again")
    log(f"openvino-int8: calibrating fold {fold} once on its training data (stored in {folder}) ...")
    batches = calibration_batches(run_dir, fold, preprocessing, pipeline, limit=CALIBRATION_EXAMPLES)
    quantized = quantize_openvino_int8(to_openvino(model), batches)
    identity = machine_identity()
    record = {
        "engine": "openvino-int8",
        "fold": fold,
        "calibration_sha256": tensor_digest(batches),
        "calibration_examples": sum(len(batch) for batch in batches),
        "weights_sha256": weights,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "versions": {"torch": identity["torch"], **identity["versions"]},
    }
    _store(folder, quantized, record)
    return quantized, _read_record(folder) or record
