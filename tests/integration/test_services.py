"""The production topology as real processes (scripts/services.sh): PostgreSQL, an MLflow server on it with its
basic-auth app, Redis, Airflow's api-server, scheduler (CeleryExecutor), dag-processor, triggerer and two Celery
workers. The services start with a clean environment (nothing of pytest's leaks into them: MLflow would turn its
telemetry off under pytest).
The DAG is triggered with Airflow's own REST client, as an API user would, and its results are read through
MLflow's REST API with the pipeline's account; what a careless or hostile caller can do is checked too."""

from __future__ import annotations

import os
import re
import subprocess
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from itertools import pairwise
from pathlib import Path

import pytest
import yaml

from tests.conftest import TINY_TRIGGER
from tests.integration.stacks import (
    DAG_ID,
    SCRIPT,
    account,
    backfill,
    decisions,
    http,
    replay,
    services_stack,
    wait_for_dag,
    wait_idle,
)

pytestmark = [pytest.mark.slow, pytest.mark.services]
NAME = "air_passengers_lstm"
LOOPBACK = {"0100007F", "00000000000000000000000001000000"}  # 127.0.0.1 and ::1 as /proc/net/tcp{,6} write them


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    folder = tmp_path_factory.mktemp("services")
    config = folder / "deployment.yaml"  # a deployment-wide config: small settings for every run, scheduled too
    config.write_text(yaml.safe_dump({**TINY_TRIGGER, "baseline_gate": False}))
    with services_stack(folder, config) as stack:
        yield stack


@pytest.fixture(scope="module")
def token(stack) -> str:
    """How an API client signs in (README): POST the user's credentials to /auth/token."""
    status, body = http("POST", f"{stack['airflow']}/auth/token", {"username": "admin", "password": stack["password"]})
    assert status == 201, body
    return body["access_token"]


@pytest.fixture(scope="module")
def client(stack, token):
    """Airflow's own REST client (apache-airflow-client), signed in with the token."""
    import airflow_client.client as airflow_client

    configuration = airflow_client.Configuration(host=stack["airflow"], access_token=token)
    with airflow_client.ApiClient(configuration) as api:
        yield airflow_client, api


def trigger_and_wait(client, logical_date: str, conf: dict | None = None, timeout: float = 900,
                     expect: str = "success"):
    from airflow_client.client.api.dag_run_api import DagRunApi

    models, api = client
    wait_for_dag(client)
    runs = DagRunApi(api)
    body = models.TriggerDAGRunPostBody(logical_date=datetime.fromisoformat(logical_date), conf=conf or {})
    run = runs.trigger_dag_run(DAG_ID, body)
    started, deadline = time.monotonic(), time.monotonic() + timeout
    while run.state not in ("success", "failed"):
        assert time.monotonic() < deadline, f"run still {run.state} after {timeout}s"
        time.sleep(3)
        run = runs.get_dag_run(DAG_ID, run.dag_run_id)
    print(f"\nrun {run.dag_run_id} ({logical_date}): {run.state} in {time.monotonic() - started:.1f}s")
    assert run.state == expect, run
    return run


def mlflow_get(stack, path: str, **query: str) -> tuple[int, dict]:
    url = f"{stack['mlflow']}/api/2.0/mlflow/{path}" + ("?" + urllib.parse.urlencode(query) if query else "")
    return http("GET", url, basic=stack["pipeline"])


def mlflow_run_of(stack, dag_run_id: str) -> dict:
    _, experiment = mlflow_get(stack, "experiments/get-by-name", experiment_name="lstm-monthly-retraining")
    query = {"experiment_ids": [experiment["experiment"]["experiment_id"]],
             "filter": f"tags.`airflow.run_id` = '{dag_run_id}'"}
    _, found = http("POST", f"{stack['mlflow']}/api/2.0/mlflow/runs/search", query, basic=stack["pipeline"])
    (run,) = found["runs"]
    return run


