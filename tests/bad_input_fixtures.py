"""Inputs and helpers for the bad-input catalogue (tests/bad_input_cases.py) and the crash-safety tests:
small models, fake run folders, array files, image folders, and writes that fail on purpose."""

from __future__ import annotations

import contextlib
import io
import os
import pickle
from collections.abc import Callable
from pathlib import Path
from unittest import mock

import numpy as np
import torch

import dualbranch
from dualbranch.checkpoint import save_checkpoint
from dualbranch.cli import main
from dualbranch.train.checkpoint_io import ChecksummedCheckpointIO
from dualbranch.train.run_folder import RunRecord

# a very small CrossViT for 8×8 digits (as in test_workflow.py)
SMALL_ARGS = {
    "embed_dim": [16, 32],
    "num_heads": [2, 2],
    "patch_size": [2, 4],
    "img_scale": [1, 1],
    "stem": "patch",
    "depth": [[1, 1], [1, 1]],
}
FIT = [
    "fit",
    "data.name=digits",
    "model.name=crossvit_fmnist",
    "trainer.progress_bar=false",
    "optim.epochs=1",
    "data.limit_train=64",
]


class CliFailure(Exception):
    """``dualbranch`` exited with code 2 and printed this one line (no traceback)."""


def cli(*args: str) -> Callable[[Path], object]:
    """A trigger running ``dualbranch *args`` (``{tmp}`` in an argument is the case's folder)."""

    def run(tmp: Path) -> None:
        argv = [a.replace("{tmp}", str(tmp)) for a in args]
        err, out = io.StringIO(), io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            code = main(argv)
        lines = [line for line in err.getvalue().splitlines() if line.strip()]
        if code != 2 or "Traceback" in err.getvalue() or not lines:
            raise AssertionError(f"dualbranch {' '.join(argv)}: exit {code}, stderr {err.getvalue()!r}")
        raise CliFailure(lines[-1])

    return run


def small_model(**overrides: object) -> torch.nn.Module:
    torch.manual_seed(0)
    args = {"img_size": 8, "in_chans": 1, "num_classes": 10, **SMALL_ARGS, **overrides}
    return dualbranch.create_model("crossvit_fmnist", **args)


def fake_run(tmp: Path) -> Path:
    """A run folder as ``fit`` leaves it (config, run.json, weights, checkpoints), without training."""
    run = tmp / "runs" / "run"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(
        "data:\n  name: digits\ntrainer:\n  progress_bar: false\noutput:\n  report: false\n"
    )
    model = small_model()
    args = {**SMALL_ARGS, "img_size": [8, 8], "in_chans": 1, "num_classes": 10}
    RunRecord("images", "crossvit_fmnist", args, [str(d) for d in range(10)], [1, 8, 8]).save(run)
    (run / "preprocessing.json").write_text('{"mean": [0.3], "std": [0.4]}')
    save_checkpoint(model, run / "model.safetensors")
    checkpoint_io = ChecksummedCheckpointIO()
    for name in ("best", "last"):
        state = {"state_dict": {f"model.{k}": v for k, v in model.state_dict().items()}, "epoch": 1}
        checkpoint_io.save_checkpoint(state, run / "checkpoints" / f"{name}.ckpt")
    (run / "metrics.json").write_text("{}")
    return run


def npz(tmp: Path, name: str = "data.npz", **arrays: object) -> Path:
    path = tmp / name
    np.savez(path, **arrays)
    return path


def ts_folder(tmp: Path, name: str, text: str, suffix: str = ".ts") -> Path:
    """A folder in the UEA/UCR archives' layout, ``name/name_TRAIN.ts`` and ``name/name_TEST.ts`` (or the UCR
    archive's ``.tsv``) holding ``text``."""
    (tmp / name).mkdir()
    for split in ("TRAIN", "TEST"):
        (tmp / name / f"{name}_{split}{suffix}").write_text(text)
    return tmp


def images(n: int = 6, size: int = 8) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (n, size, size), dtype=np.uint8)


def image_folder(tmp: Path, counts: dict[str, int], corrupt: str | None = None) -> Path:
    from PIL import Image

    root = tmp / "images"
    for name, count in counts.items():
        (root / name).mkdir(parents=True)
        for i, array in enumerate(images(count)):
            Image.fromarray(array).save(root / name / f"{i}.png")
    if corrupt == "garbage":
        (root / "a" / "bad.png").write_bytes(b"not an image at all")
    elif corrupt == "truncated":
        data = (root / "a" / "0.png").read_bytes()
        (root / "a" / "0.png").write_bytes(data[: len(data) // 2])
    return root


def signals(**changes: object) -> dict[str, object]:
    x = np.random.default_rng(0).standard_normal((6, 3, 20)).astype(np.float32)
    fields = {"x": x, "y": np.array([0, 1, 2, 0, 1, 2]), "class_names": ("a", "b", "c")}
    fields.update(changes)
    return fields


def with_value(x: np.ndarray, index: tuple[int, ...], value: float) -> np.ndarray:
    x = x.copy()
    x[index] = value
    return x


def yaml_file(tmp: Path, text: str) -> Path:
    path = tmp / "bad.yaml"
    path.write_text(text)
    return path


def failing_open(errno_code: int, only: str = "") -> mock._patch:
    """Make safe_io's file opens for writing fail with ``errno_code`` (for paths containing ``only``).

    safe_io opens every file it writes or fsyncs through ``open``; safetensors writes its temporary
    file itself, and the failure then comes at the fsync that follows, as a full disk would show.
    """
    real_open = open

    def fake(path, mode="r", *args, **kwargs):
        if only in str(path) and any(flag in mode for flag in "wa+"):
            raise OSError(errno_code, os.strerror(errno_code), str(path))
        return real_open(path, mode, *args, **kwargs)

    return mock.patch("dualbranch.safe_io.open", fake, create=True)


class CodeRunningPickle:
    """Unpickling this calls os.system: the crafted file a safe loader must refuse."""

    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def saved(obj: object, path: Path) -> Path:
    torch.save(obj, path)
    return path


def pickled(obj: object, path: Path) -> Path:
    with path.open("wb") as handle:
        pickle.dump(obj, handle)
    return path


def truncate(path: Path, keep: float = 0.5) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path
