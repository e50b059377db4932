"""The one run pipeline: k-fold for images, every engine and export for signals, one metrics vocabulary,
run folders of format 1 refused, objectives as plugins, and the bugs fixed on the way."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from dualbranch.cli import main
from dualbranch.errors import CheckpointError, ConfigError, DataError
from dualbranch.train import pipeline
from dualbranch.train.config import load_config
from dualbranch.train.objectives import OBJECTIVES, CrossEntropy, StepOutput, make_objective, register_objective
from dualbranch.train.pipeline import fit
from dualbranch.train.run_folder import read_record

FORMAT1 = Path(__file__).parent / "data" / "format1"
HAS_ONNX = all(__import__("importlib").util.find_spec(m) for m in ("onnxruntime", "onnxscript"))
needs_onnx = pytest.mark.skipif(not HAS_ONNX, reason="needs onnxruntime and onnxscript (the deploy extra)")

QUICK = ["trainer.progress_bar=false", "trainer.threads=1", "optim.epochs=1", "output.report=false"]
TINY_ARGS = {
    "embed_dim": [16, 32], "num_heads": [2, 2], "patch_size": [2, 4], "img_scale": [1, 1], "stem": "patch",
    "depth": [[1, 1], [1, 1]],
}  # fmt: skip
TINY_CROSSVIT = f"model.args={json.dumps(TINY_ARGS)}"  # JSON is YAML
DIGITS = [
    "data.name=digits",
    "model.name=crossvit_fmnist",
    TINY_CROSSVIT,
    "data.limit_train=120",
    "data.limit_eval=60",
    *QUICK,
]
TINY_EEG_CONFORMER = (
    "model.args={n_filters_time: 4, filter_time_length: 5, pool_time_length: 8, pool_time_stride: 4, att_depth: 1,"
    " att_heads: 2}"
)


def _signals_npz(path: Path, n: int = 24) -> Path:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 3, 64)).astype(np.float32)
    y = np.array(["left", "right"] * (n // 2))
    x[y == "left", 0] *= 3  # a learnable difference
    np.savez(path, x=x, y=y, groups=np.repeat([1, 2], n // 2))
    return path


def _signal_args(npz: Path) -> list[str]:
    return [
        "data.name=signal_npz", f"data.path={npz}", "model.name=eeg_conformer", TINY_EEG_CONFORMER,
        "data.val_ratio=0", "data.batch_size=8", *QUICK,
    ]  # fmt: skip


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def image_kfold_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    argv = ["fit", *DIGITS, "evaluation.protocol=kfold", "evaluation.folds=2", f"output.root={root}", "output.name=k"]
    assert main(argv) == 0
    return root / "k"


@pytest.fixture(scope="module")
def signal_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("signal_runs")
    npz = _signals_npz(root / "signals.npz")
    assert main(["fit", *_signal_args(npz), "data.test_path=" + str(npz), f"output.root={root}", "output.name=s"]) == 0
    return root / "s"


def test_kfold_on_an_image_dataset_trains_one_model_per_fold(image_kfold_run):
    record = json.loads((image_kfold_run / "run.json").read_text())
    assert record["kind"] == "images" and record["protocol"] == "kfold" and record["folds"] == ["fold_0", "fold_1"]
    for fold in record["folds"]:
        folder = image_kfold_run / "folds" / fold
        assert {"model.safetensors", "preprocessing.json", "history.jsonl"} <= {p.name for p in folder.iterdir()}
        preprocessing = json.loads((folder / "preprocessing.json").read_text())
        # how to feed the fold's model: its normalisation, input size and the path its images took
        assert set(preprocessing) == {"mean", "std", "img_size", "pipeline"} and preprocessing["pipeline"] == "memory"
    metrics = json.loads((image_kfold_run / "metrics.json").read_text())
    assert [row["fold"] for row in metrics["folds"]] == ["fold_0", "fold_1"]
    rows = _rows(image_kfold_run / "predictions.csv")
    assert len(rows) == metrics["n"] == sum(row["n"] for row in metrics["folds"])
    assert len({r["index"] for r in rows}) == len(rows)  # every example tested once
    accuracy = np.mean([r["true"] == r["predicted"] for r in rows])
    assert metrics["accuracy"] == pytest.approx(accuracy)


def test_kfold_image_run_predicts_with_the_mean_of_its_folds(image_kfold_run, tmp_path, capsys):
    from sklearn.datasets import load_digits

    np.savez(tmp_path / "x.npz", x=(load_digits().images[:3] / 16).astype(np.float32))  # no labels
    assert main(["predict", str(image_kfold_run), str(tmp_path / "x.npz")]) == 0
    assert capsys.readouterr().out.count("\n") == 4  # header + 3 rows
    assert main(["export", str(image_kfold_run), "--format", "safetensors", "--output", str(tmp_path / "m")]) == 2
    assert "pick one with --fold" in capsys.readouterr().err
    out = tmp_path / "m.safetensors"
    assert (
        main(["export", str(image_kfold_run), "--format", "safetensors", "--output", str(out), "--fold", "fold_1"]) == 0
    )
    assert json.loads(capsys.readouterr().out)["fold"] == "fold_1" and out.is_file()


@needs_onnx
def test_signal_run_predicts_with_every_engine_and_exports(signal_run, tmp_path, capsys):
    x = np.random.default_rng(1).normal(size=(5, 3, 64)).astype(np.float32)
    np.savez(tmp_path / "new.npz", x=x)
    out = {}
    for engine in ("torch", "onnx", "int8"):
        target = tmp_path / f"{engine}.csv"
        assert (
            main(["predict", str(signal_run), str(tmp_path / "new.npz"), "--engine", engine, "--output", str(target)])
            == 0
        )
        out[engine] = _rows(target)
    torch_p = np.array([[float(r["p_left"]), float(r["p_right"])] for r in out["torch"]])
    onnx_p = np.array([[float(r["p_left"]), float(r["p_right"])] for r in out["onnx"]])
    np.testing.assert_allclose(onnx_p, torch_p, atol=1e-5)
    assert [r["input"] for r in out["int8"]] == [r["input"] for r in out["torch"]]
    capsys.readouterr()
    assert main(["export", str(signal_run), "--format", "onnx", "--output", str(tmp_path / "s.onnx")]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["max_abs_diff"] < 1e-4 and summary["preprocessing"].endswith("preprocessing.json")


def test_one_metrics_vocabulary_for_both_kinds(image_kfold_run, signal_run):
    image = json.loads((image_kfold_run / "metrics.json").read_text())
    signal = json.loads((signal_run / "metrics.json").read_text())
    common = {"protocol", "split", "n", "accuracy", "balanced_accuracy", "kappa", "loss", "per_class_accuracy",
              "confusion_matrix", "folds", "summary", "kept"}  # fmt: skip
    assert common <= set(image) and common <= set(signal)
    assert set(image) - common == set() and set(signal) - common <= {"groups", "channel_attention"}
    assert set(image["folds"][0]) == set(signal["folds"][0]) == {"fold", "n", "accuracy", "balanced_accuracy", "kappa"}
    assert _rows(signal_run / "predictions.csv")[0].keys() >= {"fold", "index", "subject", "true", "predicted"}
    assert _rows(image_kfold_run / "predictions.csv")[0].keys() >= {"fold", "index", "group", "true", "predicted"}


@pytest.mark.parametrize("name", ["image_run", "signal_run"])
def test_format1_run_folders_are_refused_with_a_clear_error(name, tmp_path, capsys):
    """Run folders written before the first release (run.json format 1) are no longer read: `test` says so
    in one line (exit 2) and leaves the folder as it was."""
    run = tmp_path / name
    shutil.copytree(FORMAT1 / name, run)
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    with pytest.raises(CheckpointError, match=r"run folder format 1 was written before dualbranch 0\.1\.0"):
        read_record(run)
    assert main(["test", str(run)]) == 2
    assert "no longer read" in capsys.readouterr().err
    assert before == {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}


def test_a_second_fit_in_one_process_gets_its_own_folder(tmp_path):
    first = fit(load_config(None, [*DIGITS, f"output.root={tmp_path}"]))
    second = fit(load_config(None, [*DIGITS, f"output.root={tmp_path}"]))
    assert first != second and first.is_dir() and second.is_dir()


def test_a_bad_data_path_leaves_no_run_folder(tmp_path, capsys):
    argv = ["fit", "data.name=image_folder", f"data.path={tmp_path / 'missing'}", f"output.root={tmp_path / 'runs'}"]
    assert main([*argv, *QUICK]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_a_failure_before_training_removes_the_half_made_folder(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise DataError("the loader broke")

    monkeypatch.setattr(pipeline, "_fit_fold", broken)
    with pytest.raises(DataError):
        fit(load_config(None, [*DIGITS, f"output.root={tmp_path}", "output.name=x"]))
    assert not (tmp_path / "x").exists()  # so re-running is not told to --resume a run that never trained


def test_misspelt_dataset_names_every_kind(capsys):
    assert main(["fit", "data.name=uae"]) == 2
    err = capsys.readouterr().err
    assert "did you mean 'uea'" in err and "images:" in err and "signals:" in err


def test_a_bug_shows_its_traceback_and_asks_for_a_report(monkeypatch, capsys):
    def bug(*args, **kwargs):
        raise KeyError("internal")

    monkeypatch.setattr("dualbranch.cli.fit.fit", bug)
    assert main(["fit", "data.name=digits"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "KeyError: 'internal'" in err and "this is a bug in dualbranch" in err


def test_override_merges_model_args_and_reads_exponent_floats(tmp_path):
    yaml_file = tmp_path / "c.yaml"
    yaml_file.write_text("model:\n  args:\n    patch_size: [2, 4]\noptim:\n  lr: 3e-4\n")
    config = load_config(yaml_file, ["model.args.depth=[[1, 1], [1, 1]]", "optim.min_lr=1e-6"])
    assert config.model.args == {"patch_size": [2, 4], "depth": [[1, 1], [1, 1]]}
    assert config.optim.lr == 3e-4 and config.optim.min_lr == 1e-6
    switched = load_config(None, ["model.name=dbconformer", "data.name=uea", "data.uea_name=BasicMotions"])
    assert switched.model.args == {} and switched.augment.shift == 0  # the default file's image options dropped


def test_limits_take_a_stratified_random_subset():
    from dualbranch.evaluation.protocols import stratified_subset

    y = np.repeat(np.arange(4), 25)  # sorted by class: "the first n" would hold one class only
    chosen = stratified_subset(y, np.arange(100), 20, seed=0)
    assert len(chosen) == 20 and np.bincount(y[chosen]).tolist() == [5, 5, 5, 5]
    assert not np.array_equal(chosen, stratified_subset(y, np.arange(100), 20, seed=1))


def test_objectives_are_plugins(tmp_path):
    calls = []

    @register_objective("test_counting")
    class Counting(CrossEntropy):
        def __init__(self, weight: float = 1.0) -> None:
            self.weight = weight

        def __call__(self, model, x, targets) -> StepOutput:
            out = super().__call__(model, x, targets)
            calls.append(self.weight)
            return StepOutput(out.loss * self.weight, out.logits, {"extra": out.loss.detach()})

    try:
        run = fit(load_config(None, [*DIGITS, f"output.root={tmp_path}", "objective.name=test_counting",
                                     "objective.args.weight=0.5"]))  # fmt: skip
        assert calls and set(calls) == {0.5}
        assert "train_extra" in (run / "logs" / "metrics.csv").read_text().splitlines()[0]
    finally:
        del OBJECTIVES["test_counting"]
    with pytest.raises(ConfigError, match="did you mean 'cross_entropy'"):
        make_objective("cross_entropy_", {})
    with pytest.raises(ConfigError, match=r"objective\.args"):
        make_objective("cross_entropy", {"weight": 1})
    assert isinstance(make_objective("cross_entropy", {}), CrossEntropy)
    logits = torch.tensor([[2.0, 0.0]])
    out = CrossEntropy()(torch.nn.Identity(), logits, torch.tensor([[1.0, 0.0]]))
    assert out.loss.item() == pytest.approx(-torch.log_softmax(logits, 1)[0, 0].item())


def test_finetuning_adapts_head_positions_and_first_conv():
    from dualbranch import create_model
    from dualbranch.checkpoint import load_for_finetuning, save_checkpoint

    torch.manual_seed(0)
    published = create_model("crossvit_tiny_240", num_classes=1000)  # an ImageNet-shaped checkpoint
    with torch.no_grad():
        for p in published.parameters():
            p.normal_()
    path = Path(__import__("tempfile").mkdtemp()) / "published.safetensors"
    save_checkpoint(published, path)
    model = create_model("crossvit_tiny_240", num_classes=10, in_chans=1, img_size=120)
    notes = load_for_finetuning(model, path, "crossvit_tiny_240")
    assert any("new classifier for 10 classes" in n for n in notes)
    assert any("position embeddings interpolated" in n for n in notes)
    assert any("first convolution adapted from 3 to 1" in n for n in notes)
    ours, theirs = model.state_dict(), published.state_dict()
    same = [k for k in ours if k in theirs and ours[k].shape == theirs[k].shape and "head" not in k]
    assert len(same) > 100 and all(torch.equal(ours[k], theirs[k]) for k in same)
    conv = next(k for k in ours if ours[k].ndim == 4 and theirs[k].shape[1] == 3)
    torch.testing.assert_close(ours[conv], theirs[conv].sum(dim=1, keepdim=True))
    assert model(torch.randn(2, 1, 120, 120)).shape == (2, 10)


def test_cli_finetunes_from_a_checkpoint_of_another_class_count(tmp_path, capsys):
    from dualbranch import create_model
    from dualbranch.checkpoint import save_checkpoint

    source = create_model("crossvit_fmnist", num_classes=100, in_chans=3, img_size=16, **TINY_ARGS)
    save_checkpoint(source, tmp_path / "source.safetensors")
    argv = ["fit", *DIGITS, f"model.checkpoint={tmp_path / 'source.safetensors'}", f"output.root={tmp_path}"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "new classifier for 10 classes" in out and "first convolution adapted from 3 to 1" in out
