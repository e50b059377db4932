"""``dualbranch predict``: a trained run's predictions for new inputs."""

from __future__ import annotations

import argparse
import csv
import sys

from ..train.predict import PREDICT_ENGINES, predict
from .commands import COMMANDS

__all__ = ["add_commands"]


def _cmd_predict(args: argparse.Namespace) -> int:
    rows = predict(args.run, args.inputs, args.output, top_k=args.top_k, engine=args.engine, on_corrupt=args.on_corrupt)
    if args.output is None:
        writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    else:
        print(f"{len(rows)} predictions written to {args.output}")
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``predict`` to the ``dualbranch`` parser."""
    parser = commands.add_parser("predict", help=COMMANDS["predict"])
    parser.add_argument("run", metavar="RUN_DIR")
    parser.add_argument("inputs", nargs="+", metavar="INPUT")
    parser.add_argument("--output", help="CSV file to write (default: print to stdout)")
    parser.add_argument("--top-k", type=int, default=1)
    parser.add_argument(
        "--engine",
        choices=tuple(PREDICT_ENGINES),
        default="torch",
        help="fp32 PyTorch, onnxruntime, int8 (dynamic), OpenVINO fp32 or OpenVINO int8 (calibrated)",
    )
    parser.add_argument(
        "--on-corrupt",
        choices=("error", "skip"),
        default="error",
        help="an unreadable input stops the run naming every one (error), or is left out and listed (skip)",
    )
    parser.set_defaults(func=_cmd_predict)
