import numpy as np
import pandas as pd
import pytest

from pipeline.scoring.evaluate import (
    evaluate_holdout,
    forecast_future,
    mase_scale,
    metrics,
    recursive_forecast,
    seasonal_naive,
)
from tests.conftest import seasonal_series


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


def test_recursive_forecast_feeds_predictions_back():
    seen = []

    def predict_next(windows):
        seen.append(windows[0].tolist())
        return windows[:, -1] + 1

    out = recursive_forecast(predict_next, np.array([1.0, 2.0, 3.0]), steps=3, lookback=2)
    assert out.tolist() == [4.0, 5.0, 6.0]
    assert seen == [[2.0, 3.0], [3.0, 4.0], [4.0, 5.0]]


def test_perfect_model_beats_the_baseline():
    series = seasonal_series(60, noise=0.0)
    train, holdout = series.iloc[:-12], series.iloc[-12:]
    truth = iter(holdout.to_numpy())
    scores, frame = evaluate_holdout(lambda w: np.array([next(truth)]), 12, train, holdout, 12)
    assert scores["holdout_mape"] == pytest.approx(0.0) and scores["baseline_mape"] > 1.0
    assert list(frame.columns) == ["actual", "forecast", "baseline"] and len(frame) == 12


def test_future_months_follow_the_last_data_month():
    series = seasonal_series(30)
    future = forecast_future(lambda w: w[:, -1], 12, series, 3)
    assert list(future.index) == list(pd.date_range(series.index[-1] + pd.offsets.MonthBegin(1), periods=3,
                                                    freq="MS"))
    assert (future == series.iloc[-1]).all()
