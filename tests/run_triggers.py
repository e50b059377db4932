"""Triggers of the bad-input catalogue's run cases (issue 23): a run that diverges, a run folder in use, an
output root that cannot be made, weights made for another model (tests/bad_input_cases.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from unittest import mock

import dualbranch
from bad_input_fixtures import FIT, SMALL_ARGS, cli, fake_run, small_model
from dualbranch.checkpoint import save_checkpoint
from fit_processes import environment

__all__ = ["diverging_run", "made_for_another_model", "output_root_denied", "output_root_under_a_file", "run_in_use"]

# takes a run folder's lock and, as the owner's note, writes one that does not change from run to run
_HOLDER = """
import json, sys, time
from pathlib import Path
from dualbranch.train.run_lock import LOCK_NAME, lock_run
lock = lock_run(sys.argv[1])
note = {"pid": 4242, "host": "node1", "command": "dualbranch fit data.name=digits", "since": "10:21:07"}
(Path(sys.argv[1]) / LOCK_NAME).write_text(json.dumps(note))
print("held", flush=True)
time.sleep(120)
"""


def diverging_run(tmp: Path) -> None:
    # no checkpoint write mid-epoch: on a loaded machine 30 s pass between batches, and the weight check
    # before a write would name a NaN weight before the step's loss check names the loss
    cli(*FIT, "optim.lr=100", "data.limit_train=400", "output.root={tmp}", "output.name=r",
        "trainer.checkpoint_seconds=3600", f"model.args={json.dumps(SMALL_ARGS)}")(tmp)  # fmt: skip


def run_in_use(tmp: Path) -> None:
    run = fake_run(tmp)
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(run)], env=environment(), stdout=subprocess.PIPE,
                              text=True)  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        cli("fit", "--resume", str(run))(tmp)
    finally:
        holder.kill()
        holder.wait()


def output_root_under_a_file(tmp: Path) -> None:
    (tmp / "notes.txt").write_text("a file, not a folder")
    cli(*FIT, "output.root={tmp}/notes.txt/runs")(tmp)


def output_root_denied(tmp: Path) -> None:
    real_mkdir = Path.mkdir

    def mkdir(self: Path, *args: object, **kwargs: object) -> None:
        if "locked" in self.parts:  # as a folder the user may not write would answer (tests run as root)
            raise PermissionError(13, "Permission denied", str(self))
        real_mkdir(self, *args, **kwargs)

    with mock.patch.object(Path, "mkdir", mkdir):
        cli(*FIT, "output.root={tmp}/locked/runs")(tmp)


def made_for_another_model(tmp: Path) -> None:
    path = save_checkpoint(small_model(), tmp / "fmnist.safetensors", metadata={"model": "crossvit_fmnist"})
    dualbranch.create_model("hybrid_cnn_vit_tiny", checkpoint_path=str(path))
