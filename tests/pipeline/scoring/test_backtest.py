
import numpy as np
import pandas as pd
import pytest

from pipeline.config import load_config
from pipeline.model.candidates import CANDIDATES, COMBINED, THETA, choose, panel_choice
from pipeline.months import month_text
from pipeline.scoring.backtest import (
    LSTM,
    NAIVE,
    PUBLISHED,
    Origin,
    final_origin,
    fold_split,
    origins,
    run_fold,
    summarize,
)
from pipeline.scoring.fold_cache import backtest
from tests.conftest import DATA, TINY, panel_of, seasonal_series


def test_fold_origins_match_the_issue_for_air_passengers():
    from pipeline.data.validate import check_csv

    cfg = load_config()
    panel, _ = check_csv(DATA, cfg)
    starts = origins(panel, cfg)
    assert [o.train_end for o in starts] == ["1957-12", "1958-12", "1959-12"]
    assert [o.key for o in starts] == ["1958-01", "1959-01", "1960-01"]
    assert all(Origin.parse(o.key) == o for o in starts) and final_origin(panel, cfg) == starts[-1]
    train, actual = fold_split(panel, starts[0], 12, 12)
    assert train.length(0) == 108 and actual.shape == (1, 12) and actual[0, 0] == 340  # January 1958


def test_series_end_folds_sit_at_each_series_own_end():
    cfg = load_config(overrides={"fold_alignment": "series_end", "folds": 2, "horizon": 6})
    early = seasonal_series(48, start="2000-01", seed=1)  # ends 2003-12
    late = seasonal_series(30, start="2006-01", seed=2)  # ends 2008-06
    panel = panel_of(early, late, ids=["early", "late"])
    first, last = origins(panel, cfg)
    assert (first.key, last.key, last.train_end) == ("end-12", "end-6", "end-6")
    assert [month_text(int(m)) for m in first.cuts(panel)] == ["2003-01", "2007-07"]
    train, actual = fold_split(panel, last, 6, 12)
    assert train.ids == ["early", "late"] and [train.length(i) for i in range(2)] == [42, 24]
    np.testing.assert_allclose(actual, [early.to_numpy()[-6:], late.to_numpy()[-6:]])
    # calendar folds of the same panel: the early series holds no month of them
    train, _ = fold_split(panel, origins(panel, load_config(overrides={"folds": 2, "horizon": 6}))[1], 6, 12)
    assert train.ids == ["late"]


def test_a_fold_scores_series_with_more_than_a_season_that_changes_before_it():
    panel = panel_of(seasonal_series(30, seed=1), seasonal_series(19, start="2000-12", seed=2),
                     seasonal_series(17, start="2001-02", seed=3), pd.Series(np.full(30, 5.0), index=pd.date_range(
                         "2000-01", periods=30, freq="MS")), ids=["long", "short", "year", "flat"])
    train, actual = fold_split(panel, Origin(month=panel.last_month - 5), 6, 12)
    assert train.ids == ["long", "short"] and actual.shape == (2, 6)  # 11 months, or no change: not scored (13: scored)


