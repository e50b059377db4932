"""Calendar time features (``timeF``) as the official forecasting code computes them, and how runs feed them.

The oracle is Python's ``datetime`` (hour, weekday, day, day of year, ISO week), scaled as the
official code scales them: value / (count − 1) − 0.5 on zero-based values.

Shape legend: T time steps, M features, B batch, L look-back, C variates.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from dualbranch.cli import main
from dualbranch.data.time_features import infer_frequency, parse_times, time_features
from dualbranch.factory import create_model


def _stamps(start: dt.datetime, step: dt.timedelta, n: int) -> list[dt.datetime]:
    return [start + i * step for i in range(n)]


def _oracle(d: dt.datetime) -> dict[str, float]:
    return {
        "second_of_minute": d.second / 59 - 0.5,
        "minute_of_hour": d.minute / 59 - 0.5,
        "hour_of_day": d.hour / 23 - 0.5,
        "day_of_week": d.weekday() / 6 - 0.5,
        "day_of_month": (d.day - 1) / 30 - 0.5,
        "day_of_year": (d.timetuple().tm_yday - 1) / 365 - 0.5,
        "month_of_year": (d.month - 1) / 11 - 0.5,
        "week_of_year": (d.isocalendar()[1] - 1) / 52 - 0.5,
    }


@pytest.mark.parametrize(
    ("step", "frequency", "n_features"),
    [
        (dt.timedelta(seconds=7), "second", 6),
        (dt.timedelta(minutes=15), "minute", 5),
        (dt.timedelta(hours=1), "hour", 4),
        (dt.timedelta(days=1), "day", 3),
        (dt.timedelta(weeks=1), "week", 2),
    ],
)
def test_features_match_the_calendar(step, frequency, n_features):
    stamps = _stamps(dt.datetime(2015, 12, 27, 22, 58, 3), step, 400)  # crosses a year and an ISO week 53
    parsed = parse_times(np.array([s.strftime("%Y-%m-%d %H:%M:%S") for s in stamps]))
    assert infer_frequency(parsed) == frequency
    values, names = time_features(parsed, frequency)
    assert values.shape == (400, n_features) and values.dtype == np.float32
    expected = np.array([[_oracle(s)[n] for n in names] for s in stamps])
    np.testing.assert_allclose(values, expected, atol=1e-6)
    assert (np.abs(values) <= 0.5 + 1e-6).all()


def test_months_and_numbers():
    months = parse_times(np.array(["1949-01", "1949-02", "1949-03", "1949-04"]))
    assert infer_frequency(months) == "month"
    values, names = time_features(months, "month")
    assert names == ("month_of_year",)
    np.testing.assert_allclose(values[:, 0], np.arange(4) / 11 - 0.5, atol=1e-6)
    assert parse_times(np.array(["1", "2", "3"])) is None  # step counts are no calendar
    assert parse_times(np.array(["a", "b"])) is None


def test_quarters_month_names_and_utc_offsets_are_dates(recwarn):
    quarters = parse_times(np.array(["1970 Q1", "1970 Q2", "1970q3", "1970-Q4", "1971Q1"]))
    np.testing.assert_array_equal(
        quarters, np.array(["1970-01-01", "1970-04-01", "1970-07-01", "1970-10-01", "1971-01-01"], "datetime64[s]")
    )
    assert infer_frequency(quarters) == "quarter"
    months = parse_times(np.array(["1991 Jul", "1991 Aug", "1992 Jan"]))
    np.testing.assert_array_equal(months, np.array(["1991-07-01", "1991-08-01", "1992-01-01"], "datetime64[s]"))
    # an offset is converted to UTC: 00:30+01:00 is 23:30 of the day before
    utc = parse_times(np.array(["2021-05-01 00:00:00+00:00", "2021-05-01 00:30:00+01:00"]))
    np.testing.assert_array_equal(utc, np.array(["2021-05-01T00:00", "2021-04-30T23:30"], "datetime64[s]"))
    assert not [w for w in recwarn if "timezone" in str(w.message)]  # numpy's offset warning is not shown
    assert parse_times(np.array(["1970 Q5", "1970 Q1"])) is None
    assert parse_times(np.array(["Mon", "Tue"])) is None
    # one format for the whole column: day first where month first would not increase (13 is no month)
    day_first = parse_times(np.array(["01/05/2021", "02/05/2021", "13/05/2021"]))
    np.testing.assert_array_equal(day_first, np.array(["2021-05-01", "2021-05-02", "2021-05-13"], "datetime64[s]"))
    # no year: pandas would read a time of day as today's, and labels as dates of year 1
    assert parse_times(np.array(["10:00", "11:00"])) is None and parse_times(np.array(["T1", "T2"])) is None


def test_itransformer_reads_time_features_as_tokens_dlinear_ignores_them():
    torch.manual_seed(0)
    x = torch.randn(2, 32, 3 + 4)  # (B, L, C + M)
    other = x.clone()
    other[..., 3:] = torch.rand(2, 32, 4) - 0.5  # the same variates, other calendar
    itr = create_model("itransformer", n_vars=3, seq_len=32, pred_len=8, n_marks=4, d_model=16, d_ff=16).eval()
    assert itr(x).shape == (2, 8, 3) and itr.input_shape == (32, 7)
    assert not torch.allclose(itr(x), itr(other))
    plain = create_model("itransformer", n_vars=3, seq_len=32, pred_len=8, d_model=16, d_ff=16).eval()
    plain.load_state_dict(itr.state_dict())  # time features add no parameters
    dl = create_model("dlinear", n_vars=3, seq_len=32, pred_len=8, n_marks=4).eval()
    torch.testing.assert_close(dl(x), dl(other))


@pytest.fixture(scope="module")
def hourly_csv(tmp_path_factory) -> Path:
    pd = pytest.importorskip("pandas")
    t = np.arange(500)
    frame = pd.DataFrame({"date": pd.date_range("2017-03-01", periods=500, freq="h").astype(str)})
    frame["a"], frame["OT"] = np.sin(2 * np.pi * t / 24), np.cos(2 * np.pi * t / 24) + t / 100
    path = tmp_path_factory.mktemp("tf") / "hourly.csv"
    frame.to_csv(path, index=False)
    return path


def test_a_run_feeds_time_features_that_are_never_scored(hourly_csv, tmp_path):
    argv = ["fit", "data.name=series", f"data.path={hourly_csv}", "data.seq_len=24", "data.pred_len=6",
            "model.name=itransformer", "model.args={d_model: 16, d_ff: 16, n_heads: 2}", "optim.epochs=1",
            "trainer.progress_bar=false", "trainer.threads=1", f"output.root={tmp_path}", "output.name=r"]  # fmt: skip
    assert main(argv) == 0
    record = json.loads((tmp_path / "r" / "run.json").read_text())
    assert record["data"]["time_features"] == {
        "frequency": "hour", "names": ["hour_of_day", "day_of_week", "day_of_month", "day_of_year"]
    }  # fmt: skip
    assert record["model_args"]["n_marks"] == 4
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert metrics["targets"] == ["a", "OT"]  # the variables only
    out = tmp_path / "f.csv"
    assert main(["predict", str(tmp_path / "r"), str(hourly_csv), "--output", str(out)]) == 0
    assert set(out.read_text().splitlines()[0].split(",")) == {"input", "step", "a", "OT"}
    assert main([*argv[:-1], "output.name=n", "data.time_features=none"]) == 0
    assert json.loads((tmp_path / "n" / "run.json").read_text())["model_args"]["n_marks"] == 0
