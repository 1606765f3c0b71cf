"""The whole pipeline in one process, on a real local MLflow store, with real (tiny) training."""

import json
from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from pipeline import settings, steps
from pipeline.errors import DataValidationError
from pipeline.ops.registry import CHALLENGER, CHAMPION
from tests.conftest import TINY, seasonal_series, write_csv

pytestmark = pytest.mark.slow
NAME = "air_passengers_lstm"


def _client() -> MlflowClient:
    return MlflowClient(tracking_uri=settings.tracking_uri())


def test_run_logs_everything_and_registers_a_champion(state, synthetic_csv):
    ctx = steps.run_all("unit/run-1", "2006-01-01", {**TINY, "csv_path": str(synthetic_csv)})
    client = _client()
    run = client.get_run(ctx.mlflow_run_id)
    assert run.info.run_name == "2005-12" == ctx.data_month
    assert run.data.params["epochs"] == "3" and run.data.params["preset"] == "lstm-direct"
    assert run.data.params["data.holdout_first"] == "2005-07"
    assert run.data.tags["data_sha256"] == ctx.ctx.data_sha256 and run.data.tags["decision"] == "promoted"
    for key in ("holdout_mape", "holdout_rmse", "holdout_mae", "holdout_mase", "baseline_mape", "baseline_mase",
                "backtest_mape", "backtest_mase", "backtest_mase_median", "backtest_seasonal_naive_mase",
                "share_beats_seasonal_naive", "series_in", "series_quarantined", "series_fallback"):
        assert key in run.data.metrics
    folds = client.search_runs([run.info.experiment_id], f"tags.`mlflow.parentRunId` = '{run.info.run_id}'")
    assert sorted(f.data.params["train_end"] for f in folds) == ["2004-12", "2005-06"]
    assert all("backtest_mase" in f.data.metrics and "backtest_seasonal_naive_mase" in f.data.metrics
               for f in folds)
    mean = sum(f.data.metrics["backtest_mase"] for f in folds) / 2
    assert run.data.metrics["backtest_mase"] == pytest.approx(mean)
    assert [m.step for m in client.get_metric_history(run.info.run_id, "train_loss")] == [1, 2, 3]
    assert len(client.get_metric_history(run.info.run_id, "val_loss")) == 3
    for view in ("relative", "yoy"):  # each view's curves beside the ensemble's mean
        assert len(client.get_metric_history(run.info.run_id, f"val_loss_{view}")) == 3
    artifacts = {f.path for folder in ("", "validation", "evaluation", "plots", "backtest", "forecast")
                 for f in client.list_artifacts(run.info.run_id, folder or None)}
    assert {"model_summary.txt", "decision.json", "validation/validation_report.json",
            "validation/data_profile.json", "evaluation/candidate_forecast.csv", "plots/loss_curves.png",
            "plots/holdout_forecast.png", "plots/future_forecast.png", "backtest/per_series.csv",
            "backtest/per_series_metrics.json", "forecast/forecast.csv"} <= artifacts
    assert run.inputs.dataset_inputs and run.inputs.dataset_inputs[0].dataset.digest == ctx.ctx.data_sha256[:16]
    champion = client.get_model_version_by_alias(NAME, CHAMPION)
    assert str(champion.version) == ctx.model_version == "1" and champion.run_id == run.info.run_id
    assert str(client.get_model_version_by_alias(NAME, CHALLENGER).version) == "1"
    assert champion.tags["decision.promoted"] == "True"


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
    client = _client()
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
        _client().get_run(weak.mlflow_run_id).data.metrics["backtest_mase"])
    assert decision["candidate"]["backtest_mase"] < decision["champion"]["backtest_mase"]
    assert decision["promoted"] is True and "on the same folds" in decision["reason"]
    assert str(_client().get_model_version_by_alias(NAME, CHAMPION).version) == "2"