def test_triggered_runs_train_register_and_decide(stack, client):
    first = trigger_and_wait(client, "1961-01-01T00:00:00+00:00")
    run = mlflow_run_of(stack, first.dag_run_id)
    metrics = {m["key"] for m in run["data"]["metrics"]}
    assert {"holdout_mape", "holdout_mase", "backtest_mase", "backtest_seasonal_naive_mase", "train_loss"} <= metrics
    tags = {t["key"]: t["value"] for t in run["data"]["tags"]}
    assert tags["data_month"] == "1960-12" and tags["airflow.dag_id"] == DAG_ID
    status, alias = mlflow_get(stack, "registered-models/alias", name=NAME, alias="champion")
    assert status == 200 and alias["model_version"]["version"]

    second = trigger_and_wait(client, "1960-12-01T00:00:00+00:00")
    run_id = mlflow_run_of(stack, second.dag_run_id)["info"]["run_id"]
    _, versions = mlflow_get(stack, "model-versions/search", filter=f"run_id='{run_id}'")
    (version,) = versions["model_versions"]
    tags = {t["key"]: t["value"] for t in version.get("tags", [])}
    assert {"decision.promoted", "decision.reason", "decision.champion_version",
            "decision.candidate_backtest_mase"} <= set(tags)
    assert tags["decision.champion_version"] != "None", "a champion existed: the decision compared against it"
    # artifacts are served by the MLflow server: they live in its artifact store, not in the workers' folders
    assert any((stack["folder"] / "state" / "mlartifacts").rglob("decision.json"))
    # both months' forecasts in the PostgreSQL table, read with a plain SQL client as a planner would
    import psycopg2
    import sqlalchemy as sa

    address = sa.make_url(stack["values"]["PIPELINE_FORECAST_DB_URL"])
    with psycopg2.connect(host=address.host, port=address.port, user=address.username, password=address.password,
                          dbname=address.database) as db, db.cursor() as cursor:
        cursor.execute("SELECT to_char(data_month, 'YYYY-MM'), count(*), count(DISTINCT run_id), min(month) "
                       "FROM forecasts GROUP BY data_month ORDER BY data_month")
        stored = cursor.fetchall()
    # (the stack's scheduled run of the latest month, also of data month 1960-12, replaces that month's rows)
    assert [(m, n, runs, str(first)) for m, n, runs, first in stored] == [
        ("1960-11", 6, 1, "1960-12-01"), ("1960-12", 6, 1, "1961-01-01")]


def test_each_publish_is_an_asset_event_that_runs_the_forecast_report(stack, client):
    """After the months above: the forecasts Asset's events (Airflow's REST client) carry what was published, and
    the downstream DAG scheduled on it ran and wrote its report."""
    from airflow_client.client.api.asset_api import AssetApi
    from airflow_client.client.api.dag_run_api import DagRunApi

    _, api = client
    events = AssetApi(api).get_asset_events(source_dag_id=DAG_ID, source_task_id="publish", limit=50).asset_events
    announced = {event.extra["data_month"]: event.extra for event in events}
    assert {"1960-11", "1960-12"} <= set(announced), [event.extra for event in events]
    assert {"experiment", "model_version", "run_id", "run_key", "rows"} <= set(announced["1960-11"])
    assert announced["1960-11"]["rows"] == 6 and announced["1960-11"]["experiment"] == "lstm-monthly-retraining"
    reports = stack["folder"] / "state" / "pipeline-state" / "reports" / "lstm-monthly-retraining"
    deadline = time.monotonic() + 600
    while True:
        runs = DagRunApi(api).get_dag_runs("lstm_forecast_report").dag_runs
        done = [run for run in runs if run.state in ("success", "failed")]
        if done and all(run.state == "success" for run in done) and any(reports.glob("*.md")):
            break
        assert not [run for run in done if run.state == "failed"], done
        assert time.monotonic() < deadline, f"no forecast report after the events: {runs}"
        time.sleep(5)
    assert {run.run_type for run in done} == {"asset_triggered"}
    assert {path.stem for path in reports.glob("*.md")} <= set(announced)


def test_up_says_it_starts_the_latest_month_at_once(stack, client):
    from airflow_client.client.api.dag_run_api import DagRunApi

    assert "the scheduler starts the latest month's run now" in stack["up_log"]
    wait_for_dag(client)
    runs = DagRunApi(client[1]).get_dag_runs(DAG_ID, run_type=["scheduled"]).dag_runs
    assert runs, "the documented scheduled run of the latest month"


