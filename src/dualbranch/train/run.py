"""The workflow behind ``dualbranch fit / test / predict``: one folder per run.

A run folder holds:
    config.yaml         the resolved configuration (file + overrides + defaults)
    run.json            what the data decided: classes, input shape, normalisation, model arguments
    history.jsonl       one line per epoch (the report's learning curves)
    logs/metrics.csv    Lightning's step-level log
    checkpoints/        last.ckpt (resume) and best.ckpt (best validation accuracy), each with a
                        .sha256 sidecar; written atomically, verified on load (checkpoint_io.py)
    model.safetensors   the best weights, loadable without Lightning
    metrics.json        test metrics (accuracy, balanced accuracy, per class, confusion matrix)
    report.html         learning curves, confusion matrix, hardest mistakes, cross-attention maps

Signal datasets (``data.name`` eegbci | uea | signal_npz) go through :mod:`.signal_run` instead:
one model per fold of ``evaluation.protocol``, with the folder layout described there.

Every file is written atomically (safe_io.py): a crash, a full disk or a denied permission raises a
WriteError naming the file and leaves the files written before it intact.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from ..checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from ..data.images import ImageData
from ..registry import create_model, get_model_entry
from ..safe_io import atomic_write_text
from .checkpoint_io import verify_checkpoint
from .config import ConfigError, RunConfig, dump_config, load_config

__all__ = [
    "RUN_FORMAT_VERSION",
    "RunInfo",
    "build_model",
    "evaluate",
    "fit",
    "load_run_model",
    "read_run_record",
    "test",
]

RUN_FORMAT_VERSION = 1  # of run.json; a run folder of a newer format is refused, not misread


def read_run_record(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``run.json`` of a run folder (image or signal run) as a dict, without its format version.

    Raises FileNotFoundError for a folder that is not a run, CheckpointError for a damaged file or
    one written by a newer dualbranch.
    """
    path = Path(run_dir) / "run.json"
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir} is not a dualbranch run folder (no run.json); give a folder `fit` made.")
    try:
        record = json.loads(path.read_text())
    except ValueError as err:
        raise CheckpointError(f"{path}: not valid JSON ({err}); the run folder is damaged.") from err
    if not isinstance(record, dict):
        raise CheckpointError(f"{path}: expected a JSON object; the run folder is damaged.")
    version = record.pop("format_version", 1)
    if not isinstance(version, int) or version > RUN_FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: run folder format {version!r} was written by a newer dualbranch; this version reads "
            f"format {RUN_FORMAT_VERSION} and older. Upgrade dualbranch to use this run."
        )
    return record


@dataclass
class RunInfo:
    """What a run learned from its data, needed to rebuild and feed the model later."""

    model_name: str
    model_args: dict[str, Any]
    class_names: list[str]
    input_shape: list[int]
    mean: list[float]
    std: list[float]

    def save(self, run_dir: Path) -> None:
        record = {"format_version": RUN_FORMAT_VERSION, **dataclasses.asdict(self)}
        atomic_write_text(run_dir / "run.json", json.dumps(record, indent=2))

    @classmethod
    def load(cls, run_dir: Path) -> RunInfo:
        path = Path(run_dir) / "run.json"
        record = read_run_record(run_dir)
        fields = dataclasses.fields(cls)
        missing_value = dataclasses.MISSING
        required = {f.name for f in fields if f.default is missing_value and f.default_factory is missing_value}
        unknown, missing = set(record) - {f.name for f in fields}, required - set(record)
        if unknown or missing:
            found = {"unknown keys": unknown, "missing keys": missing}
            problems = ", ".join(f"{label} {sorted(keys)}" for label, keys in found.items() if keys)
            raise CheckpointError(
                f"{path}: {problems}; the file was edited or damaged. Re-create the run folder with `dualbranch fit`."
            )
        return cls(**record)


def _model_args_for_data(config: RunConfig, shape: tuple[int, ...], num_classes: int) -> dict[str, Any]:
    """The model's input size, channels and classes follow the data unless model.args sets them."""
    with torch.device("meta"):
        probe = create_model(config.model.name)
    fields = (
        {f.name for f in dataclasses.fields(probe.config)}
        if dataclasses.is_dataclass(getattr(probe, "config", None))
        else set()
    )
    derived = {"num_classes": num_classes, "in_chans": shape[0], "img_size": list(shape[1:])}
    args = {k: v for k, v in derived.items() if k in fields}
    args.update(config.model.args)
    return args


