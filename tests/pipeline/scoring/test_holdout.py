import numpy as np
import pandas as pd
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


def test_parts_scores_put_together_give_the_whole_panels_metrics():
    """A panel scored part by part (as the mapped evaluate_part tasks do, each from the whole panel's origin) and put
    together in the panel's order gives exactly the metrics of the panel scored at once."""
    from pipeline.scoring.backtest import final_origin
    from pipeline.scoring.holdout import score_table, table_scores

    panel = panel_of(*(seasonal_series(60 + 12 * i, start=f"{2000 - i}-01", level=50.0 * (i + 1), seed=i)
                       for i in range(7)))  # ending together: every series scored
    cfg = load_config(overrides={**TINY, "interval_levels": "80"})
    oracle = Oracle(panel, band=0.1)

    class Biased:  # the oracle off by a few percent, differently per series: scores that differ
        def forecast(self, history, steps):
            table = oracle.forecast(history, steps)
            bias = 1 + 0.01 * table["series"].map(panel.position).to_numpy()
            return table.assign(forecast=table["forecast"] * bias, upper_80=table["upper_80"] * bias ** 2)

    model = Biased()
    whole = holdout_scores(model, panel, cfg)
    origin = final_origin(panel, cfg)
    tables = []
    for part in ([5, 6], [0, 2, 4], [1, 3]):  # in any order
        scored = holdout_scores(model, panel.subset(part), cfg, origin)
        tables.append(score_table(scored, [panel.position(s) for s in scored["series"]]))
    together = table_scores(pd.concat(tables, ignore_index=True))
    assert together == whole["scores"] and len(whole["series"]) == 7 and holdout_metrics(whole)["holdout_mase"] > 0
    assert holdout_metrics({"scores": together}) == holdout_metrics(whole)
