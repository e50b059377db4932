"""The main job end to end: fit / test / predict on real data (scikit-learn's digits, 8×8), run folders,
resume, data-parallel training, and the report."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from dualbranch.cli import main
from dualbranch.train.config import load_config
from dualbranch.train.pipeline import fit

SMALL = [
    "data.name=digits",
    "model.name=crossvit_fmnist",
    # a very small CrossViT with linear patch embeddings for 8×8 inputs
    "model.args={embed_dim: [16, 32], num_heads: [2, 2], patch_size: [2, 4], img_scale: [1, 1], stem: patch,"
    " depth: [[1, 1], [1, 1]]}",
    "data.batch_size=64",
    "optim.epochs=2",
    "optim.warmup_epochs=0.5",
    # 8×8 digits: shifts, flips and the RandAugment policy would destroy them; keep erasing on
    "augment.translate=0",
    "augment.hflip=0",
    "augment.randaug_ops=0",
    "trainer.progress_bar=false",
    "trainer.threads=1",
]


def _config(tmp_path: Path, name: str, *extra: str):
    return load_config(None, [*SMALL, f"output.root={tmp_path}", f"output.name={name}", *extra])


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    return fit(_config(root, "digits"))


def test_run_folder_holds_config_metrics_weights_and_report(trained_run):
    names = {p.name for p in trained_run.iterdir()}
    assert {"config.yaml", "run.json", "history.jsonl", "model.safetensors", "metrics.json", "report.html"} <= names
    assert (trained_run / "checkpoints" / "last.ckpt").is_file()
    metrics = json.loads((trained_run / "metrics.json").read_text())
    assert metrics["split"] == "test" and metrics["n"] == 359
    assert 0.3 < metrics["accuracy"] <= 1.0  # two epochs of a 8×8 digit model: far above chance (0.1)
    assert len(metrics["confusion_matrix"]) == 10
    history = [json.loads(line) for line in (trained_run / "history.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in history] == [1, 2]
    assert all(row["train_loss"] is not None and row["val_acc"] is not None for row in history)
    info = json.loads((trained_run / "run.json").read_text())
    assert info["input_shape"] == [1, 8, 8] and info["model_args"]["num_classes"] == 10
    assert "blocks.0.fusion.projs.0.2.weight" in load_file(trained_run / "model.safetensors")


def test_report_has_every_section_with_embedded_figures(trained_run):
    page = (trained_run / "report.html").read_text()
    for heading in ("Learning curves", "Confusion matrix", "Per-class accuracy", "Hardest mistakes", "Cross-attention"):
        assert f"<h2>{heading}</h2>" in page
    assert page.count("data:image/png;base64,") == 5
    assert 'src="http' not in page  # self-contained


def test_test_command_rewrites_metrics(trained_run, capsys):
    (trained_run / "metrics.json").unlink()
    assert main(["test", str(trained_run)]) == 0
    assert "test accuracy" in capsys.readouterr().out
    assert json.loads((trained_run / "metrics.json").read_text())["n"] == 359


def test_predict_files_folder_and_npz(trained_run, tmp_path, capsys):
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(3):
        Image.fromarray((digits.images[i] * 255 / 16).astype(np.uint8)).save(folder / f"{i}.png")
    out = tmp_path / "predictions.csv"
    assert main(["predict", str(trained_run), str(folder), "--output", str(out), "--top-k", "2"]) == 0
    rows = list(csv.DictReader(out.open()))
    assert [Path(r["input"]).name for r in rows] == ["0.png", "1.png", "2.png"]
    assert {"label", "probability", "label_2", "probability_2"} <= set(rows[0])
    assert float(rows[0]["probability"]) >= float(rows[0]["probability_2"])
    np.savez(tmp_path / "x.npz", x=(digits.images[:4] / 16).astype(np.float32), y=digits.target[:4])
    assert main(["predict", str(trained_run), str(tmp_path / "x.npz")]) == 0
    assert capsys.readouterr().out.count("\n") >= 5  # header + 4 rows


def test_existing_run_is_never_overwritten_silently(trained_run, capsys):
    before = (trained_run / "metrics.json").read_bytes()
    code = main(["fit", *SMALL, f"output.root={trained_run.parent}", f"output.name={trained_run.name}"])
    assert code == 2
    assert "already holds a run" in capsys.readouterr().err
    assert (trained_run / "metrics.json").read_bytes() == before


def test_print_config_and_config_errors(capsys, tmp_path):
    assert main(["fit", "--print-config", "optim.lr=0.002", "data.name=digits"]) == 0
    printed = capsys.readouterr().out
    assert "lr: 0.002" in printed and "name: digits" in printed
    assert main(["fit", "optim.lrr=1"]) == 2
    assert "did you mean 'lr'" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("optim:\n  epochs: [1\n")
    assert main(["fit", "--config", str(bad)]) == 2
    assert "bad.yaml line" in capsys.readouterr().err
    assert main(["fit", "data.name=imagenet"]) == 2
    assert "unknown dataset 'imagenet'" in capsys.readouterr().err


class _StopAfterFirstEpoch(L.Callback):
    def on_train_epoch_end(self, trainer, module):
        trainer.should_stop = True


def _last_weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)["state_dict"]


def test_interrupted_run_resumes_to_the_same_result(tmp_path):
    straight = fit(_config(tmp_path, "straight", "data.limit_train=512"))
    interrupted = fit(_config(tmp_path, "resumed", "data.limit_train=512"), callbacks=[_StopAfterFirstEpoch()])
    rows = (interrupted / "history.jsonl").read_text().splitlines()
    assert len(rows) == 1  # stopped after epoch 1
    fit(load_config(interrupted / "config.yaml"), resume=interrupted)
    expected, got = _last_weights(straight), _last_weights(interrupted)
    assert expected.keys() == got.keys()
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], rtol=0, atol=1e-6)
    assert [json.loads(r)["epoch"] for r in (interrupted / "history.jsonl").read_text().splitlines()] == [1, 2]


def test_two_process_ddp_matches_one_process_with_the_same_global_batch(tmp_path):
    """gloo on CPU: 2 ranks × batch 16 against 1 process × batch 32, same samples per step."""
    common = [
        *SMALL,
        "data.limit_train=256",
        "data.shuffle=false",
        "augment.erase_prob=0",
        "model.args.drop_path_rate=0",
        "trainer.accelerator=cpu",
        "output.report=false",
        f"output.root={tmp_path}",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "dualbranch.cli", "fit"]
    single = subprocess.run(
        [*command, *common, "data.batch_size=32", "output.name=single"], env=env, capture_output=True, text=True
    )
    assert single.returncode == 0, single.stderr[-2000:]
    ddp = subprocess.run(
        [*command, *common, "data.batch_size=16", "trainer.devices=2", "trainer.strategy=ddp", "output.name=ddp"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert ddp.returncode == 0, ddp.stderr[-2000:]
    expected, got = _last_weights(tmp_path / "single"), _last_weights(tmp_path / "ddp")
    assert expected.keys() == got.keys()
    # all-reduce sums gradients in another order than one big batch; Adam magnifies the float32
    # round-off for near-zero gradients, hence an absolute tolerance on weights of size ~0.02..1
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], rtol=1e-3, atol=1e-4)
    history = [json.loads(line) for line in (tmp_path / "ddp" / "history.jsonl").read_text().splitlines()]
    assert len(history) == 2  # only rank 0 writes