def build_model(name: str, args: dict[str, Any], checkpoint: str | os.PathLike[str] | None = None) -> nn.Module:
    model = create_model(name, **args)
    if checkpoint is not None:
        load_checkpoint(model, checkpoint)
    return model


def _is_primary_process() -> bool:
    """True in the process that owns the run folder: rank 0 under torchrun or Lightning's DDP launcher."""
    if "RANK" in os.environ:
        return os.environ["RANK"] == "0"
    return os.environ.get("LOCAL_RANK", "0") == "0" and os.environ.get("NODE_RANK", "0") == "0"


def _prepare_run_dir(config: RunConfig) -> Path:
    out = config.output
    # DDP workers re-run the same command: the name travels to them through the environment
    name = out.name or os.environ.get("DUALBRANCH_RUN_NAME")
    name = name or f"{config.model.name}-{config.data.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    os.environ["DUALBRANCH_RUN_NAME"] = name
    run_dir = Path(out.root) / name
    if not _is_primary_process():
        run_dir.mkdir(parents=True, exist_ok=True)
        return run_dir
    if run_dir.exists() and any(run_dir.iterdir()):
        if not out.overwrite:
            raise FileExistsError(
                f"{run_dir} already holds a run. Nothing was changed. Resume it with `dualbranch fit --resume "
                f"{run_dir}`, pick another output.name, or pass --overwrite to replace it."
            )
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir


def _channel_stats(data: ImageData) -> tuple[list[float], list[float]]:
    x = data.images.float().div_(255)
    mean = x.mean(dim=(0, 2, 3))
    std = x.std(dim=(0, 2, 3)).clamp_min(1e-3)
    return [round(v, 6) for v in mean.tolist()], [round(v, 6) for v in std.tolist()]


@torch.no_grad()
def evaluate(
    model: nn.Module, info: RunInfo, data: ImageData, batch_size: int = 512, desc: str = "evaluating"
) -> torch.Tensor:
    """Logits (N, K) of ``model`` on ``data``, in order, with a progress bar."""
    model.eval()
    mean = torch.tensor(info.mean).view(1, -1, 1, 1)
    std = torch.tensor(info.std).view(1, -1, 1, 1)
    outputs = []
    for start in tqdm(range(0, len(data), batch_size), desc=desc, unit="batch", leave=False):
        x = data.images[start : start + batch_size].float() / 255
        outputs.append(model((x - mean) / std))
    return torch.cat(outputs)


def classification_metrics(logits: torch.Tensor, labels: torch.Tensor, class_names: list[str]) -> dict[str, Any]:
    from torchmetrics.functional.classification import multiclass_cohen_kappa, multiclass_confusion_matrix

    k = len(class_names)
    predictions = logits.argmax(dim=1)
    confusion = multiclass_confusion_matrix(predictions, labels, num_classes=k)
    per_class = (confusion.diag() / confusion.sum(dim=1).clamp_min(1)).tolist()
    present = confusion.sum(dim=1) > 0
    return {
        "n": len(labels),
        "accuracy": (predictions == labels).float().mean().item(),
        "balanced_accuracy": float(torch.tensor(per_class)[present].mean()),
        "cohen_kappa": float(multiclass_cohen_kappa(predictions, labels, num_classes=k)),
        "loss": torch.nn.functional.cross_entropy(logits, labels).item(),
        "per_class_accuracy": dict(zip(class_names, per_class)),
        "confusion_matrix": confusion.tolist(),
    }


