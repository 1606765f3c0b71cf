"""The panel DAG on the Celery deployment of scripts/services.sh (PostgreSQL, Redis, an MLflow server, Airflow's
scheduler and two Celery workers, as in the official compose file), with faults while it runs, compared with an
undisturbed run of the same month on the LocalExecutor (``local_reference``), number for number: the shards and
training origins (mapped ``fit`` tasks) are spread over both workers, and the results are the LocalExecutor's
whichever process trained which shard and whatever failed on the way. One run takes every fault in turn (a stack
costs minutes to start):

1. a worker killed (SIGKILL to it and every process under it, as a machine that dies) while it trains a shard,
   and kept down (``WORKERS_DOWN``) until the fits are done: the scheduler notices the missing heartbeats
   (``task_instance_heartbeat_timeout``, 90 s in both deployments, looked for every 10 s), fails that try and
   retries it on the other worker;
2. the scheduler killed 5 s later and back 5 s after that: the new scheduler must adopt the tasks its
   predecessor queued before it can fail the dead worker's (``orphaned_tasks_check_interval``: within 40 s, where
   Airflow's default 300 s made the try fail 316 s after the kill);
3. Redis (the Celery broker) killed and brought back while tasks are in flight (its queue is on disk);
4. PostgreSQL (Airflow's database) stopped at once (``pg_ctl -m immediate``, a crash) and brought back while a
   task runs (``max_failed_heartbeats`` lets a task outlive 100 s of it);
5. the MLflow server killed while the candidate is evaluated and logged (between the fits and the registration),
   and brought back 20 s later.

"Brought back" is ``services.sh up``: it starts whatever is not running, as a supervisor would. The run succeeds
with the undisturbed run's numbers and forecast, one MLflow run, one model version (the champion)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pandas as pd
import pytest

from tests.dags.test_dag_panel import NET, SERIES, SHORT, STEADY, ZEROS
from tests.integration.stacks import DAG_ID, api_client, deployment_setting, run_on, services, wait_for_dag

pytestmark = [pytest.mark.slow, pytest.mark.services, pytest.mark.chaos]
# The bound the deployment documents (docs/deployment.md): the heartbeat timeout, the detection interval, and a
# few scheduler loops to handle the executor's event.
DETECTED_WITHIN = (deployment_setting("SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT")
                   + deployment_setting("SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL") + 15)
COMPARED = ("backtest_mase", "backtest_seasonal_naive_mase", "holdout_mase", "holdout_mape", "series_kept",
            "series_fallback", "backtest_coverage_80")


def now() -> pd.Timestamp:
    return pd.Timestamp.now(tz="UTC")


def faults(env: dict, values: dict) -> dict:
    """Unpause the DAG and inflict the faults of the module's doc in turn; when each happened."""
    import airflow_client.client as airflow_client
    from airflow_client.client.api.dag_api import DAGApi
    from airflow_client.client.api.dag_run_api import DagRunApi
    from airflow_client.client.api.task_instance_api import TaskInstanceApi
    from airflow_client.client.models.dag_patch_body import DAGPatchBody

    def state(api) -> tuple[str | None, list]:
        """The scheduled run's state and task instances, once it exists; (None, []) while the API cannot answer
        (a fault)."""
        try:
            runs = DagRunApi(api).get_dag_runs(DAG_ID, run_type=["scheduled"]).dag_runs
            if not runs:
                return None, []
            return runs[0].state, TaskInstanceApi(api).get_task_instances(DAG_ID, runs[0].dag_run_id,
                                                                           limit=100).task_instances
        except Exception:  # the database is down: ask again
            return None, []

    def wait(api, found: Callable[[list], object], what: str) -> object:
        deadline = time.monotonic() + 1200
        while True:
            run_state, tis = state(api)
            if hit := found(tis):
                return hit
            assert run_state not in ("success", "failed"), f"the run ended ({run_state}) before {what}"
            assert time.monotonic() < deadline, f"never: {what}"
            time.sleep(0.3)

    def running(task_id: str) -> Callable[[list], object]:
        return lambda tis: next((ti for ti in tis if ti.task_id == task_id and ti.state == "running"
                                 and ti.hostname), None)

    def just_started(task_id: str) -> Callable[[list], object]:  # a fault that must land inside the task
        return lambda tis: next((ti for ti in tis if running(task_id)([ti])
                                 and (now() - pd.Timestamp(ti.start_date)).total_seconds() < 4), None)

    happened: dict = {}
    with api_client(values) as api:
        wait_for_dag((airflow_client, api))
        DAGApi(api).patch_dag(DAG_ID, DAGPatchBody(is_paused=False))
        victim = wait(api, just_started("fit"), "a fit that just started on a worker")
        worker = victim.hostname.split("@")[0]
        time.sleep(1)  # inside the fit (about 10 s), past its start-up
        services(env, "kill", worker)
        happened["worker"] = {"at": now(), "worker": worker, "map_index": victim.map_index}
        machine_gone = {**env, "WORKERS_DOWN": worker.removeprefix("worker-")}  # `up` leaves it down
        time.sleep(5)
        services(env, "kill", "scheduler")
        happened["scheduler"] = {"at": now()}
        time.sleep(5)
        services(machine_gone, "up")  # the scheduler back, as a supervisor brings it
        wait(api, running("fit"), "a fit running on the other worker")
        services(env, "kill", "redis")
        happened["redis"] = {"at": now()}
        time.sleep(5)
        services(machine_gone, "up")  # Redis back, as a supervisor brings it
        wait(api, running("fit"), "a fit running")  # another shard's, or the killed one's retry
        services(env, "kill", "postgres")
        happened["postgres"] = {"at": now()}
        time.sleep(10)
        services(machine_gone, "up")
    with api_client(values) as api:  # a new session: the old one's token outlived nothing, but its pool did not
        wait(api, running("evaluate"), "the candidate's evaluation (it logs the model to MLflow)")
        services(env, "kill", "mlflow")
        happened["mlflow"] = {"at": now()}
        time.sleep(20)
        services(env, "up")  # MLflow back, and the dead worker's machine, repaired
    return happened


