"""The DAG file parses fast, imports nothing heavy, and has the expected shape and safety settings."""

import os
import subprocess
import sys
import time
from datetime import timedelta

import pytest

from tests.conftest import ROOT

DAG_FILE = ROOT / "dags" / "lstm_monthly_retraining.py"
TASKS = ["ingest", "validate", "monitor_part", "monitor", "plan", "fit", "backtest_summary", "evaluate_part",
         "evaluate", "score_champion_part", "score_champion", "register", "publish_part", "publish", "summarize"]


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags"))


def test_dag_imports_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert set(dagbag.dags) == {"lstm_monthly_retraining", "lstm_tuning", "lstm_forecast_report"}


def test_publish_updates_the_forecasts_asset_which_schedules_the_report(dagbag):
    from pipeline.dagkit import FORECASTS

    monthly, report = dagbag.dags["lstm_monthly_retraining"], dagbag.dags["lstm_forecast_report"]
    assert monthly.get_task("publish").outlets == [FORECASTS]
    assert [task.task_id for task in monthly.tasks if task.outlets] == ["publish"]
    assert type(report.timetable).__name__ == "AssetTriggeredTimetable"
    assert FORECASTS.name in str(report.timetable.asset_condition)
    assert report.task_ids == ["report"] and report.doc_md and report.max_active_runs == 1
    assert report.get_task("report").retries >= 1


@pytest.mark.parametrize(("choice", "timetable"), [("data", "AssetTriggeredTimetable"),
                                                   ("monthly_or_data", "AssetOrTimeSchedule"),
                                                   ("weekly", "PIPELINE_SCHEDULE must be one of")])
def test_the_operator_schedules_on_the_month_the_input_data_or_both(choice, timetable):
    code = ("from airflow.dag_processing.dagbag import DagBag; "
            f"b = DagBag(dag_folder={str(DAG_FILE)!r}); "
            "print(type(b.dags['lstm_monthly_retraining'].timetable).__name__ if b.dags else b.import_errors)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT,
                         env={**os.environ, "PIPELINE_SCHEDULE": choice}).stdout.strip().splitlines()[-1]
    assert timetable in out


def test_the_tuning_dag_maps_one_task_per_trial_and_takes_only_tuning_params(dagbag):
    dag = dagbag.dags["lstm_tuning"]
    assert sorted(dag.task_ids) == ["ingest", "plan", "select", "trial", "validate"]
    assert dag.get_task("select").upstream_task_ids == {"validate", "trial"}
    assert type(dag.get_task("trial")).__name__.endswith("MappedOperator")
    assert set(dag.params.keys()) == {"tune_trials", "tune_minutes", "seed", "preset", "tuned_config"}
    assert type(dag.timetable).__name__ == "NullTimetable", "on demand"
    assert dag.max_active_runs == 1 and "tuning" in dag.tags and dag.doc_md
    for task in dag.tasks:
        assert task.retries >= 1 and task.execution_timeout is not None, task.task_id
    assert dag.get_task("trial").execution_timeout > dag.get_task("plan").execution_timeout


def test_tasks_and_edges(dagbag):
    dag = dagbag.dags["lstm_monthly_retraining"]
    assert sorted(dag.task_ids) == sorted(TASKS)
    upstream = {"ingest": set(), "validate": {"ingest"}, "monitor_part": {"validate", "backtest_summary"},
                "monitor": {"validate", "monitor_part"}, "plan": {"validate"},
                "fit": {"validate", "plan"}, "backtest_summary": {"validate", "fit"},
                "evaluate_part": {"validate", "backtest_summary"}, "evaluate": {"validate", "fit", "evaluate_part"},
                "score_champion_part": {"validate", "backtest_summary", "evaluate"},
                "score_champion": {"validate", "score_champion_part"},
                "register": {"validate", "score_champion", "monitor"},
                "publish_part": {"validate", "backtest_summary", "register"},
                "publish": {"validate", "publish_part"},
                "summarize": {"validate", "publish"}}
    for task_id, expected in upstream.items():
        assert dag.get_task(task_id).upstream_task_ids == expected, task_id
    assert type(dag.get_task("fit")).__name__.endswith("MappedOperator"), "one task per shard and origin"
    for name in ("evaluate_part", "score_champion_part", "publish_part", "monitor_part"):
        assert type(dag.get_task(name)).__name__.endswith("MappedOperator"), f"{name}: one task per part"