def test_a_hostile_trigger_is_refused(stack, client):
    """Through the REST client: a param out of bounds is refused by the API; an unknown or operator key fails the
    run at its first task, with no retry and nothing registered."""
    from airflow_client.client.exceptions import ApiException

    with pytest.raises(ApiException) as info:
        trigger_and_wait(client, "1959-06-01T00:00:00+00:00", {"epochs": 10**9})
    assert info.value.status == 400 and "epochs" in str(info.value.body)
    _, before = mlflow_get(stack, "model-versions/search", filter=f"name='{NAME}'")
    for date, conf in (("1959-08-01", {"epoch": 2}), ("1959-09-01", {"csv_path": "/proc/self/environ",
                                                                        "data_dir": "/proc"})):
        trigger_and_wait(client, f"{date}T00:00:00+00:00", conf, expect="failed")
    _, after = mlflow_get(stack, "model-versions/search", filter=f"name='{NAME}'")
    assert len(after.get("model_versions", [])) == len(before.get("model_versions", []))


def test_mlflow_refuses_anonymous_changes(stack):
    alias = {"name": NAME, "alias": "champion", "version": "1"}
    assert http("POST", f"{stack['mlflow']}/api/2.0/mlflow/registered-models/alias", alias)[0] == 401
    assert http("GET", f"{stack['mlflow']}/api/2.0/mlflow/experiments/search?max_results=5")[0] == 401
    assert http("GET", f"{stack['mlflow']}/health")[0] == 200


@pytest.mark.chaos
def test_months_triggered_at_once_and_a_12_month_backfill_decide_as_one_after_the_other(stack, client, state):
    """Two months triggered at the same moment, then a backfill of a year (Airflow's backfill API, one run at a
    time): the runs never overlap (the DAG's ``max_active_runs``, the backfill's), the backfill goes month by month,
    and every month's champion decision is the one a sequential replay (``steps.run_all``, in this process, a fresh
    MLflow store) makes in the same order. A registry of its own: the deployment config names another model, for
    months no other test runs. About 8 minutes on 2 cores."""
    from airflow_client.client.api.dag_run_api import DagRunApi

    models, api = client
    deployment = stack["config"].read_text()
    names = {"registered_model_name": "air_passengers_backfill", "experiment_name": "lstm-backfill"}
    year, months = 1954, 12
    runs = DagRunApi(api)
    wait_for_dag(client)
    # The latest month's scheduled run starts as the stack comes up: it ends on the deployment's own names before
    # the config names this test's registry (a run keeps the config it started with; this one must not start on it).
    wait_idle(api)
    stack["config"].write_text(deployment + yaml.safe_dump(names))

    def finished(ids: list[str]) -> list:
        deadline = time.monotonic() + 1800
        while True:
            found = [runs.get_dag_run(DAG_ID, run_id) for run_id in ids]
            if all(r.state in ("success", "failed") for r in found):
                return found
            assert time.monotonic() < deadline, [(r.dag_run_id, r.state) for r in found]
            time.sleep(5)

    try:
        with ThreadPoolExecutor(2) as pool:  # two months of the year before, at the same moment
            triggered = list(pool.map(lambda day: runs.trigger_dag_run(DAG_ID, models.TriggerDAGRunPostBody(
                logical_date=datetime.fromisoformat(f"{day}T00:00:00+00:00"), conf={})).dag_run_id,
                (f"{year - 1}-08-01", f"{year - 1}-09-01")))
        first = sorted(finished(triggered), key=lambda r: r.start_date)
        ids = backfill(api, year, months)
        filled = sorted(finished(ids), key=lambda r: r.start_date)
    finally:
        stack["config"].write_text(deployment)
    assert [r.logical_date for r in filled] == sorted(r.logical_date for r in filled), "month by month"
    order = first + filled
    assert {r.state for r in order} == {"success"}, [(r.dag_run_id, r.state) for r in order]
    for earlier, later in pairwise(order):
        assert later.start_date >= earlier.end_date, f"{later.dag_run_id} overlapped {earlier.dag_run_id}"

    decided = decisions(stack["values"], names["experiment_name"], names["registered_model_name"],
                        [r.dag_run_id for r in order])
    assert len({d[0] for d in decided}) == months + 2 and decided[0][2] == "True", decided
    config = state.parent / "deployment.yaml"  # the same deployment config, in this process
    config.write_text(deployment + yaml.safe_dump(names))
    assert decided == replay(decided, config)


