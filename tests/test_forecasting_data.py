"""Forecasting data: the reference code's borders, scaler and window counts; loaders and their errors.

The window counts are checked against the reference formula, windows per part = len(part) − seq_len −
pred_len + 1, and the numbers the Time-Series-Library prints for the standard sets (ETTh1 96→96:
8449 / 2785 / 2785; ETTm1: 34369 / 11425 / 11425; Weather: 36696 / 5175 / 10444). Real files come
from what aeon ships (read offline); nothing is downloaded.

Shape legend: T rows, C variables, L look-back, H horizon.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import dualbranch
from dualbranch.data.forecasting import (
    ForecastWindows,
    Scaler,
    SeriesTable,
    count_windows,
    forecast_errors,
    infer_protocol,
    load_forecasting,
    load_series,
    prepare_forecasting,
    split_borders,
)
from dualbranch.errors import ConfigError, DataError, MissingDependencyError, MissingFileError

ETT_COLUMNS = ("HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT")


def _aeon_file(folder: str, name: str) -> Path:
    datasets = pytest.importorskip("aeon.datasets")
    path = Path(datasets.__file__).parent / "data" / folder / name
    if not path.is_file():
        pytest.skip(f"aeon does not ship {folder}/{name}")
    return path


def _table(n_rows: int, n_vars: int = 7, source: str = "", seed: int = 0) -> SeriesTable:
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(n_rows, n_vars)).cumsum(axis=0) + np.arange(n_vars) * 10
    return SeriesTable(
        values, ETT_COLUMNS[:n_vars] if n_vars <= 7 else tuple(f"v{j}" for j in range(n_vars)), None, source
    )


@pytest.fixture(scope="module")
def etth1_csv(tmp_path_factory) -> Path:
    """An ETTh1-shaped file: 17,420 hourly rows, ``date`` then HUFL … OT (random walks)."""
    pd = pytest.importorskip("pandas")
    table = _table(17_420)
    frame = pd.DataFrame(table.values, columns=list(ETT_COLUMNS))
    frame.insert(0, "date", pd.date_range("2016-07-01", periods=17_420, freq="h").astype(str))
    path = tmp_path_factory.mktemp("ett") / "ETTh1.csv"
    frame.to_csv(path, index=False)
    return path


def test_ett_hour_borders_and_window_counts(etth1_csv):
    data = load_forecasting(etth1_csv, seq_len=96, pred_len=96)
    assert data.protocol == "ett_hour" and data.series.columns == ETT_COLUMNS
    assert data.borders == {"train": (0, 8640), "val": (8640 - 96, 11520), "test": (11520 - 96, 14400)}
    assert {k: len(v) for k, v in data.parts().items()} == {"train": 8449, "val": 2785, "test": 2785}
    assert data.series.timestamps[0] == "2016-07-01 00:00:00"


@pytest.mark.parametrize("pred_len", [96, 192, 336, 720])
def test_window_counts_follow_the_reference_formula(pred_len):
    data = prepare_forecasting(_table(17_420, source="ETTh1.csv"), seq_len=96, pred_len=pred_len)
    for part, (start, stop) in data.borders.items():
        assert len(data.parts()[part]) == (stop - start) - 96 - pred_len + 1
    assert len(data.test) == 2880 + 96 - 96 - pred_len + 1


def test_ett_minute_and_ratio_counts_match_the_published_logs():
    ettm1 = prepare_forecasting(_table(69_680, source="ETTm1.csv"), 96, 96)
    assert ettm1.protocol == "ett_minute"
    assert [len(w) for w in ettm1.parts().values()] == [34_369, 11_425, 11_425]
    weather = prepare_forecasting(_table(52_696, n_vars=3, source="weather.csv"), 96, 96)
    assert weather.protocol == "ratio"
    assert weather.borders == {"train": (0, 36_887), "val": (36_887 - 96, 42_157), "test": (42_157 - 96, 52_696)}
    assert [len(w) for w in weather.parts().values()] == [36_696, 5_175, 10_444]


def test_windows_read_the_right_rows_and_never_cross_a_border():
    table = _table(1_000, n_vars=3)
    data = prepare_forecasting(table, seq_len=24, pred_len=12)
    scaled = data.scaler.transform(table.values)
    for part, windows in data.parts().items():
        start, stop = data.borders[part]
        for i in (0, len(windows) - 1):
            x, y = windows[i]
            first = windows.start_row(i)
            assert x.dtype == torch.float32 and x.shape == (24, 3) and y.shape == (12, 3)
            assert np.allclose(x.numpy(), scaled[first : first + 24], atol=1e-6)
            assert np.allclose(y.numpy(), scaled[first + 24 : first + 36], atol=1e-6)
            assert start <= first and first + 36 <= stop
    # the first validation and test windows look back into the previous part and forecast its own rows
    n_train = data.borders["train"][1]
    assert data.val.start_row(0) + 24 == n_train
    assert data.test.start_row(0) + 24 == data.borders["val"][1]
    with pytest.raises(IndexError):
        data.test[len(data.test)]


def test_scaler_is_fitted_on_the_training_rows_only():
    table = _table(1_000, n_vars=3)
    data = prepare_forecasting(table, seq_len=24, pred_len=12)
    train = table.values[:700]
    assert np.allclose(data.scaler.mean, train.mean(axis=0)) and np.allclose(data.scaler.std, train.std(axis=0))
    changed = table.values.copy()
    changed[700:] *= 1_000  # the validation and test rows do not move the scaler
    other = prepare_forecasting(SeriesTable(changed, table.columns), seq_len=24, pred_len=12)
    assert np.array_equal(other.scaler.mean, data.scaler.mean)
    constant = Scaler.fit(np.ones((10, 2)))
    assert np.array_equal(constant.std, [1.0, 1.0])  # as scikit-learn: a constant keeps its scale
    assert prepare_forecasting(table, 24, 12, scale=False).scaler is None


def test_stride_thins_the_windows():
    data = prepare_forecasting(_table(1_000, n_vars=2), seq_len=24, pred_len=12, stride=5)
    assert len(data.train) == count_windows(700, 24, 12, 5) == (700 - 36) // 5 + 1
    assert data.train.start_row(3) == 15
    assert count_windows(30, 24, 12) == 0


def test_one_target_and_metrics_on_both_scales():
    table = _table(1_000, n_vars=7)
    data = prepare_forecasting(table, seq_len=24, pred_len=12, targets="OT")
    assert data.target_indices == (6,) and data.target_columns == ("OT",) and data.n_vars == 7
    x, y = data.test[0]
    assert x.shape == (24, 7) and y.shape == (12, 1)
    truth = torch.stack([data.test[i][1] for i in range(5)])  # (5, 12, 1)
    metrics = data.metrics(truth + 1.0, truth)  # off by one standard deviation everywhere
    assert metrics["mse"] == pytest.approx(1.0) and metrics["mae"] == pytest.approx(1.0)
    std = data.scaler.std[6]
    assert metrics["mse_original"] == pytest.approx(std**2) and metrics["mae_original"] == pytest.approx(std)
    original = data.inverse_transform_targets(truth[0])
    first = data.test.start_row(0) + 24
    assert np.allclose(original[:, 0], table.values[first : first + 12, 6], atol=1e-4)
    with pytest.raises(DataError, match="shape"):
        forecast_errors(truth, truth[:, :6])


def test_a_model_reads_the_windows_through_a_data_loader():
    data = prepare_forecasting(_table(600, n_vars=3), seq_len=32, pred_len=8, targets=["HUFL", "MUFL"])
    model = dualbranch.create_model(
        "gateformer", n_vars=data.n_vars, seq_len=32, pred_len=8, target_indices=data.target_indices, d_model=16
    ).eval()
    x, y = next(iter(torch.utils.data.DataLoader(data.test, batch_size=4)))
    assert x.shape == (4, 32, 3) and y.shape == (4, 8, 2)
    with torch.no_grad():
        assert set(data.metrics(model(x), y)) == {"mse", "mae", "mse_original", "mae_original"}
    json.dumps(data.summary())


def test_the_protocol_is_inferred_from_the_file_name():
    assert infer_protocol("data/ETTh2.csv") == "ett_hour" and infer_protocol("ETTm1.parquet") == "ett_minute"
    assert infer_protocol("electricity.csv") == infer_protocol("") == "ratio"


# --- files that packages ship (read offline) ----------------------------------------------------------------------


def test_a_multivariate_csv_with_a_timestamp_column():
    path = _aeon_file("Daphnet_S06R02E0", "S06R02E0.csv")  # timestamp, 9 accelerometer axes, is_anomaly
    table = load_series(path)  # the first, non-numeric column is the time column
    assert table.values.shape == (7040, 10) and table.columns[0] == "ankle_horiz_fwd"
    assert table.timestamps[0].startswith("1970-01-01")
    data = load_forecasting(path, seq_len=96, pred_len=48, columns=list(table.columns[:9]), targets="trunk_vert")
    n_train, n_test = int(7040 * 0.7), int(7040 * 0.2)
    assert len(data.train) == n_train - 96 - 48 + 1 and len(data.test) == n_test - 48 + 1
    assert data.test[0][1].shape == (48, 1)


def test_a_table_with_a_text_time_column_and_an_index_column(tmp_path):
    path = _aeon_file("Uschange", "Uschange.csv")  # an unnamed index column, Quarter, five variables
    variables = ["Consumption", "Income", "Production", "Savings", "Unemployment"]
    found = load_series(path)  # the row numbers to_csv wrote are no variable; the quarters are the time column
    assert found.columns == tuple(variables) and found.timestamps[0] == "1970 Q1"
    table = load_series(path, columns=variables, time_column="Quarter")
    assert table.values.shape == (187, 5) and table.timestamps[0] == "1970 Q1"
    np.testing.assert_array_equal(found.values, table.values)
    with pytest.raises(DataError, match=r"column\(s\) \['Quarter'\] are not numeric"):
        load_series(path, time_column=None)
    sliced = tmp_path / "sliced.csv"
    pd = pytest.importorskip("pandas")
    pd.DataFrame({"y": np.arange(10.0) * 1.5}).iloc[3:].to_csv(sliced)  # row numbers 3..9 under an empty header
    assert load_series(sliced).columns == ("y",)
    index_only = tmp_path / "index.csv"
    index_only.write_text('""\n0\n1\n2\n')  # a lone unnamed column of row numbers
    with pytest.raises(DataError, match="holds only row numbers"):
        load_series(index_only)
    assert load_series(path, columns="Income", time_column="Quarter").columns == ("Income",)
    data = prepare_forecasting(table, seq_len=16, pred_len=4, targets="Consumption")
    assert [len(w) for w in data.parts().values()] == [130 - 19, 20 + 16 - 19, 37 + 16 - 19]  # 130 / 20 / 37 rows


@pytest.mark.parametrize(
    ("folder", "name", "column"), [("solar", "solar.csv", "solar_gen"), ("Airline", "Airline.csv", "Passengers")]
)
def test_univariate_series(folder, name, column):
    table = load_series(_aeon_file(folder, name))
    assert table.columns == (column,)
    data = prepare_forecasting(table, seq_len=12, pred_len=6)
    assert data.train[0][0].shape == (12, 1)


# --- other formats -------------------------------------------------------------------------------------------------


def test_npz_arrays(tmp_path):
    values = np.random.default_rng(0).normal(size=(300, 4))
    np.savez(tmp_path / "a.npz", data=values, columns=np.array(["a", "b", "c", "d"]))
    table = load_series(tmp_path / "a.npz")
    assert table.columns == ("a", "b", "c", "d") and np.array_equal(table.values, values)
    assert load_series(tmp_path / "a.npz", columns=["c", "a"]).values.shape == (300, 2)
    assert load_series(tmp_path / "a.npz", columns="b").columns == ("b",)
    np.savez(tmp_path / "one.npz", series=values[:, 0])
    assert load_series(tmp_path / "one.npz").columns == ("var0",)
    np.savez(tmp_path / "cube.npz", data=np.zeros((10, 3, 2)))
    with pytest.raises(DataError, match=r"\(T, C\)"):
        load_series(tmp_path / "cube.npz")
    np.savez(tmp_path / "objects.npz", data=np.array([{"a": 1}], dtype=object))
    with pytest.raises(DataError, match="pickled"):
        load_series(tmp_path / "objects.npz")


def test_parquet_needs_pyarrow_or_reads(tmp_path):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"date": ["2020-01-01", "2020-01-02"], "x": [1.0, 2.0]})
    path = tmp_path / "t.parquet"
    try:
        frame.to_parquet(path)
    except ImportError:
        path.write_bytes(b"PAR1")
        with pytest.raises(MissingDependencyError, match="pip install"):
            load_series(path)
        return
    assert load_series(path).columns == ("x",)


# --- errors: one line each, the library's own ------------------------------------------------------------------


def _write(tmp_path: Path, text: str, name: str = "t.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_bad_files_give_one_line_library_errors(tmp_path):
    rows = "".join(f"2020-01-{i % 28 + 1:02d},{i},{2 * i}\n" for i in range(50))
    cases = [
        (MissingFileError, lambda: load_series(tmp_path / "absent.csv"), "No such file"),
        (DataError, lambda: load_series(_write(tmp_path, "x", "t.xlsx")), "unsupported"),
        (
            DataError,
            lambda: load_series(_write(tmp_path, "date,a,b\n" + rows), columns=["a", "bb"]),
            "Did you mean 'b'",
        ),
        (DataError, lambda: load_series(_write(tmp_path, "date,a,b\n" + rows), time_column="time"), "no time column"),
        (DataError, lambda: load_series(_write(tmp_path, "date,a,b\n2020,1,x\n2021,2,3\n")), r"\['b'\].*'x'"),
        (DataError, lambda: load_series(_write(tmp_path, "date,a,b\n2020,1,\n2021,2,3\n")), "'b'.*1 missing.*row 1"),
        (DataError, lambda: load_series(_write(tmp_path, "date,a\n")), "no data rows"),
        (DataError, lambda: load_series(_write(tmp_path, "")), "not a readable CSV"),
        (DataError, lambda: load_forecasting(_write(tmp_path, "date,a,b\n" + rows), 24, 12), "too short"),
        (DataError, lambda: prepare_forecasting(_table(1_000, source="ETTh1.csv"), 96, 96), "20 months"),
        (ConfigError, lambda: prepare_forecasting(_table(1_000), 24, 12, ratios=(0.5, 0.2, 0.2)), "summing to 1"),
        (ConfigError, lambda: prepare_forecasting(_table(1_000), 24, 12, protocol="custom"), "protocol"),
        (ConfigError, lambda: prepare_forecasting(_table(1_000), 0, 12), "seq_len"),
        (DataError, lambda: prepare_forecasting(_table(1_000), 24, 12, targets="TEMP"), "no column"),
        (DataError, lambda: SeriesTable(np.zeros((5, 2)), ("a",)), "names"),
    ]
    for error, call, message in cases:
        with pytest.raises(error, match=message) as caught:
            call()
        assert "\n" not in str(caught.value)


def test_non_finite_values_name_the_column_and_row():
    values = np.zeros((20, 3))
    values[7, 2] = np.inf
    with pytest.raises(DataError, match=r"'c'.*1 missing/NaN/Inf.*data row 8"):
        SeriesTable(values, ("a", "b", "c"))


def test_windows_dataset_alone():
    windows = ForecastWindows(np.arange(40.0).reshape(20, 2), seq_len=5, pred_len=3, target_indices=[1])
    assert len(windows) == 20 - 5 - 3 + 1
    x, y = windows[-1]
    assert x[0, 0] == 24.0 and y.shape == (3, 1) and y[-1, 0] == 39.0
    assert split_borders(100, 10)["val"] == (60, 80)
