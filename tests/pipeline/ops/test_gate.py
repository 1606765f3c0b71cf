import math

import pytest

from pipeline.ops import gate

S = gate.Scores


@pytest.mark.parametrize("candidate, baseline, champion, gated, promoted, reason", [
    (S(0.5, 0.4), 0.8, None, True, True, "no champion yet"),
    (S(0.5, 0.4), 0.8, S(0.6, 0.1), True, True, "beats champion 0.6000 on the same folds"),
    (S(0.7, 0.1), 0.8, S(0.6, 0.9), True, False, "is not better than champion 0.6000"),
    (S(0.6, 0.3), 0.8, S(0.6, 0.4), True, True, "same backtest MASE 0.6000; candidate holdout MASE 0.3000 beats"),
    (S(0.6, 0.4), 0.8, S(0.6, 0.4), True, False, "is not better than champion 0.4000"),
    (S(0.9, 0.1), 0.8, None, True, False, "does not beat seasonal naive 0.8000"),
    (S(0.9, 0.1), 0.8, None, False, True, "no champion yet"),
    (S(math.nan, 0.1), 0.8, None, False, False, "not finite"),
    (S(0.5, math.inf), 0.8, S(0.6, 0.1), False, False, "not finite"),
])
def test_promotion_gate_on_mean_mase(candidate, baseline, champion, gated, promoted, reason):
    decided, why = gate.decide(candidate, baseline, champion, gated)
    assert decided is promoted and reason in why


@pytest.mark.parametrize("coverage, promoted, reason", [
    ((95, 0.80, 0.05), False, "95 % intervals covered 80.0% of the backtest months, more than 5% from 95 %"),
    ((95, 1.00, 0.04), False, "covered 100.0%"),  # too wide is miscalibrated too
    ((95, 0.93, 0.05), True, "no champion yet"),
    ((95, None, 0.05), True, "no champion yet"),  # not measured (too few residuals): judged on MASE alone
])
def test_the_gate_refuses_a_candidate_with_miscalibrated_intervals(coverage, promoted, reason):
    decided, why = gate.decide(S(0.5, 0.4), 0.8, None, True, coverage=coverage)
    assert decided is promoted and reason in why


def test_decision_tags_are_a_flat_audit_trail():
    decision = gate.Decision("m", "3", S(0.5, 0.4), 0.8, "2", S(0.6, 0.5), True, "why", "2026-01-01T00:00:00")
    tags = decision.as_tags()
    assert tags["decision.champion_version"] == "2" and tags["decision.candidate_backtest_mase"] == "0.5"
    assert tags["decision.champion_holdout_mase"] == "0.5" and tags["decision.reason"] == "why"
    assert gate.Decision("m", "1", S(0.5, 0.4), 0.8, None, None, True, "", "").as_tags()[
        "decision.champion_backtest_mase"] == "None"
    covered = gate.Decision("m", "1", S(0.5, 0.4), 0.8, None, None, True, "", "", {"coverage_95": 0.9})
    assert covered.as_tags()["decision.candidate_backtest_coverage_95"] == "0.9"
