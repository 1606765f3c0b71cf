"""A large panel through the monthly DAG on the Celery stack: ``scripts/services.sh`` (PostgreSQL, Redis, an MLflow
server, Airflow's api-server, scheduler, dag-processor, triggerer and Celery workers, one task a worker), a panel
resampled from the real series in ``data/`` (as ``benchmarks/scale.py`` makes it) written as a folder of Parquet
partitions, and the smallest network (one epoch, one window a series, one network, one fold) without the candidates
built on statsforecast's models (``statsforecast_candidates`` off: the setting for a panel this size).

The scheduler starts the latest month's run as soon as the stack is up; the benchmark waits for it with Airflow's
REST client and prints each task's instances, wall time (first start to last end) and seconds in all, the run's
wall time, what MLflow recorded and how many rows were published.

    .venv/bin/python benchmarks/celery_run.py --series 100000 --workers 2 --shard-size 5000
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.scale import TINY_MODEL, make_panel  # noqa: E402

logger = logging.getLogger("celery_run")
SCRIPT = str(ROOT / "scripts" / "services.sh")
DAG_ID = "lstm_monthly_retraining"
EXPERIMENT = "scale-celery"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_panel(n: int, folder: Path, partitions: int) -> int:
    """``n`` series as ``partitions`` Parquet files (whole series each, in series order); the rows written."""
    frame = make_panel(n)
    folder.mkdir(parents=True)
    bounds = np.linspace(0, n, partitions + 1).astype(int)
    codes = frame["series"].str[1:].astype(int).to_numpy()
    for k in range(partitions):
        rows = (codes >= bounds[k]) & (codes < bounds[k + 1])
        frame[rows].to_parquet(folder / f"part-{k:04d}.parquet", index=False)
    return len(frame)


def services(env: dict[str, str], *command: str) -> str:
    done = subprocess.run(["bash", SCRIPT, *command], env=env, capture_output=True, text=True, timeout=1800)
    if done.returncode:
        raise SystemExit(f"services.sh {' '.join(command)} failed:\n{done.stderr[-4000:]}")
    return done.stdout


def token(base: str, password: str) -> str:
    request = urllib.request.Request(f"{base}/auth/token", method="POST",
                                     data=json.dumps({"username": "admin", "password": password}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return str(json.loads(response.read())["access_token"])


def wait_for_run(base: str, password: str, timeout: float) -> tuple[object, list]:
    """The scheduled run, once finished, and its task instances (Airflow's REST client)."""
    import airflow_client.client as airflow_client
    from airflow_client.client.api.dag_run_api import DagRunApi
    from airflow_client.client.api.task_instance_api import TaskInstanceApi

    deadline = time.monotonic() + timeout
    while True:
        # a fresh token each poll: the run outlasts one
        configuration = airflow_client.Configuration(host=base, access_token=token(base, password))
        with airflow_client.ApiClient(configuration) as api:
            try:
                runs = DagRunApi(api).get_dag_runs(DAG_ID, run_type=["scheduled"]).dag_runs
            except airflow_client.ApiException:
                runs = []  # the dag-processor has not parsed the file yet
            if runs and runs[0].state in ("success", "failed"):
                tasks = TaskInstanceApi(api).get_task_instances(DAG_ID, runs[0].dag_run_id, limit=2000)
                return runs[0], tasks.task_instances
            if runs:
                done = TaskInstanceApi(api).get_task_instances(DAG_ID, runs[0].dag_run_id, limit=2000,
                                                               state=["success"]).total_entries
                logger.info("run %s: %s, %d task instances done", runs[0].dag_run_id, runs[0].state, done)
        if time.monotonic() > deadline:
            raise SystemExit(f"the scheduled run did not finish within {timeout:.0f} s")
        time.sleep(30)


def mlflow_metrics(values: dict[str, str], run_id: str) -> dict[str, float]:
    """The monthly MLflow run's metrics (the pipeline's account)."""
    auth = "Basic " + base64.b64encode(
        f"{values['MLFLOW_TRACKING_USERNAME']}:{values['MLFLOW_TRACKING_PASSWORD']}".encode()).decode()

    def call(path: str, body: dict | None = None) -> dict:
        url = f"{values['MLFLOW_TRACKING_URI']}/api/2.0/mlflow/{path}"
        request = urllib.request.Request(url, method="POST" if body else "GET",
                                         data=json.dumps(body).encode() if body else None,
                                         headers={"Authorization": auth, "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            return dict(json.loads(response.read()))

    experiment = call(f"experiments/get-by-name?experiment_name={EXPERIMENT}")["experiment"]["experiment_id"]
    found = call("runs/search", {"experiment_ids": [experiment],
                                 "filter": f"tags.`airflow.run_id` = '{run_id}'"})["runs"]
    return {m["key"]: m["value"] for m in found[0]["data"]["metrics"]} if found else {}


def table(run: object, tasks: list) -> list[str]:
    """Each task's instances, wall seconds (first start to last end) and seconds in all, in the order they ran."""
    frame = pd.DataFrame([{"task": ti.task_id, "start": ti.start_date, "end": ti.end_date,
                           "seconds": ti.duration or 0.0, "state": getattr(ti.state, "value", ti.state)}
                          for ti in tasks])
    frame = frame.sort_values("start")
    lines = ["| task | instances | wall s | seconds in all | longest s | states |", "|---|---|---|---|---|---|"]
    for task, group in frame.groupby("task", sort=False):
        wall = (group["end"].max() - group["start"].min()).total_seconds()
        states = ", ".join(f"{n} {s}" for s, n in group["state"].value_counts().items())
        lines.append(f"| {task} | {len(group)} | {wall:.1f} | {group['seconds'].sum():.1f} | "
                     f"{group['seconds'].max():.1f} | {states} |")
    seconds = (pd.Timestamp(run.end_date) - pd.Timestamp(run.start_date)).total_seconds()  # type: ignore[attr-defined]
    state = getattr(run.state, "value", run.state)  # type: ignore[attr-defined]
    lines.append(f"| **the run** | {len(frame)} | **{seconds:.1f}** | {frame['seconds'].sum():.1f} | | {state} |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--series", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2, help="Celery workers (one task slot each)")
    parser.add_argument("--shard-size", type=int, default=5000)
    parser.add_argument("--partitions", type=int, default=10, help="Parquet files of the panel")
    parser.add_argument("--timeout", type=float, default=4 * 3600, help="seconds to wait for the run")
    parser.add_argument("--folder", help="where the panel and the stack's state go (default: a new temporary "
                                         "folder, removed at the end)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    folder = Path(args.folder or tempfile.mkdtemp(prefix="celery-run-", dir="/var/tmp"))
    pg_dir = Path(tempfile.mkdtemp(prefix="lstm-pg-", dir="/var/tmp"))  # reachable by the postgres user
    pg_dir.chmod(0o755)
    started = time.perf_counter()
    rows = write_panel(args.series, folder / "panel", args.partitions)
    logger.info("%d series, %d rows in %d Parquet files (%.1f s)", args.series, rows, args.partitions,
                time.perf_counter() - started)
    config = folder / "pipeline.yaml"
    config.write_text(yaml.safe_dump({
        **TINY_MODEL, "csv_path": str(folder / "panel"), "data_dir": str(folder), "series_column": "series",
        "date_column": "month", "target_column": "value", "max_file_mb": 2048, "shard_size": args.shard_size,
        "statsforecast_candidates": False, "experiment_name": EXPERIMENT, "registered_model_name": "scale_celery"}))
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "USER")}
    env = {**keep, "SERVICES_DIR": str(folder / "state"), "PG_DIR": str(pg_dir), "PG_PORT": str(free_port()),
           "MLFLOW_PORT": str(free_port()), "AIRFLOW_PORT": str(free_port()), "REDIS_PORT": str(free_port()),
           "SCHEDULER_HEALTH_PORT": str(free_port()), "PIPELINE_CONFIG": str(config),
           "EXECUTOR": "CeleryExecutor", "CELERY_WORKERS": str(args.workers)}
    try:
        services(env, "up")
        values = dict(line.removeprefix("export ").split("=", 1)
                      for line in services(env, "env", "pipeline").splitlines())
        admin = dict(line.removeprefix("export ").split("=", 1) for line in services(env, "env", "admin").splitlines())
        logger.info("stack up; waiting for the scheduled run")
        run, tasks = wait_for_run(values["AIRFLOW__API__BASE_URL"], admin["AIRFLOW_PASSWORD"], args.timeout)
        metrics = mlflow_metrics(values, run.dag_run_id)  # type: ignore[attr-defined]
        published = folder / "state" / "pipeline-state" / "forecasts" / EXPERIMENT / "latest.csv"
        print(f"{args.series:,} series, {rows:,} rows, {args.partitions} Parquet files; {args.workers} Celery workers "
              f"of one slot; shards of {args.shard_size}\n")
        print("\n".join(table(run, tasks)))
        shown = {k: v for k, v in sorted(metrics.items())
                 if k in ("backtest_mase", "backtest_published_mase", "holdout_mase") or k.startswith("series_")}
        print(f"\nMLflow: {len(metrics)} metrics on the month's run; "
              + ", ".join(f"{k} {v:g}" for k, v in shown.items()))
        if published.exists():
            print(f"published: {sum(1 for _ in published.open()) - 1:,} rows ({published})")
        return 0 if run.state == "success" else 1  # type: ignore[attr-defined]
    finally:
        services(env, "down")
        shutil.rmtree(pg_dir, ignore_errors=True)
        if not args.folder:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
