"""The services stack of ``scripts/services.sh`` for tests: start it on free loopback ports with a clean
environment (nothing of pytest's leaks into the services: MLflow would turn its telemetry off under pytest), talk
to it as a user would (plain HTTP, Airflow's REST client), run the small panel's scheduled month on it and collect
what the run did."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import pandas as pd

from tests.conftest import ROOT, TINY_TRIGGER
from tests.dags.test_dag_panel import NAME, small_panel_config
from tests.pipeline.ops.test_faults import free_port

DAG_ID = "lstm_monthly_retraining"
SCRIPT = str(ROOT / "scripts" / "services.sh")
EXPERIMENT = "us-employment-test"


def deployment_setting(name: str) -> int:
    """An Airflow setting ``AIRFLOW__<name>`` as scripts/services.sh exports it (the compose file's, tested)."""
    found = re.search(rf"export AIRFLOW__{name}=(\d+)", Path(SCRIPT).read_text())
    assert found, f"scripts/services.sh sets no AIRFLOW__{name}"
    return int(found[1])


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
        values = account(env, "pipeline")  # the client settings, with the pipeline's MLflow account
        values["AIRFLOW_ADMIN_PASSWORD"] = account(env, "admin")["AIRFLOW_PASSWORD"]
        print(f"\nstack up in {seconds:.1f}s")
        yield {"airflow": values["AIRFLOW__API__BASE_URL"], "mlflow": values["MLFLOW_TRACKING_URI"],
               "password": values["AIRFLOW_ADMIN_PASSWORD"], "env": env, "values": values, "folder": folder,
               "up_log": up.stderr, "config": config,
               "pipeline": (values["MLFLOW_TRACKING_USERNAME"], values["MLFLOW_TRACKING_PASSWORD"])}
    finally:
        subprocess.run(["bash", SCRIPT, "down"], env=env, capture_output=True, text=True, timeout=300)
        shutil.rmtree(pg_dir, ignore_errors=True)


def account(env: dict, name: str) -> dict[str, str]:
    """What ``scripts/services.sh env NAME`` prints: the client settings and the credentials of account ``name``."""
    printed = subprocess.run(["bash", SCRIPT, "env", name], env=env, capture_output=True, text=True, check=True)
    return dict(line.removeprefix("export ").split("=", 1) for line in printed.stdout.splitlines())


def api_client(values: dict):
    """Airflow's REST client, signed in as the admin."""
    import airflow_client.client as airflow_client

    base = values["AIRFLOW__API__BASE_URL"]
    status, body = http("POST", f"{base}/auth/token",
                        {"username": "admin", "password": values["AIRFLOW_ADMIN_PASSWORD"]})
    assert status == 201, body
    return airflow_client.ApiClient(airflow_client.Configuration(host=base, access_token=body["access_token"]))


def services(env: dict, *command: str) -> None:
    """``scripts/services.sh COMMAND...`` with the stack's environment; it must succeed."""
    done = subprocess.run(["bash", SCRIPT, *command], env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]


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

    with api_client(values) as api:
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


def mlflow_api(values: dict[str, str], path: str, body: dict | None = None, **query: str) -> dict:
    """MLflow's REST API with the pipeline's account: GET with ``query``, or POST ``body``."""
    url = f"{values['MLFLOW_TRACKING_URI']}/api/2.0/mlflow/{path}"
    auth = (values["MLFLOW_TRACKING_USERNAME"], values["MLFLOW_TRACKING_PASSWORD"])
    if body is None:
        status, found = http("GET", url + ("?" + urllib.parse.urlencode(query) if query else ""), basic=auth)
    else:
        status, found = http("POST", url, body, basic=auth)
    assert status == 200, (path, status, found)
    return found


def decisions(values: dict[str, str], experiment: str, model: str, run_ids: list[str]) -> list[tuple[str, ...]]:
    """For each DAG run, in order: its data month, as-of date and champion decision (promoted, the champion it was
    compared with, the candidate's backtest MASE), read from its one MLflow run and the version it registered."""
    experiment_id = mlflow_api(values, "experiments/get-by-name", experiment_name=experiment)["experiment"][
        "experiment_id"]
    decided = []
    for run_id in run_ids:
        (found,) = mlflow_api(values, "runs/search", {"experiment_ids": [experiment_id],
                                                      "filter": f"tags.`airflow.run_id` = '{run_id}'"})["runs"]
        tags = {t["key"]: t["value"] for t in found["data"]["tags"]}
        version = mlflow_api(values, "model-versions/get", name=model, version=tags["model_version"])
        decision = {t["key"]: t["value"] for t in version["model_version"]["tags"]}
        decided.append((tags["data_month"], tags["as_of"], decision["decision.promoted"],
                        decision["decision.champion_version"], decision["decision.candidate_backtest_mase"]))
    return decided


def replay(decided: list[tuple[str, ...]], config: Path) -> list[tuple[str, ...]]:
    """The same months one after the other in this process (``steps.run_all``, the store of the test's ``state``
    fixture), undisturbed: their decisions, in the form of :func:`decisions`."""
    from pipeline import steps

    replayed = []
    for month, as_of, *_ in decided:
        result = steps.run_all(f"replay/{month}", as_of, config_path=str(config))
        d = result.decision
        replayed.append((result.data_month, as_of, str(d["promoted"]), str(d["champion_version"]),
                         str(d["candidate"]["backtest_mase"])))
    return replayed


def wait_idle(api, timeout: float = 900) -> None:
    """Until no run of the DAG is queued or running (the latest month's scheduled run starts as a stack comes up
    with the DAG unpaused)."""
    from airflow_client.client.api.dag_run_api import DagRunApi

    deadline = time.monotonic() + timeout
    while active := [r.dag_run_id for r in DagRunApi(api).get_dag_runs(DAG_ID, state=["queued", "running"]).dag_runs]:
        assert time.monotonic() < deadline, active
        time.sleep(3)


def backfill(api, year: int, months: int) -> list[str]:
    """Airflow's backfill of the first ``months`` months of ``year``, one run at a time (docs/deployment.md); the
    ids of its runs, by month."""
    from airflow_client.client.api.backfill_api import BackfillApi
    from airflow_client.client.api.dag_run_api import DagRunApi
    from airflow_client.client.models.backfill_post_body import BackfillPostBody

    created = BackfillApi(api).create_backfill(BackfillPostBody(
        dag_id=DAG_ID, from_date=datetime.fromisoformat(f"{year}-01-01T00:00:00+00:00"),
        to_date=datetime.fromisoformat(f"{year}-{months:02d}-01T00:00:00+00:00"), max_active_runs=1))
    assert created.max_active_runs == 1
    deadline = time.monotonic() + 60
    while len(runs := DagRunApi(api).get_dag_runs(DAG_ID, run_type=["backfill"], logical_date_gte=created.from_date,
                                                   logical_date_lte=created.to_date).dag_runs) < months:
        assert time.monotonic() < deadline, [r.dag_run_id for r in runs]
        time.sleep(2)
    return [r.dag_run_id for r in sorted(runs, key=lambda r: r.logical_date)]
