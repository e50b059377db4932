"""SignalData validation, UEA/npz loading with explicit length policies, Euclidean alignment."""

from __future__ import annotations

import shutil
from pathlib import Path

import aeon.datasets
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dualbranch.data.series import (
    load_npz,
    load_uea,
    load_uea_splits,
    pad_series,
    read_uea_split,
    resample_series,
    stack_series,
)
from dualbranch.data.signal import SignalData
from dualbranch.data.signal_transforms import (
    ChannelStandardizer,
    EuclideanAligner,
    OnlineEuclideanAligner,
    align_per_group,
    mean_covariance,
    zscore_trials,
)
from dualbranch.errors import MissingFileError
from dualbranch.train.config import load_config


def _data(n=6, c=3, t=20, k=2, **kw):
    rng = np.random.default_rng(0)
    return SignalData(x=rng.standard_normal((n, c, t)), y=np.arange(n) % k, class_names=tuple("ab"[:k]), **kw)


def test_signal_data_casts_and_describes():
    data = _data()
    assert data.x.dtype == np.float32 and data.y.dtype == np.int64
    assert data.ch_names == ("ch0", "ch1", "ch2") and data.class_counts() == {"a": 3, "b": 3}
    assert "n=6" in repr(data)
    sub = data.subset([0, 2])
    assert len(sub) == 2 and sub.class_counts() == {"a": 2, "b": 0}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"x": np.zeros((6, 20))}, "3-D"),
        ({"y": np.array([0, 1, 2, 0, 1, 0])}, "out of range"),
        ({"y": np.zeros(6, dtype=int)}, "no examples"),
        ({"y": np.zeros(5, dtype=int)}, "one label per example"),
        ({"ch_names": ("a",)}, "ch_names"),
        ({"groups": np.zeros(3)}, "groups"),
    ],
)
def test_signal_data_errors(change, message):
    base = {"x": np.zeros((6, 3, 20)), "y": np.arange(6) % 2, "class_names": ("a", "b")}
    with pytest.raises(ValueError, match=message):
        SignalData(**{**base, **change})


def test_nan_is_reported_with_its_location():
    x = np.zeros((4, 3, 10))
    x[2, 1, 7] = np.nan
    x[3, 0, 0] = np.inf
    with pytest.raises(ValueError, match=r"2 non-finite.*NaN at example 2, channel 1 \(ch1\), sample 7"):
        SignalData(x=x, y=np.array([0, 1, 0, 1]), class_names=("a", "b"))


def test_japanese_vowels_is_padded_with_a_mask_never_truncated():
    data = load_uea("JapaneseVowels")
    assert data.n_chans == 12 and data.n_times == 29 and data.mask is not None
    lengths = data.mask.sum(axis=1)
    assert lengths.min() == 7 and lengths.max() == 29
    assert np.all(data.x[~np.broadcast_to(data.mask[:, None, :], data.x.shape)] == 0)
    resampled = load_uea("JapaneseVowels", split="test", length_policy="resample", length=32)
    assert resampled.x.shape[2] == 32 and resampled.mask is None and resampled.n_classes == 9
    with pytest.raises(ValueError, match="lengths vary"):
        load_uea("JapaneseVowels", length_policy="error")


def test_basic_motions_and_unknown_dataset():
    data = load_uea("BasicMotions", split="train")
    assert data.x.shape == (40, 6, 100) and data.n_classes == 4
    with pytest.raises(ValueError, match="download"):
        load_uea("FaceDetection")


def _downloaded_as(tmp_path: Path, bundled: str, name: str) -> Path:
    """aeon's bundled ``bundled`` set written as a download of the UEA/UCR archive named ``name`` would be."""
    (tmp_path / name).mkdir()
    for split in ("TRAIN", "TEST"):
        source = Path(aeon.datasets.__file__).parent / "data" / bundled / f"{bundled}_{split}.ts"
        shutil.copy(source, tmp_path / name / f"{name}_{split}.ts")
    return tmp_path


def test_a_downloaded_uea_set_is_read_from_its_folder_or_the_archive_folder(tmp_path):
    root = _downloaded_as(tmp_path, "UnitTest", "MyUnitTest")
    files = {p: p.read_bytes() if p.is_file() else None for p in root.rglob("*")}
    expected = load_uea("UnitTest", "test")
    for folder in (root, root / "MyUnitTest"):
        got = load_uea("MyUnitTest", "test", extract_path=folder)
        np.testing.assert_array_equal(got.x, expected.x)
        np.testing.assert_array_equal(got.y, expected.y)
        assert got.class_names == expected.class_names
    assert {p: p.read_bytes() if p.is_file() else None for p in root.rglob("*")} == files  # read only
    # the CLI's data.path: both splits, the official test split kept as the run's test
    config = load_config(None, ["data.name=uea", "data.uea_name=MyUnitTest", f"data.path={root}"])
    run_data = config.kind.load(config.data, 0, progress=False)
    assert len(run_data.examples.y) == 20 + 22 and list(run_data.own_test) == list(range(20, 42))


