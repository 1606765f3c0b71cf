import math

import numpy as np
import pytest

from pipeline.metrics import interval_scale, mase_scale, metrics, seasonal_change, seasonal_naive


def test_metrics_on_known_values():
    m = metrics(np.array([100.0, 200.0]), np.array([110.0, 180.0]), scale=10.0)
    assert m["mape"] == pytest.approx(10.0)
    assert m["mae"] == pytest.approx(15.0)
    assert m["rmse"] == pytest.approx(np.sqrt((100 + 400) / 2))
    assert m["mase"] == pytest.approx(1.5)


def test_seasonal_naive_repeats_last_year():
    history = np.arange(24, dtype=float)
    assert seasonal_naive(history, 14, 12).tolist() == [*range(12, 24), 12, 13]
    assert mase_scale(history, 12) == 12.0


def test_interval_scale_is_the_yearly_change_of_the_logs_or_of_the_values():
    values = 100 * 1.1 ** (np.arange(36) / 12)  # 10 % a year, smoothly
    assert interval_scale(values, 12) == pytest.approx(math.log(1.1))
    assert interval_scale(np.full(30, 7.0), 12) == 1.0  # never changes: no scale, 1 instead of 0
    signed = np.tile([-3.0, 2.0, 0.0], 10) + np.repeat(np.arange(10.0), 3) * 0.5  # negative months: in values
    assert interval_scale(signed, 12, log=False) == pytest.approx(2.0)


def test_seasonal_change_falls_back_to_the_month_before_and_to_one():
    assert seasonal_change(np.arange(0, 20, 2.0), 12) == 2.0  # shorter than a year: month over month
    assert seasonal_change(np.array([5.0, 5.0]), 12) == 1.0  # never changes: 1, not 0
    assert seasonal_change(np.arange(0, 48, 2, dtype=float), 12) == 24.0


def test_mase_scale_of_a_short_series_is_its_month_to_month_change():
    assert mase_scale(np.arange(0, 24, 2, dtype=float), 12) == 2.0  # a season or less: month over month
    assert mase_scale(np.full(30, 4.0), 12) == 0.0  # never changes: MASE is undefined (NaN), see below
    with pytest.raises(ValueError, match="at least 2"):
        mase_scale(np.array([1.0]), 12)


def test_undefined_metrics_are_nan_and_smape_is_the_m_competitions():
    m = metrics(np.array([0.0, 10.0]), np.array([0.0, 5.0]), scale=0.0)
    assert math.isnan(m["mape"]) and math.isnan(m["mase"])  # a zero month; a series that never changed
    assert m["smape"] == pytest.approx((0.0 + 200 * 5 / 15) / 2)  # 0 / 0 counts as a perfect month
    assert m["mae"] == 2.5
    negative = metrics(np.array([-10.0, 10.0]), np.array([-5.0, 20.0]), scale=5.0)
    assert negative["mape"] == pytest.approx(75.0) and negative["mase"] == pytest.approx(1.5)
