import numpy as np
import pytest

from pipeline.config import load_config
from pipeline.metrics import seasonal_naive
from pipeline.months import month_text
from pipeline.scoring.holdout import PUBLISHED, holdout_metrics, holdout_scores
from tests.conftest import TINY, Oracle, panel_of, seasonal_series


def test_a_perfect_forecast_scores_zero_beside_seasonal_naive():
    panel = panel_of(seasonal_series(60, seed=1), seasonal_series(60, level=50.0, seed=2))
    cfg = load_config(overrides={**TINY, "interval_levels": "80"})  # holdout 6
    holdout = holdout_scores(Oracle(panel, band=0.1), panel, cfg)
    assert holdout["origin"] == month_text(panel.last_month + 1 - 6) and holdout["actual"].shape == (2, 6)
    assert holdout["starts"] == [panel.last_month + 1 - 6] * 2
    np.testing.assert_allclose(holdout["forecasts"][PUBLISHED], holdout["actual"])
    history = panel.cut(panel.last_month + 1 - 6)
    np.testing.assert_allclose(holdout["forecasts"]["seasonal_naive"][1],
                               seasonal_naive(history.values_of(1), 6, 12))
    scores = holdout_metrics(holdout)
    assert scores["holdout_mase"] == 0.0 and scores["holdout_mape"] == 0.0 and scores["baseline_mase"] > 0.1
    assert scores["holdout_coverage_80"] == 1.0 and scores["holdout_width_80"] > 0
    assert set(scores) >= {"holdout_rmse", "holdout_mae", "baseline_mape", "baseline_rmse", "baseline_mae"}


def test_without_bands_there_are_no_interval_scores():
    panel = panel_of(seasonal_series(60))

    scores = holdout_metrics(holdout_scores(Oracle(panel), panel, load_config(overrides=TINY)))
    assert scores["holdout_mase"] == pytest.approx(0.0) and not any(k.startswith("holdout_coverage") for k in scores)
