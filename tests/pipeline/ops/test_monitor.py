import numpy as np
import pandas as pd

from pipeline.ops.monitor import drift, live_performance, summary_markdown
from tests.conftest import seasonal_series


def test_steady_series_has_no_drift():
    found = drift(seasonal_series(96, noise=0.01), recent=1, season_length=12)
    assert found["checked"] and not found["drift"] and found["findings"] == []


def test_a_level_collapse_is_drift():
    series = seasonal_series(96, noise=0.01)
    series.iloc[-6:] *= 0.5  # the last six months halve
    found = drift(series, recent=6, season_length=12)
    assert found["drift"] and found["level_z"] < -3 and "level/trend shift" in found["findings"][0]


def test_a_changed_seasonal_profile_is_drift():
    series = seasonal_series(96, noise=0.005)
    last = series.iloc[-12:].to_numpy()
    series.iloc[-12:] = last[::-1]  # the season runs backwards
    found = drift(series, recent=12, season_length=12)
    assert any("seasonal profile changed" in f for f in found["findings"])


def test_short_series_are_not_judged():
    assert drift(seasonal_series(30), recent=1, season_length=12)["checked"] is False


def test_live_performance_scores_the_months_after_training():
    series = seasonal_series(60)
    truth = series.to_numpy()

    def perfect(windows):  # knows the future: forecast equals what happened
        end = int(np.flatnonzero(np.isclose(truth, windows[0, -1]))[0])
        return truth[end + 1:end + 4][None, :]

    live = live_performance(perfect, 12, series, "2003-12", 12)
    assert live["months"] == 12 and (live["first"], live["last"]) == ("2004-01", "2004-12")
    assert live["live_mape"] < 1e-9
    assert live_performance(perfect, 12, series, "2004-12", 12) is None  # nothing new since training


def test_summary_reads_like_a_report():
    decision = {"promoted": False, "candidate_version": "3", "reason": "not better",
                "candidate": {"backtest_mape": 5.1, "holdout_mape": 4.0}, "baseline_backtest_mape": 8.0,
                "champion": {"backtest_mape": 5.0, "holdout_mape": 3.9}}
    text = summary_markdown({
        "dag_id": "d", "run_key": "k", "data_month": "1960-12", "data_rows": 144, "months_added": 1,
        "previous_data_month": "1960-11", "validation": {"status": "passed", "fixes": []},
        "metrics": {"baseline_mape": 9.9}, "live": {"version": "2", "months": 1, "trained_to": "1960-11",
                                                     "live_mape": 2.5},
        "drift": {"checked": True, "findings": []}, "decision": decision})
    assert "not promoted" in text and "| backtest mean MAPE % | 5.10 | 5.00 | 8.00 |" in text
    assert "1 new since the last run (1960-11)" in text and "MAPE 2.50 %" in text and "drift: none" in text
    assert pd.notna(text)
