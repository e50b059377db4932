"""Signal data through `dualbranch fit / test / predict`: UEA BasicMotions (official split) and EEGMMIDB
subject 1 (2-fold cross-validation, cropped window), run folders, metrics recomputed from the saved
predictions, reports, resume, prediction from an .npz, and the preprocessing fitted on training data."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from dualbranch.cli import main
from dualbranch.data.signal import SignalData
from dualbranch.data.signal_preprocessing import SignalPreprocessor
from dualbranch.data.signal_transforms import mean_covariance
from dualbranch.evaluation.metrics import classification_metrics
from dualbranch.evaluation.protocols import make_folds
from dualbranch.train.config import ConfigError, load_config
from dualbranch.train.pipeline import fit

EEG_DIR = Path("/work/shared/data")
QUICK = ["trainer.threads=1", "trainer.progress_bar=false", "optim.warmup_epochs=0.5"]
# S001 imagined left / right, 2 folds, the first second after the cue at 80 Hz: a few seconds per fold
EEG_QUICK = ["evaluation.folds=2", "optim.epochs=2", "data.tmax=1.0", "data.resample=80.0", *QUICK]
needs_eeg = pytest.mark.skipif(
    not (EEG_DIR / "MNE-eegbci-data").is_dir(), reason="EEGMMIDB subject 1 is not under /work/shared/data"
)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


def _fold_metrics_from_predictions(run: Path) -> dict[str, dict[str, float]]:
    by_fold: dict[str, tuple[list[str], list[str]]] = {}
    for row in _rows(run / "predictions.csv"):
        true, pred = by_fold.setdefault(row["fold"], ([], []))
        true.append(row["true"])
        pred.append(row["predicted"])
    return {fold: classification_metrics(np.array(t), np.array(p)) for fold, (t, p) in by_fold.items()}


@pytest.fixture(scope="module")
def motions_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("signal_runs")
    argv = ["fit", "--config", "basicmotions", "optim.epochs=2", f"output.root={root}", "output.name=bm", *QUICK]
    assert main(argv) == 0
    return root / "bm"


@pytest.fixture(scope="module")
def eeg_run(tmp_path_factory) -> Path:
    if not (EEG_DIR / "MNE-eegbci-data").is_dir():
        pytest.skip("EEGMMIDB subject 1 is not under /work/shared/data")
    root = tmp_path_factory.mktemp("eeg_runs")
    argv = ["fit", "--config", "eegbci_s001", f"data.path={EEG_DIR}", f"output.root={root}", "output.name=s1"]
    assert main([*argv, *EEG_QUICK]) == 0
    return root / "s1"


def test_uea_run_folder_metrics_and_model_args(motions_run):
    names = {p.name for p in motions_run.iterdir()}
    expected = {"config.yaml", "run.json", "history.jsonl", "model.safetensors", "preprocessing.json"}
    assert expected | {"metrics.json", "predictions.csv", "report.html"} <= names
    info = json.loads((motions_run / "run.json").read_text())
    assert info["kind"] == "signals" and info["input_shape"] == [6, 100] and info["folds"] == ["run"]
    # 100 samples: DBConformer's per-channel kernel shrinks to fit (DBConformer.sizes_for_length); the
    # config's own patch / temporal kernel (a token per sample) win over the sizes picked for the length
    args = info["model_args"]
    assert (args["n_chans"], args["n_times"], args["n_outputs"]) == (6, 100, 4)
    assert (args["spatial_kernel"], args["spatial_stride"], args["patch_size"], args["temporal_kernel"]) == (
        25,
        5,
        1,
        5,
    )
    metrics = json.loads((motions_run / "metrics.json").read_text())
    assert metrics["split"] == "test" and metrics["n"] == 40 and metrics["protocol"] == "none"
    assert np.asarray(metrics["confusion_matrix"]).sum() == 40
    assert [row["fold"] for row in metrics["folds"]] == ["run"]
    recomputed = _fold_metrics_from_predictions(motions_run)["run"]
    for key in ("accuracy", "balanced_accuracy", "kappa"):
        assert metrics["folds"][0][key] == pytest.approx(recomputed[key])
    assert metrics["accuracy"] == pytest.approx(recomputed["accuracy"])
    weights = metrics["channel_attention"]  # written rounded to 6 decimals: six of them sum to 1 within 3e-6
    assert len(weights) == 6 and sum(weights.values()) == pytest.approx(1, abs=1e-5)
    history = [json.loads(line) for line in (motions_run / "history.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in history] == [1, 2] and history[0]["val_acc"] is None  # val_ratio 0


def test_uea_report_sections_without_thumbnails(motions_run):
    page = (motions_run / "report.html").read_text()
    headings = ("Learning curves", "Confusion matrix", "Per-class accuracy", "Channel attention")
    for heading in headings:
        assert f"<h2>{heading}</h2>" in page
    # no thumbnails, one subject, and one model: no per-fold table with a meaningless "± 0.0 %"
    assert "Hardest mistakes" not in page and "Per-subject" not in page and "Per-fold" not in page
    assert page.count("data:image/png;base64,") == 4 and 'src="http' not in page


def test_predict_npz_applies_the_saved_preprocessing(motions_run, tmp_path):
    from dualbranch.data.series import load_uea

    test = load_uea("BasicMotions", "test")
    npz, out = tmp_path / "motions.npz", tmp_path / "predictions.csv"
    np.savez(npz, x=test.x)  # raw signals, no labels
    assert main(["predict", str(motions_run), str(npz), "--output", str(out)]) == 0
    predicted = [row["label"] for row in _rows(out)]
    assert predicted == [row["predicted"] for row in _rows(motions_run / "predictions.csv")]
    row = _rows(out)[0]
    assert row["input"] == f"{npz}[0]" and {f"p_{c}" for c in ("badminton", "running", "standing", "walking")} <= set(
        row
    )
    np.savez(npz, x=test.x[:, :5])
    assert main(["predict", str(motions_run), str(npz)]) == 2  # wrong channel count: a one-line error


def test_test_command_reproduces_metrics(motions_run, capsys):
    before = json.loads((motions_run / "metrics.json").read_text())
    (motions_run / "metrics.json").unlink()
    assert main(["test", str(motions_run)]) == 0
    assert "test accuracy" in capsys.readouterr().out
    after = json.loads((motions_run / "metrics.json").read_text())
    assert after["folds"] == before["folds"] and after["confusion_matrix"] == before["confusion_matrix"]


@needs_eeg
def test_eeg_kfold_one_model_per_fold_and_metrics_from_predictions(eeg_run):
    info = json.loads((eeg_run / "run.json").read_text())
    assert info["folds"] == ["fold_0", "fold_1"] and info["input_shape"] == [64, 81] and info["data"]["sfreq"] == 80.0
    for fold in info["folds"]:
        names = {p.name for p in (eeg_run / "folds" / fold).iterdir()}
        assert {"model.safetensors", "preprocessing.json", "history.jsonl", "checkpoints"} <= names
        pre = json.loads((eeg_run / "folds" / fold / "preprocessing.json").read_text())
        assert pre["alignment"] == "euclidean" and list(pre["covariances"]) == ["1"] and len(pre["mean"]) == 64
    predictions = _rows(eeg_run / "predictions.csv")
    assert sorted(int(r["index"]) for r in predictions) == list(range(45))  # every trial tested exactly once
    metrics = json.loads((eeg_run / "metrics.json").read_text())
    recomputed = _fold_metrics_from_predictions(eeg_run)
    for row in metrics["folds"]:
        for key in ("accuracy", "balanced_accuracy", "kappa"):
            assert row[key] == pytest.approx(recomputed[row["fold"]][key])
    accuracies = [row["accuracy"] for row in metrics["folds"]]
    assert metrics["summary"]["accuracy"]["mean"] == pytest.approx(np.mean(accuracies))
    assert metrics["summary"]["accuracy"]["std"] == pytest.approx(np.std(accuracies))
    assert "groups" not in metrics and np.asarray(metrics["confusion_matrix"]).sum() == 45  # one subject
    page = (eeg_run / "report.html").read_text()
    assert "<h2>Channel attention</h2>" in page and "mean ± std" in page and "Summed over folds" in page


@needs_eeg
def test_eeg_resume_keeps_finished_folds(eeg_run):
    fold_0 = eeg_run / "folds" / "fold_0" / "history.jsonl"
    before = fold_0.read_text()
    (eeg_run / "folds" / "fold_1" / "model.safetensors").unlink()
    (eeg_run / "metrics.json").unlink()
    assert main(["fit", "--resume", str(eeg_run)]) == 0
    assert fold_0.read_text() == before  # not retrained
    assert (eeg_run / "folds" / "fold_1" / "model.safetensors").is_file() and (eeg_run / "metrics.json").is_file()


# ---------------------------------------------------------------- preprocessing and folds
def _signals(n: int = 24, c: int = 3, t: int = 50, groups: int = 2, seed: int = 0) -> SignalData:
    rng = np.random.default_rng(seed)
    mixing = rng.standard_normal((groups, c, c))  # every subject its own channel mixing
    g = np.arange(n) % groups
    x = np.einsum("ncd,ndt->nct", mixing[g], rng.standard_normal((n, c, t))) * 5 + 2
    return SignalData(x=x, y=np.arange(n) % 2, class_names=("a", "b"), groups=g)


def test_euclidean_alignment_whitens_each_training_subject_and_round_trips(tmp_path):
    data = _signals()
    pre = SignalPreprocessor.fit(data, "euclidean", "none")
    aligned = pre.transform(data, training=True)
    for g in (0, 1):
        np.testing.assert_allclose(mean_covariance(aligned[data.groups == g]), np.eye(3), atol=1e-4)
    (tmp_path / "p.json").write_text(json.dumps(pre.to_json()))
    again = SignalPreprocessor.from_json(json.loads((tmp_path / "p.json").read_text()))
    np.testing.assert_array_equal(again.transform(data, training=True), aligned)
    # test trials are aligned online, seeded with the subject's training mean: one trial changes it little
    online = pre.transform(data.subset([0]))
    assert np.abs(online - aligned[:1]).max() < 0.5 * np.abs(aligned[:1]).max()


def test_channel_standardisation_ignores_padding_and_keeps_it_zero():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 2, 10)).astype(np.float32) * 3 + 7
    mask = np.ones((6, 10), dtype=bool)
    mask[:3, 6:] = False
    x[~np.broadcast_to(mask[:, None, :], x.shape)] = 0.0
    data = SignalData(x=x, y=np.arange(6) % 2, class_names=("a", "b"), mask=mask)
    pre = SignalPreprocessor.fit(data, "none", "channel")
    real = np.stack([x[:, ch][mask] for ch in range(2)])
    np.testing.assert_allclose(pre.mean, real.mean(axis=1), rtol=1e-6)
    np.testing.assert_allclose(pre.std, real.std(axis=1), rtol=1e-5)
    out = pre.transform(data, training=True)
    assert (out[:3, :, 6:] == 0).all()
    np.testing.assert_allclose(out[:, 0][mask].mean(), 0, atol=1e-5)
    with pytest.raises(ConfigError, match="equal-length"):
        SignalPreprocessor.fit(data, "euclidean", "none")


def test_kfold_folds_hold_validation_out_of_training():
    data = _signals(n=30)
    folds = make_folds(data, "kfold", folds=3, val_ratio=0.1, seed=0)
    assert [f.name for f in folds] == ["fold_0", "fold_1", "fold_2"]
    tested = np.concatenate([f.test for f in folds])
    assert sorted(tested) == list(range(30))
    for fold in folds:
        assert not set(fold.train) & set(fold.val) and not set(fold.train) & set(fold.test)
        assert len(fold.val) == 2  # 10% of each class (10 training examples per class) held out


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["data.alignment=riemann"], "data.alignment"),
        (["data.subject=1"], "did you mean 'subjects'"),
        (["data.img_size=[8, 8]"], "applies to images datasets"),
        (["evaluation.protocol=kfol"], "evaluation.protocol"),
        (["model.name=crossvit_fmnist"], "signal model"),
        (["data.uea_name=null"], "data.uea_name"),
        (["signal.uea_name=GunPoint"], "unknown key .signal."),  # dualbranch 0.1 keys are not read
    ],
)
def test_signal_config_errors_name_the_key(tmp_path, overrides, message):
    with pytest.raises(ConfigError, match=message):
        config = load_config("basicmotions", [f"output.root={tmp_path}", *overrides])
        fit(config)
    assert not any(tmp_path.iterdir())  # refused before a run folder was made


def test_image_runs_refuse_signal_options(tmp_path):
    for override in ("data.alignment=euclidean", "augment.jitter=0.1"):
        with pytest.raises(ConfigError, match="applies to signals datasets"):
            fit(load_config(None, [f"output.root={tmp_path}", override]))
    assert not any(tmp_path.iterdir())


def test_builtin_config_names():
    assert load_config("japanesevowels").data.uea_name == "JapaneseVowels"
    assert load_config("eegbci_s001").evaluation.protocol == "kfold"
    assert load_config(None).data.name == "fashion_mnist"
    with pytest.raises(ConfigError, match=r"built-in config \(.*basicmotions"):
        load_config("no_such_config")
