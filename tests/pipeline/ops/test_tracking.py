import math

import mlflow

from pipeline.config import load_config
from pipeline.ops import tracking


def test_metric_names_are_the_same_on_every_run():
    assert tracking.metric_name("lstm", "mase") == "backtest_mase"
    assert tracking.metric_name("AutoETS", "coverage_95") == "backtest_autoets_coverage_95"
    summary = {"mean": {"lstm": {"mase": 0.5}, "seasonal_naive": {"mase": 0.9}},
               "median_mase": {"lstm": 0.4, "seasonal_naive": 0.8}, "share_beats_seasonal_naive": 0.75,
               "folds": 3}
    assert tracking.backtest_metrics(summary) == {
        "backtest_mase": 0.5, "backtest_seasonal_naive_mase": 0.9, "backtest_mase_median": 0.4,
        "backtest_seasonal_naive_mase_median": 0.8, "share_beats_seasonal_naive": 0.75}


def test_a_run_key_names_one_run_and_re_runs_reuse_it(state):
    client = tracking.configure()
    first = tracking.open_run(client, "exp", "dag/manual__1", "1960-12", {"kind": "monthly"})
    assert tracking.open_run(client, "exp", "dag/manual__1", "1960-12", {"kind": "monthly"}) == first
    assert tracking.open_run(client, "exp", "dag/manual__2", "1960-12", {"kind": "monthly"}) != first


def test_experiments_say_they_hold_model_training_also_one_made_before(state):
    client = tracking.configure()
    made = tracking.ensure_experiment(client, "new-exp")
    assert client.get_experiment(made).tags["mlflow.experimentKind"] == "custom_model_development"
    older = client.create_experiment("older-exp")  # as an earlier version of the pipeline made it: no kind
    assert "mlflow.experimentKind" not in client.get_experiment(older).tags
    assert tracking.ensure_experiment(client, "older-exp") == older
    assert client.get_experiment(older).tags["mlflow.experimentKind"] == "custom_model_development"


def test_curves_are_logged_per_epoch_without_the_non_finite_values(state):
    client = tracking.configure()
    run_id = tracking.open_run(client, "exp", "k", "n", {})
    tracking.log_series(client, run_id, {"train_loss": [1.0, math.nan, 0.25, math.inf]})
    history = client.get_metric_history(run_id, "train_loss")
    assert [(m.step, m.value) for m in history] == [(1, 1.0), (3, 0.25)]


def test_the_previous_monthly_run_is_the_last_finished_other_one(state):
    client = tracking.configure()
    older = tracking.open_run(client, "exp", "a", "1960-11", {"kind": "monthly"})
    client.set_terminated(older)
    newer = tracking.open_run(client, "exp", "b", "1960-12", {"kind": "monthly"})
    assert tracking.previous_run(client, "exp", newer).info.run_id == older
    assert tracking.previous_run(client, "exp", older) is None, "an unfinished run is not a previous month"


def test_fold_runs_nest_under_the_months_run(state):
    client = tracking.configure()
    cfg = load_config(overrides={"experiment_name": "exp"})
    parent = tracking.open_run(client, "exp", "k", "1960-12", {"kind": "monthly"})
    folds = [{"fold": 0, "train_end": "1959-12", "series": 1, "lstm": {"mase": 0.5}, "seasonal_naive": {"mase": 1.0}}]
    tracking.log_fold_runs(parent, "k", "1960-12", cfg, folds)
    tracking.log_fold_runs(parent, "k", "1960-12", cfg, folds)  # a re-run reuses the fold's run
    children = client.search_runs([client.get_experiment_by_name("exp").experiment_id],
                                  f"tags.`mlflow.parentRunId` = '{parent}'")
    assert len(children) == 1
    assert children[0].data.metrics == {"backtest_mase": 0.5, "backtest_seasonal_naive_mase": 1.0}
    assert children[0].data.params["train_end"] == "1959-12"
    assert mlflow.active_run() is None, "the helper leaves no run active"


def test_a_per_series_table_is_parquet_always_and_a_ui_table_while_it_is_small(state, monkeypatch):
    import pandas as pd

    client = tracking.configure()
    run_id = tracking.open_run(client, "exp", "tables", "1960-12", {})
    small = pd.DataFrame({"series": ["a", "b"], "mase": [0.5, 1.25]})
    monkeypatch.setattr(tracking, "TABLE_VIEW_ROWS", 2)
    with tracking.resume(run_id):
        tracking.log_result_table(small, "backtest/per_series.json")
        tracking.log_result_table(pd.concat([small, small]), "forecast/forecast.json")  # over the view's rows
    logged = {f.path for folder in ("backtest", "forecast") for f in client.list_artifacts(run_id, folder)}
    assert logged == {"backtest/per_series.json", "backtest/per_series.parquet", "forecast/forecast.parquet"}
    local = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="backtest/per_series.parquet",
                                                tracking_uri=client.tracking_uri)
    pd.testing.assert_frame_equal(pd.read_parquet(local), small)
