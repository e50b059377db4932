"""``dualbranch fit`` and ``dualbranch test``: training a run and evaluating it again."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import textwrap
from pathlib import Path

from ..errors import ConfigError, MissingFileError
from ..train.config import RunConfig, dump_config, load_config
from ..train.interrupt import RunInterrupted
from ..train.kinds import KINDS
from ..train.pipeline import fit, plan_run, test
from ..train.run_folder import read_record
from ..train.sections import OptimSection, OutputSection, TrainerSection
from .commands import COMMANDS

__all__ = ["add_commands", "describe_plan"]

AUTO = "auto: chosen from the data at the start of the run"
# keys the recipe fills in when they are left at their defaults (train/recipe.py; the data kind adds
# its augmentation and model options)
RECIPE_KEYS = ("model.name", "data.batch_size", "model.args.drop_path_rate", "optim.epochs", "optim.warmup_epochs")


def _config(args: argparse.Namespace) -> RunConfig:
    overrides = list(args.overrides)
    if args.overwrite:
        overrides.append("output.overwrite=true")
    if not args.resume:
        return load_config(args.config, overrides)
    if args.config or overrides:
        raise ConfigError("--resume continues a run with its own config.yaml; give no --config or overrides.")
    if not (Path(args.resume) / "config.yaml").is_file():
        raise MissingFileError(
            f"Cannot resume {args.resume}: not a dualbranch run folder (no config.yaml); give a folder `fit` made."
        )
    return load_config(Path(args.resume) / "config.yaml")


def describe_plan(config: RunConfig, resume: str | None = None) -> str:
    """The configuration a run of ``config`` will use, the recipe's choices filled in from the data (loaded
    for this) and listed with their reasons, as YAML with comments."""
    plan = plan_run(config, resume, dry=True)
    lines = [
        "# What `dualbranch fit` will run: the config with the recipe's choices filled in from the data.",
        f"# budget {plan.recipe.budget}; chosen from the data (set any key yourself to keep your value):",
    ]
    lines += [f"#   {c.key} = {c.value}   ({c.reason})" for c in plan.recipe.choices]
    for key in plan.config.optim.search:
        lines.append(f"#   {key}: chosen on the validation split at the start of the run (optim.search)")
    if not plan.recipe.choices:
        lines.append("#   (nothing: every key the recipe fills in is set)")
    return "\n".join(lines) + "\n" + dump_config(plan.config)


def _cmd_fit(args: argparse.Namespace) -> int:
    config = _config(args)
    if args.print_config:
        print(describe_plan(config, args.resume), end="")
        return 0
    try:
        run_dir = fit(config, resume=args.resume)
    except RunInterrupted as stop:
        print(f"dualbranch fit: {stop}", file=sys.stderr)
        return stop.exit_code
    print(f"run folder: {run_dir}")
    return 0


def _cmd_test(args: argparse.Namespace) -> int:
    read_record(args.run)  # "not a run folder" before anything else
    config = load_config(Path(args.run) / "config.yaml", args.overrides)
    test(args.run, config=config)
    return 0


def _defaults(section: type, prefix: str) -> str:
    values = []
    for f in dataclasses.fields(section):
        key = f"{prefix}.{f.name}"
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        values.append(f"{f.name}=auto" if key in RECIPE_KEYS else f"{f.name}={default}")
    return textwrap.fill(", ".join(values), 104, initial_indent=f"  {prefix}: ", subsequent_indent="    ")


def _epilog() -> str:
    recipe = (
        f"Keys left open are {AUTO} (the recipe; printed, and kept in recipe.json): model.name=auto (a model for "
        "the data's kind and shape), the batch size (128, about 1/8 of a small set), stochastic depth, the "
        "augmentation that suits the data, and the schedule, optim.budget=auto: about 30 epochs, 2,000-6,000 "
        "updates, at most 41 T multiply-adds of training, from the number of examples, the input size and the "
        "model, never from a timing, so a run is the same on any machine. Below 1,000 examples all of them train "
        "and the last epoch is kept. optim.budget=4000 (updates) or optim.budget=15m (wall time, measured once) "
        "sets the length yourself; --print-config shows every value the run will use, without training."
    )
    stop = (
        "Ctrl-C or SIGTERM stops a run within seconds: it saves its latest epoch and prints the command that "
        "continues it (exit 130 / 143). One process at a time trains or resumes a run folder."
    )
    return "\n".join(
        [
            textwrap.fill(recipe, 106),
            "Other defaults:",
            _defaults(OptimSection, "optim"),
            _defaults(TrainerSection, "trainer"),
            _defaults(OutputSection, "output"),
            textwrap.fill(stop, 106),
        ]
    )


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``fit`` and ``test`` to the ``dualbranch`` parser."""
    datasets = "; ".join(f"{kind.name}: {', '.join(kind.datasets)}" for kind in KINDS.values())
    description = (
        "Train from a YAML config plus section.key=value overrides, e.g. `dualbranch fit data.name=digits "
        "optim.budget=4000`. Without arguments: Fashion-MNIST (the built-in fashion_mnist config). Datasets "
        f"(data.name) by kind: {datasets}."
    )
    fit_parser = commands.add_parser(
        "fit",
        help=COMMANDS["fit"],
        description=textwrap.fill(description, 110),
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fit_parser.add_argument(
        "--config",
        help="YAML file, or the name of a built-in config (fashion_mnist, basicmotions, japanesevowels, "
        "eegbci_s001, crossvit_imagenet: the paper's ImageNet recipe); default: fashion_mnist",
    )
    fit_parser.add_argument(
        "--print-config",
        action="store_true",
        help="load the data, resolve the recipe and print the configuration the run would use, then exit",
    )
    fit_parser.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run from its last checkpoint")
    fit_parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing run folder of the same name (once the new run has saved its first checkpoint)",
    )
    fit_parser.add_argument("overrides", nargs="*", metavar="section.key=value")
    fit_parser.set_defaults(func=_cmd_fit)

    test_parser = commands.add_parser("test", help=COMMANDS["test"])
    test_parser.add_argument("run", metavar="RUN_DIR")
    test_parser.add_argument("overrides", nargs="*", metavar="section.key=value", help="e.g. data.test_path=holdout/")
    test_parser.set_defaults(func=_cmd_test)