def test_schedule_and_run_safety(dagbag):
    dag = dagbag.dags["lstm_monthly_retraining"]
    assert type(dag.timetable).__name__ == "CronDataIntervalTimetable"
    assert dag.catchup is False and dag.max_active_runs == 1
    assert dag.doc_md and "Monthly LSTM retraining" in dag.doc_md
    assert {"ml", "lstm", "monthly"} <= set(dag.tags)
    for task in dag.tasks:
        assert task.retries >= 1 and task.retry_delay >= timedelta(seconds=30), task.task_id
        assert task.execution_timeout is not None, task.task_id
    assert dag.get_task("fit").execution_timeout > dag.get_task("ingest").execution_timeout
    assert dag.get_task("score_champion").execution_timeout == dag.get_task("fit").execution_timeout, "it may refit"
    parts = {task.task_id for task in dag.tasks if task.task_id.endswith("_part")}
    assert parts == {"monitor_part", "evaluate_part", "score_champion_part", "publish_part"}
    assert {dag.get_task(name).execution_timeout for name in parts} == {dag.get_task("fit").execution_timeout}, \
        "a part's series grow with the panel, as a fit's"
    assert {task.pool for task in dag.tasks} == {"default_pool"}, "without a deployment's pool, Airflow's default"
    callbacks = dag.on_failure_callback if isinstance(dag.on_failure_callback, list) else [dag.on_failure_callback]
    assert [type(c).__name__ for c in callbacks] == ["PipelineNotifier"]
    assert not dag.deadline, "no deadline unless a deployment sets PIPELINE_DEADLINE_HOURS"


def test_a_deployment_puts_the_heavy_tasks_in_its_pool():
    code = ("from airflow.dag_processing.dagbag import DagBag; "
            f"b = DagBag(dag_folder={str(DAG_FILE.parent)!r}); "
            "print(sorted(f'{d.dag_id}.{t.task_id}' for d in b.dags.values() for t in d.tasks "
            "if t.pool == 'pipeline_heavy'))")
    env = {**os.environ, "PIPELINE_HEAVY_POOL": "pipeline_heavy"}
    found = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert found.stdout.strip().splitlines()[-1] == str(["lstm_monthly_retraining.evaluate_part",
                                                         "lstm_monthly_retraining.fit",
                                                         "lstm_monthly_retraining.monitor_part",
                                                         "lstm_monthly_retraining.publish_part",
                                                         "lstm_monthly_retraining.score_champion",
                                                         "lstm_monthly_retraining.score_champion_part",
                                                         "lstm_tuning.trial"])


def test_deployments_get_a_deadline_alert():
    code = ("from airflow.dag_processing.dagbag import DagBag; "
            f"d = DagBag(dag_folder={str(DAG_FILE.parent)!r}).dags['lstm_monthly_retraining']; "
            "print(d.deadline[0].interval.total_seconds() if d.deadline else 'none')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT,
                         env={**os.environ, "PIPELINE_DEADLINE_HOURS": "4"}).stdout.strip().splitlines()[-1]
    assert out == "14400.0"


def test_params_are_what_a_trigger_may_set_within_bounds(dagbag):
    from pipeline.config import BOUNDS, OPERATOR_KEYS, TRIGGER_KEYS

    params = dagbag.dags["lstm_monthly_retraining"].params
    assert set(params.keys()) == set(TRIGGER_KEYS)
    assert not set(params.keys()) & set(OPERATOR_KEYS), "paths, limits, names and the gate are the operator's"
    assert params["epochs"] is None and params["preset"] is None
    schema = params.get_param("epochs").schema
    assert (schema["minimum"], schema["maximum"]) == BOUNDS["epochs"]
    with pytest.raises(Exception, match="maximum"):
        params.get_param("epochs").resolve(10**9)
    assert params.get_param("precision").schema["enum"] == [None, "fp32", "bf16"]
    with pytest.raises(Exception, match="is not one of"):
        params.get_param("precision").resolve("fp16")


def test_parse_time_and_no_heavy_imports():
    code = (
        "import sys, time, runpy\n"
        "import airflow.sdk  # the framework's own cost is not ours\n"
        "before = set(sys.modules)\n"
        "t = time.perf_counter()\n"
        f"runpy.run_path({str(DAG_FILE)!r})\n"
        "print(time.perf_counter() - t)\n"
        "print(' '.join(sorted(m for m in set(sys.modules) - before if m.split('.')[0] in "
        "{'torch', 'mlflow', 'pandas', 'sklearn', 'matplotlib'})))\n"
    )
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    seconds, heavy = [*out.stdout.splitlines(), ""][:2]
    assert heavy == "", f"DAG file imports heavy modules at parse time: {heavy}"
    assert float(seconds) < 2.0, f"DAG file took {seconds}s to parse"
    assert time.perf_counter() - started < 60


def test_light_tasks_do_not_load_the_modelling_stack():
    """Every task process imports pipeline.steps: torch, scikit-learn, scipy and matplotlib (about 3 s) load only in
    the steps that train, forecast, test or plot."""
    code = ("import sys\nimport pipeline.steps\n"
            "print(' '.join(sorted(set(sys.modules) & {'torch', 'sklearn', 'scipy.stats', 'matplotlib'})))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "", f"importing pipeline.steps loads {out.stdout.strip()}"
