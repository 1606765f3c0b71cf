"""The promotion: the champion scored on the candidate's data, the gate's decision, re-runs."""

import json
from pathlib import Path

import pytest
from mlflow.exceptions import MlflowException

from pipeline import steps
from pipeline.errors import ChampionMovedError
from pipeline.ops.registry import CHALLENGER, CHAMPION
from tests.conftest import TINY, tracking_client

pytestmark = pytest.mark.slow
NAME = "air_passengers_lstm"


def test_second_run_records_a_champion_challenger_decision(state, synthetic_csv):
    overrides = {**TINY, "csv_path": str(synthetic_csv)}
    first = steps.run_all("unit/a", "2006-01-01", overrides)
    second = steps.run_all("unit/b", "2006-01-01", overrides)
    decision = json.loads(second.paths.decision.read_text())
    # Same data, config and seed: bit-identical metrics, so the challenger is not strictly better.
    assert second.metrics == first.metrics
    assert decision["champion_version"] == "1" and decision["candidate_version"] == "2"
    assert decision["champion"]["holdout_mase"] == pytest.approx(first.metrics["holdout_mase"])
    assert decision["champion"]["backtest_mase"] == decision["candidate"]["backtest_mase"]
    assert decision["promoted"] is False and "not better than champion" in decision["reason"]
    client = tracking_client()
    assert str(client.get_model_version_by_alias(NAME, CHAMPION).version) == "1"
    assert str(client.get_model_version_by_alias(NAME, CHALLENGER).version) == "2"
    assert client.get_model_version(NAME, "2").tags["decision.reason"] == decision["reason"]


def test_a_better_configuration_replaces_the_champion_on_the_same_folds(state, synthetic_csv):
    overrides = {**TINY, "csv_path": str(synthetic_csv), "epochs": 1, "learning_rate": 0.0001}
    weak = steps.run_all("unit/weak", "2006-01-01", overrides)
    strong = steps.run_all("unit/strong", "2006-01-01", {**overrides, "epochs": 40, "learning_rate": 0.01})
    decision = json.loads(strong.paths.decision.read_text())
    # The champion's configuration was refitted on the challenger's folds: same folds, same data.
    assert decision["champion"]["backtest_mase"] == pytest.approx(
        tracking_client().get_run(weak.mlflow_run_id).data.metrics["backtest_mase"])
    assert decision["candidate"]["backtest_mase"] < decision["champion"]["backtest_mase"]
    assert decision["promoted"] is True and "on the same folds" in decision["reason"]
    assert str(tracking_client().get_model_version_by_alias(NAME, CHAMPION).version) == "2"


def test_rerun_of_the_same_run_key_reuses_the_mlflow_run(state, synthetic_csv):
    overrides = {**TINY, "csv_path": str(synthetic_csv)}
    first = steps.run_all("unit/same", "2006-01-01", overrides)
    again = steps.run_all("unit/same", "2006-01-01", overrides)
    assert again.mlflow_run_id == first.mlflow_run_id
    assert again.model_version == first.model_version == "1"
    assert len(tracking_client().search_model_versions(f"name='{NAME}'")) == 1


def test_a_candidate_with_miscalibrated_intervals_is_not_promoted(state, synthetic_csv):
    # 80 % intervals only, held to exactly 80 % coverage: 12 backtest months cannot cover exactly 9.6 of them
    ctx = steps.run_all("unit/strict", "2006-01-01", {**TINY, "csv_path": str(synthetic_csv), "interval_levels": "80",
                                                      "coverage_tolerance": 0.0})
    decision = json.loads(ctx.paths.decision.read_text())
    assert decision["promoted"] is False and "80 % intervals covered" in decision["reason"]
    assert "miscalibrated" in decision["reason"] and decision["coverage"]["coverage_80"] != 0.8
    client = tracking_client()
    assert client.get_model_version(NAME, "1").tags["decision.reason"] == decision["reason"]
    with pytest.raises(MlflowException, match="champion"):
        client.get_model_version_by_alias(NAME, CHAMPION)