@pytest.mark.slow
def test_backtest_scores_every_series_of_a_panel_beside_the_baseline():
    panel = panel_of(seasonal_series(72), seasonal_series(72, level=9000.0, seed=1), ids=["small", "large"])
    cfg = load_config(overrides=TINY)
    result = run_fold(panel, cfg, 1)
    assert (result["train_end"], result["test_start"], result["test_end"]) == ("2005-06", "2005-07", "2005-12")
    assert result["series"] == ["small", "large"] and set(result["scores"]) == set(CANDIDATES)
    np.testing.assert_allclose(result["forecasts"][COMBINED], (np.array(result["forecasts"][LSTM])
                                                               + np.array(result["forecasts"][THETA])) / 2, atol=2e-6)
    assert np.array(result["forecasts"][LSTM]).shape == (2, 6) and len(result["scores"][LSTM]["mase"]) == 2
    assert run_fold(panel, cfg, 1)["scores"] == result["scores"], "deterministic for a seed"
    summary = summarize([run_fold(panel, cfg, 0), result])
    assert summary["folds"] == 2 and summary["series"] == 2
    # each fold's intervals calibrated on the other fold: 2 series x 6 months, enough for 80 %, not for 95 % (19)
    assert set(summary["mean"][LSTM]) == {"mape", "smape", "rmse", "mae", "mase", "coverage_80", "width_80",
                                          "msis_80"}
    assert 0 <= summary["mean"][LSTM]["coverage_80"] <= 1 and summary["calibration"][LSTM]["scheme"] == "pooled"
    assert "coverage_80" in summary["per_fold"][0][LSTM] and "lstm.coverage_80" in summary["per_series"]["small"]
    # published intervals are calibrated on both folds: 24 residuals, enough for 95 % too
    assert all(np.isfinite(summary["calibration"][LSTM]["quantiles"][level][0]) for level in ("80", "95"))
    pooled = [v for r in (run_fold(panel, cfg, 0), result) for v in r["scores"][NAIVE]["mase"]]
    assert summary["mean"][NAIVE]["mase"] == pytest.approx(np.mean(pooled))
    assert summary["median_mase"][NAIVE] == pytest.approx(np.median(pooled))
    row = summary["per_series"]["large"]
    assert row["model"] == summary["choice"]["large"] in CANDIDATES
    assert set(summary["calibration"]) == set(CANDIDATES) and sum(summary["served"].values()) == 2
    # published: fold 0 by the LSTM (no earlier fold to choose on), fold 1 by each series' best in fold 0
    first = run_fold(panel, cfg, 0)
    prior, default = panel_choice({c: first["scores"][c]["mase"] for c in CANDIDATES})
    picks = [choose({c: [first["scores"][c]["mase"][i]] for c in CANDIDATES}, prior, default) for i in range(2)]
    assert summary["per_fold"][0][PUBLISHED]["mase"] == pytest.approx(summary["per_fold"][0][LSTM]["mase"])
    assert summary["per_fold"][1][PUBLISHED]["mase"] == pytest.approx(
        np.mean([result["scores"][c]["mase"][i] for i, c in enumerate(picks)]))
    assert 0 <= summary["share_beats_seasonal_naive"] <= 1


def _fold(fold, series, mase, candidates=CANDIDATES):
    """A fold result with each candidate's MASE per series (``{candidate: [one value a series]}``; the candidates
    not given score 9: never chosen)."""
    mase = {c: mase.get(c, [9.0] * len(series)) for c in candidates}
    keys = ("mase", "mape", "smape", "rmse", "mae")
    actual = [[10.0, 11.0]] * len(series)
    return {"fold": fold, "train_end": f"200{fold}-12", "series": series, "train_seconds": 1.0,
            "scores": {c: {k: list(mase[c]) for k in keys} for c in candidates},
            "actual": actual, "forecasts": dict.fromkeys(candidates, actual),
            "kinds": ["positive"] * len(series), "interval_scales": [0.1] * len(series),
            "mase_scales": [1.0] * len(series), "intervals": {}}


def test_summary_chooses_each_series_candidate_on_its_folds_shrunk_towards_the_panel():
    fold = _fold(0, ["won", "lost"], {LSTM: [0.5, 2.0], NAIVE: [1.0, 1.0], THETA: [1.0, 1.5], COMBINED: [0.7, 1.2]})
    fold["scores"][LSTM]["mape"] = [float("nan"), 4.0]  # a zero month: MAPE is undefined there, not infinite
    summary = summarize([fold])
    # the panel: LSTM 1.25, naive 1.0, Theta 1.25, the mean 0.95; one fold weighs a quarter of that
    # won: LSTM (0.5 + 4 x 1.25) / 5 = 1.1, the mean (0.7 + 4 x 0.95) / 5 = 0.9; lost: naive 1.0 = the mean, first
    assert summary["choice"] == {"won": COMBINED, "lost": NAIVE} and summary["share_beats_seasonal_naive"] == 0.5
    assert summary["served"] == {NAIVE: 1, COMBINED: 1} and summary["default"] == COMBINED
    assert summary["mean"][LSTM]["mase"] == 1.25 and summary["median_mase"][LSTM] == 1.25
    assert summary["mean"][LSTM]["mape"] == 4.0