def test_workers_import_the_pipeline_once_for_all_their_tasks(stack):
    for worker in ("worker-1", "worker-2"):
        log = (stack["folder"] / "state" / "logs" / f"{worker}.log").read_text(errors="replace")
        assert "preloaded the pipeline's modules" in log, log[-2000:]


def _service_pids(stack) -> list[int]:
    """Every process of the services (their process groups) and PostgreSQL's."""
    groups = {int(p.read_text()) for p in (stack["folder"] / "state" / "run").glob("*.pid")}
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            pgid = int(stat.rsplit(")", 1)[1].split()[2])
            if pgid in groups or (b"postgres" in cmdline and str(stack["env"]["PG_DIR"]).encode() in cmdline):
                pids.append(int(entry.name))
    return pids


def test_every_listener_is_on_loopback(stack):
    inodes = {}
    for pid in _service_pids(stack):
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes[target[8:-1]] = pid
        except OSError:
            continue
    listening = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # LISTEN
                address, port = fields[1].split(":")
                listening.append((address, int(port, 16), inodes[fields[9]]))
    expected = {int(stack["env"][k]) for k in ("PG_PORT", "MLFLOW_PORT", "AIRFLOW_PORT", "SCHEDULER_HEALTH_PORT",
                                               "REDIS_PORT")}
    assert expected <= {port for _, port, _ in listening}, listening  # the sockets were found: the check is real
    exposed = [(a, port, Path(f"/proc/{pid}/cmdline").read_bytes()[:80]) for a, port, pid in listening
               if a not in LOOPBACK]
    assert exposed == [], f"listening beyond loopback: {exposed}"


def test_no_secret_on_a_command_line_and_no_telemetry(stack):
    secrets = dict(line.split("=", 1) for line in
                   (stack["folder"] / "state" / "secrets.env").read_text().splitlines() if "=" in line)
    assert len(secrets) >= 8
    pids = _service_pids(stack)
    for pid in pids:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        for name, value in secrets.items():
            assert value not in cmdline, f"{name} on the command line of {cmdline[:80]!r}"
    scheduler = int((stack["folder"] / "state" / "run" / "scheduler.pid").read_text())
    environ = dict(item.split("=", 1) for item in
                   Path(f"/proc/{scheduler}/environ").read_bytes().decode().split("\0") if "=" in item)
    assert environ["MLFLOW_DISABLE_TELEMETRY"] == "true" and environ["MLFLOW_TRACKING_USERNAME"] == "pipeline"
    assert not [k for k in environ if re.match(r"PYTEST|_PYTEST", k)], "pytest's environment leaked"
    assert "MLFLOW_AUTH_ADMIN_PASSWORD" not in environ and "MLFLOW_BACKEND_STORE_URI" not in environ


@pytest.mark.browser
def test_airflow_ui_shows_the_successful_dag_runs(stack, token):
    from playwright.sync_api import sync_playwright

    from tests.browser import FLAGS, ensure_chromium, screenshot_path

    executable = ensure_chromium()
    base = stack["airflow"]
    status, runs = http("GET", f"{base}/api/v2/dags/{DAG_ID}/dagRuns?state=success", token=token)
    assert status == 200 and runs["total_entries"] >= 1, "run the DAG tests of this module first"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=FLAGS, headless=True)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.goto(f"{base}/dags/{DAG_ID}/runs", wait_until="domcontentloaded", timeout=120_000)
        page.get_by_label("Username").fill("admin")  # the simple auth manager's sign-in page
        page.get_by_label("Password").fill(stack["password"])
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"**/dags/{DAG_ID}/runs**", timeout=60_000)
        manual = [r["dag_run_id"] for r in runs["dag_runs"] if r["dag_run_id"].startswith("manual__")]
        page.wait_for_function("ids => ids.every(i => document.body.innerText.includes(i)) && "
                               "document.body.innerText.includes('Success')", arg=manual, timeout=180_000)
        page.wait_for_timeout(1500)
        text = page.inner_text("body")
        path = screenshot_path("airflow-dag-runs.png")
        page.screenshot(path=str(path))
        page.goto(f"{base}/dags/{DAG_ID}", wait_until="domcontentloaded", timeout=120_000)
        page.wait_for_function("() => document.body.innerText.includes('summarize') && "
                               "document.body.innerText.includes('Latest Run')", timeout=120_000)
        page.wait_for_timeout(1500)
        page.screenshot(path=str(screenshot_path("airflow-dag.png")))
        browser.close()
    assert DAG_ID in text and "Success" in text and len(manual) >= 2
    assert path.stat().st_size > 10_000


