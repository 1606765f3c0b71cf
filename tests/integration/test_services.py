"""The production topology as real processes (scripts/services.sh): PostgreSQL, an MLflow server on it, Airflow's
api-server, scheduler (LocalExecutor), dag-processor and triggerer. The DAG is triggered through Airflow's REST
API, as from the UI, and its results are checked through MLflow's REST API."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, TINY
from tests.pipeline.test_faults import free_port

pytestmark = [pytest.mark.slow, pytest.mark.services]
DAG_ID = "lstm_monthly_retraining"
NAME = "air_passengers_lstm"
SCRIPT = str(ROOT / "scripts" / "services.sh")


def http(method: str, url: str, body: dict | None = None, token: str | None = None) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, {"error": exc.read().decode(errors="replace")[:2000]}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    folder = tmp_path_factory.mktemp("services")
    config = folder / "deployment.yaml"  # a deployment-wide config: small settings for every run, scheduled too
    config.write_text(yaml.safe_dump({k: v for k, v in TINY.items() if k != "allow_any_csv_path"}))
    pg_dir = Path(tempfile.mkdtemp(prefix="lstm-pg-", dir="/var/tmp"))  # reachable by the postgres user
    pg_dir.chmod(0o755)
    env = {**os.environ, "SERVICES_DIR": str(folder / "state"), "PG_DIR": str(pg_dir), "PG_PORT": str(free_port()),
           "MLFLOW_PORT": str(free_port()), "AIRFLOW_PORT": str(free_port()),
           "SCHEDULER_HEALTH_PORT": str(free_port()), "PIPELINE_CONFIG": str(config)}
    env.pop("MLFLOW_TRACKING_URI", None)
    started = time.monotonic()
    up = subprocess.run(["bash", SCRIPT, "up"], env=env, capture_output=True, text=True, timeout=1200)
    seconds = time.monotonic() - started
    try:
        assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-5000:]
        settings = subprocess.run(["bash", SCRIPT, "env"], env=env, capture_output=True, text=True, check=True)
        values = dict(line.removeprefix("export ").split("=", 1) for line in settings.stdout.splitlines())
        print(f"\nstack up in {seconds:.1f}s")
        yield {"airflow": values["AIRFLOW__API__BASE_URL"], "mlflow": values["MLFLOW_TRACKING_URI"],
               "password": values["AIRFLOW_ADMIN_PASSWORD"], "env": env, "folder": folder}
    finally:
        subprocess.run(["bash", SCRIPT, "down"], env=env, capture_output=True, text=True, timeout=300)
        shutil.rmtree(pg_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def token(stack) -> str:
    status, body = http("POST", f"{stack['airflow']}/auth/token", {"username": "admin", "password": stack["password"]})
    assert status == 201, body
    return body["access_token"]


def trigger_and_wait(stack, token: str, logical_date: str, timeout: float = 900) -> dict:
    base = f"{stack['airflow']}/api/v2/dags/{DAG_ID}"
    deadline = time.monotonic() + timeout
    while http("GET", base, token=token)[0] != 200:  # the dag-processor has not parsed the file yet
        assert time.monotonic() < deadline, "DAG never appeared in the API"
        time.sleep(2)
    status, run = http("POST", f"{base}/dagRuns", {"logical_date": logical_date, "conf": {}}, token)
    assert status == 200, run
    started = time.monotonic()
    while True:
        status, run = http("GET", f"{base}/dagRuns/{urllib.parse.quote(run['dag_run_id'])}", token=token)
        if run["state"] in ("success", "failed"):
            break
        assert time.monotonic() < deadline, f"run still {run['state']} after {timeout}s"
        time.sleep(3)
    run["wall_seconds"] = time.monotonic() - started
    print(f"\nrun {run['dag_run_id']} ({logical_date}): {run['state']} in {run['wall_seconds']:.1f}s")
    assert run["state"] == "success", run
    return run


def mlflow_run_of(stack, dag_run_id: str) -> dict:
    _, experiment = http("GET", f"{stack['mlflow']}/api/2.0/mlflow/experiments/get-by-name?experiment_name="
                                "lstm-monthly-retraining")
    query = {"experiment_ids": [experiment["experiment"]["experiment_id"]],
             "filter": f"tags.`airflow.run_id` = '{dag_run_id}'"}
    _, found = http("POST", f"{stack['mlflow']}/api/2.0/mlflow/runs/search", query)
    (run,) = found["runs"]
    return run


def test_triggered_runs_train_register_and_decide(stack, token):
    first = trigger_and_wait(stack, token, "1961-01-01T00:00:00Z")
    run = mlflow_run_of(stack, first["dag_run_id"])
    metrics = {m["key"] for m in run["data"]["metrics"]}
    assert {"holdout_mape", "backtest_mape", "backtest_seasonal_naive_mape", "train_loss"} <= metrics
    tags = {t["key"]: t["value"] for t in run["data"]["tags"]}
    assert tags["data_month"] == "1960-12" and tags["airflow.dag_id"] == DAG_ID
    status, alias = http("GET", f"{stack['mlflow']}/api/2.0/mlflow/registered-models/alias?name={NAME}&alias=champion")
    assert status == 200 and alias["model_version"]["version"]

    second = trigger_and_wait(stack, token, "1960-12-01T00:00:00Z")
    run = mlflow_run_of(stack, second["dag_run_id"])
    run_id = run["info"]["run_id"]
    _, versions = http("GET", f"{stack['mlflow']}/api/2.0/mlflow/model-versions/search?filter="
                              + urllib.parse.quote(f"run_id='{run_id}'"))
    (version,) = versions["model_versions"]
    tags = {t["key"]: t["value"] for t in version.get("tags", [])}
    assert {"decision.promoted", "decision.reason", "decision.champion_version",
            "decision.candidate_backtest_mape"} <= set(tags)
    assert tags["decision.champion_version"] != "None", "a champion existed: the decision compared against it"
    # artifacts are served by the MLflow server: they live in its artifact store, not in the workers' folders
    assert any((stack["folder"] / "state" / "mlartifacts").rglob("decision.json"))


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
