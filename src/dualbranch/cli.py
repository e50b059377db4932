"""The ``dualbranch`` command line."""

from __future__ import annotations

import argparse
import csv
import json
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

import torch

from . import __version__
from .deploy_cli import add_deploy_commands, add_predict_options
from .errors import ConfigError, DualbranchError, MissingFileError
from .factory import create_model
from .flops import count_macs, count_params
from .registry import get_model_entry, list_models
from .train.config import dump_config, load_config
from .train.kinds import KINDS
from .train.pipeline import fit, test
from .train.predict import predict
from .train.run_folder import read_record

__all__ = ["main", "model_table"]


def model_table(pattern: str = "*") -> list[dict[str, object]]:
    """One row per registered model: parameters and GMACs at its default input (counted on meta)."""
    rows = []
    for name in list_models(pattern):
        entry = get_model_entry(name)
        with torch.device("meta"):  # no weights are allocated: counting is instant and memory-free
            model = create_model(name)
        rows.append(
            {
                "model": name,
                "aliases": list(entry.aliases),
                "input": list(model.input_shape),  # type: ignore[arg-type]
                "params": count_params(model),
                "gmacs": round(count_macs(model) / 1e9, 3),
            }
        )
    return rows


def _print_table(rows: list[dict[str, object]]) -> None:
    header = f"{'model':<26} {'official name':<26} {'input':<14} {'params':>12} {'GMACs':>8}"
    print(header)
    print("-" * len(header))
    for row in rows:
        shape = "×".join(str(s) for s in row["input"])  # type: ignore[attr-defined]
        aliases = ", ".join(row["aliases"]) or "-"  # type: ignore[arg-type]
        print(f"{row['model']:<26} {aliases:<26} {shape:<14} {row['params']:>12,} {row['gmacs']:>8.2f}")
    print(f"\n{len(rows)} models. GMACs: multiply-adds of one image at the default input, attention counted.")


def _cmd_models(args: argparse.Namespace) -> int:
    rows = model_table(args.pattern)
    if not rows:
        print(f"No model matches {args.pattern!r}.", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        _print_table(rows)
    return 0


def _cmd_fit(args: argparse.Namespace) -> int:
    overrides = list(args.overrides)
    if args.overwrite:
        overrides.append("output.overwrite=true")
    if args.resume:
        if args.config or overrides:
            raise ConfigError("--resume continues a run with its own config.yaml; give no --config or overrides.")
        if not (Path(args.resume) / "config.yaml").is_file():
            raise MissingFileError(
                f"Cannot resume {args.resume}: not a dualbranch run folder (no config.yaml); give a folder `fit` made."
            )
        config = load_config(Path(args.resume) / "config.yaml")
    else:
        config = load_config(args.config, overrides)
    if args.print_config:
        print(dump_config(config), end="")
        return 0
    run_dir = fit(config, resume=args.resume)
    print(f"run folder: {run_dir}")
    return 0


def _cmd_test(args: argparse.Namespace) -> int:
    read_record(args.run)  # "not a run folder" before anything else
    config = load_config(Path(args.run) / "config.yaml", args.overrides)
    test(args.run, config=config)
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    rows = predict(args.run, args.inputs, args.output, top_k=args.top_k, engine=args.engine)
    if args.output is None:
        writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    else:
        print(f"{len(rows)} predictions written to {args.output}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dualbranch", description="Dual-branch transformers in PyTorch.")
    parser.add_argument("--version", action="version", version=f"dualbranch {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    models = commands.add_parser("models", help="list registered models with parameters and GMACs")
    models.add_argument("pattern", nargs="?", default="*", help="shell-style filter, e.g. 'crossvit_*dagger*'")
    models.add_argument("--json", action="store_true", help="print JSON instead of a table")
    models.set_defaults(func=_cmd_models)

    fit = commands.add_parser(
        "fit",
        help="train a model (default: a small CrossViT on Fashion-MNIST)",
        description="Train from a YAML config plus section.key=value overrides, e.g. "
        "`dualbranch fit optim.epochs=5 data.name=digits`. Datasets (data.name) by kind: "
        + "; ".join(f"{kind.name}: {', '.join(kind.datasets)}" for kind in KINDS.values())
        + ".",
    )
    fit.add_argument(
        "--config",
        help="YAML file, or the name of a built-in config (fashion_mnist, basicmotions, japanesevowels, "
        "eegbci_s001); default: fashion_mnist",
    )
    fit.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    fit.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run from its last checkpoint")
    fit.add_argument("--overwrite", action="store_true", help="replace an existing run folder of the same name")
    fit.add_argument("overrides", nargs="*", metavar="section.key=value")
    fit.set_defaults(func=_cmd_fit)

    test = commands.add_parser("test", help="evaluate a run's best model and rewrite its metrics and report")
    test.add_argument("run", metavar="RUN_DIR")
    test.add_argument("overrides", nargs="*", metavar="section.key=value", help="e.g. data.test_path=holdout/")
    test.set_defaults(func=_cmd_test)

    predict = commands.add_parser(
        "predict",
        help="classify image files, folders or an .npz (images, or signals x (n, C, T)), or forecast after series "
        "tables (.csv, .parquet, .npz), with a trained run",
    )
    predict.add_argument("run", metavar="RUN_DIR")
    predict.add_argument("inputs", nargs="+", metavar="INPUT")
    predict.add_argument("--output", help="CSV file to write (default: print to stdout)")
    add_predict_options(predict)  # --top-k, --engine: the engine names bench and export share
    predict.set_defaults(func=_cmd_predict)
    add_deploy_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except DualbranchError as err:
        # a mistake in the input, the files or the setup: say what and how to fix it, in one line
        print(f"dualbranch {args.command}: error: {err}", file=sys.stderr)
        return 2
    except Exception:
        # anything else is a bug in dualbranch: keep the traceback, and ask for a report
        traceback.print_exc()
        print(
            f"dualbranch {args.command}: this is a bug in dualbranch, not a problem with your input; please report "
            "it on the project's issue tracker with the command you ran and the traceback above.",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
