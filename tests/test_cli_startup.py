"""The command line (issue 23, items 15 and 16): `dualbranch --help` and `import dualbranch` / `import
dualbranch.cli` load no training, plotting or tensor stack; each command loads what it needs; `fit --help`
and `--print-config` say what the run will do. (Its start-up time is measured by
benchmarks/cli_startup.py, not here.)"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import pytest
import yaml

from dualbranch.cli import COMMANDS, build_parser, main
from fit_processes import environment

HEAVY = ("torch", "lightning", "pytorch_lightning", "torchmetrics", "matplotlib", "scipy", "sklearn")
_LOADED = "import json, sys; {code}; print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"


def _loaded(code: str) -> set[str]:
    result = subprocess.run([sys.executable, "-c", _LOADED.format(code=code)], env=environment(),
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def test_importing_the_package_and_its_command_line_loads_no_heavy_module():
    assert not _loaded("import dualbranch, dualbranch.cli") & set(HEAVY)
    # the overview parser itself (what `dualbranch --help` prints) imports no command either
    assert not _loaded("from dualbranch.cli import overview_parser; overview_parser().format_help()") & set(HEAVY)
    # a command imports what it needs, when it runs
    fit_command = _loaded("from dualbranch.cli import build_parser; build_parser('fit')")
    assert {"torch", "lightning", "torchmetrics"} <= fit_command
    assert "lightning" not in _loaded("from dualbranch.cli import build_parser; build_parser('models')")


def test_the_lazy_package_still_gives_models_and_submodules():
    loaded = _loaded("import dualbranch as d; d.create_model('crossvit_fmnist'); d.checkpoint.tensor_checksum")
    assert "torch" in loaded and "lightning" not in loaded
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        __import__("dualbranch").nope  # noqa: B018


def test_help_lists_every_command_as_its_parser_describes_it(capsys):
    result = subprocess.run([sys.executable, "-m", "dualbranch.cli", "--help"], env=environment(),
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0 and all(name in result.stdout for name in COMMANDS)
    for name, help_line in COMMANDS.items():  # the overview's line is the command's own, not a copy that drifts
        subparsers = next(a for a in build_parser(name)._actions if isinstance(a, argparse._SubParsersAction))
        (line,) = [choice.help for choice in subparsers._choices_actions if choice.dest == name]
        assert line == help_line, name
    with pytest.raises(SystemExit) as exit_info:
        main(["fitt"])
    assert exit_info.value.code == 2 and "invalid choice: 'fitt'" in capsys.readouterr().err


def test_fit_help_says_what_the_recipe_chooses(capsys):
    with pytest.raises(SystemExit):
        main(["fit", "--help"])
    text = capsys.readouterr().out
    assert "auto: chosen from the data at the start of the run" in text and "small CrossViT" not in text
    assert "optim.budget=auto" in text and "never from a timing" in text and "epochs=auto" in text


def test_print_config_shows_the_resolved_recipe_without_training(tmp_path, capsys):
    argv = ["fit", "--print-config", "data.name=digits", "data.limit_train=300", f"output.root={tmp_path}"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "#   model.name = hybrid_vgg_vit_tiny_patch8_hog" in printed and "#   data.batch_size = 32" in printed
    config = yaml.safe_load(printed)  # the comments aside, it is the config the run would use
    assert config["model"]["name"] == "hybrid_vgg_vit_tiny_patch8_hog" and config["data"]["batch_size"] == 32
    assert config["optim"]["epochs"] == 200  # 2,000 updates of 10 per epoch
    assert not any(tmp_path.iterdir())  # nothing trained, nothing written
    assert main([*argv, "optim.budget=2m"]) == 0  # a wall-time budget is measured only when the run starts
    assert "optim.epochs = None   (budget 2m: the updates that fit, measured at the start of the run)" in (
        capsys.readouterr().out
    )