def _environ(pid: int) -> dict[str, str]:
    return dict(item.split("=", 1) for item in Path(f"/proc/{pid}/environ").read_bytes().decode().split("\0")
                if "=" in item)


def _part(stack, name: str) -> int:
    """The restart loop of a part: the environment its process starts with (Celery and Airflow rewrite their process
    titles over the memory that /proc/<pid>/environ reads)."""
    return int((stack["folder"] / "state" / "run" / f"{name}.pid").read_text())


@pytest.mark.security
def test_each_part_gets_only_the_secrets_it_needs(stack):
    worker, scheduler, mlflow = (_environ(_part(stack, name)) for name in ("worker-1", "scheduler", "mlflow"))
    assert worker["MLFLOW_TRACKING_PASSWORD"] and worker["PIPELINE_MODEL_SIGNING_KEY"], "tasks sign and log models"
    assert worker["PIPELINE_FORECAST_DB_URL"].startswith("postgresql"), "tasks publish the forecasts"
    assert "PIPELINE_FORECAST_DB_URL" not in scheduler and "PIPELINE_FORECAST_DB_URL" not in mlflow
    for name in ("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__CORE__FERNET_KEY", "AIRFLOW_ADMIN_PASSWORD",
                 "AIRFLOW_VIEWER_PASSWORD", "MLFLOW_AUTH_ADMIN_PASSWORD", "MLFLOW_BACKEND_STORE_URI",
                 "PIPELINE_SERVE_TOKEN", "MLFLOW_SCORER_PASSWORD"):
        assert name not in worker, f"a worker's tasks can read {name}"
    assert scheduler["AIRFLOW__API_AUTH__JWT_SECRET"] and "MLFLOW_TRACKING_PASSWORD" not in scheduler
    assert "AIRFLOW_ADMIN_PASSWORD" not in scheduler and "PIPELINE_MODEL_SIGNING_KEY" not in scheduler
    assert mlflow["MLFLOW_AUTH_ADMIN_PASSWORD"] and "AIRFLOW__CORE__FERNET_KEY" not in mlflow
    for environ in (worker, scheduler, mlflow):
        assert environ["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] == "false"


@pytest.mark.security
def test_everything_the_stack_writes_is_private(stack):
    state = stack["folder"] / "state"
    assert (state / "secrets.env").stat().st_mode & 0o077 == 0
    loose = [str(p) for p in state.rglob("*") if p.exists() and not p.is_symlink() and p.stat().st_mode & 0o077
             and p != state]
    assert loose == [], f"readable by others: {loose[:10]}"
    printed = subprocess.run(["bash", SCRIPT, "env"], env=stack["env"], capture_output=True, text=True,
                             check=True).stdout
    secrets = [line.split("=", 1)[1] for line in (state / "secrets.env").read_text().splitlines() if "=" in line]
    assert secrets and not [s for s in secrets if s in printed], "`env` printed a secret nobody asked for"


@pytest.mark.security
def test_postgres_signs_in_only_its_own_user_locally(stack):
    socket = stack["env"]["PG_DIR"] + "/sock"
    ask = ["psql", "-h", socket, "-p", stack["env"]["PG_PORT"], "-U", "postgres", "-d", "postgres", "-qtAc",
           "SELECT 1"]
    owner = subprocess.run(["runuser", "-u", "postgres", "--", *ask], capture_output=True, text=True)
    assert owner.stdout.strip() == "1", owner.stderr  # the check is real: the cluster's owner gets in
    for user in ("root", "nobody"):
        other = subprocess.run(["runuser", "-u", user, "--", *ask], capture_output=True, text=True)
        assert other.returncode != 0 and re.search(r"Peer authentication failed|Permission denied", other.stderr), \
            (user, other.stdout, other.stderr)
    hba = subprocess.run(["runuser", "-u", "postgres", "--", *ask[:-1], "SELECT type, auth_method FROM "
                          "pg_hba_file_rules"], capture_output=True, text=True).stdout
    assert "trust" not in hba and "local|peer" in hba, hba


@pytest.mark.security
def test_roles_a_viewer_reads_an_operator_triggers_only_the_admin_administers(stack, client):
    import airflow_client.client as airflow_client
    from airflow_client.client.api.connection_api import ConnectionApi
    from airflow_client.client.api.dag_api import DAGApi
    from airflow_client.client.api.dag_run_api import DagRunApi
    from airflow_client.client.exceptions import ForbiddenException

    models, _ = client
    wait_for_dag(client)

    def api(name: str):
        password = account(stack["env"], name)["AIRFLOW_PASSWORD"]
        status, body = http("POST", f"{stack['airflow']}/auth/token", {"username": name, "password": password})
        assert status == 201, body
        return airflow_client.ApiClient(airflow_client.Configuration(host=stack["airflow"],
                                                                     access_token=body["access_token"]))

    viewer, operator = api("viewer"), api("operator")
    assert DAGApi(viewer).get_dag(DAG_ID).dag_id == DAG_ID  # the ops team and analysts read
    with pytest.raises(ForbiddenException):
        DagRunApi(viewer).trigger_dag_run(DAG_ID, models.TriggerDAGRunPostBody(logical_date=None, conf={}))
    with pytest.raises(ForbiddenException):
        DAGApi(viewer).patch_dag(DAG_ID, models.DAGPatchBody(is_paused=True))
    with pytest.raises(ForbiddenException):
        ConnectionApi(operator).get_connections()  # credentials are the admin's
    assert ConnectionApi(client[1]).get_connections() is not None
    assert DAGApi(operator).patch_dag(DAG_ID, models.DAGPatchBody(is_paused=False)).is_paused is False
    assert http("POST", f"{stack['airflow']}/auth/token", {"username": "admin", "password": "admin"})[0] == 401


@pytest.mark.security
def test_only_the_pipeline_writes_its_experiments_and_models(stack):
    names = (NAME, f"{NAME}_tuned")
    scorer = ("scorer", account(stack["env"], "scorer")["MLFLOW_TRACKING_PASSWORD"])
    for name in names:
        status, body = http("GET", f"{stack['mlflow']}/api/2.0/mlflow/registered-models/get?name={name}",
                            basic=scorer)
        assert status == 200, body  # it exists (made by the deployment's init) and everyone signed in reads it
        status, _ = http("POST", f"{stack['mlflow']}/api/2.0/mlflow/registered-models/set-tag",
                         {"name": name, "key": "k", "value": "v"}, basic=scorer)
        assert status == 403, f"another account may write {name}"
        status, _ = http("POST", f"{stack['mlflow']}/api/2.0/mlflow/registered-models/alias",
                         {"name": name, "alias": "tuned", "version": "1"}, basic=scorer)
        assert status == 403
    status, _ = http("POST", f"{stack['mlflow']}/api/2.0/mlflow/registered-models/set-tag",
                     {"name": NAME, "key": "k", "value": "v"}, basic=stack["pipeline"])
    assert status == 200, "the pipeline's account writes its own model"


def test_the_heavy_tasks_pool_has_a_slot_per_worker(stack, client):
    """Both workers' slots, and no more, in the pool of the heavy tasks and Airflow's limits (docs/deployment.md)."""
    from airflow_client.client.api.pool_api import PoolApi

    pool = PoolApi(client[1]).get_pool("pipeline_heavy")
    assert pool.slots == 2 and "fits" in pool.description
    scheduler, worker = _environ(_part(stack, "scheduler")), _environ(_part(stack, "worker-1"))
    assert scheduler["AIRFLOW__CORE__PARALLELISM"] == scheduler["AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG"] == "2"
    assert worker["AIRFLOW__CELERY__WORKER_CONCURRENCY"] == "1" and worker["PIPELINE_HEAVY_POOL"] == "pipeline_heavy"
