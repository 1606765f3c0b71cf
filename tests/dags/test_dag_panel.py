"""A small real panel (US employment series) through a real Airflow DAG run (``airflow dags test``): a series with
a gap is quarantined, the others are split into two shards trained as mapped tasks, the backtest is scored per
series, series the LSTM lost are published with seasonal naive, and every table lands in MLflow; the registered
model loads through the registry and forecasts a history table."""

from __future__ import annotations

import json
import os
import re
import subprocess

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import ROOT, TINY_TRIGGER, operator_config
from tests.dags.test_dag_run import AIRFLOW, dags_test

pytestmark = pytest.mark.slow
NAME = "us_employment_lstm"
SERIES = ["CEU0500000001", "CEU1000000001", "CEU2000000001", "CEU3000000001", "CEU4142000001", "CEU6000000001"]
BROKEN = "CEU7000000001"
STEADY = "SYNTHETIC-STEADY"


def small_panel() -> pd.DataFrame:
    """Six US employment series from 2011-10, one more with a gap, and a series seasonal naive all but knows."""
    frame = pd.read_csv(ROOT / "data" / "us_employment.csv")
    frame = frame[frame["series_id"].isin([*SERIES, BROKEN]) & (frame["month"] >= "2011-10")]
    frame = frame.drop(frame.index[(frame["series_id"] == BROKEN) & (frame["month"] == "2015-06")])  # a gap
    months = sorted(frame["month"].unique())  # and a series seasonal naive predicts almost exactly
    steady = 1000 * (1 + 0.1 * np.sin(2 * np.pi * np.arange(len(months)) / 12))
    steady *= 1 + 0.0005 * np.random.default_rng(0).standard_normal(len(months))
    return pd.concat([frame, pd.DataFrame({"series_id": STEADY, "title": "Same every year", "month": months,
                                           "employed": steady.round(3)})])


def small_panel_config(folder, **values):
    """The small panel as a CSV in ``folder`` and an operator config reading it (shards of 3 series)."""
    csv = folder / "employment.csv"
    small_panel().to_csv(csv, index=False)
    return operator_config(folder / "panel.yaml", csv_path=str(csv), series_column="series_id", title_column="title",
                           date_column="month", target_column="employed", shard_size=3, max_quarantine_share=0.2,
                           experiment_name="us-employment-test", registered_model_name=NAME, **values)


