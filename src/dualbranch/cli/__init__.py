"""The ``dualbranch`` command line.

This module is only the entry point: it knows each command's name and one-line help
(:mod:`.commands`), and imports a command's module when that command runs (``dualbranch fit``
imports the training stack, ``dualbranch models`` the models, ``dualbranch --help`` nothing heavy:
no torch, Lightning, torchmetrics or matplotlib). Each command module adds its sub-parser(s) to the
parser (``add_commands``) and runs the parsed arguments.

Errors: the library's own (:class:`~dualbranch.errors.DualbranchError`) are printed as one line,
exit code 2; anything else is a bug and keeps its traceback, exit code 1. An interrupted ``fit``
exits with 130 (SIGINT) or 143 (SIGTERM) after printing how to continue.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence

from .. import __version__
from ..errors import DualbranchError
from .commands import COMMANDS

__all__ = ["COMMANDS", "build_parser", "main", "overview_parser"]


def _add_models(commands: argparse._SubParsersAction) -> None:
    from . import models  # this command's module, loaded when the command runs

    models.add_commands(commands)


def _add_fit(commands: argparse._SubParsersAction) -> None:
    from . import fit  # this command's module (the training stack), loaded when the command runs

    fit.add_commands(commands)


def _add_predict(commands: argparse._SubParsersAction) -> None:
    from . import predict  # this command's module, loaded when the command runs

    predict.add_commands(commands)


def _add_data(commands: argparse._SubParsersAction) -> None:
    from . import data  # this command's module, loaded when the command runs

    data.add_commands(commands)


def _add_deploy(commands: argparse._SubParsersAction) -> None:
    from .. import deploy_cli  # bench and export, loaded when one of them runs

    deploy_cli.add_deploy_commands(commands)


# what adds each command's parser (a command module may add several)
_ADDERS = {"models": _add_models, "fit": _add_fit, "test": _add_fit, "predict": _add_predict, "bench": _add_deploy,
           "export": _add_deploy, "data": _add_data}  # fmt: skip


def _root_parser() -> tuple[argparse.ArgumentParser, argparse._SubParsersAction]:
    parser = argparse.ArgumentParser(prog="dualbranch", description="Dual-branch transformers in PyTorch.")
    parser.add_argument("--version", action="version", version=f"dualbranch {__version__}")
    return parser, parser.add_subparsers(dest="command", required=True, metavar="COMMAND")


def overview_parser() -> argparse.ArgumentParser:
    """``dualbranch --help``: every command with its one line, without importing any command."""
    parser, commands = _root_parser()
    for name, line in COMMANDS.items():
        commands.add_parser(name, help=line, add_help=False)
    return parser


def build_parser(command: str) -> argparse.ArgumentParser:
    """The full parser of ``command`` (a key of :data:`COMMANDS`), importing that command's module."""
    parser, commands = _root_parser()
    _ADDERS[command](commands)
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
