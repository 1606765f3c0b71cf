"""Faults on the real distributed stack (scripts/services.sh: PostgreSQL, Redis, an MLflow server, Airflow's
scheduler and two Celery workers) while the panel DAG runs, compared with an undisturbed run of the same month on
the LocalExecutor, number for number.

A worker killed (SIGKILL to it and every process under it, as a machine that dies) while it trains a shard: the
scheduler notices the missing heartbeats (``task_instance_heartbeat_timeout``, 90 s in both deployments), fails
that try and retries it on the other worker; the run succeeds with the undisturbed run's numbers, one MLflow run
and one model version."""

from __future__ import annotations

import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pandas as pd
import pytest

from tests.integration.test_celery import run_on
from tests.integration.test_services import DAG_ID, SCRIPT, http, wait_for_dag

pytestmark = [pytest.mark.slow, pytest.mark.services, pytest.mark.chaos]
COMPARED = ("backtest_mase", "backtest_seasonal_naive_mase", "holdout_mase", "holdout_mape", "series_kept",
            "series_fallback", "backtest_coverage_80")


def api_client(values: dict):
    """Airflow's REST client, signed in as the admin."""
    import airflow_client.client as airflow_client

    base = values["AIRFLOW__API__BASE_URL"]
    status, body = http("POST", f"{base}/auth/token",
                        {"username": "admin", "password": values["AIRFLOW_ADMIN_PASSWORD"]})
    assert status == 201, body
    return airflow_client.ApiClient(airflow_client.Configuration(host=base, access_token=body["access_token"]))


def kill_a_worker_mid_fit(env: dict, values: dict) -> dict:
    """Unpause the DAG, wait until a ``fit`` runs on a worker, and kill that worker; what was killed, and when."""
    import airflow_client.client as airflow_client
    from airflow_client.client.api.dag_api import DAGApi
    from airflow_client.client.api.dag_run_api import DagRunApi
    from airflow_client.client.api.task_instance_api import TaskInstanceApi
    from airflow_client.client.models.dag_patch_body import DAGPatchBody

    with api_client(values) as api:
        wait_for_dag((airflow_client, api))
        DAGApi(api).patch_dag(DAG_ID, DAGPatchBody(is_paused=False))
        deadline = time.monotonic() + 900
        while True:
            assert time.monotonic() < deadline, "no fit ever ran"
            runs = DagRunApi(api).get_dag_runs(DAG_ID, run_type=["scheduled"]).dag_runs
            if runs:
                fits = TaskInstanceApi(api).get_mapped_task_instances(DAG_ID, runs[0].dag_run_id, "fit")
                running = [ti for ti in fits.task_instances if ti.state == "running" and ti.hostname]
                if running:
                    break
            time.sleep(0.3)
    victim = running[0]
    worker = victim.hostname.split("@")[0]
    time.sleep(2)  # inside the fit, past its start-up
    killed = subprocess.run(["bash", SCRIPT, "kill", worker], env=env, capture_output=True, text=True, timeout=60)
    assert killed.returncode == 0, killed.stderr
    return {"map_index": victim.map_index, "worker": worker, "killed_at": pd.Timestamp.now(tz="UTC")}


def test_a_worker_killed_mid_fit_is_retried_on_the_other_worker_with_the_same_results(tmp_path):
    with ThreadPoolExecutor(2) as pool:
        chaos = pool.submit(run_on, tmp_path / "chaos", "CeleryExecutor", kill_a_worker_mid_fit)
        calm = pool.submit(run_on, tmp_path / "calm", "LocalExecutor")
        chaos, calm = chaos.result(), calm.result()
    fault = chaos["fault"]
    (victim,) = [f for f in chaos["fits"] if f["map_index"] == fault["map_index"]]
    assert victim["state"] == "success" and victim["try_number"] >= 2, victim
    assert not victim["hostname"].startswith(fault["worker"] + "@"), "retried on the worker still alive"
    assert {f["state"] for f in chaos["fits"]} == {"success"} and len(chaos["fits"]) == 6
    for key in COMPARED:
        assert chaos["metrics"][key] == calm["metrics"][key], key
    pd.testing.assert_frame_equal(chaos["published"], calm["published"])
    assert chaos["versions"] == ["1"], "one model version for the month"
    recovered = (pd.Timestamp(victim["start"]) - fault["killed_at"]).total_seconds()
    finished = (pd.Timestamp(chaos["run"]["end"]) - fault["killed_at"]).total_seconds()
    print(f"worker killed mid-fit: retry started {recovered:.0f} s after the kill, run finished {finished:.0f} s "
          "after it")
    assert recovered < 90 + 60 + 60, "the heartbeat timeout (90 s), the retry delay and a scheduler loop"