def test_a_champion_that_moved_after_it_was_scored_is_not_replaced_blindly(state, synthetic_csv):
    overrides = {**TINY, "csv_path": str(synthetic_csv), "epochs": 1, "learning_rate": 0.0001}
    steps.run_all("unit/old", "2006-01-01", overrides)  # champion v1
    ctx = steps.validate(steps.ingest("unit/slow", "2006-01-01", {**overrides, "epochs": 40, "learning_rate": 0.01}))
    steps.train_and_evaluate(ctx)
    scored = json.loads(Path(steps.score_champion(ctx)).read_text())
    assert scored["version"] == "1" and scored["scores"]["backtest_mase"] > 0
    part = ctx.paths.champion_part_result("00000")  # its one part, scored in this process
    other = part.with_name("part_other.json")
    other.write_text(json.dumps({**json.loads(part.read_text()), "version": "7"}))
    with pytest.raises(ChampionMovedError, match=r"the champion moved while it was scored \(parts of v1, v7\)"):
        steps.score_champion(ctx, [str(part), str(other)])  # the alias moved between two of its parts
    faster = steps.run_all("unit/fast", "2006-01-01", {**overrides, "epochs": 40, "learning_rate": 0.01, "seed": 7})
    assert faster.promoted and faster.model_version == "2", "another run moved the champion meanwhile"
    decision = json.loads(Path(steps.register(ctx)).read_text())
    assert decision["promoted"] is False and decision["champion_version"] == "2"
    assert "champion moved to v2 while deciding (v1 was scored)" in decision["reason"]
    assert str(tracking_client().get_model_version_by_alias(NAME, CHAMPION).version) == "2"
    moved = json.loads(Path(steps.score_champion(ctx, [str(part)])).read_text())  # v2 now, its parts scored v1
    assert moved == {"version": "1", "scores": None, "unfit": None}, "register sees the move, as above"


def test_a_past_month_run_after_a_later_one_never_replaces_the_champion(state, synthetic_csv):
    """A backfill or re-run of an earlier month, after a later month decided: the champion keeps its newer data."""
    overrides = {**TINY, "csv_path": str(synthetic_csv)}
    later = steps.run_all("unit/2005-12", "2006-01-01", overrides)
    earlier = steps.run_all("unit/2005-06", "2005-07-01", overrides)
    decision = json.loads(earlier.paths.decision.read_text())
    assert later.promoted and earlier.data_month == "2005-06"
    assert decision["promoted"] is False and decision["champion_version"] == "1" and decision["champion"] is None
    assert decision["reason"].startswith("champion v1 is trained on data to 2005-12, newer than this run's 2005-06")
    assert str(tracking_client().get_model_version_by_alias(NAME, CHAMPION).version) == "1"


def test_a_champion_that_cannot_read_this_months_values_is_decided_against_the_baselines(state, tmp_path):
    from tests.conftest import seasonal_series, write_csv

    series = seasonal_series(84)
    overrides = {**TINY, "csv_path": str(write_csv(tmp_path / "sales.csv", series))}
    steps.run_all("unit/positive", "2006-01-01", overrides)  # champion v1: trained on positive values only
    series.iloc[-1] = 0.0  # December 2006: the first month without sales
    write_csv(tmp_path / "sales.csv", series)
    month = steps.run_all("unit/zero", "2007-01-01", overrides)
    decision = json.loads(month.paths.decision.read_text())
    assert "champion v1 cannot forecast this month's data" in decision["reason"]
    assert "is not a positive number" in decision["reason"] and decision["champion"] is None
    assert decision["promoted"] is True and month.model_version == "2"  # the gate: the baselines alone
    published = month.paths.forecast.read_text()
    assert "lower_80" in published and str(tracking_client().get_model_version_by_alias(NAME, CHAMPION).version) == "2"
