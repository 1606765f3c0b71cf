import numpy as np
import pandas as pd
import pytest

from pipeline.config import load_config
from pipeline.metrics import seasonal_naive
from pipeline.scoring.holdout import PUBLISHED, holdout_metrics, holdout_scores
from tests.conftest import TINY, panel_of, seasonal_series


class Oracle:
    """A 'model' that forecasts the true months of ``truth`` (exact), with bands 10 % either side."""

    def __init__(self, truth):
        self.truth = truth

    def forecast(self, history, steps):
        rows = []
        for i, sid in enumerate(history.ids):
            full = self.truth.values_of(self.truth.position(sid))
            future = full[history.length(i):history.length(i) + steps]
            rows.append(pd.DataFrame({"series": sid, "month": range(steps), "forecast": future,
                                      "lower_80": future * 0.9, "upper_80": future * 1.1}))
        return pd.concat(rows, ignore_index=True)


def test_a_perfect_forecast_scores_zero_beside_seasonal_naive():
    panel = panel_of(seasonal_series(60, seed=1), seasonal_series(60, level=50.0, seed=2))
    cfg = load_config(overrides={**TINY, "interval_levels": "80"})  # holdout 6
    holdout = holdout_scores(Oracle(panel), panel, cfg)
    assert holdout["origin"] == panel.last_month + 1 - 6 and holdout["actual"].shape == (2, 6)
    np.testing.assert_allclose(holdout["forecasts"][PUBLISHED], holdout["actual"])
    history = panel.cut(holdout["origin"])
    np.testing.assert_allclose(holdout["forecasts"]["seasonal_naive"][1],
                               seasonal_naive(history.values_of(1), 6, 12))
    scores = holdout_metrics(holdout)
    assert scores["holdout_mase"] == 0.0 and scores["holdout_mape"] == 0.0 and scores["baseline_mase"] > 0.1
    assert scores["holdout_coverage_80"] == 1.0 and scores["holdout_width_80"] > 0
    assert set(scores) >= {"holdout_rmse", "holdout_mae", "baseline_mape", "baseline_rmse", "baseline_mae"}


def test_without_bands_there_are_no_interval_scores():
    panel = panel_of(seasonal_series(60))

    class Bare(Oracle):
        def forecast(self, history, steps):
            return super().forecast(history, steps).drop(columns=["lower_80", "upper_80"])

    scores = holdout_metrics(holdout_scores(Bare(panel), panel, load_config(overrides=TINY)))
    assert scores["holdout_mase"] == pytest.approx(0.0) and not any(k.startswith("holdout_coverage") for k in scores)
