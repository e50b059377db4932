"""MOABB as a data source (data.name=moabb), offline on MOABB's own FakeDataset: epochs, classes, subjects,
sessions, groups (cross-subject and cross-session protocols), errors, the download path (stopped before the
network), and a run through the command line: fit, test, predict and the report."""

from __future__ import annotations

import csv
import json
import os
import socket
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score

from dualbranch.cli import main
from dualbranch.errors import ConfigError, DataError
from dualbranch.train.config import load_config
from dualbranch.train.pipeline import folds_of

pytest.importorskip("moabb", reason="MOABB is not installed: pip install 'dualbranch[moabb]'")

from dualbranch.data.moabb import load_moabb  # after the skip: it runs MOABB

# 2 subjects × 2 sessions × 1 run × 20 trials of left / right hand, channels C3, Cz, C4 at 128 Hz
FAKE = {
    "event_list": ["left_hand", "right_hand"],
    "n_subjects": 2,
    "n_sessions": 2,
    "n_runs": 1,
    "n_events": 20,
    "duration": 60,
    "seed": 0,
}
FAKE_ARG = "{" + ", ".join(f"{k}: {json.dumps(v)}" for k, v in FAKE.items()) + "}"


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Nothing in these tests may reach the network: MOABB's FakeDataset is made in memory."""

    def refuse(*args, **kwargs):
        raise OSError("network access is disabled in the MOABB tests")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def _load(**overrides):
    args = {"dataset": "FakeDataset", "subjects": [1, 2], "tmax": 2.0, "dataset_args": FAKE, **overrides}
    return load_moabb(**args)


def test_fake_dataset_epochs_classes_and_channels():
    data = _load()
    assert (data.n_trials, data.n_chans, data.n_times) == (80, 3, 257)  # 2 s at 128 Hz, both ends included
    assert data.class_names == ("left_hand", "right_hand") and data.class_counts() == {
        "left_hand": 40,
        "right_hand": 40,
    }
    assert data.ch_names == ("C3", "Cz", "C4") and data.sfreq == 128.0
    assert [ch["ch_name"] for ch in data.chs_info] == ["C3", "Cz", "C4"]
    assert data.x.dtype == np.float32 and np.isfinite(data.x).all()
    assert data.groups.tolist() == [1] * 40 + [2] * 40  # subjects, in recorded order
    # the classes follow moabb_events' order; resampling and the window change the samples
    swapped = _load(events=["right_hand", "left_hand"], resample=64.0, tmin=0.5, tmax=1.5, subjects=[2])
    assert swapped.class_names == ("right_hand", "left_hand") and swapped.n_times == 64  # 129 samples at 128 Hz, halved
    assert (swapped.y == 1 - _load(subjects=[2]).y).all()


def test_sessions_and_groups():
    by_session = _load(groups="session")
    assert list(dict.fromkeys(by_session.groups)) == ["1/0", "1/1", "2/0", "2/1"]
    first = _load(sessions=["0"], groups="session")
    assert first.n_trials == 40 and set(first.groups) == {"1/0", "2/0"}
    assert _load(sessions=[1]).n_trials == 40  # session names may be given as numbers


def _config(*overrides: str):
    base = [
        "data.name=moabb",
        "data.moabb_dataset=FakeDataset",
        f"data.moabb_args={FAKE_ARG}",
        "data.tmax=2.0",
        "model.name=mvcnet",
    ]
    return load_config(None, [*base, *overrides])


def test_protocols_cross_subject_and_cross_session():
    # groups=subject: loso is leave-one-subject-out
    config = _config("data.subjects=[1, 2]", "evaluation.protocol=loso")
    dataset = config.kind.load(config.data, 0)
    folds = folds_of(config, dataset)
    assert [sorted(set(dataset.groups[f.test])) for f in folds] == [[1], [2]]
    # groups=session: loso is leave-one-session-out, here within subject 1
    config = _config("data.subjects=[1]", "data.groups=session", "evaluation.protocol=loso", "data.val_ratio=0")
    dataset = config.kind.load(config.data, 0)
    folds = folds_of(config, dataset)
    assert [sorted(set(dataset.groups[f.test])) for f in folds] == [["1/0"], ["1/1"]]
    assert [sorted(set(dataset.groups[f.train])) for f in folds] == [["1/1"], ["1/0"]]
    # the chronological hold-out of half the trials: train on the first session, test on the second
    config = _config("data.subjects=[1]", "evaluation.protocol=holdout", "evaluation.test_fraction=0.5")
    dataset = config.kind.load(config.data, 0)
    [fold] = folds_of(config, dataset)
    session = _load(subjects=[1], groups="session").groups
    assert set(session[fold.test]) == {"1/1"} and set(session[np.concatenate([fold.train, fold.val])]) == {"1/0"}


@pytest.mark.parametrize(
    ("overrides", "error", "message"),
    [
        ({"dataset": None}, ConfigError, "needs data.moabb_dataset"),
        ({"dataset": "BNCI2014001"}, ConfigError, "did you mean 'BNCI2014_001'"),
        ({"dataset_args": {**FAKE, "paradigm": "p300"}}, ConfigError, "is a 'p300' dataset"),
        ({"dataset_args": {"n_subject": 2}}, ConfigError, "data.moabb_args"),
        ({"subjects": [3]}, ConfigError, r"data.subjects: FakeDataset has no \[3\]"),
        ({"events": ["feet"]}, ConfigError, "data.moabb_events"),
        ({"events": ["left_hand"]}, ConfigError, "at least 2 classes"),
        ({"sessions": ["0train"]}, ConfigError, "data.sessions"),
        ({"tmin": 2.0, "tmax": 1.0}, ConfigError, "before data.tmax"),
        ({"groups": "run"}, ConfigError, "data.groups"),
    ],
)
def test_errors_name_the_key(overrides, error, message):
    with pytest.raises(error, match=message):
        _load(**overrides)


