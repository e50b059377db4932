"""``dualbranch bench`` and ``dualbranch export``: the command-line side of the benchmark and deploy paths.
Both name engines with the vocabulary ``predict --engine`` uses (:mod:`dualbranch.engine_names`).

:mod:`dualbranch.cli` imports this module only when ``bench`` or ``export`` runs, so ``dualbranch --help``
does not load the benchmark, the exporters or the training stack imported here.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .bench import bench_model, format_table
from .checkpoint import read_weight_config
from .engine_names import ENGINES, EXPORT_FORMATS
from .errors import ConfigError, RunFolderError
from .export import export_model
from .factory import create_model
from .registry import get_model_entry
from .safe_io import atomic_write_text
from .train.calibrated import stored_int8
from .train.fold_models import FoldModel, load_fold_models
from .train.kinds import kind_named
from .train.run_folder import fold_dir, read_record

__all__ = ["add_deploy_commands"]


def _cmd_bench(args: argparse.Namespace) -> int:
    # a missing optional dependency skips that engine with a note in the results (bench_model)
    engines = ENGINES if "all" in args.engines else tuple(dict.fromkeys(args.engines))
    results = [
        bench_model(
            name,
            batches=tuple(args.batch),
            threads=args.threads,
            repeats=args.repeats,
            warmup=args.warmup,
            vs_timm=args.vs == "timm",
            engines=engines,
            train_batch=args.train_batch,
            memory=not args.no_memory,
        )
        for name in args.models
    ]
    text = json.dumps(results, indent=2)
    if args.output:
        atomic_write_text(args.output, text + "\n")
    if args.json:
        print(text)
    else:
        print(format_table(results))
        for result in results:
            if "timm" in result:
                print(f"{result['model']}: {result['timm']}")
    return 0


def _model_to_export(source: str, checkpoint: str | None, fold: str | None) -> tuple[Any, dict[str, str]]:
    """A run folder's fold model (its only fold, or ``fold``), or a registered model (random weights
    unless ``checkpoint``; no preprocessing), in eval mode, as a :class:`~dualbranch.train.fold_models.FoldModel`
    with metadata saying where it came from."""
    path = Path(source)
    if not path.is_dir():
        if fold is not None:
            raise ConfigError("--fold picks a fold of a run folder; a model name has none.")
        model = create_model(source, checkpoint_path=checkpoint)
        weights = read_weight_config(checkpoint, source) if checkpoint else get_model_entry(source).weights
        return FoldModel(source, model.eval(), None, weights), {
            "model": source,
            "weights": checkpoint or "random initialisation",
        }
    if checkpoint is not None:
        raise ConfigError("--checkpoint gives weights for a model name; a run folder exports its own trained weights.")
    record = read_record(path)
    if fold is None and len(record.folds) > 1:
        raise RunFolderError(
            f"{path} holds {len(record.folds)} fold models ({', '.join(record.folds)}); pick one with --fold NAME."
        )
    (chosen,), record = load_fold_models(path, [fold] if fold else None)
    meta = {"model": record.model_name, "run": str(path), "fold": chosen.name, "classes": ",".join(record.class_names)}
    preprocessing = fold_dir(path, chosen.name) / "preprocessing.json"
    if preprocessing.is_file():  # the exported model expects input preprocessed like this
        meta["preprocessing"] = str(preprocessing)
    return chosen, meta


def _note(line: str) -> None:
    print(line, file=sys.stderr)


def _cmd_export(args: argparse.Namespace) -> int:
    fold, meta = _model_to_export(args.source, args.checkpoint, args.fold)
    quantized = None
    if args.format == "openvino-int8" and "run" in meta:
        # calibrated once on the fold's training data and kept in the run: predict reuses it
        kind = kind_named(read_record(args.source).kind)
        pipeline = kind.input_pipeline(fold.preprocessing, kind.augment_section())
        quantized, record = stored_int8(args.source, fold.name, fold.model, fold.preprocessing, pipeline, _note)
        meta["calibration_sha256"] = record["calibration_sha256"]
        meta["calibration_examples"] = str(record["calibration_examples"])
    summary = export_model(
        fold.model, args.format, args.output, args.overwrite, meta, openvino_model=quantized, weights=fold.weights
    )
    print(json.dumps(summary, indent=2))
    return 0


def add_deploy_commands(commands: argparse._SubParsersAction) -> None:
    """Add the ``bench`` and ``export`` subcommands to the ``dualbranch`` parser."""
    bench = commands.add_parser(
        "bench",
        help="speed, memory and GFLOP/s of models (optionally against timm and on deploy engines)",
        description="Median (min–max) over --repeats timed runs after warm-up. Ratios vs timm are timm time / ours.",
    )
    bench.add_argument("models", nargs="+", metavar="MODEL")
    bench.add_argument("--batch", type=int, nargs="+", default=[1, 32], help="inference batch sizes (default 1 32)")
    bench.add_argument("--train-batch", type=int, help="training-step batch (default: the largest --batch; 0 skips)")
    bench.add_argument("--threads", type=int, help="torch threads (default: all logical CPUs)")
    bench.add_argument("--repeats", type=int, default=5, help="timed samples per measurement (default 5)")
    bench.add_argument("--warmup", type=int, default=2, help="untimed runs first (default 2)")
    bench.add_argument("--vs", choices=["timm"], help="also time timm's implementation with the same weights")
    bench.add_argument(
        "--engines",
        nargs="+",
        default=["eager"],
        choices=[*ENGINES, "all"],
        help="inference engines to time, each checked against fp32 eager first (all: every one)",
    )
    bench.add_argument("--no-memory", action="store_true", help="skip the peak-memory processes")
    bench.add_argument("--json", action="store_true", help="print JSON instead of a table")
    bench.add_argument("--output", help="also write the JSON here")
    bench.set_defaults(func=_cmd_bench)

    export = commands.add_parser(
        "export",
        help="export a run or a registered model to ONNX, OpenVINO IR (fp32, bf16 hint, calibrated int8), "
        "a torch.export program (.pt2) or safetensors",
    )
    export.add_argument("source", metavar="RUN_OR_MODEL", help="a run folder made by `fit`, or a model name")
    export.add_argument(
        "--format",
        choices=EXPORT_FORMATS,
        required=True,
        help="onnx, openvino, openvino-bf16 and openvino-int8 are the engines of the same names (openvino-bf16: "
        "the fp32 IR with the bf16 precision hint recorded for dualbranch's loader; openvino-int8: a run's int8 "
        "model, calibrated once on its training data and kept in the run for predict); pt2: torch.export; "
        "safetensors: the weights",
    )
    export.add_argument("--output", required=True, help="file to write (openvino: NAME.xml, with NAME.bin beside it)")
    export.add_argument("--checkpoint", help="weights for a model name (default: random initialisation)")
    export.add_argument("--fold", help="which fold's model of a run with several (e.g. fold_0)")
    export.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    export.set_defaults(func=_cmd_export)
