"""``dualbranch data pack``: a photo folder (or a CSV of paths and labels) as image shards."""

from __future__ import annotations

import argparse
import json

from ..data.shard_pack import pack_images
from .commands import COMMANDS

__all__ = ["add_commands"]


def _cmd_pack(args: argparse.Namespace) -> int:
    summary = pack_images(args.source, args.out, shard_mb=args.shard_mb, on_corrupt=args.on_corrupt, seed=args.seed)
    print(json.dumps(summary, indent=2))
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``data`` (with its sub-command ``pack``) to the ``dualbranch`` parser."""
    parser = commands.add_parser("data", help=COMMANDS["data"])
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    pack = actions.add_parser(
        "pack",
        help="write a photo folder (class sub-folders, or train/ val/ test/ of them) or a CSV (path,label) as "
        "Parquet shards that fit streams from a disk or object storage (data.name=image_shards)",
    )
    pack.add_argument("source", help="photo folder, folder of split folders, or CSV with path and label columns")
    pack.add_argument("out", help="new folder for the shards: OUT/<split>/part-*.parquet")
    pack.add_argument("--shard-mb", type=float, default=256, help="size of a shard file (default 256 MB)")
    pack.add_argument("--on-corrupt", choices=("error", "skip"), default="error", help="an unreadable photo")
    pack.add_argument("--seed", type=int, default=0, help="the order the photos are written in")
    pack.set_defaults(func=_cmd_pack)
