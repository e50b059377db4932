"""Real EEG (EEGMMIDB subject 1, offline), split protocols and the CSP + LDA baseline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dualbranch.data.eeg import load_eegbci
from dualbranch.data.signal import SignalData
from dualbranch.evaluation import (
    chronological_holdout,
    classification_metrics,
    leave_one_subject_out,
    make_splits,
    run_protocol,
    stratified_kfold,
    summarize,
)
from dualbranch.evaluation.csp_lda import csp_lda_fit_predict

EEGBCI = Path("/work/shared/data/MNE-eegbci-data")
needs_eegbci = pytest.mark.skipif(not (EEGBCI / "files").exists(), reason="EEGMMIDB S001 not available offline")


@pytest.fixture(scope="module")
def s001() -> SignalData:
    return load_eegbci(subject=1, runs=(4, 8, 12), path=EEGBCI)


@needs_eegbci
def test_eegbci_subject1_imagery(s001):
    assert s001.x.shape == (45, 64, 641) and s001.sfreq == 160.0
    counts = s001.class_counts()
    assert set(counts) == {"left_fist", "right_fist"} and abs(counts["left_fist"] - counts["right_fist"]) <= 3
    assert set(np.unique(s001.groups)) == {1} and "C3" in s001.ch_names
    assert np.isfinite(s001.x).all() and 1e-7 < s001.x.std() < 1e-3  # volts, band-passed


def test_eegbci_missing_data_is_an_error_not_a_download(tmp_path):
    with pytest.raises(FileNotFoundError, match="download=True"):
        load_eegbci(subject=2, path=tmp_path)


def _recording(fit_predict):
    """``fit_predict`` that also keeps each fold's (true, predicted) codes, to recompute the metrics."""
    seen: list[tuple[np.ndarray, np.ndarray]] = []

    def wrapped(train: SignalData, test: SignalData) -> np.ndarray:
        predicted = fit_predict(train, test)
        seen.append((test.y, np.asarray(predicted)))
        return predicted

    return wrapped, seen


@needs_eegbci
def test_csp_lda_on_five_folds(s001):
    fit_predict, seen = _recording(csp_lda_fit_predict)
    result = run_protocol(s001, make_splits("kfold", s001, n_splits=5), fit_predict)
    assert len(result.folds) == 5 and sum(f["n_test"] for f in result.folds) == 45
    assert set(result.subjects) == {"1"} and set(result.summary) == {"accuracy", "balanced_accuracy", "kappa"}
    # the reported figures are those of the predictions made
    for fold, (y_true, y_pred) in zip(result.folds, seen):
        assert fold["accuracy"] == pytest.approx(np.mean(y_true == y_pred))
    accuracies = [f["accuracy"] for f in result.folds]
    assert result.summary["accuracy"] == pytest.approx({"mean": np.mean(accuracies), "std": np.std(accuracies)})
    correct = sum(int((y_true == y_pred).sum()) for y_true, y_pred in seen)
    # left vs right fist imagery of S001 is decodable: CSP + LDA gets 34 of 45 (0.76) here; 30 of 45 is
    # already unlikely by chance (binomial p ≈ 0.02), while a broken filter, epoching or pipeline gives ~22
    assert correct >= 30, f"{correct}/45 correct: CSP + LDA is at chance on S001"


def _variance_classes(n: int = 160, shuffle: int | None = None) -> SignalData:
    """Two classes that differ only in which channel carries more power (4× the variance on channel 0
    for "a", on channel 1 for "b"): the textbook case CSP solves. ``shuffle`` permutes the labels with
    that seed, which leaves nothing to learn."""
    rng = np.random.default_rng(0)
    y = np.arange(n) % 2
    x = rng.standard_normal((n, 4, 200))
    x[y == 0, 0] *= 2.0
    x[y == 1, 1] *= 2.0
    if shuffle is not None:
        y = np.random.default_rng(shuffle).permutation(y)
    return SignalData(x=x, y=y, class_names=("a", "b"))