def test_a_backtest_without_the_statsforecast_candidates_chooses_among_the_four_it_scored():
    fast = CANDIDATES[:4]
    folds = [_fold(k, ["a", "b"], {LSTM: [0.5, 2.0], NAIVE: [1.0, 1.0], THETA: [1.0, 1.5], COMBINED: [0.7, 1.2]},
                   fast) for k in range(2)]
    summary = summarize(folds)
    assert set(summary["calibration"]) == set(fast) and set(summary["choice"].values()) <= set(fast)
    assert set(summary["mean"]) == {*fast, PUBLISHED, "published_without_lstm"}
    assert summary["choice"] == summarize([_fold(k, ["a", "b"], {LSTM: [0.5, 2.0], NAIVE: [1.0, 1.0],
                                                                  THETA: [1.0, 1.5], COMBINED: [0.7, 1.2]})
                                           for k in range(2)])["choice"], "the others, never chosen, change nothing"


@pytest.mark.slow
def test_a_fold_without_the_statsforecast_candidates_scores_the_others_the_same():
    panel = panel_of(seasonal_series(72), seasonal_series(72, level=9000.0, seed=1), ids=["small", "large"])
    full = run_fold(panel, load_config(overrides=TINY), 1)
    fast = run_fold(panel, load_config(overrides=TINY | {"statsforecast_candidates": False}), 1)
    assert tuple(fast["scores"]) == CANDIDATES[:4] and set(full["scores"]) == set(CANDIDATES)
    assert {c: fast["scores"][c] for c in CANDIDATES[:4]} == {c: full["scores"][c] for c in CANDIDATES[:4]}


@pytest.mark.slow
def test_statistical_baselines_are_fitted_on_the_whole_panel_at_once():
    pytest.importorskip("statsforecast")
    panel = panel_of(seasonal_series(72), seasonal_series(72, level=50.0, seed=2))
    summary = backtest(panel, load_config(overrides=TINY), stats_baselines=True)
    assert {"AutoARIMA", "AutoETS", "AutoTheta"} <= set(summary["mean"])
    assert all(0 < summary["mean"][m]["mape"] < 50 for m in summary["mean"])
    assert "share_beats_autoets" in summary and 0 < summary["mean"]["AutoETS"]["coverage_95"] <= 1


@pytest.mark.slow
def test_default_configuration_beats_seasonal_naive_on_a_trending_seasonal_series():
    panel = panel_of(seasonal_series(120, trend=3.0, noise=0.01, seed=3))
    summary = backtest(panel, load_config(overrides={"ensemble_size": 1}))
    assert summary["mean"][LSTM]["mase"] < summary["mean"][NAIVE]["mase"]


def test_the_published_forecast_is_scored_by_choices_made_on_earlier_folds_only():
    first = _fold(0, ["a", "b"], {LSTM: [0.5, 2.0], NAIVE: [1.0, 1.0], THETA: [0.9, 1.5], COMBINED: [0.7, 1.2]})
    second = _fold(1, ["a", "b", "new"], {LSTM: [2.0, 0.1, 1.0], NAIVE: [1.0, 3.0, 2.0], THETA: [1.0, 1.0, 0.2],
                                          COMBINED: [1.5, 1.0, 0.6]})
    summary = summarize([second, first])
    # fold 1: chosen on fold 0 alone (a: the mean, 0.9; b: naive, 1.0 ties the mean; new: the panel's best there)
    assert summary["per_fold"][1][PUBLISHED]["mase"] == pytest.approx(np.mean([1.5, 3.0, 0.6]))
    assert summary["per_fold"][0][PUBLISHED]["mase"] == pytest.approx(np.mean([0.5, 2.0])), "the LSTM: no fold before"
    assert summary["choice"] == {"a": THETA, "b": THETA, "new": THETA}, "the final choice reads every fold"
    # the holdout (the last fold's months) is scored with the choice made before it
    assert summary["holdout_choice"] == {"choice": {"a": COMBINED, "b": NAIVE, "new": COMBINED}, "default": COMBINED}