def recovered_after(run: dict, at: pd.Timestamp) -> float:
    """Seconds from a fault to the next task instance that succeeded after it."""
    ends = [pd.Timestamp(t["end"]) for t in run["tasks"] if t["state"] == "success" and t["end"]
            and pd.Timestamp(t["end"]) > at]
    return (min(ends) - at).total_seconds()


def test_a_run_survives_a_dead_worker_and_restarted_broker_database_and_tracking_server(tmp_path, local_reference):
    chaos = run_on(tmp_path / "chaos", "CeleryExecutor", faults)
    calm = local_reference.result()
    happened = chaos["fault"]
    (victim,) = [f for f in chaos["fits"] if f["map_index"] == happened["worker"]["map_index"]]
    (killed,) = [t for t in victim["tries"] if t["try_number"] == 1]
    since_kill = {what: (pd.Timestamp(when) - happened["worker"]["at"]).total_seconds()
                  for what, when in (("its try failed", killed["end"]), ("its retry started", victim["start"]))}
    report = {**{f"worker killed mid-fit ({what})": seconds for what, seconds in since_kill.items()},
              **{f"{part} restarted (next task done)": recovered_after(chaos, happened[part]["at"])
                 for part in ("scheduler", "redis", "postgres", "mlflow")},
              "run (first fault to end)": (pd.Timestamp(chaos["run"]["end"])
                                           - happened["worker"]["at"]).total_seconds()}
    print("\n".join(f"{what}: {seconds:.0f} s" for what, seconds in report.items()))
    print("the killed fit's tries:", *victim["tries"], sep="\n  ")
    assert killed["state"] == "failed" and killed["hostname"].startswith(happened["worker"]["worker"] + "@")
    # noticed within the deployment's bound (90 s + 10 s + 15 s), whatever the faults that followed did
    assert since_kill["its try failed"] <= DETECTED_WITHIN, report
    assert victim["state"] == "success" and victim["try_number"] >= 2, victim
    assert not victim["hostname"].startswith(happened["worker"]["worker"] + "@"), "retried on the worker alive"
    # the small panel in 3 shards x 2 training origins, each its own task instance, spread over both workers
    assert sorted(f["map_index"] for f in chaos["fits"]) == list(range(6))
    assert {f["state"] for f in chaos["fits"]} == {"success"}
    workers = {f["hostname"].split("@")[0] for f in chaos["fits"]} | {happened["worker"]["worker"]}
    assert workers == {"worker-1", "worker-2"}, chaos["fits"]
    assert len({f["pid"] for f in chaos["fits"]}) == 6, "each task in its own process"
    assert len({f["hostname"] for f in calm["fits"]}) == 1, "the LocalExecutor runs every task on one host"
    for key in COMPARED:
        assert chaos["metrics"][key] == calm["metrics"][key], key
    assert sorted(chaos["published"]["series"].unique()) == sorted([*SERIES, STEADY, ZEROS, NET, SHORT])
    pd.testing.assert_frame_equal(chaos["published"], calm["published"])
    assert chaos["versions"] == ["1"], "one model version for the month: no orphan from the MLflow restart"