def test_csp_lda_separates_variance_classes_and_is_at_chance_on_shuffled_labels():
    data = _variance_classes()
    separable = run_protocol(data, make_splits("kfold", data), csp_lda_fit_predict).summary
    assert separable["accuracy"]["mean"] >= 0.95 and separable["kappa"]["mean"] >= 0.9
    shuffled = _variance_classes(shuffle=0)
    chance = run_protocol(shuffled, make_splits("kfold", shuffled), csp_lda_fit_predict).summary
    # 160 test predictions: chance is 0.5 ± 0.04 (one standard deviation)
    assert 0.38 < chance["accuracy"]["mean"] < 0.62 and abs(chance["kappa"]["mean"]) < 0.25


def _toy(n_per_subject=10, subjects=(1, 2, 3)) -> SignalData:
    n = n_per_subject * len(subjects)
    return SignalData(
        x=np.random.default_rng(0).standard_normal((n, 2, 8)),
        y=np.arange(n) % 2,
        class_names=("a", "b"),
        groups=np.repeat(subjects, n_per_subject),
    )


def test_chronological_holdout_tests_on_the_last_trials_of_each_subject():
    data = _toy()
    (split,) = chronological_holdout(data, test_fraction=0.2)
    assert np.intersect1d(split.train, split.test).size == 0
    for g in (1, 2, 3):
        train = split.train[data.groups[split.train] == g]
        test = split.test[data.groups[split.test] == g]
        assert train.max() < test.min() and len(test) == 2


def test_kfold_covers_every_trial_once_and_stratifies():
    data = _toy()
    splits = list(stratified_kfold(data, n_splits=5))
    tested = np.concatenate([s.test for s in splits])
    assert sorted(tested.tolist()) == list(range(len(data)))
    for s in splits:
        assert np.intersect1d(s.train, s.test).size == 0
        assert abs(np.mean(data.y[s.test]) - 0.5) <= 0.2


def test_loso_leaves_out_exactly_one_subject():
    data = _toy()
    splits = list(leave_one_subject_out(data))
    assert [s.name for s in splits] == ["subject 1", "subject 2", "subject 3"]
    for s in splits:
        assert len(set(data.groups[s.test])) == 1
        assert not set(data.groups[s.test]) & set(data.groups[s.train])
    with pytest.raises(ValueError, match="at least 2 subjects"):
        list(leave_one_subject_out(_toy(subjects=(1,))))


def test_run_protocol_reports_folds_subjects_and_summary():
    data = _toy()
    result = run_protocol(data, make_splits("loso", data), lambda train, test: test.y)  # an oracle
    assert [f["accuracy"] for f in result.folds] == [1.0, 1.0, 1.0]
    assert result.summary["kappa"] == {"mean": 1.0, "std": 0.0}
    assert set(result.subjects) == {"1", "2", "3"}


def test_run_protocol_metrics_of_known_predictions():
    # each subject's 10 test trials alternate a, b; the first two predictions are swapped (a->b, b->a):
    # accuracy 8/10; each class keeps 4 of its 5, so balanced accuracy 0.8; the predictions are still
    # 5 a + 5 b, so chance agreement p_e = 0.5 and Cohen's kappa = (0.8 - 0.5) / (1 - 0.5) = 0.6
    def two_wrong(train: SignalData, test: SignalData) -> np.ndarray:
        predicted = test.y.copy()
        predicted[:2] = 1 - predicted[:2]
        return predicted

    data = _toy()
    result = run_protocol(data, make_splits("loso", data), two_wrong)
    expected = {"accuracy": 0.8, "balanced_accuracy": 0.8, "kappa": 0.6}
    for fold in result.folds:
        assert fold["n_test"] == 10
        assert {k: fold[k] for k in expected} == pytest.approx(expected)
    assert result.subjects == {g: pytest.approx(expected) for g in ("1", "2", "3")}
    assert result.summary == {k: pytest.approx({"mean": v, "std": 0.0}) for k, v in expected.items()}
    with pytest.raises(ValueError, match="Unknown protocol"):
        make_splits("bootstrap", data)


def test_metrics():
    metrics = classification_metrics(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]))
    assert metrics["accuracy"] == 0.75 and metrics["balanced_accuracy"] == 0.75 and metrics["kappa"] == 0.5
    assert summarize([{"accuracy": 0.5}, {"accuracy": 1.0}], keys=("accuracy",)) == {
        "accuracy": {"mean": 0.75, "std": 0.25}
    }
