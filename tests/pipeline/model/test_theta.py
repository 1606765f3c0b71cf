import numpy as np
import pandas as pd
import pytest

from pipeline.metrics import metrics
from pipeline.model.candidates import CANDIDATES, choose, panel_choice, served, statistical
from pipeline.model.theta import seasonal, seasonal_indices, ses, theta
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


def test_a_candidate_is_chosen_by_its_mean_mase_shrunk_towards_the_panel_and_the_lstm_wins_a_tie():
    folds = {"lstm": [1.0, 0.8], "seasonal_naive": [0.5, 1.5], "theta": [0.9, 0.85]}
    assert choose(folds) == "theta", "no prior: its own folds alone"
    prior, best = panel_choice({"lstm": [0.7, 0.8], "seasonal_naive": [1.2, 1.4], "theta": [1.0, 1.1]})
    assert prior == pytest.approx({"lstm": 0.75, "seasonal_naive": 1.3, "theta": 1.05}) and best == "lstm"
    # with the panel: lstm (1.8 + 4 x 0.75) / 6 = 0.8, theta (1.75 + 4 x 1.05) / 6 = 0.99
    assert choose(folds, prior, best) == "lstm"
    assert choose({c: [1.0] for c in CANDIDATES}) == "lstm"
    assert choose({"lstm": [float("nan")], "theta": [float("nan")]}, prior, default="theta") == "theta", "unscored"
    assert choose({}) == "lstm"
    assert served({"a": "theta", "b": "lstm", "c": "theta"}) == {"lstm": 1, "theta": 2}


def test_statistical_forecasts_of_a_counting_series_never_go_below_zero():
    falling = np.maximum(0.0, 50.0 - 2.0 * np.arange(36))
    stats = statistical([falling], 12, 12)
    assert (stats["theta"] >= 0).all() and stats["theta"].shape == (1, 12)
    assert statistical([], 5, 12)["theta"].shape == (0, 5)


@pytest.mark.parametrize("months", [12, 13, 35])
def test_short_histories_get_a_finite_forecast(months):
    values = 100.0 + np.random.default_rng(months).normal(0, 5, months)
    assert np.isfinite(theta(values, 18, 12)).all()
