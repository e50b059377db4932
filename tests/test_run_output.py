"""What a run prints and logs (issue 23, item 14): progress bars only in a terminal, with the epoch summary
above them rather than on their line; quiet when piped; metrics through Lightning's CSV, TensorBoard and
MLflow loggers (the latter two skip where the package is absent)."""

from __future__ import annotations

import fcntl
import importlib.util
import json
import os
import pty
import re
import struct
import subprocess
import termios

import pytest

from dualbranch.errors import MissingDependencyError
from dualbranch.train import loggers
from dualbranch.train.config import load_config
from dualbranch.train.pipeline import fit
from fit_processes import SMALL_FIT, environment, fit_command

QUICK = [*SMALL_FIT, "data.limit_train=200", "data.limit_eval=50", "optim.epochs=1"]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _fit_with_bars(root, name: str) -> list[str]:
    command = [a for a in fit_command(root, name, 2, "data.limit_train=600") if a != "trainer.progress_bar=false"]
    primary, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))  # a 120-column terminal
    process = subprocess.Popen(command, stdin=secondary, stdout=secondary, stderr=secondary,
                               env=environment(TERM="xterm"))  # fmt: skip
    os.close(secondary)
    chunks = []
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # the terminal closes when the process ends
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(primary)
    assert process.wait() == 0
    return ANSI.sub("", b"".join(chunks).decode(errors="replace")).split("\n")


def test_in_a_terminal_the_epoch_summary_is_not_printed_on_a_progress_bar(tmp_path):
    lines = _fit_with_bars(tmp_path, "tty")
    assert any("it/s" in line or "s/it" in line for line in lines)  # progress bars were drawn
    summaries = [line for line in lines if "train_loss" in line and "val_acc" in line and "lr " in line]
    assert len(summaries) == 2
    for line in summaries:
        # a bar redraws its line after "\r"; the summary must own the line it is on, from its first column
        drawn = [part for part in line.split("\r") if part.strip()]
        assert drawn and drawn[-1].startswith("epoch "), repr(line)
        assert "it/s" not in drawn[-1] and "%|" not in drawn[-1], repr(line)
    for line in lines:  # nothing else is printed onto a bar either
        assert not any("it/s" in part and "stopped" in part for part in line.split("\r")), repr(line)


def test_piped_output_has_no_progress_bars(tmp_path):
    command = [a for a in fit_command(tmp_path, "piped", 2) if a != "trainer.progress_bar=false"]
    result = subprocess.run(command, env=environment(), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "\r" not in result.stdout + result.stderr and "it/s" not in result.stderr
    assert [line[:9] for line in result.stdout.splitlines() if line.startswith("epoch ")] == ["epoch 1/2", "epoch 2/2"]


@pytest.mark.parametrize("name", ["tensorboard", "mlflow"])
def test_lightning_loggers_write_the_metrics(tmp_path, name):
    module = {"tensorboard": "tensorboardX", "mlflow": "mlflow"}[name]
    if importlib.util.find_spec(module) is None and importlib.util.find_spec(name) is None:
        pytest.skip(f"{name} is not installed (pip install {'tensorboardX' if name == 'tensorboard' else 'mlflow'})")
    run = fit(load_config(None, [*QUICK, f"trainer.logger={name}", f"output.root={tmp_path}", "output.name=r"]))
    if name == "tensorboard":
        events = list((run / "logs").glob("events.out.tfevents.*"))
        assert events and events[0].stat().st_size > 0
    else:
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=(run / "mlruns").resolve().as_uri())
        (experiment,) = [e for e in client.search_experiments() if e.name == "dualbranch"]
        (logged,) = client.search_runs([experiment.experiment_id])
        assert {"train_loss_epoch", "val_loss", "val_acc"} <= set(logged.data.metrics)
    assert json.loads((run / "metrics.json").read_text())["n"] == 50  # the run itself is the same


def test_a_logger_that_is_not_installed_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(loggers.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(MissingDependencyError, match=r"trainer\.logger=mlflow needs mlflow.*pip install mlflow"):
        loggers.make_logger("mlflow", tmp_path)
