"""The services stack of ``scripts/services.sh`` for tests: start it on free loopback ports with a clean
environment (nothing of pytest's leaks into the services: MLflow would turn its telemetry off under pytest), talk
to it as a user would (plain HTTP, Airflow's REST client), run the small panel's scheduled month on it and collect
what the run did."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from tests.conftest import ROOT, TINY_TRIGGER
from tests.dags.test_dag_panel import NAME, small_panel_config
from tests.pipeline.ops.test_faults import free_port

DAG_ID = "lstm_monthly_retraining"
SCRIPT = str(ROOT / "scripts" / "services.sh")
EXPERIMENT = "us-employment-test"


def http(method: str, url: str, body: dict | None = None, token: str | None = None,
         basic: tuple[str, str] | None = None) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if basic:
        headers["Authorization"] = "Basic " + base64.b64encode(":".join(basic).encode()).decode()
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read() or b"{}"
            return response.status, json.loads(raw) if raw.startswith((b"{", b"[")) else {"text": raw.decode()}
    except urllib.error.HTTPError as exc:
        return exc.code, {"error": exc.read().decode(errors="replace")[:2000]}


def clean_env(**values: str) -> dict[str, str]:
    """What a shell on the host has, plus ``values``: none of pytest's variables."""
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "USER")}
    return {**keep, **values}


@contextmanager
def services_stack(folder: Path, config: Path, **extra: str) -> Iterator[dict]:
    """``scripts/services.sh up`` on free loopback ports, state in ``folder``, the deployment config ``config``
    (``extra``: more environment); yields what a user needs (the settings ``env`` prints, ``values``); ``down`` and
    a clean data folder at the end."""
    pg_dir = Path(tempfile.mkdtemp(prefix="lstm-pg-", dir="/var/tmp"))  # reachable by the postgres user
    pg_dir.chmod(0o755)
    env = clean_env(SERVICES_DIR=str(folder / "state"), PG_DIR=str(pg_dir), PG_PORT=str(free_port()),
                    MLFLOW_PORT=str(free_port()), AIRFLOW_PORT=str(free_port()), REDIS_PORT=str(free_port()),
                    SCHEDULER_HEALTH_PORT=str(free_port()), PIPELINE_CONFIG=str(config), **extra)
    started = time.monotonic()
    try:
        up = subprocess.run(["bash", SCRIPT, "up"], env=env, capture_output=True, text=True, timeout=1200)
        seconds = time.monotonic() - started
        assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-5000:]
        settings = subprocess.run(["bash", SCRIPT, "env"], env=env, capture_output=True, text=True, check=True)
        values = dict(line.removeprefix("export ").split("=", 1) for line in settings.stdout.splitlines())
        print(f"\nstack up in {seconds:.1f}s")
        yield {"airflow": values["AIRFLOW__API__BASE_URL"], "mlflow": values["MLFLOW_TRACKING_URI"],
               "password": values["AIRFLOW_ADMIN_PASSWORD"], "env": env, "values": values, "folder": folder,
               "up_log": up.stderr, "config": config,
               "pipeline": (values["MLFLOW_TRACKING_USERNAME"], values["MLFLOW_TRACKING_PASSWORD"])}
    finally:
        subprocess.run(["bash", SCRIPT, "down"], env=env, capture_output=True, text=True, timeout=300)
        shutil.rmtree(pg_dir, ignore_errors=True)


def wait_for_dag(client, timeout: float = 300) -> None:
    from airflow_client.client.api.dag_api import DAGApi

    deadline = time.monotonic() + timeout
    while True:  # the dag-processor has not parsed the file yet
        try:
            DAGApi(client[1]).get_dag(DAG_ID)
            return
        except Exception:
            assert time.monotonic() < deadline, "DAG never appeared in the API"
            time.sleep(2)


def run_on(folder: Path, executor: str, fault: Callable[[dict, dict], dict] | None = None, **extra: str) -> dict:
    """Start the services with ``executor``, wait for the scheduled panel run, collect what it did, stop them.
    With ``fault``, the DAG starts paused and ``fault(env, client settings)`` unpauses it and disturbs the run;
    what it returns is collected under ``fault``. ``extra``: more environment for the services."""
    folder.mkdir(parents=True, exist_ok=True)
    # fits of about 10 s each (60 epochs): long enough to be killed inside one
    config = small_panel_config(folder, **{**TINY_TRIGGER, "epochs": 60})
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
        tries = {ti.map_index: TaskInstanceApi(api).get_mapped_task_instance_tries(
            DAG_ID, run.dag_run_id, "fit", ti.map_index).task_instances for ti in fits}
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
                      "try_number": ti.try_number, "start": ti.start_date,
                      "tries": [{"try_number": t.try_number, "state": t.state, "hostname": t.hostname,
                                 "start": t.start_date, "end": t.end_date} for t in tries[ti.map_index]]}
                     for ti in fits],
            "run": {"id": run.dag_run_id, "start": run.start_date, "end": run.end_date},
            "tasks": [{"task_id": ti.task_id, "map_index": ti.map_index, "state": ti.state, "try_number": ti.try_number,
                       "start": ti.start_date, "end": ti.end_date} for ti in tasks],
            "metrics": {m["key"]: m["value"] for m in mlflow_run["data"]["metrics"]},
            "versions": [v["version"] for v in versions.get("model_versions", [])],
            "published": published.drop(columns=["model_version"])}