def test_config_checks_the_moabb_keys():
    with pytest.raises(ConfigError, match=r"data\.groups"):
        _config("data.groups=subjects")
    with pytest.raises(ConfigError, match=r"data\.moabb_paradigm"):
        _config("data.moabb_paradigm=p300")


def test_a_real_dataset_goes_to_moabbs_download_into_data_path(monkeypatch, tmp_path):
    # the real code path up to the network: MOABB asks for BNCI2014_001 subject 1 under data.path, from
    # NEMAR first where this MOABB has it (1.7 on), then from the dataset's own server
    import moabb.datasets.base as base
    import moabb.datasets.download as download

    asked = {}

    def nemar(nemar_id, dataset_code, path=None, **kwargs):
        asked.update(nemar=download.nemar_store(dataset_code, nemar_id, path))
        raise download.NemarDownloadError("downloads are disabled in the tests")

    def retrieve(url, known_hash, fname, path, **kwargs):
        asked.update(url=url, path=path, env=os.environ.get("MNE_DATA"))
        raise OSError("downloads are disabled in the tests")

    if hasattr(base, "nemar_sourcedata_dl"):  # without it, a retried request to a server the tests cannot reach
        monkeypatch.setattr(base, "nemar_sourcedata_dl", nemar)
    monkeypatch.setattr(download, "retrieve", retrieve)
    before = os.environ.get("MNE_DATA")
    with pytest.raises(DataError, match="could not read or download BNCI2014_001 subject"):
        load_moabb("BNCI2014_001", subjects=[1], events=["left_hand", "right_hand"], path=str(tmp_path))
    assert Path(asked["path"]).is_relative_to(tmp_path) and asked["env"] == str(tmp_path)
    assert asked["url"].startswith("http")
    if hasattr(base, "nemar_sourcedata_dl"):
        assert Path(asked["nemar"]).is_relative_to(tmp_path), asked
    assert os.environ.get("MNE_DATA") == before  # the setting was for the call alone


def test_cli_fit_test_predict_and_report_with_the_contrastive_objective(tmp_path):
    """MVCNet with MVCNet's objective on FakeDataset, leave-one-session-out, through the command line."""
    quick = [
        "trainer.threads=1",
        "trainer.progress_bar=false",
        "optim.epochs=2",
        "optim.warmup_epochs=0.5",
        "data.val_ratio=0",
        "data.batch_size=16",
    ]
    model = [f"model.args.{k}={v}" for k, v in {"n_filters": 8, "patch_size": 32, "temporal_kernel": 15}.items()]
    argv = [
        "fit",
        "model.name=mvcnet",
        "data.name=moabb",
        "data.moabb_dataset=FakeDataset",
        f"data.moabb_args={FAKE_ARG}",
        "data.subjects=[1]",
        "data.tmax=2.0",
        "data.groups=session",
        "data.alignment=euclidean",
        "evaluation.protocol=loso",
        "objective.name=multi_view_contrastive",
        f"output.root={tmp_path}",
        "output.name=fake",
        *model,
        *quick,
    ]
    assert main(argv) == 0
    run = tmp_path / "fake"
    record = json.loads((run / "run.json").read_text())
    assert record["folds"] == ["fold_0", "fold_1"] and record["class_names"] == ["left_hand", "right_hand"]
    assert record["data"]["ch_names"] == ["C3", "Cz", "C4"] and record["data"]["sfreq"] == 128.0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["n"] == 40 and set(metrics["groups"]) == {"1/0", "1/1"}
    assert 0 <= metrics["balanced_accuracy"] <= 1 and "kappa" in metrics["summary"]
    history = (run / "folds" / "fold_0" / "history.jsonl").read_text().splitlines()
    assert len(history) == 2
    with (run / "folds" / "fold_0" / "logs" / "metrics.csv").open() as handle:
        logged = list(csv.DictReader(handle))
    # the objective's terms are logged per epoch
    assert any(row["train_cross_view"] and row["train_cross_model"] and row["train_cross_entropy"] for row in logged)
    report = (run / "report.html").read_text()
    assert "Per-session results" in report and "Per-subject" not in report  # groups=session is said so
    with (run / "predictions.csv").open() as handle:
        predictions = list(csv.DictReader(handle))
    assert len(predictions) == 40 and "session" in predictions[0]
    truth, predicted = [r["true"] for r in predictions], [r["predicted"] for r in predictions]
    assert metrics["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(truth, predicted))  # every fold's
    assert main(["test", str(run)]) == 0
    assert json.loads((run / "metrics.json").read_text())["accuracy"] == metrics["accuracy"]
    x = load_moabb("FakeDataset", subjects=[1], tmax=2.0, dataset_args=FAKE).x[:5]
    np.savez(tmp_path / "new.npz", x=x)
    out = tmp_path / "predictions.csv"
    assert main(["predict", str(run), str(tmp_path / "new.npz"), "--output", str(out)]) == 0
    with out.open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 5 and {row["label"] for row in rows} <= {"left_hand", "right_hand"}
