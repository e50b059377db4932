"""The ``dualbranch`` command line.

This module is only the entry point: it knows each command's name, one-line help and module, and
imports a command's module when that command runs (``dualbranch fit`` imports the training stack,
``dualbranch models`` the models, ``dualbranch --help`` nothing heavy: no torch, Lightning,
torchmetrics or matplotlib). Each command module adds its sub-parser(s) to the parser (``add_*``)
and runs the parsed arguments.

Errors: the library's own (:class:`~dualbranch.errors.DualbranchError`) are printed as one line,
exit code 2; anything else is a bug and keeps its traceback, exit code 1. An interrupted ``fit``
exits with 130 (SIGINT) or 143 (SIGTERM) after printing how to continue.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback
from collections.abc import Sequence
from dataclasses import dataclass

from .. import __version__
from ..errors import DualbranchError

__all__ = ["COMMANDS", "Command", "main"]


@dataclass(frozen=True)
class Command:
    """A sub-command: its one-line help, and the module (and its function) that adds its parser."""

    help: str
    module: str
    adder: str = "add_commands"


COMMANDS = {
    "models": Command("list registered models with parameters and GMACs", "dualbranch.cli.models"),
    "fit": Command(
        "train a model (default: Fashion-MNIST; model, batch size, augmentation and schedule chosen from the data)",
        "dualbranch.cli.fit",
    ),
    "test": Command("evaluate a run's kept model and rewrite its metrics and report", "dualbranch.cli.fit"),
    "predict": Command(
        "classify image files, folders or an .npz (images, or signals x (n, C, T)), or forecast after series "
        "tables (.csv, .parquet, .npz), with a trained run",
        "dualbranch.cli.predict",
    ),
    "bench": Command(
        "speed, memory and GFLOP/s of models (optionally against timm and on deploy engines)",
        "dualbranch.deploy_cli",
        "add_deploy_commands",
    ),
    "export": Command(
        "export a run or a registered model to ONNX, OpenVINO IR, a torch.export program (.pt2) or safetensors",
        "dualbranch.deploy_cli",
        "add_deploy_commands",
    ),
}


def _root_parser() -> tuple[argparse.ArgumentParser, argparse._SubParsersAction]:
    parser = argparse.ArgumentParser(prog="dualbranch", description="Dual-branch transformers in PyTorch.")
    parser.add_argument("--version", action="version", version=f"dualbranch {__version__}")
    return parser, parser.add_subparsers(dest="command", required=True, metavar="COMMAND")


def overview_parser() -> argparse.ArgumentParser:
    """``dualbranch --help``: every command with its one line, without importing any command."""
    parser, commands = _root_parser()
    for name, command in COMMANDS.items():
        commands.add_parser(name, help=command.help, add_help=False)
    return parser


def build_parser(command: str) -> argparse.ArgumentParser:
    """The full parser of ``command`` (a key of :data:`COMMANDS`), importing that command's module."""
    parser, commands = _root_parser()
    entry = COMMANDS[command]
    getattr(importlib.import_module(entry.module), entry.adder)(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((arg for arg in argv if not arg.startswith("-")), None)
    if command not in COMMANDS:
        overview_parser().parse_args(argv)  # prints the overview, the version or the usage error, and exits
        return 2
    args = build_parser(command).parse_args(argv)
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
