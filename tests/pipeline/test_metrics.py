import math

import numpy as np
import pytest

from pipeline.metrics import log_scale, mase_scale, metrics, seasonal_change, seasonal_naive


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


def test_log_scale_is_the_yearly_change_of_the_logs():
    values = 100 * 1.1 ** (np.arange(36) / 12)  # 10 % a year, smoothly
    assert log_scale(values, 12) == pytest.approx(math.log(1.1))
    assert log_scale(np.full(30, 7.0), 12) == 1.0  # never changes: no scale, 1 instead of 0


def test_seasonal_change_falls_back_to_the_month_before_and_to_one():
    assert seasonal_change(np.arange(0, 20, 2.0), 12) == 2.0  # shorter than a year: month over month
    assert seasonal_change(np.array([5.0, 5.0]), 12) == 1.0  # never changes: 1, not 0
    assert seasonal_change(np.arange(0, 48, 2, dtype=float), 12) == 24.0


def test_mase_scale_needs_more_than_a_season():
    with pytest.raises(ValueError, match="more than 12"):
        mase_scale(np.arange(12, dtype=float), 12)