def test_rerun_of_the_same_run_key_reuses_the_mlflow_run(state, synthetic_csv):
    overrides = {**TINY, "csv_path": str(synthetic_csv)}
    first = steps.run_all("unit/same", "2006-01-01", overrides)
    again = steps.run_all("unit/same", "2006-01-01", overrides)
    assert again.mlflow_run_id == first.mlflow_run_id
    assert again.model_version == first.model_version == "1"
    assert len(_client().search_model_versions(f"name='{NAME}'")) == 1


def test_bad_data_stops_before_training_and_registers_nothing(state, tmp_path, synthetic_csv):
    lines = synthetic_csv.read_text().splitlines()
    lines[10] = lines[10].split(",")[0] + ",n/a"
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines) + "\n")
    ctx = steps.ingest("unit/bad", None, {**TINY, "csv_path": str(bad)})
    with pytest.raises(DataValidationError, match=r"row 11, column '#Passengers': missing value"):
        steps.validate(ctx)
    client = _client()
    run = client.get_run(ctx.mlflow_run_id)
    assert run.info.status == "FAILED" and run.data.tags["validation"] == "failed"
    assert "validation/validation_report.json" in {f.path for f in client.list_artifacts(run.info.run_id,
                                                                                          "validation")}
    assert client.search_registered_models() == []


def test_next_month_scores_the_champion_live_and_summarizes(state, synthetic_csv):
    overrides = {**TINY, "csv_path": str(synthetic_csv)}
    steps.run_all("unit/june", "2005-07-01", overrides)
    later = steps.run_all("unit/december", "2006-01-01", overrides)
    client = _client()
    run = client.get_run(later.mlflow_run_id)
    assert run.data.metrics["champion_live_months"] == 6 and run.data.metrics["champion_live_mape"] > 0
    assert run.data.metrics["months_added"] == 6 and run.data.tags["drift"] in {"yes", "no"}
    summary = later.paths.summary_markdown.read_text()
    assert run.data.tags["mlflow.note.content"] == summary
    assert "6 month(s) new since the last run (2005-06)" in summary and "live: champion v1 on 6 month(s)" in summary
    assert {"summary.md", "summary.json", "monitoring/monitor.json"} <= {
        f.path for folder in (None, "monitoring") for f in client.list_artifacts(run.info.run_id, folder)}


def test_warm_start_fine_tunes_last_months_fits(state, synthetic_csv):
    overrides = {**TINY, "csv_path": str(synthetic_csv), "warm_start": True, "warm_epochs": 2}
    first = steps.run_all("unit/warm-1", "2005-12-01", overrides)  # data to 2005-11: nothing to start from
    second = steps.run_all("unit/warm-2", "2006-01-01", overrides)  # data to 2005-12: last month's two fits
    client = _client()
    runs = [client.get_run(ctx.mlflow_run_id) for ctx in (first, second)]
    assert [r.data.tags["warm_start"] for r in runs] == ["0 of 2 fits", "2 of 2 fits"]
    assert [r.data.metrics["warm_started_fits"] for r in runs] == [0, 2]
    fits = sorted((second.paths.root / "fits").glob("*.json"))
    sources = [Path(json.loads(f.read_text())["warm_start"]["source"]).name for f in fits]
    assert sources == ["2004-11@2005-11.pt", "2005-05@2005-11.pt"]  # trained one month shorter, last month's run
    assert [m.step for m in client.get_metric_history(runs[1].info.run_id, "train_loss")] == [1, 2]  # warm_epochs
    assert "warm start: 2 of 2 fits started from last month's weights" in second.paths.summary_markdown.read_text()
    chain = sorted(p.relative_to(state / "warm") for p in (state / "warm").rglob("*.pt"))
    cold = steps.run_all("unit/cold-2", "2006-01-01", {**overrides, "warm_start": False})
    assert client.get_run(cold.mlflow_run_id).data.tags["warm_start"] == "off"
    assert sorted(p.relative_to(state / "warm") for p in (state / "warm").rglob("*.pt")) == chain  # untouched
    assert len(chain) == 4


