"""``dualbranch predict``: a trained run's predictions for new inputs.

``--engine`` takes the engine names that ``bench --engines`` and ``export --format`` share
(:mod:`dualbranch.engine_names`), or ``auto``; the old names ``torch`` and ``int8`` still work, with a note.
"""

from __future__ import annotations

import argparse
import csv
import sys

from ..engine_names import OLD_NAMES, OLD_NAMES_UNTIL, PREDICT_ENGINES
from ..train.predict import predict
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
    parser.add_argument(
        "--top-k",
        type=int,
        default=1,
        metavar="K",
        help="classes: also write the K most probable classes with their probabilities (label_2, probability_2, "
        "...); default 1",
    )
    old = ", ".join(f"{name} (now {new})" for name, new in OLD_NAMES.items())
    # no argparse choices: an old name is translated with a note, an unknown one is predict's one-line error
    parser.add_argument(
        "--engine",
        default="eager",
        metavar="ENGINE",
        help=f"how the model runs: {', '.join(PREDICT_ENGINES)} (default eager: fp32 PyTorch; openvino-int8 is "
        "calibrated once on the training data and stored in the run; auto: the fastest engine that agrees with "
        f"eager on the inputs, measured once on this machine and stored in the run). Old names: {old}, until "
        f"dualbranch {OLD_NAMES_UNTIL}",
    )
    parser.add_argument(
        "--on-corrupt",
        choices=("error", "skip"),
        default="error",
        help="an unreadable input stops the run naming every one (error), or is left out and listed (skip)",
    )
    parser.set_defaults(func=_cmd_predict)
