"""The one run pipeline behind ``dualbranch fit / test``, for every data kind and objective.

``fit``: config -> the data kind loads the dataset -> the kind's folds (one for a plain train/test
run, k for a protocol: :func:`dualbranch.evaluation.protocols.make_folds`) -> model arguments from
the data -> the run folder and its record -> per fold: preprocessing fitted on the fold's training
part, the kind's input pipeline, the objective, the kind's scoring (:mod:`.scoring`: what is
measured and which checkpoint is best), the Lightning trainer (:mod:`.engine`), the best weights ->
``test``: every fold's model (read back by :mod:`.fold_models`) on its test part, ``metrics.json``,
``predictions.csv`` and the report.

Nothing here asks which kind of data a run has; the kind (:mod:`.kinds`) answers every such question.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch import nn

from ..checkpoint import load_for_finetuning
from ..errors import ConfigError, RunFolderError
from ..evaluation.protocols import Fold
from ..registry import get_model_entry
from ..safe_io import atomic_write_text
from ..weight_files import save_checkpoint
from .budget import shared_step_rate
from .callbacks import read_history
from .checkpoint_io import verify_checkpoint
from .checkpoints import RunCheckpoints
from .config import RunConfig, dump_config, load_config
from .datamodule import ExamplesDataModule
from .divergence import check_weights
from .engine import make_trainer, shows_progress
from .evaluate import evaluate_run, score_fold
from .fold_models import FoldModel, load_fold_models
from .interrupt import RunInterrupted, stop_on_signals
from .kinds import DataKind, FoldEvaluation, LoaderInputs, RunData
from .memory import activation_bytes_per_example
from .objectives import make_objective
from .own_models import compare_own_models, fit_own_model
from .precision import choose_precision
from .recipe import Choice, Recipe, resolve_recipe, resolve_validation
from .run_folder import RunRecord, fold_dir, is_primary_process, read_record
from .run_lock import lock_run
from .run_model import build_model, model_args, model_macs, model_options, step_rate
from .run_place import RunPlace, default_run_name, open_run, resume_note, resume_run
from .scoring import Scoring
from .search import run_search
from .task import TrainingTask, fusion_split

__all__ = ["FoldModel", "Plan", "fit", "folds_of", "load_fold_models", "plan_run", "test"]


def _trial_score(config: RunConfig, kind: DataKind, dataset: RunData, fold: Fold, scoring: Scoring) -> float:
    """An ``optim.search`` trial: train ``config`` on ``fold`` in a scratch folder; its best validation score."""
    with tempfile.TemporaryDirectory(prefix="dualbranch-search-") as scratch:
        _fit_fold(config, kind, dataset, fold, Path(scratch), model_args(config, kind, dataset), None, scoring)
        scores = [row[scoring.monitor] for row in read_history(Path(scratch)) if row.get(scoring.monitor) is not None]
    return max(scores) if scoring.mode == "max" else min(scores)


def folds_of(config: RunConfig, dataset: RunData) -> list[Fold]:
    """The folds a run of ``config`` trains and tests on (the data kind's; deterministic given ``trainer.seed``)."""
    return config.kind.folds(dataset, config.data, config.evaluation, config.trainer.seed)


def last_checkpoint(out: Path) -> Path:
    """Where a fold's trainer keeps the checkpoint to resume from."""
    return out / "checkpoints" / "last.ckpt"


def _fit_fold(
    config: RunConfig,
    kind: DataKind,
    dataset: RunData,
    fold: Fold,
    out: Path,
    args: dict,
    callbacks: list | None,
    scoring: Scoring,
    on_first_write: Callable[[], None] | None = None,
) -> None:
    """Preprocess (fitted on the fold's training part), train, keep the kept epoch's weights
    (:mod:`.checkpoints`); ``on_first_write`` runs once the fold's first checkpoint is on disk."""
    out.mkdir(parents=True, exist_ok=True)
    L.seed_everything(config.trainer.seed, workers=True, verbose=False)  # every fold starts alike
    train = dataset.examples.subset(fold.train)
    preprocessing = kind.fit_preprocessing(train, config.data)
    if is_primary_process():
        atomic_write_text(out / "preprocessing.json", json.dumps(preprocessing.to_json()))

    def served(index: np.ndarray, training: bool, augmented: bool = True) -> tuple[LoaderInputs, torch.Tensor]:
        examples = train if index is fold.train else dataset.examples.subset(index)
        augment = config.augment if augmented else None
        inputs = kind.loader_inputs(examples, preprocessing, training, augment, config.trainer.seed)
        return inputs, torch.from_numpy(dataset.y[index])

    model = build_model(config.model.name, args)
    # a model that chooses how to fuse its branches does so on the validation split, else on held-out examples
    fitted, held = fusion_split(model, fold.train, fold.val is not None, dataset.y, config.trainer.seed,
                                dataset.class_names)  # fmt: skip
    val = None if fold.val is None else served(fold.val, False)
    datamodule = ExamplesDataModule(served(fitted, True), val, config.data, config.trainer.seed)
    if config.model.checkpoint is not None and not last_checkpoint(out).is_file():
        # a published or earlier model to start from: new head, positions and first conv adapted
        notes = load_for_finetuning(model, config.model.checkpoint, config.model.name)
        for note in notes or ["every weight loaded as it is"]:
            print(f"{config.model.checkpoint}: {note}")
    world = config.trainer.devices * config.trainer.num_nodes
    steps_per_epoch = datamodule.train_batches(world)
    inputs = kind.input_pipeline(preprocessing, config.augment)
    model = model.to(memory_format=inputs.memory_format)  # strides only: the state dict is the same
    if config.trainer.compile:
        model.compile()  # in place: the state dict keeps its names
    objective = make_objective(config.objective.name, config.objective.args)
    # parts fitted in closed form see the training examples as served for training, unaugmented
    closed_form = served(fitted, True, augmented=False) if hasattr(model, "fit_closed_form") else None
    task = TrainingTask(model, config, scoring, inputs, objective, steps_per_epoch, closed_form)
    trainer = make_trainer(
        config, out, callbacks, validate=val is not None, steps_per_epoch=steps_per_epoch,
        monitor=(scoring.monitor, scoring.mode), metric=scoring.step_metric, on_first_write=on_first_write,
    )  # fmt: skip
    last = last_checkpoint(out)
    if last.is_file():
        verify_checkpoint(last)  # a corrupt checkpoint is named, not unpickled
    trainer.fit(task, datamodule=datamodule, ckpt_path=last if last.is_file() else None)
    model.to(memory_format=torch.contiguous_format)  # evaluated and saved as `test` and `predict` load it
    if trainer.is_global_zero:
        checkpoints: RunCheckpoints = trainer.checkpoint_callback  # type: ignore[assignment]
        kept = checkpoints.kept_weights()
        if kept is not None:
            task.load_state_dict(kept)
        if hasattr(model, "choose_fusion") and (held is not None or val is not None):
            refit = None if held is None else served(fold.train, True, augmented=False)
            task.choose_fusion(served(held, True, augmented=False) if held is not None else val, refit)
        info = checkpoints.kept(trainer.current_epoch)
        check_weights(model, f"the kept epoch {info['epoch']} of {info['of']}", config)
        # how to feed these weights (input size, normalisation, crop) and where they begin and end: predict,
        # export and a run that fine-tunes them read it back
        weights = get_model_entry(config.model.name).weights.replace(
            input_size=tuple(model.input_shape), **kind.feed(preprocessing)
        )
        metadata = {"model": config.model.name, "kept": json.dumps(info)}
        save_checkpoint(model, out / "model.safetensors", metadata=metadata, weights=weights)


def _validation_scores(
    config: RunConfig, kind: DataKind, dataset: RunData, fold: Fold, scoring: Scoring
) -> FoldEvaluation:
    """``config``'s model trained on ``fold.train`` in a scratch folder, scored on ``fold.test`` (a kind's
    comparison with its own models, :meth:`DataKind.choose_own_model`)."""
    args = model_args(config, kind, dataset)
    with tempfile.TemporaryDirectory(prefix="dualbranch-validation-") as scratch:
        _fit_fold(config, kind, dataset, fold, Path(scratch), args, None, scoring)
        preprocessing = kind.read_preprocessing(json.loads((Path(scratch) / "preprocessing.json").read_text()), {})
        model = build_model(config.model.name, args, Path(scratch) / "model.safetensors").eval()
        return score_fold(config, kind, dataset, fold, FoldModel(fold.name, model, preprocessing))


def _finished(out: Path, config: RunConfig) -> bool:
    """Whether a fold trained all its epochs (a resumed run keeps it); a stopped one continues."""
    history = read_history(out)
    done = bool(history) and (history[-1]["epoch"] >= config.optim.epochs or bool(history[-1].get("early_stop")))
    return (out / "model.safetensors").is_file() and done


@dataclasses.dataclass
class Plan:
    """What a run will do, decided before any folder is made: the config with the recipe filled in,
    the data, its folds, how it is scored, the model's arguments and the run record."""

    config: RunConfig
    dataset: RunData
    folds: list[Fold]
    scoring: Scoring
    recipe: Recipe
    args: dict[str, Any]
    record: RunRecord


def plan_run(config: RunConfig, resume: str | os.PathLike[str] | None = None, dry: bool = False) -> Plan:
    """Load the data and resolve the recipe for ``config`` (a copy; ``config`` is not changed), or for the
    run folder ``resume``. ``dry`` trains nothing: no ``optim.search`` trials, no measurement for a
    wall-time budget (``--print-config``). Mistakes in the config or the data stop here, before a
    folder is made."""
    kind, given = config.kind, config
    config = copy.deepcopy(config)  # the recipe fills in the caller's open keys on a copy
    own = kind.own_model(config.data)  # a model the kind fits itself (no training), or None
    if resume is not None and own is None:
        config.model.name = read_record(resume).model_name  # the run's own model, whatever config.yaml says
    if config.model.name != "auto" and own is None:
        get_model_entry(config.model.name)  # an unknown model is named before any work
    dataset = kind.load(config.data, config.trainer.seed, shows_progress(config.trainer))
    n_test = 0 if dataset.own_test is None else len(dataset.own_test)
    early = None
    if dataset.own_val is None:  # data with a validation split of its own keeps it
        early = resolve_validation(config, len(dataset) - n_test, dataset.own_test is not None)
    folds = folds_of(config, dataset)

    def scoring_of(c: RunConfig) -> Scoring:
        return kind.scoring(dataset.class_names, kind.describe(dataset, c.data))

    def model_of(c: RunConfig) -> Callable[[], nn.Module]:
        return lambda: build_model(c.model.name, model_args(c, kind, dataset))

    def precision_of(c: RunConfig) -> tuple[str, str]:
        key = f"{c.model.name} {json.dumps(model_args(c, kind, dataset), sort_keys=True)}"
        return choose_precision(c.trainer.accelerator, model_of(c), key)

    if own is not None:  # nothing to train: no schedule, batch or precision to choose
        recipe = Recipe(config.optim.budget, [Choice(k, v, why) for k, v, why in dataset.decided])
    else:
        recipe = resolve_recipe(
            config, kind, dataset, len(folds[0].train), model_options,
            None if dry else lambda c: shared_step_rate(lambda: step_rate(c, kind, dataset, folds[0], scoring_of(c))),
            lambda c: model_macs(c, kind, dataset), early=(early,) if early else (),
            activation_bytes=lambda c: activation_bytes_per_example(model_of(c)), precision=precision_of,
        )  # fmt: skip
    if not dry and resume is None and own is None:
        found = compare_own_models(
            config, given, dataset, folds[0], lambda f: _validation_scores(config, kind, dataset, f, scoring_of(config))
        )
        if found is not None and found[1] is not None:  # the kind's own model won: a run of it instead
            plan = plan_run(found[1], dry=True)
            plan.recipe.choices.insert(0, found[0])
            return plan
        if found is not None:
            recipe.choices.append(found[0])
    # the data's facts after the recipe: it may choose what they depend on (streamed photos' input size)
    facts = kind.describe(dataset, config.data)
    input_shape = facts.pop("input_shape")
    scoring = kind.scoring(dataset.class_names, facts)
    # a resumed run keeps what its search chose (config.yaml holds the winners): searching again could
    # choose differently and break the resume's bit-identity
    if not dry and resume is None and config.optim.search:
        print(recipe.describe(), flush=True)
        recipe.choices += run_search(
            config, folds[0].val is not None and len(folds[0].val) > 0, model_options,
            lambda c: _trial_score(c, kind, dataset, folds[0], scoring), maximize=scoring.mode == "max",
        )  # fmt: skip
    args = {} if own is not None else model_args(config, kind, dataset)
    record = RunRecord(
        kind.name, own or config.model.name, args, list(dataset.class_names), input_shape,
        config.evaluation.protocol, [fold.name for fold in folds], facts,
    )  # fmt: skip
    if own is None:
        with torch.device("meta"):
            shape = tuple(getattr(build_model(config.model.name, args), "input_shape", input_shape))
        if list(shape) != list(input_shape):
            raise ConfigError(
                f"The model expects inputs {shape} but the data is {tuple(input_shape)}; remove the input size "
                f"from model.args (the data sets it), or change the data to agree."
            )
    if resume is not None:
        saved = read_record(resume)
        if saved.folds != record.folds or saved.class_names != record.class_names:
            raise RunFolderError(f"{resume}: its folds or classes differ from the data's now; it cannot be resumed.")
        record, args = saved, saved.model_args  # the run's own model, whatever the defaults are now
        started = [fold_dir(Path(resume), f.name) / "checkpoints" / "last.ckpt" for f in folds]
        if not any(path.is_file() for path in started):
            raise RunFolderError(
                f"Cannot resume {resume}: {started[0]} does not exist (the run saved no checkpoint yet); "
                "start it again with `dualbranch fit --overwrite`."
            )
    return Plan(config, dataset, folds, scoring, recipe, args, record)


def fit(config: RunConfig, resume: str | os.PathLike[str] | None = None, callbacks: list | None = None) -> Path:
    """Train one model per fold as configured, then test; returns the run folder.

    ``resume`` continues a run: finished folds (with ``model.safetensors``) are kept, an interrupted
    one continues from its last checkpoint. ``callbacks`` adds Lightning callbacks of your own. The
    folder is locked while the run writes it (:mod:`.run_lock`); SIGINT / SIGTERM save a resumable
    state and raise :class:`~.interrupt.RunInterrupted` (:mod:`.checkpoints`, :mod:`.interrupt`).
    """
    if config.trainer.threads:
        torch.set_num_threads(config.trainer.threads)
    with stop_on_signals():
        # a resumed folder is locked before anything is loaded: a second resume of it stops at once
        place = resume_run(resume) if resume is not None else None
        failed = True
        try:
            plan = plan_run(config, resume)
            if plan.recipe.choices and not plan.config.optim.search:
                print(plan.recipe.describe(), flush=True)
            if place is None:
                place = open_run(plan.config.output, default_run_name(plan.record.model_name, plan.config.data.name))
            _train(plan, place, resume is None, callbacks)
            if is_primary_process():
                test(place.final, config=plan.config, dataset=plan.dataset, folds=plan.folds)
            failed = False
        except RunInterrupted as stop:
            stop.note = resume_note(place)
            raise
        finally:
            if place is not None:
                place.close(failed)
    return place.final


def _train(plan: Plan, place: RunPlace, fresh: bool, callbacks: list | None) -> None:
    """Write the run's record (a fresh run) and train every fold that has not finished."""
    config, run_dir = plan.config, place.folder
    if fresh and is_primary_process():
        atomic_write_text(run_dir / "config.yaml", dump_config(config))
        plan.record.save(run_dir)
        atomic_write_text(run_dir / "recipe.json", plan.recipe.to_json())
    for fold in plan.folds:
        out = fold_dir(run_dir, fold.name)
        if _finished(out, config):
            continue  # finished before an interruption
        if len(plan.folds) > 1:
            n_val = 0 if fold.val is None else len(fold.val)
            n_test = 0 if fold.test is None else len(fold.test)
            print(f"{fold.name}: {len(fold.train)} train, {n_val} validation, {n_test} test")
        if config.kind.own_model(config.data) is not None:
            fit_own_model(config, config.kind, plan.dataset, fold, out)
            continue
        args = plan.args
        _fit_fold(config, config.kind, plan.dataset, fold, out, args, callbacks, plan.scoring, place.first_checkpoint)


def test(
    run_dir: str | os.PathLike[str],
    config: RunConfig | None = None,
    dataset: RunData | None = None,
    folds: list[Fold] | None = None,
) -> dict[str, Any]:
    """Score every fold's model on its test part (validation part where there is none); write
    ``metrics.json``, ``predictions.csv`` and the report; return the metrics."""
    run_dir = Path(run_dir)
    config = config or load_config(run_dir / "config.yaml")
    kind = config.kind
    dataset = dataset or kind.load(config.data, config.trainer.seed, config.trainer.progress_bar)
    folds = folds or folds_of(config, dataset)
    models, record = load_fold_models(run_dir)
    if [m.name for m in models] != [fold.name for fold in folds]:
        raise ConfigError(f"The config gives folds {[f.name for f in folds]}, the run has {record.folds}.")
    with lock_run(run_dir, "test"):  # not while another process trains the folder (re-entrant within fit)
        return evaluate_run(run_dir, config, kind, dataset, folds, models, record)