def test_months_outside_the_champions_band_raise_an_alert(state, tmp_path, webhook, monkeypatch):
    port, received = webhook
    monkeypatch.setenv("AIRFLOW_CONN_PIPELINE_ALERTS", json.dumps({"conn_type": "http", "host": "127.0.0.1",
                                                                    "port": port, "schema": "http"}))
    series = seasonal_series()
    june = steps.run_all("unit/june", "2005-07-01", {**TINY, "csv_path": str(write_csv(tmp_path / "a.csv", series))})
    published = pd.read_csv(june.paths.candidate_forecast)
    assert {"lower_80", "upper_80"} <= set(published.columns) and published["lower_80"].notna().all()
    jumped = series.copy()
    jumped.iloc[-6:] *= 1.6  # every month since June far above anything the champion expected
    later = steps.run_all("unit/december", "2006-01-01",
                          {**TINY, "csv_path": str(write_csv(tmp_path / "b.csv", jumped))})
    band = [body for _, body in received if "outside its" in json.dumps(body)]
    assert band, received
    text = json.dumps(band[0])
    assert "6 of 6 months outside its 80 % interval" in text and "2005-12" in text
    run = _client().get_run(later.mlflow_run_id)
    assert run.data.metrics["champion_outside_band_share"] == 1.0
    assert run.data.metrics["champion_outside_band_p"] == pytest.approx(0.2 ** 6)
    assert "6 of 6 months outside its 80 % interval" in later.paths.summary_markdown.read_text()


def test_a_candidate_with_miscalibrated_intervals_is_not_promoted(state, synthetic_csv):
    # 80 % intervals only, held to exactly 80 % coverage: 12 backtest months cannot cover exactly 9.6 of them
    ctx = steps.run_all("unit/strict", "2006-01-01", {**TINY, "csv_path": str(synthetic_csv), "interval_levels": "80",
                                                      "coverage_tolerance": 0.0})
    decision = json.loads(ctx.paths.decision.read_text())
    assert decision["promoted"] is False and "80 % intervals covered" in decision["reason"]
    assert "miscalibrated" in decision["reason"] and decision["coverage"]["coverage_80"] != 0.8
    client = _client()
    assert client.get_model_version(NAME, "1").tags["decision.reason"] == decision["reason"]
    with pytest.raises(Exception, match="champion"):
        client.get_model_version_by_alias(NAME, CHAMPION)


@pytest.mark.parametrize("holdout, expected_fits", [(6, 2), (3, 3)])
def test_plan_maps_one_fit_per_shard_and_origin(tmp_path, holdout, expected_fits):
    from pipeline.config import load_config
    from pipeline.errors import ConfigError
    from tests.conftest import panel_of, seasonal_series

    panel = panel_of(*(seasonal_series(72, seed=i) for i in range(5)))
    cfg = load_config(overrides={**TINY, "holdout": holdout, "shard_size": 2})  # 2 folds of 6 months
    ctx = steps.RunContext(run_key="unit/plan", work_dir=str(tmp_path), config=cfg.to_dict(), mlflow_run_id="",
                           data_month="2005-12", source="", data_sha256="")
    panel.save(ctx.paths.panel)
    jobs = steps.plan(ctx)
    assert len({j["shard"] for j in jobs}) == 3, "5 series in shards of at most 2"
    assert len(jobs) == 3 * expected_fits
    finals = [j for j in jobs if j["final"]]
    assert len(finals) == 3 and (finals[0]["folds"] == [1]) == (holdout == 6), "the last fold's fit is the final one"
    assert [j["train_end"] for j in jobs if j["shard"] == 0][:2] == ["2004-12", "2005-06"]
    too_many = r"3 shards x \d training origins = \d+ mapped tasks, over max_mapped_tasks 4"
    with pytest.raises(ConfigError, match=too_many):
        steps.plan({**ctx.to_json(), "config": {**cfg.to_dict(), "max_mapped_tasks": 4}})
