"""The panel DAG on the Celery deployment of scripts/services.sh (Redis, two Celery workers beside the scheduler, as
in the official compose file) and on the LocalExecutor: the shards and training origins (mapped ``fit`` tasks) are
spread over both workers, and the results are the same as the LocalExecutor's, number for number.

Each stack runs what ``up`` starts on its own: the scheduled run of the latest month (all of the panel's data)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import TINY_TRIGGER
from tests.dags.test_dag_panel import NAME, NET, SERIES, SHORT, STEADY, ZEROS, small_panel_config
from tests.integration.test_services import DAG_ID, http, services_stack, wait_for_dag

pytestmark = [pytest.mark.slow, pytest.mark.services]
EXPERIMENT = "us-employment-test"


def run_on(folder: Path, executor: str, fault: Callable[[dict, dict], dict] | None = None, **extra: str) -> dict:
    """Start the services with ``executor``, wait for the scheduled panel run, collect what it did, stop them.
    With ``fault``, the DAG starts paused and ``fault(env, client settings)`` unpauses it and disturbs the run;
    what it returns is collected under ``fault``. ``extra``: more environment for the services."""
    folder.mkdir(parents=True, exist_ok=True)
    config = small_panel_config(folder, **TINY_TRIGGER)
    with services_stack(folder, config, EXECUTOR=executor, PIPELINE_DAGS_PAUSED=str(fault is not None),
                        **extra) as stack:
        disturbed = fault(stack["env"], stack["values"]) if fault else None
        return collect(folder, stack["values"]) | {"fault": disturbed, "env": stack["env"], "values": stack["values"]}


def collect(folder: Path, values: dict[str, str]) -> dict:
    """The scheduled run's task instances (Airflow's REST client), its MLflow metrics and the published table."""
    import airflow_client.client as airflow_client
    from airflow_client.client.api.dag_run_api import DagRunApi
    from airflow_client.client.api.task_instance_api import TaskInstanceApi

    base = values["AIRFLOW__API__BASE_URL"]
    password = values["AIRFLOW_ADMIN_PASSWORD"]
    status, body = http("POST", f"{base}/auth/token", {"username": "admin", "password": password})
    assert status == 201, body
    with airflow_client.ApiClient(airflow_client.Configuration(host=base, access_token=body["access_token"])) as api:
        wait_for_dag((airflow_client, api))
        runs = DagRunApi(api)
        deadline = time.monotonic() + 900
        while True:
            scheduled = runs.get_dag_runs(DAG_ID, run_type=["scheduled"]).dag_runs
            if scheduled and scheduled[0].state in ("success", "failed"):
                break
            assert time.monotonic() < deadline, f"the scheduled run did not finish: {scheduled}"
            time.sleep(3)
        (run,) = scheduled
        assert run.state == "success", run
        fits = TaskInstanceApi(api).get_mapped_task_instances(DAG_ID, run.dag_run_id, "fit").task_instances
        tasks = TaskInstanceApi(api).get_task_instances(DAG_ID, run.dag_run_id, limit=100).task_instances
    auth = (values["MLFLOW_TRACKING_USERNAME"], values["MLFLOW_TRACKING_PASSWORD"])
    mlflow = values["MLFLOW_TRACKING_URI"]
    _, experiment = http("GET", f"{mlflow}/api/2.0/mlflow/experiments/get-by-name?experiment_name={EXPERIMENT}",
                         basic=auth)
    _, found = http("POST", f"{mlflow}/api/2.0/mlflow/runs/search",
                    {"experiment_ids": [experiment["experiment"]["experiment_id"]],
                     "filter": f"tags.`airflow.run_id` = '{run.dag_run_id}'"}, basic=auth)
    (mlflow_run,) = found["runs"]  # one MLflow run for the DAG run, however often its tasks ran
    _, versions = http("GET", f"{mlflow}/api/2.0/mlflow/model-versions/search?filter=name%3D%27{NAME}%27",
                       basic=auth)
    published = pd.read_csv(folder / "state" / "pipeline-state" / "forecasts" / EXPERIMENT / "latest.csv")
    return {"fits": [{"map_index": ti.map_index, "hostname": ti.hostname, "pid": ti.pid, "state": ti.state,
                      "try_number": ti.try_number, "start": ti.start_date} for ti in fits],
            "run": {"id": run.dag_run_id, "start": run.start_date, "end": run.end_date},
            "tasks": [{"task_id": ti.task_id, "map_index": ti.map_index, "state": ti.state, "try_number": ti.try_number,
                       "start": ti.start_date, "end": ti.end_date} for ti in tasks],
            "metrics": {m["key"]: m["value"] for m in mlflow_run["data"]["metrics"]},
            "versions": [v["version"] for v in versions.get("model_versions", [])],
            "published": published.drop(columns=["model_version"])}


def test_panel_shards_spread_over_two_celery_workers_give_the_local_executors_results(tmp_path, local_reference):
    celery = run_on(tmp_path / "celery", "CeleryExecutor")  # while the reference runs (the numbers do not mind)
    local = local_reference.result()
    # the small panel in 3 shards x 2 training origins, each its own task instance
    assert sorted(f["map_index"] for f in celery["fits"]) == list(range(6))
    assert {f["state"] for f in celery["fits"]} == {"success"}
    workers = {f["hostname"] for f in celery["fits"]}
    assert len(workers) == 2 and all(h.startswith(("worker-1@", "worker-2@")) for h in workers), celery["fits"]
    assert len({f["pid"] for f in celery["fits"]}) == 6, "each task in its own process"
    assert len({f["hostname"] for f in local["fits"]}) == 1, "the LocalExecutor runs every task on one host"
    # the same numbers, whichever process trained which shard
    for key in ("backtest_mase", "backtest_seasonal_naive_mase", "holdout_mase", "holdout_mape", "series_kept",
                "series_fallback", "backtest_coverage_80"):
        assert celery["metrics"][key] == local["metrics"][key], key
    assert sorted(celery["published"]["series"].unique()) == sorted([*SERIES, STEADY, ZEROS, NET, SHORT])
    pd.testing.assert_frame_equal(celery["published"], local["published"])
