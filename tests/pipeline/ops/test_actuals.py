"""Published forecasts against actuals: by data month and lead, zeros and missing intervals as data."""

import numpy as np
import pandas as pd
import pytest

from pipeline.ops.actuals import versus_actuals


def test_errors_bias_and_coverage_by_data_month_and_lead():
    forecasts = pd.DataFrame({
        "data_month": ["1960-12"] * 4 + ["1961-01"] * 2,
        "series": ["A", "A", "B", "B", "A", "B"],
        "month": ["1961-01", "1961-02", "1961-01", "1961-02", "1961-02", "1961-02"],
        "forecast": [110.0, 90.0, 5.0, 20.0, 100.0, 10.0],
        "lower_80": [100.0, 80.0, None, 0.0, 95.0, 5.0], "upper_80": [120.0, 95.0, None, 30.0, 105.0, 15.0]})
    actuals = pd.DataFrame({"series": ["A", "A", "B", "B", "A"], "month": ["1960-12", "1961-01", "1960-12",
                                                                          "1961-01", "1961-02"],
                            "value": [95.0, 100.0, 4.0, 0.0, 100.0]})  # B's 1961-02 has not arrived
    report = versus_actuals(forecasts, actuals)
    assert report[["data_month", "lead", "compared"]].values.tolist() == [
        ["1960-12", 1, 2], ["1960-12", 2, 1], ["1961-01", 1, 1]]
    first = report.iloc[0]  # A: 110 for 100; B: 5 for 0 (no percentage error, still an absolute one)
    assert first["wape"] == pytest.approx(100 * 15 / 100) and first["bias"] == pytest.approx(100 * 15 / 100)
    assert first["mape"] == pytest.approx(10.0)  # A alone: a zero actual has no percentage error
    assert first["coverage_80"] == pytest.approx(1.0)  # A inside; B published no interval: not counted
    second = report.iloc[1]  # A: 90 for 100, below its interval (80-95 holds 100? no)
    assert second["bias"] == pytest.approx(-10.0) and second["coverage_80"] == 0.0
    by_month = versus_actuals(forecasts, actuals, by=["data_month"])
    assert by_month[["data_month", "leads", "compared"]].values.tolist() == [["1960-12", "1-2", 3],
                                                                               ["1961-01", "1-1", 1]]
    assert by_month.iloc[0]["wape"] == pytest.approx(100 * 25 / 200)


def test_nothing_arrived_is_an_empty_report():
    forecasts = pd.DataFrame({"data_month": ["1960-12"], "series": ["A"], "month": ["1961-01"], "forecast": [1.0]})
    empty = versus_actuals(forecasts, pd.DataFrame({"series": ["A"], "month": ["1960-12"], "value": [np.nan]}))
    assert empty.empty and "wape" in empty.columns
