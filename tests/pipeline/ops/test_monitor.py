import math

import numpy as np
import pytest

from pipeline.ops.monitor import drift, live_performance, panel_drift, summary_markdown
from tests.conftest import Oracle, panel_of, seasonal_series


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
    panel = panel_of(seasonal_series(60), seasonal_series(60, level=900.0, seed=2))
    live = live_performance(Oracle(panel), panel, "2003-12", 12)
    assert live["months"] == 12 and live["series"] == 2 and (live["first"], live["last"]) == ("2004-01", "2004-12")
    assert live["live_mape"] < 1e-9 and live["live_mase"] < 1e-9 and len(live["worst"]) == 2
    assert live_performance(Oracle(panel), panel, "2004-12", 12) is None  # nothing new since training


class _Banded(Oracle):
    """A champion that forecast the series as they were, with 80 % and 95 % bands of +-5 % and +-10 %."""

    def forecast(self, history, steps):
        table = super().forecast(history, steps)
        return table.assign(lower_80=table["forecast"] * 0.95, upper_80=table["forecast"] * 1.05,
                            lower_95=table["forecast"] / 1.1, upper_95=table["forecast"] * 1.1)


def test_a_series_that_jumps_outside_its_band_is_improbable_for_a_calibrated_interval():
    expected = panel_of(seasonal_series(60), seasonal_series(60, level=900.0, seed=2), ids=["calm", "jumps"])
    jumped = seasonal_series(60, level=900.0, seed=2)
    jumped.iloc[-4:] *= 1.5  # the last 4 months of the year since training
    arrived = panel_of(seasonal_series(60), jumped, ids=["calm", "jumps"])
    band = live_performance(_Banded(expected), arrived, "2003-12", 12)["band"]
    assert (band["level"], band["outside"], band["checked"], band["expected_share"]) == (95, 4, 24, pytest.approx(0.05))
    # P(X >= 4) for X ~ Binomial(24, 0.05)
    assert band["p_value"] == pytest.approx(1 - sum(math.comb(24, k) * 0.05**k * 0.95**(24 - k) for k in range(4)))
    assert band["p_value"] < 0.05 and [m["series"] for m in band["months"]] == ["jumps"] * 4
    assert [m["month"] for m in band["months"]] == ["2004-09", "2004-10", "2004-11", "2004-12"]
    assert band["months"][0]["value"] > band["months"][0]["upper"]
    calm = live_performance(_Banded(expected), expected, "2003-12", 12)["band"]
    assert calm["outside"] == 0 and calm["p_value"] == 1.0
    assert live_performance(Oracle(expected), expected, "2003-12", 12)["band"] is None, "no intervals published"


class _Unknown95(_Banded):
    def forecast(self, history, steps):
        return super().forecast(history, steps).assign(lower_95=np.nan, upper_95=np.nan)


def test_without_a_95_percent_band_the_widest_known_one_is_watched():
    expected = panel_of(seasonal_series(60))
    band = live_performance(_Unknown95(expected), expected, "2003-12", 12)["band"]
    assert band["level"] == 80 and band["checked"] == 12


def test_a_panel_drifts_when_most_of_its_series_do():
    steady = [seasonal_series(96, noise=0.01, seed=s) for s in range(3)]
    collapsed = [s.copy() for s in steady]
    for s in collapsed[:2]:
        s.iloc[-6:] *= 0.5
    assert panel_drift(panel_of(*steady), 6, 12)["drift"] is False
    found = panel_drift(panel_of(*collapsed), 6, 12)
    assert found["drift"] and found["drifted"] == ["series_0", "series_1"]
    assert "2 of 3 series drifted" in found["findings"][0]
    one = panel_drift(panel_of(collapsed[0]), 6, 12)
    assert one["drift"] and "level/trend shift" in one["findings"][0], "a single series reads as before"