def _ucr_text(path: Path, series: list, labels: np.ndarray, separator: str, label_format: str) -> None:
    """Write univariate ``series`` as a UCR text split: the label first, the values after it, shorter
    series padded with NaN at the end to the longest (as the 2018 archive does)."""
    longest = max(s.shape[-1] for s in series)
    rows = []
    for values, label in zip(series, labels, strict=True):
        padded = np.concatenate([values[0], np.full(longest - values.shape[-1], np.nan)])
        rows.append(separator.join([label_format.format(float(label)), *(f"{v:.10g}" for v in padded)]))
    path.write_text("\n".join(rows) + "\n")


@pytest.mark.parametrize(("suffix", "separator", "label_format"), [(".tsv", "\t", "{:.0f}"), (".txt", "  ", "{:.7e}")])
def test_ucr_text_splits_read_as_the_same_set_in_ts(tmp_path, suffix, separator, label_format):
    # PickupGestureWiimoteZ: univariate, 10 classes, lengths 29-361 (the .tsv pads them with NaN)
    (tmp_path / "Pickup").mkdir()
    originals = {split: read_uea_split("PickupGestureWiimoteZ", split) for split in ("train", "test")}
    for split, (series, labels) in originals.items():
        _ucr_text(tmp_path / "Pickup" / f"Pickup_{split.upper()}{suffix}", series, labels, separator, label_format)
    for split, (series, labels) in originals.items():
        got_series, got_labels = read_uea_split("Pickup", split, tmp_path)
        assert len(got_series) == len(series) and len({s.shape for s in got_series}) > 1  # unequal lengths kept
        for got, expected in zip(got_series, series, strict=True):
            np.testing.assert_allclose(got, expected, rtol=1e-9)
        assert list(got_labels) == [str(int(float(x))) for x in labels]
    train, test = load_uea_splits("Pickup", extract_path=tmp_path / "Pickup")
    expected_train, expected_test = load_uea_splits("PickupGestureWiimoteZ")
    np.testing.assert_allclose(test.x, expected_test.x, rtol=1e-9)
    np.testing.assert_array_equal(train.mask, expected_train.mask)
    assert train.class_names == tuple(sorted(str(i) for i in range(1, 11)))


def test_ucr_text_equal_lengths_stack_and_missing_values_stay(tmp_path):
    (tmp_path / "Tiny").mkdir()
    (tmp_path / "Tiny" / "Tiny_TRAIN.tsv").write_text("1\t0.5\t1.5\t2\n\n-1\t3\tNaN\t4\n")
    (tmp_path / "Tiny" / "Tiny_TEST.tsv").write_text("-1,1,2,3\n")
    series, labels = read_uea_split("Tiny", "train", tmp_path)
    assert series.shape == (2, 1, 3) and list(labels) == ["1", "-1"]
    assert np.isnan(series[1, 0, 1])  # a missing value inside a series is kept, for the data checks to report
    series, labels = read_uea_split("Tiny", "test", tmp_path)  # commas, as some copies of the archive have
    np.testing.assert_array_equal(series, [[[1.0, 2.0, 3.0]]])
    # a byte-order mark, a trailing comma, an empty field (missing, not dropped), a label with a space
    (tmp_path / "Tiny" / "Tiny_TEST.tsv").write_bytes("\ufeff1,1,2,3,\r\n1,4,,6\r\n".encode())
    series, labels = read_uea_split("Tiny", "test", tmp_path)
    assert list(labels) == ["1", "1"] and series.shape == (2, 1, 3)
    np.testing.assert_array_equal(series[0, 0], [1.0, 2.0, 3.0])
    assert series[1, 0, 0] == 4 and np.isnan(series[1, 0, 1]) and series[1, 0, 2] == 6
    (tmp_path / "Tiny" / "Tiny_TEST.tsv").write_text("class A\t0.5\t0.25\n")
    assert list(read_uea_split("Tiny", "test", tmp_path)[1]) == ["class A"]


