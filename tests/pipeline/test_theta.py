import numpy as np
import pandas as pd
import pytest

from pipeline.metrics import metrics
from pipeline.theta import seasonal, seasonal_indices, ses, theta
from tests.conftest import DATA


def test_a_straight_line_is_continued_at_half_its_slope():
    line = 10.0 + 3.0 * np.arange(30)
    level, alpha = ses(line)
    assert alpha == 1.0 and level == line[-1], "a trend is followed as closely as smoothing can"
    np.testing.assert_allclose(theta(line, 4, 12), line[-1] + 1.5 * np.arange(1, 5))  # theta=0 and 2 lines' mean


def test_a_seasonal_series_is_deseasonalised_multiplicatively_and_reseasonalised():
    pattern = 1.0 + 0.3 * np.sin(2 * np.pi * np.arange(12) / 12)
    values = 100.0 * np.tile(pattern, 5)
    assert seasonal(values, 12) and not seasonal(np.random.default_rng(0).normal(100, 1, 60), 12)
    np.testing.assert_allclose(seasonal_indices(values, 12, True), pattern / pattern.mean(), rtol=1e-9)
    np.testing.assert_allclose(theta(values, 18, 12), 100.0 * np.resize(pattern, 18), rtol=1e-9)
    below = values - 150.0  # negative values: the seasons added, not multiplied
    np.testing.assert_allclose(theta(below, 12, 12), below[-12:], atol=1e-9)


def test_theta_forecasts_air_passengers_within_its_published_accuracy():
    air = pd.read_csv(DATA)["#Passengers"].to_numpy(dtype=float)
    forecast = theta(air[:-12], 12, 12)
    assert metrics(air[-12:], forecast, 1.0)["mape"] < 10.0  # 5.3 %: plain statistics (the LSTM: 4.6 % over 3 years)


@pytest.mark.parametrize("months", [12, 13, 35])
def test_short_histories_get_a_finite_forecast(months):
    values = 100.0 + np.random.default_rng(months).normal(0, 5, months)
    assert np.isfinite(theta(values, 18, 12)).all()
