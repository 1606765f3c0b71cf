"""A small real panel (US employment series) through a real Airflow DAG run (``airflow dags test``): a series with
a gap is quarantined, a discontinued one reported as inactive, the others (with months of zero, a series of net
changes that goes negative, a series of 30 months) split into shards trained as mapped tasks, the backtest is scored
per series, series the LSTM lost are published with seasonal naive, and every table lands in MLflow; the registered
model loads through the registry and forecasts a history table. A ragged panel (series ending years apart) runs
with folds at each series' own end."""

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
ZEROS = "SYNTHETIC-SEASONAL-ZEROS"
NET = "CEU0500000001-NET"
SHORT = "CEU2000000001-RECENT"
INACTIVE = "CEU4245210001"  # Department Stores, discontinued after 2017-12
SHAPES = [ZEROS, NET, SHORT]


def small_panel() -> pd.DataFrame:
    """Six US employment series from 2011-10, one more with a gap, a discontinued one, a series seasonal naive all
    but knows, one closed three months a year (zeros), the monthly net change of total private employment (negative
    in some months) and the last 30 months of construction employment (a short series)."""
    frame = pd.read_csv(ROOT / "data" / "us_employment.csv")
    frame = frame[frame["series_id"].isin([*SERIES, BROKEN, INACTIVE]) & (frame["month"] >= "2011-10")]
    frame = frame.drop(frame.index[(frame["series_id"] == BROKEN) & (frame["month"] == "2015-06")])  # a gap
    months = sorted(frame["month"].unique())  # and a series seasonal naive predicts almost exactly
    t = np.arange(len(months))
    steady = 1000 * (1 + 0.1 * np.sin(2 * np.pi * t / 12))
    steady *= 1 + 0.0005 * np.random.default_rng(0).standard_normal(len(months))
    closed = np.where(t % 12 < 3, 0.0, (40 + 20 * np.sin(2 * np.pi * t / 12) + 0.3 * t).round(1))
    total = frame[frame["series_id"] == SERIES[0]].set_index("month")["employed"]
    recent = frame[frame["series_id"] == SERIES[2]].tail(30)
    return pd.concat([frame, pd.DataFrame({"series_id": STEADY, "title": "Same every year", "month": months,
                                           "employed": steady.round(3)}),
                      pd.DataFrame({"series_id": ZEROS, "title": "Closed in winter", "month": months,
                                    "employed": closed}),
                      pd.DataFrame({"series_id": NET, "title": "Total private, net change", "month": total.index[1:],
                                    "employed": total.diff().iloc[1:].round(1).to_numpy()}),
                      recent.assign(series_id=SHORT, title="Construction, last 30 months")])