def test_a_folder_without_the_set_is_refused_and_never_created(tmp_path):
    with pytest.raises(MissingFileError, match=r"absent does not exist; give the folder that holds Epilepsy/"):
        load_uea("Epilepsy", "train", extract_path=tmp_path / "absent")
    assert not (tmp_path / "absent").exists()  # aeon would have made it and downloaded into it
    with pytest.raises(MissingFileError, match=r"holds no Epilepsy/Epilepsy_TRAIN\.ts"):
        load_uea("Epilepsy", "train", extract_path=tmp_path)
    # aeon strips _eq from a name and would download the set without it: the files named are the files read
    _downloaded_as(tmp_path, "BasicMotions", "BasicMotions_eq")
    data = load_uea("BasicMotions_eq", "train", extract_path=tmp_path)
    assert data.x.shape == (40, 6, 100) and not (tmp_path / "BasicMotions").exists()
    with pytest.raises(MissingFileError, match=r"is a file; give the folder"):
        load_uea("BasicMotions_eq", "train", extract_path=tmp_path / "BasicMotions_eq" / "BasicMotions_eq_TRAIN.ts")


def test_pad_and_resample_helpers():
    series = [np.ones((2, 3)), np.ones((2, 5))]
    x, mask = pad_series(series)
    assert x.shape == (2, 2, 5) and mask.sum(axis=1).tolist() == [3, 5]
    with pytest.raises(ValueError, match="shorter"):
        pad_series(series, length=4)
    assert resample_series(series, 8).shape == (2, 2, 8)
    with pytest.raises(ValueError, match="channel counts"):
        stack_series([np.ones((2, 3)), np.ones((3, 3))])


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(2, 8),
    c=st.integers(1, 4),
    t=st.integers(1, 12),
    k=st.integers(1, 3),
    string_labels=st.booleans(),
    univariate=st.booleans(),
)
def test_npz_round_trip(tmp_path_factory, n, c, t, k, string_labels, univariate):
    rng = np.random.default_rng(n * 100 + c * 10 + t)
    x = rng.standard_normal((n, t) if univariate else (n, c, t)).astype(np.float32)
    codes = np.arange(n) % min(k, n)
    y = np.array([f"class{v}" for v in codes]) if string_labels else codes
    path = tmp_path_factory.mktemp("npz") / "data.npz"
    np.savez(path, x=x, y=y, groups=np.arange(n) // 2)
    data = load_npz(path)
    expected = x[:, None, :] if univariate else x
    assert np.array_equal(data.x, expected)
    assert [data.class_names[v] for v in data.y] == [str(v) for v in y]
    assert np.array_equal(data.groups, np.arange(n) // 2)


def test_npz_errors(tmp_path):
    np.savez(tmp_path / "a.npz", x=np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match=r"lacks array\(s\) \['y'\]"):
        load_npz(tmp_path / "a.npz")
    with pytest.raises(FileNotFoundError):
        load_npz(tmp_path / "missing.npz")


def test_euclidean_alignment_whitens_the_mean_covariance():
    rng = np.random.default_rng(1)
    mixing = rng.standard_normal((5, 5))
    x = np.einsum("cd,ndt->nct", mixing, rng.standard_normal((30, 5, 200)))
    aligned = EuclideanAligner().fit_transform(x)
    assert np.allclose(mean_covariance(aligned), np.eye(5), atol=1e-4)
    data = SignalData(
        x=np.concatenate([x, 3 * x]), y=np.arange(60) % 2, class_names=("a", "b"), groups=np.repeat([1, 2], 30)
    )
    per_subject = align_per_group(data)
    for g in (1, 2):
        assert np.allclose(mean_covariance(per_subject.x[per_subject.groups == g]), np.eye(5), atol=1e-4)


def test_online_alignment_converges_to_offline():
    rng = np.random.default_rng(2)
    x = np.einsum("cd,ndt->nct", rng.standard_normal((4, 4)), rng.standard_normal((40, 4, 100)))
    online = OnlineEuclideanAligner()
    streamed = np.concatenate([online.partial_transform(trial) for trial in x])
    assert online.count == 40
    # the last trial is aligned with the mean of all 40, exactly as offline EA
    assert np.allclose(streamed[-1], EuclideanAligner().fit_transform(x)[-1], atol=1e-4)


def test_zscore_and_standardizer():
    x = np.random.default_rng(3).normal(5.0, 2.0, size=(10, 3, 50))
    z = zscore_trials(x)
    assert np.allclose(z.mean(axis=2), 0, atol=1e-5) and np.allclose(z.std(axis=2), 1, atol=1e-3)
    scaler = ChannelStandardizer().fit(x[:5])
    assert scaler.transform(x[5:]).shape == (5, 3, 50)
