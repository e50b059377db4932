"""The seasonal naive baseline, the seasonal period it repeats, and the tables aeon ships (read offline).

Shape legend: N windows, L look-back, H horizon, C variables.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from dualbranch.data.bundled_series import BUNDLED_SERIES, bundled_path, load_bundled
from dualbranch.data.forecast_baselines import calendar_season, infer_season, seasonal_naive
from dualbranch.errors import ConfigError

needs_aeon = pytest.mark.skipif(importlib.util.find_spec("aeon") is None, reason="the bundled tables ship with aeon")


def test_seasonal_naive_repeats_the_last_season():
    x = np.arange(2 * 8 * 2, dtype=float).reshape(2, 8, 2)  # (N, L, C)
    forecast = seasonal_naive(x, pred_len=5, season=3)
    # steps repeat the look-back rows 5, 6, 7, 5, 6
    np.testing.assert_array_equal(forecast, x[:, [5, 6, 7, 5, 6]])
    np.testing.assert_array_equal(seasonal_naive(x, 2, 1, target_indices=[1]), x[:, [7, 7]][:, :, [1]])
    with pytest.raises(ConfigError, match="between 1 and the look-back length 8"):
        seasonal_naive(x, 2, 9)


def test_a_periodic_series_is_forecast_exactly():
    t = np.arange(200)
    series = np.sin(2 * np.pi * t / 12)[:, None]  # period 12
    assert infer_season(series[:150], None, max_period=48) == 12
    x = np.stack([series[s : s + 48] for s in range(100)])
    truth = np.stack([series[s + 48 : s + 60] for s in range(100)])
    np.testing.assert_allclose(seasonal_naive(x, 12, 12), truth, atol=1e-12)


@pytest.mark.parametrize(
    ("stamps", "season"),
    [
        (["2016-07-01 00:00", "2016-07-01 01:00", "2016-07-01 02:00"], 24),
        (["2016-07-01 00:00", "2016-07-01 00:15", "2016-07-01 00:30"], 96),
        (["2020-01-01 00:00", "2020-01-01 00:10", "2020-01-01 00:20"], 144),
        (["2020-01-01", "2020-01-02", "2020-01-03"], 7),
        (["1949-01", "1949-02", "1949-03"], 12),
        (["1970 Q1", "1970 Q2", "1970 Q3"], 4),
        (["00:00:00.000", "00:00:00.016", "00:00:00.031"], None),  # sensor samples: no calendar season
        (["a", "b", "c"], None),
    ],
)
def test_calendar_seasons(stamps, season):
    assert calendar_season(np.array(stamps)) == season


def test_noise_has_no_season():
    assert infer_season(np.random.default_rng(0).normal(size=(300, 3)), None, 48) == 1


@needs_aeon
@pytest.mark.parametrize("name", list(BUNDLED_SERIES))
def test_bundled_tables_read_offline(name):
    table = load_bundled(name)
    entry = BUNDLED_SERIES[name]
    assert bundled_path(name).is_file() and table.timestamps is not None
    assert entry.time_column not in table.columns and not set(entry.drop) & set(table.columns)
    expected = {"uschange": (187, 5), "daphnet": (7040, 9), "solar": (289, 1), "airline": (144, 1)}[name]
    assert table.values.shape == expected
    if entry.season is not None:
        assert calendar_season(table.timestamps) == entry.season


def test_unknown_bundled_table():
    with pytest.raises(ConfigError, match="bundled: uschange, daphnet, solar, airline"):
        bundled_path("ettm1")