def small_panel_config(folder, **values):
    """The small panel as a CSV in ``folder`` and an operator config reading it (shards of 3 series)."""
    csv = folder / "employment.csv"
    small_panel().to_csv(csv, index=False)
    return operator_config(folder / "panel.yaml", csv_path=str(csv), series_column="series_id", title_column="title",
                           date_column="month", target_column="employed", shard_size=4, max_quarantine_share=0.2,
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


MODELLED = [*SERIES, STEADY, *SHAPES]


def test_shards_are_mapped_fit_tasks(panel_run):
    fits = set(re.findall(r"end task task_id=fit map_index=(\d+)", panel_run["output"]))
    # 10 series in shards of at most 4: 3 shards x 2 training origins (folds 2 x 6 months; the final model is the
    # last fold's)
    assert fits == {"0", "1", "2", "3", "4", "5"}
    parts = set(re.findall(r"end task task_id=evaluate_part map_index=(\d+)", panel_run["output"]))
    assert parts == {"0", "1", "2"}, "each shard's series evaluated in its own mapped task"
    scored = set(re.findall(r"end task task_id=score_champion_part map_index=(\d+)", panel_run["output"]))
    assert scored == {"0", "1", "2"}, "the champion (none yet: nothing to score) looked at part by part"
    monitored = set(re.findall(r"end task task_id=monitor_part map_index=(\d+)", panel_run["output"]))
    assert monitored == {"0", "1", "2"}, "drift checked part by part"


def test_the_broken_series_is_quarantined_the_discontinued_one_inactive_and_the_others_modelled(panel_run):
    run, client = panel_run["run"], panel_run["client"]
    metrics = run.data.metrics
    assert (metrics["series_in"], metrics["series_quarantined"], metrics["series_inactive"], metrics["series_short"],
            metrics["series_kept"]) == (12, 1, 1, 0, 10)
    assert run.data.params["data.shards"] == "3" and run.data.params["preset"] == "lstm-global"  # a panel's default
    path = client.download_artifacts(run.info.run_id, "validation/quarantine.csv", str(panel_run["state"]))
    quarantine = pd.read_csv(path)
    assert quarantine["series"].tolist() == [BROKEN]
    assert "missing month(s) 2015-06 before 2015-07" in quarantine["reason"].iloc[0]
    summary = run.data.tags["mlflow.note.content"]
    assert "series: 12 in, 1 quarantined, 1 inactive, 0 too short, 10 modelled" in summary
    assert f"- {BROKEN}: missing month(s)" in summary and f"- {INACTIVE}: no month since 2017-12" in summary
    # what auto inferred of the values, in the validation report, the summary and MLflow
    assert run.data.tags["value_domain"] == "real (auto)"
    assert (metrics["series_positive"], metrics["series_nonnegative"], metrics["series_real"]) == (8, 1, 1)
    assert "- values: real (value_domain auto; series: 8 positive, 1 nonnegative, 1 real)" in summary


def test_per_series_tables_and_the_published_forecast(panel_run):
    run, client, state = panel_run["run"], panel_run["client"], panel_run["state"]
    artifacts = {f.path for folder in ("backtest", "forecast", "validation")
                 for f in client.list_artifacts(run.info.run_id, folder)}
    assert {"backtest/per_series_metrics.json", "backtest/per_series.csv", "forecast/forecast.csv",
            "forecast/forecast.json", "validation/quarantine.json", "backtest/per_series_metrics.parquet",
            "forecast/forecast.parquet", "validation/quarantine.parquet"} <= artifacts
    per_series = pd.read_csv(client.download_artifacts(run.info.run_id, "backtest/per_series.csv", str(state)))
    assert sorted(per_series["series"]) == sorted(MODELLED)  # every shape scored, the short series too
    assert per_series[["lstm.mase", "lstm.smape"]].notna().all().all()
    assert {"lstm.mase", "seasonal_naive.mase", "title"} <= set(per_series.columns)
    assert {"backtest_mase", "backtest_mase_median", "share_beats_seasonal_naive"} <= set(run.data.metrics)
    published = pd.read_csv(state / "forecasts" / "us-employment-test" / "latest.csv")
    assert list(published.columns) == ["series", "month", "forecast", "model", "lower_80", "upper_80", "lower_95",
                                       "upper_95", "model_version"]
    assert ((published["lower_95"] <= published["lower_80"]) & (published["lower_80"] <= published["forecast"])
            & (published["forecast"] <= published["upper_80"]) & (published["upper_80"] <= published["upper_95"])).all()
    by_series = published.set_index("series")
    assert (by_series.loc[ZEROS, ["forecast", "lower_95"]] >= 0).all().all()  # nonnegative: never below zero
    assert (by_series.loc[NET, "lower_95"] < 0).any()  # net changes may be negative: so may their bounds
    assert np.isfinite(published[["forecast", "lower_95", "upper_95"]].to_numpy()).all()
    for level in (80, 95):  # scored in the backtest (per fold too) and reported
        assert {f"backtest_coverage_{level}", f"backtest_msis_{level}",
                f"backtest_seasonal_naive_coverage_{level}"} <= set(run.data.metrics)
        assert f"backtest {level} % interval coverage" in run.data.tags["mlflow.note.content"]
    assert sorted(published["series"].unique()) == sorted(MODELLED) and len(published) == 10 * 6
    assert INACTIVE not in set(published["series"])  # reported, not forecast
    assert set(published["month"]) == {f"2019-{m:02d}" for m in (10, 11, 12)} | {f"2020-{m:02d}" for m in (1, 2, 3)}
    chosen = per_series.set_index("series")["model"]
    assert chosen[STEADY] != "lstm", "seasonal naive is all but exact there: the LSTM loses, another serves it"
    used = published.groupby("series")["model"].first()
    assert (used == chosen[used.index]).all(), "each series published by the candidate its backtest chose"
    served = used.value_counts()
    assert all(run.data.metrics[f"series_{model}"] == n for model, n in served.items())
    assert run.data.metrics["series_fallback"] == (used != "lstm").sum()
    assert "- forecast by (the candidate best on each series' backtest): " in run.data.tags["mlflow.note.content"]
    history = panel_run["frame"]
    for sid in used.index[used == "seasonal_naive"]:  # the same months a year earlier
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


RAGGED_ENDS = {SERIES[0]: "2012-06", SERIES[1]: "2015-03", SERIES[3]: "2019-09", INACTIVE: "2017-12"}


@pytest.fixture(scope="module")
def ragged_run(tmp_path_factory):
    """Four real series that end years apart (one discontinued), eight years each, with folds at each series' own
    last months."""
    base = tmp_path_factory.mktemp("ragged")
    frame = pd.read_csv(ROOT / "data" / "us_employment.csv")
    parts = []
    for sid, end in RAGGED_ENDS.items():
        mine = frame[(frame["series_id"] == sid) & (frame["month"] <= end)]
        parts.append(mine.tail(96))
    csv = base / "ragged.csv"
    pd.concat(parts).to_csv(csv, index=False)
    config = operator_config(base / "ragged.yaml", csv_path=str(csv), series_column="series_id", date_column="month",
                             target_column="employed", experiment_name="ragged-test", registered_model_name="ragged",
                             coverage_tolerance=1.0)  # 4 series x 2 folds: too few months to judge 95 % intervals
    env = {**os.environ, "AIRFLOW_HOME": str(base / "airflow"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"), "PIPELINE_HOME": str(ROOT),
           "PIPELINE_STATE_DIR": str(base / "state"), "PIPELINE_CONFIG": str(config)}
    env.pop("MLFLOW_TRACKING_URI", None)
    subprocess.run([AIRFLOW, "db", "migrate"], env=env, check=True, capture_output=True, timeout=300)
    result = dags_test(env, "2019-10-01", {**TINY_TRIGGER, "fold_alignment": "series_end"})
    assert result.returncode == 0, (result.stdout + result.stderr)[-5000:]
    client = MlflowClient(tracking_uri=f"sqlite:///{base / 'state'}/mlflow.db")
    (run,) = client.search_runs([client.get_experiment_by_name("ragged-test").experiment_id], "tags.kind = 'monthly'")
    return {"client": client, "run": run, "state": base / "state"}


def test_series_end_folds_score_and_forecast_every_series_from_its_own_end(ragged_run):
    run, client, state = ragged_run["run"], ragged_run["client"], ragged_run["state"]
    metrics = run.data.metrics
    assert (metrics["series_in"], metrics["series_inactive"], metrics["series_kept"]) == (4, 0, 4)
    per_series = pd.read_csv(client.download_artifacts(run.info.run_id, "backtest/per_series.csv", str(state)))
    assert sorted(per_series["series"]) == sorted(RAGGED_ENDS) and per_series["lstm.mase"].notna().all()
    folds = client.search_runs([run.info.experiment_id], "tags.kind = 'backtest-fold'")
    assert sorted(f.data.params["train_end"] for f in folds) == ["end-12", "end-6"]  # 2 folds of 6 months
    assert all(f.data.params["series"] == "4" for f in folds)
    published = pd.read_csv(state / "forecasts" / "ragged-test" / "latest.csv")
    first = published.groupby("series")["month"].min().to_dict()
    assert first == {SERIES[0]: "2012-07", SERIES[1]: "2015-04", SERIES[3]: "2019-10", INACTIVE: "2018-01"}
    assert run.data.tags["decision"] in ("promoted", "rejected") and "fold_alignment series_end" in \
        run.data.tags["mlflow.note.content"]