def test_summary_reads_like_a_report():
    decision = {"promoted": False, "candidate_version": "3", "reason": "not better",
                "candidate": {"backtest_mase": 0.51, "holdout_mase": 0.4}, "baseline_backtest_mase": 0.8,
                "champion": {"backtest_mase": 0.5, "holdout_mase": 0.39}}
    worst = [{"series": f"s{i}", "title": f"Series {i}", "lstm.mase": 2.0 - i / 10, "seasonal_naive.mase": 1.0,
              "model": "seasonal_naive"} for i in range(3)]
    text = summary_markdown({
        "dag_id": "d", "run_key": "k", "data_month": "1960-12", "data_rows": 144, "months_added": 1,
        "previous_data_month": "1960-11", "validation": {"status": "passed", "fixes": []},
        "series": {"in": 7, "quarantined": 1, "inactive": 1, "short": 1, "kept": 5, "fallback": 3},
        "served": {"lstm": 2, "seasonal_naive": 3},
        "quarantine": [{"series": "q", "reason": "value 0 is not positive"}], "worst": worst,
        "metrics": {"baseline_mase": 0.99, "holdout_mape": 4.0, "baseline_mape": 9.9},
        "backtest": {"lstm": {"mape": 5.1}, "seasonal_naive": {"mape": 8.0}, "published": {"mase": 0.49},
                     "published_without_lstm": {"mase": 0.5}},
        "median_mase": {"lstm": 0.45, "seasonal_naive": 0.7}, "shares": {"share_beats_seasonal_naive": 0.75},
        "live": {"version": "2", "months": 1, "trained_to": "1960-11", "live_mape": 2.5, "series": 4},
        "drift": {"checked": True, "findings": []}, "decision": decision, "published_version": "2"})
    assert "not promoted" in text and "| backtest mean MASE | 0.5100 | 0.5000 | 0.8000 |" in text
    assert "series: 7 in, 1 quarantined, 1 inactive, 1 too short, 5 modelled" in text
    assert "forecast by (the candidate best on each series' backtest): lstm 2 (40%), seasonal_naive 3 (60%)" in text
    assert "backtest mean MASE 0.490, 0.500 without the LSTM's candidates (+2.0% from the LSTM)" in text
    assert "- q: value 0 is not positive" in text and "| s0 | Series 0 | 2.000 | 1.000 | seasonal_naive |" in text
    assert "beats seasonal_naive: 75%" in text and "published: the forecast of v2" in text
    assert "1 month(s) new since the last run (1960-11)" in text and "MAPE 2.50 %" in text and "drift: none" in text


def test_parts_monitored_apart_read_as_the_panel_monitored_at_once():
    """monitor_part's share of each part, put together in any order, gives what the whole panel gives at once:
    the same means, worst series, interval misses (and the months listed), and drift."""
    from pipeline.ops.monitor import drift_rows, drift_summary, live_rows, live_summary

    series = [seasonal_series(60 + 12 * (i % 3), start=f"{2000 - i % 3}-01", level=100.0 * (i + 1), seed=i)
              for i in range(7)]
    arrived = [s.copy() for s in series]
    for s in arrived[1::2]:
        s.iloc[-5:] *= 1.4  # outside the band and drifted
    expected, panel = panel_of(*series), panel_of(*arrived)
    whole = live_performance(_Banded(expected), panel, "2003-12", 12)
    parts = [[4, 6], [0, 1, 2], [3, 5]]
    pieces = [live_rows(_Banded(expected), panel.subset(p), p, panel.last_month, "2003-12", 12) for p in parts]
    together = live_summary(pieces[::-1], panel.last_month, "2003-12")
    assert together == whole and whole["band"]["outside"] > 10 and len(whole["band"]["months"]) == 10
    drifts = [drift_rows(panel.subset(p), p, 5, 12) for p in parts]
    assert drift_summary(drifts, 5) == panel_drift(panel, 5, 12) and panel_drift(panel, 5, 12)["drifted"]
