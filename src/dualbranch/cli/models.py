"""``dualbranch models``: the registered models with their parameters and GMACs."""

from __future__ import annotations

import argparse
import json
import sys

import torch

from ..factory import create_model
from ..flops import count_macs, count_params
from ..registry import get_model_entry, list_models
from .commands import COMMANDS

__all__ = ["add_commands", "model_table"]


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


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``models`` to the ``dualbranch`` parser."""
    models = commands.add_parser("models", help=COMMANDS["models"])
    models.add_argument("pattern", nargs="?", default="*", help="shell-style filter, e.g. 'crossvit_*dagger*'")
    models.add_argument("--json", action="store_true", help="print JSON instead of a table")
    models.set_defaults(func=_cmd_models)