def fit(config: RunConfig, resume: str | os.PathLike[str] | None = None, callbacks: list | None = None) -> Path:
    """Train as configured; returns the run folder.

    ``resume`` continues the run in that folder from its last checkpoint; ``callbacks`` adds
    Lightning callbacks of your own.
    """
    import lightning as L

    from .datamodule import ImageDataModule, load_splits
    from .engine import make_trainer, restore_best
    from .inputs import ImageInputs
    from .signal_data import is_signal_config, refuse_signal_options
    from .task import ClassificationTask

    if is_signal_config(config):
        from .signal_run import fit_signal

        return fit_signal(config, resume, callbacks)
    refuse_signal_options(config)
    if resume is not None:
        run_dir = Path(resume)
        last = run_dir / "checkpoints" / "last.ckpt"
        if not last.is_file():
            raise FileNotFoundError(
                f"Cannot resume {run_dir}: {last} does not exist (the run saved no checkpoint yet)."
            )
        verify_checkpoint(last)  # before any work: a corrupt checkpoint is named, not unpickled
    else:
        get_model_entry(config.model.name)  # an unknown model is named before a run folder is made
        run_dir = _prepare_run_dir(config)
        last = None
    trainer_cfg = config.trainer
    if trainer_cfg.threads:
        torch.set_num_threads(trainer_cfg.threads)
    L.seed_everything(trainer_cfg.seed, workers=True, verbose=False)

    splits = load_splits(config.data, trainer_cfg.seed)
    mean, std = _channel_stats(splits.train)
    args = _model_args_for_data(config, splits.train.shape, len(splits.class_names))
    info = RunInfo(config.model.name, args, list(splits.class_names), list(splits.train.shape), mean, std)
    model = build_model(config.model.name, args, config.model.checkpoint)
    if tuple(getattr(model, "input_shape", splits.train.shape)) != splits.train.shape:
        raise ConfigError(
            f"The model expects inputs {tuple(model.input_shape)} but the data is {splits.train.shape}; set "
            f"data.img_size / data.channels or model.args to agree."
        )
    if resume is None and _is_primary_process():
        atomic_write_text(run_dir / "config.yaml", dump_config(config))
        info.save(run_dir)

    datamodule = ImageDataModule(splits, config.data, trainer_cfg.seed)
    global_batch = config.data.batch_size * trainer_cfg.devices * trainer_cfg.num_nodes
    steps_per_epoch = -(-len(splits.train) // global_batch)
    inputs = ImageInputs(tuple(mean), tuple(std), config.augment)
    task = ClassificationTask(model, config, len(splits.class_names), inputs, steps_per_epoch)
    trainer = make_trainer(config, run_dir, callbacks)
    trainer.fit(task, datamodule=datamodule, ckpt_path=last)
    if not trainer.is_global_zero:
        return run_dir
    restore_best(task, run_dir)
    save_checkpoint(model, run_dir / "model.safetensors", metadata={"model": config.model.name})
    test(run_dir, splits=splits, model=model, config=config)
    return run_dir


def load_run_model(run_dir: str | os.PathLike[str]) -> tuple[nn.Module, RunInfo]:
    """The best model of a run (from ``model.safetensors``), in eval mode, with its RunInfo."""
    run_dir = Path(run_dir)
    info = RunInfo.load(run_dir)
    get_model_entry(info.model_name)  # a clear error for a model this version does not have
    model = build_model(info.model_name, info.model_args, run_dir / "model.safetensors")
    return model.eval(), info


def test(
    run_dir: str | os.PathLike[str], splits: Any = None, model: nn.Module | None = None, config: RunConfig | None = None
) -> dict[str, Any]:
    """Evaluate a run's best model on its test data (validation data if it has none); write metrics and report."""
    from .datamodule import load_splits
    from .report import write_report
    from .signal_data import is_signal_config

    run_dir = Path(run_dir)
    config = config or load_config(run_dir / "config.yaml")
    if is_signal_config(config):
        from .signal_run import test_signal

        return test_signal(run_dir, config)
    if model is None:
        model, info = load_run_model(run_dir)
    else:
        info = RunInfo.load(run_dir)
    splits = splits or load_splits(config.data, config.trainer.seed)
    data, split_name = (splits.test, "test") if splits.test is not None else (splits.val, "validation")
    logits = evaluate(model, info, data, config.data.eval_batch_size, desc=f"testing on {split_name}")
    metrics = {"split": split_name, **classification_metrics(logits, data.labels, info.class_names)}
    atomic_write_text(run_dir / "metrics.json", json.dumps(metrics, indent=2))
    accuracy, balanced = metrics["accuracy"], metrics["balanced_accuracy"]
    print(f"{split_name} accuracy {accuracy:.2%}  balanced {balanced:.2%}  ({len(data)} samples)")
    if config.output.report:
        path = write_report(run_dir, model, info, data, logits, metrics, config.output.report_thumbnails)
        print(f"report: {path}")
    return metrics
