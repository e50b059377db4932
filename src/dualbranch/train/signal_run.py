"""The signal workflow behind ``dualbranch fit / test / predict`` (EEG, multivariate series).

Same engine as image runs (:func:`~dualbranch.train.engine.make_trainer`, the
:class:`~dualbranch.train.task.ClassificationTask` recipe with :class:`~.inputs.SignalInputs`), with
one trained model per fold of the evaluation protocol. A signal run folder holds:

    config.yaml, run.json     the resolved config; model arguments, classes, channels, fold names
    model.safetensors, preprocessing.json, history.jsonl, checkpoints/, logs/
                              of the single model (``evaluation.protocol: none``), or, per fold, in
    folds/fold_<k>/           one folder per fold of holdout | kfold | loso
    predictions.csv           every test prediction: fold, example index, subject, true, predicted, probabilities
    metrics.json              pooled metrics and confusion matrix (summed over folds), per-fold rows
                              (accuracy, balanced accuracy, Cohen's κ), mean ± std, per-subject rows
    report.html               see :mod:`.signal_report`
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..checkpoint import save_checkpoint
from ..data.signal import SignalData
from ..evaluation.metrics import classification_metrics as fold_metrics
from ..evaluation.metrics import per_group_metrics, summarize
from ..models.signal_base import SignalModel
from ..registry import create_model, get_model_entry
from ..safe_io import atomic_write_text
from .checkpoint_io import verify_checkpoint
from .config import ConfigError, RunConfig, dump_config
from .signal_data import Fold, Preprocessor, SignalSource, load_signal_source, make_folds, plain_chs_info

__all__ = ["fit_signal", "is_signal_run", "load_fold_models", "signal_model_args", "test_signal"]


def is_signal_run(run_dir: str | os.PathLike[str]) -> bool:
    """True for a run folder that ``fit`` made from signal data."""
    from .run import read_run_record

    return (Path(run_dir) / "run.json").is_file() and read_run_record(run_dir).get("kind") == "signal"


def signal_model_args(config: RunConfig, data: SignalData) -> dict[str, Any]:
    """n_chans / n_times / n_outputs / sfreq / chs_info from the data, sizes that fit short inputs
    (the model's ``sizes_for_length``), then ``model.args`` on top."""
    with torch.device("meta"):
        probe = create_model(config.model.name)
    if not isinstance(probe, SignalModel):
        raise ConfigError(
            f"model.name={config.model.name} reads images; signal data needs a signal model "
            "(dbconformer or eeg_conformer)."
        )
    args: dict[str, Any] = {
        "n_chans": data.n_chans,
        "n_times": data.n_times,
        "n_outputs": data.n_classes,
        "sfreq": data.sfreq,
        "chs_info": plain_chs_info(data.chs_info),
    }
    sizes = getattr(type(probe), "sizes_for_length", None)
    if sizes is not None:
        args.update(sizes(data.n_times))
    args.update(config.model.args)
    return args


def _fold_dir(run_dir: Path, fold: Fold) -> Path:
    return run_dir if fold.name == "run" else run_dir / "folds" / fold.name


def _fit_fold(config: RunConfig, data: SignalData, fold: Fold, out: Path, args: dict, callbacks: list | None) -> None:
    """Preprocess (fitted on the fold's training part), train, keep the best (or last) weights."""
    import lightning as L

    from .datamodule import TensorDataModule
    from .engine import make_trainer, restore_best
    from .inputs import SignalInputs
    from .run import _is_primary_process, build_model
    from .task import ClassificationTask

    out.mkdir(parents=True, exist_ok=True)
    L.seed_everything(config.trainer.seed, workers=True, verbose=False)  # every fold starts alike
    train = data.subset(fold.train)
    pre = Preprocessor.fit(train, config.signal.alignment, config.signal.standardize)
    if _is_primary_process():
        pre.save(out / "preprocessing.json")

    def tensors(part: SignalData, training: bool) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.from_numpy(pre.transform(part, training)), torch.from_numpy(part.y)

    val = None if fold.val is None else tensors(data.subset(fold.val), False)
    datamodule = TensorDataModule(tensors(train, True), val, config.data, config.trainer.seed)
    model = build_model(config.model.name, args, config.model.checkpoint)
    world = config.trainer.devices * config.trainer.num_nodes
    steps_per_epoch = -(-len(train) // (config.data.batch_size * world))
    inputs = SignalInputs(config.augment)
    task = ClassificationTask(model, config, data.n_classes, inputs, steps_per_epoch)
    trainer = make_trainer(config, out, callbacks, validate=val is not None)
    last = out / "checkpoints" / "last.ckpt"
    if last.is_file():
        verify_checkpoint(last)  # a corrupt checkpoint is named, not unpickled
    trainer.fit(task, datamodule=datamodule, ckpt_path=last if last.is_file() else None)
    if trainer.is_global_zero:
        restore_best(task, out)
        save_checkpoint(model, out / "model.safetensors", metadata={"model": config.model.name})


def fit_signal(config: RunConfig, resume: str | os.PathLike[str] | None = None, callbacks: list | None = None) -> Path:
    """Train one model per fold as configured, then test them; returns the run folder.

    ``resume`` continues a run: finished folds (with ``model.safetensors``) are kept, an interrupted
    one continues from its last checkpoint.
    """
    from .run import RUN_FORMAT_VERSION, _is_primary_process, _prepare_run_dir

    if config.trainer.threads:
        torch.set_num_threads(config.trainer.threads)
    # data, folds and model arguments first: a config mistake stops the run before a folder is made
    source = load_signal_source(config)
    folds = make_folds(config, source)
    args = signal_model_args(config, source.data)
    run_dir = Path(resume) if resume is not None else _prepare_run_dir(config)
    if resume is None and _is_primary_process():
        atomic_write_text(run_dir / "config.yaml", dump_config(config))
        info = {
            "format_version": RUN_FORMAT_VERSION,
            "kind": "signal",
            "model_name": config.model.name,
            "model_args": args,
            "class_names": list(source.data.class_names),
            "input_shape": [source.data.n_chans, source.data.n_times],
            "ch_names": list(source.data.ch_names or ()),
            "sfreq": source.data.sfreq,
            "length_policy": config.signal.length_policy,
            "protocol": config.evaluation.protocol,
            "folds": [fold.name for fold in folds],
        }
        atomic_write_text(run_dir / "run.json", json.dumps(info, indent=2))
    for fold in folds:
        out = _fold_dir(run_dir, fold)
        if (out / "model.safetensors").is_file():
            continue  # finished before an interruption
        if len(folds) > 1:
            print(f"{fold.name}: {len(fold.train)} train, {0 if fold.val is None else len(fold.val)} validation, "
                  f"{len(fold.test)} test")  # fmt: skip
        _fit_fold(config, source.data, fold, out, args, callbacks)
    if _is_primary_process():
        test_signal(run_dir, config, source, folds)
    return run_dir


def load_fold_models(run_dir: str | os.PathLike[str]) -> tuple[list[tuple[str, nn.Module, Preprocessor]], dict]:
    """Every fold's best model (eval mode) with its preprocessing, and the run's ``run.json``."""
    from .run import build_model, read_run_record

    run_dir = Path(run_dir)
    info = read_run_record(run_dir)
    get_model_entry(info["model_name"])  # a clear error for a model this version does not have
    models = []
    for name in info["folds"]:
        out = run_dir if name == "run" else run_dir / "folds" / name
        if not (out / "model.safetensors").is_file():
            raise FileNotFoundError(
                f"{out} has no model.safetensors: the run did not finish; resume it with `dualbranch fit --resume`."
            )
        model = build_model(info["model_name"], info["model_args"], out / "model.safetensors").eval()
        models.append((name, model, Preprocessor.load(out / "preprocessing.json")))
    return models, info


@torch.no_grad()
def signal_logits(model: nn.Module, x: np.ndarray, batch_size: int = 256) -> torch.Tensor:
    """Logits (n, K) of preprocessed signals (n, C, T), in batches."""
    model.eval()
    return torch.cat([model(torch.from_numpy(x[i : i + batch_size])) for i in range(0, len(x), batch_size)])


def _channel_weights(model: nn.Module, x: np.ndarray, batch_size: int = 256) -> np.ndarray | None:
    """(C,) mean channel-attention weight over examples (n, C, T); None for models without it."""
    if not hasattr(model, "channel_attention_weights"):
        return None
    weights = [
        model.channel_attention_weights(torch.from_numpy(x[i : i + batch_size])) for i in range(0, len(x), batch_size)
    ]
    return torch.cat(weights).mean(dim=0).numpy()


def test_signal(
    run_dir: str | os.PathLike[str],
    config: RunConfig,
    source: SignalSource | None = None,
    folds: list[Fold] | None = None,
) -> dict[str, Any]:
    """Evaluate every fold's model on its test part (validation part where there is none); write
    ``predictions.csv``, ``metrics.json`` and the report; return the metrics."""
    from .run import classification_metrics
    from .signal_report import write_signal_report

    run_dir = Path(run_dir)
    source = source or load_signal_source(config)
    folds = folds or make_folds(config, source)
    models, info = load_fold_models(run_dir)
    if [name for name, _, _ in models] != [fold.name for fold in folds]:
        raise ConfigError(f"The config gives folds {[f.name for f in folds]}, the run has {info['folds']}.")
    data, class_names = source.data, info["class_names"]
    split = "test" if all(fold.test is not None for fold in folds) else "validation"
    rows, logits_all, labels_all, groups_all, weights, predictions = [], [], [], [], [], []
    for fold, (_, model, pre) in zip(folds, models):
        index = fold.test if fold.test is not None else fold.val
        part = data.subset(index)
        x = pre.transform(part)
        logits = signal_logits(model, x, config.data.eval_batch_size)
        predicted = logits.argmax(dim=1).numpy()
        rows.append({"fold": fold.name, "n_test": len(part), **fold_metrics(part.y, predicted)})
        groups = part.groups if part.groups is not None else np.zeros(len(part), dtype=int)
        probs = logits.softmax(dim=1).numpy()
        for i in range(len(part)):
            predictions.append(
                {"fold": fold.name, "index": int(index[i]), "subject": str(groups[i]),
                 "true": class_names[part.y[i]], "predicted": class_names[predicted[i]],
                 **{f"p_{c}": round(float(probs[i, k]), 6) for k, c in enumerate(class_names)}}
            )  # fmt: skip
        logits_all.append(logits)
        labels_all.append(torch.from_numpy(part.y))
        groups_all.append(groups)
        if (w := _channel_weights(model, x)) is not None:
            weights.append(w)
    labels = torch.cat(labels_all)
    pooled = classification_metrics(torch.cat(logits_all), labels, class_names)
    y_pred = torch.cat(logits_all).argmax(dim=1).numpy()
    metrics: dict[str, Any] = {
        "protocol": config.evaluation.protocol,
        "split": split,
        **pooled,
        "folds": rows,
        "summary": summarize(rows),
        "subjects": per_group_metrics(labels.numpy(), y_pred, np.concatenate(groups_all)),
    }
    if weights:
        metrics["channel_attention"] = dict(zip(info["ch_names"], np.mean(weights, axis=0).round(6).tolist()))
    atomic_write_text(run_dir / "metrics.json", json.dumps(metrics, indent=2))
    table = io.StringIO()
    writer = csv.DictWriter(table, fieldnames=list(predictions[0]))
    writer.writeheader()
    writer.writerows(predictions)
    atomic_write_text(run_dir / "predictions.csv", table.getvalue())
    summary = metrics["summary"]
    print(
        f"{split} accuracy {pooled['accuracy']:.2%}  balanced {pooled['balanced_accuracy']:.2%}  "
        f"({len(labels)} examples, {len(folds)} fold(s); per fold {summary['accuracy']['mean']:.2%} "
        f"± {summary['accuracy']['std']:.2%})"
    )
    if config.output.report:
        print(f"report: {write_signal_report(run_dir, info, metrics)}")
    return metrics