@pytest.fixture(scope="module")
def panel_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("panel")
    config = small_panel_config(base)
    frame = small_panel()
    env = {**os.environ, "AIRFLOW_HOME": str(base / "airflow"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"), "PIPELINE_HOME": str(ROOT),
           "PIPELINE_STATE_DIR": str(base / "state"), "PIPELINE_CONFIG": str(config)}
    env.pop("MLFLOW_TRACKING_URI", None)
    subprocess.run([AIRFLOW, "db", "migrate"], env=env, check=True, capture_output=True, timeout=300)
    result = dags_test(env, "2019-10-01", TINY_TRIGGER)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    client = MlflowClient(tracking_uri=f"sqlite:///{base / 'state'}/mlflow.db")
    experiment = client.get_experiment_by_name("us-employment-test")
    (run,) = client.search_runs([experiment.experiment_id], "tags.kind = 'monthly'")
    return {"output": output, "client": client, "run": run, "state": base / "state", "frame": frame}


def test_shards_are_mapped_fit_tasks(panel_run):
    fits = set(re.findall(r"end task task_id=fit map_index=(\d+)", panel_run["output"]))
    # 7 series in shards of at most 3: 3 shards x 2 training origins (folds 2 x 6 months; the final model is the
    # last fold's)
    assert fits == {"0", "1", "2", "3", "4", "5"}


def test_the_broken_series_is_quarantined_and_the_others_modelled(panel_run):
    run, client = panel_run["run"], panel_run["client"]
    assert run.data.metrics["series_in"] == 8 and run.data.metrics["series_quarantined"] == 1
    assert run.data.metrics["series_kept"] == 7 and run.data.params["data.shards"] == "3"
    path = client.download_artifacts(run.info.run_id, "validation/quarantine.csv", str(panel_run["state"]))
    quarantine = pd.read_csv(path)
    assert quarantine["series"].tolist() == [BROKEN]
    assert "missing month(s) 2015-06 before 2015-07" in quarantine["reason"].iloc[0]
    summary = run.data.tags["mlflow.note.content"]
    assert "series: 8 in, 1 quarantined, 7 modelled" in summary and f"- {BROKEN}: missing month(s)" in summary


def test_per_series_tables_and_the_published_forecast(panel_run):
    run, client, state = panel_run["run"], panel_run["client"], panel_run["state"]
    artifacts = {f.path for folder in ("backtest", "forecast", "validation")
                 for f in client.list_artifacts(run.info.run_id, folder)}
    assert {"backtest/per_series_metrics.json", "backtest/per_series.csv", "forecast/forecast.csv",
            "forecast/forecast.json", "validation/quarantine.json"} <= artifacts
    per_series = pd.read_csv(client.download_artifacts(run.info.run_id, "backtest/per_series.csv", str(state)))
    assert sorted(per_series["series"]) == sorted([*SERIES, STEADY])
    assert {"lstm.mase", "seasonal_naive.mase", "title"} <= set(per_series.columns)
    assert {"backtest_mase", "backtest_mase_median", "share_beats_seasonal_naive"} <= set(run.data.metrics)
    published = pd.read_csv(state / "forecasts" / "us-employment-test" / "latest.csv")
    assert list(published.columns) == ["series", "month", "forecast", "model", "lower_80", "upper_80", "lower_95",
                                       "upper_95", "model_version"]
    assert ((published["lower_95"] < published["lower_80"]) & (published["lower_80"] < published["forecast"])
            & (published["forecast"] < published["upper_80"]) & (published["upper_80"] < published["upper_95"])).all()
    for level in (80, 95):  # scored in the backtest (per fold too) and reported
        assert {f"backtest_coverage_{level}", f"backtest_msis_{level}",
                f"backtest_seasonal_naive_coverage_{level}"} <= set(run.data.metrics)
        assert f"backtest {level} % interval coverage" in run.data.tags["mlflow.note.content"]
    assert sorted(published["series"].unique()) == sorted([*SERIES, STEADY]) and len(published) == 7 * 6
    assert set(published["month"]) == {f"2019-{m:02d}" for m in (10, 11, 12)} | {f"2020-{m:02d}" for m in (1, 2, 3)}
    fallback = set(per_series.loc[per_series["fallback"], "series"])
    assert STEADY in fallback, "seasonal naive is all but exact there: the LSTM loses and its forecast falls back"
    assert set(published.loc[published["model"] == "seasonal_naive", "series"]) == fallback
    history = panel_run["frame"]
    for sid in fallback:  # seasonal naive: the same months a year earlier
        expected = history[(history["series_id"] == sid) & (history["month"] >= "2018-10")]["employed"].head(6)
        np.testing.assert_allclose(published.loc[published["series"] == sid, "forecast"], expected, rtol=1e-6)


def test_the_registered_model_forecasts_a_history_table(panel_run):
    mlflow.set_tracking_uri(f"sqlite:///{panel_run['state']}/mlflow.db")
    model = mlflow.pyfunc.load_model(f"models:/{NAME}@champion")
    history = panel_run["frame"].rename(columns={"series_id": "series", "employed": "value"})
    history = history[history["series"].isin(SERIES[:2])][["series", "month", "value"]]
    table = model.predict(history, params={"horizon": 3})
    assert sorted(table["series"].unique()) == SERIES[:2] and len(table) == 6
    assert np.isfinite(table["forecast"]).all() and (table["forecast"] > 0).all()
    assert (table["lower_95"] < table["forecast"]).all() and (table["forecast"] < table["upper_95"]).all()
    assert json.loads(json.dumps(model.metadata.metadata))["shards"] == 3
