"""What the benchmarks share: one real run of the monthly DAG (``airflow dags test``) in a folder of its own, and
the seconds of each of its task instances from Airflow's database."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
AIRFLOW = str(Path(sys.executable).with_name("airflow"))


def dag_env(state: Path, config: Path | str = "", threads: str = "1") -> dict[str, str]:
    """The environment of a DAG run whose Airflow home and run state live under ``state``, with the Airflow
    database migrated (once per folder)."""
    env = {**os.environ, "AIRFLOW_HOME": str(state / "airflow"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"), "PIPELINE_HOME": str(ROOT),
           "PIPELINE_STATE_DIR": str(state / "state"), "PIPELINE_CONFIG": str(config),
           "PIPELINE_TORCH_THREADS": threads, "MLFLOW_DISABLE_TELEMETRY": "true"}
    env.pop("MLFLOW_TRACKING_URI", None)
    if not (state / "airflow" / "airflow.db").exists():
        subprocess.run([AIRFLOW, "db", "migrate"], env=env, check=True, capture_output=True)
    return env


def run_dag(env: dict[str, str], date: str) -> tuple[float, list[tuple[str, int, float]]]:
    """One DAG run: its wall seconds and (task, map index, seconds) of its task instances."""
    started = time.perf_counter()
    done = subprocess.run([AIRFLOW, "dags", "test", "lstm_monthly_retraining", date], env=env, capture_output=True,
                          text=True)
    wall = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(done.stdout[-3000:] + done.stderr[-3000:])
    with sqlite3.connect(Path(env["AIRFLOW_HOME"]) / "airflow.db") as db:
        rows = db.execute("SELECT task_id, map_index, duration FROM task_instance WHERE run_id = "
                          "(SELECT run_id FROM dag_run ORDER BY id DESC LIMIT 1) ORDER BY start_date").fetchall()
    return wall, [(task, int(index), float(seconds or 0.0)) for task, index, seconds in rows]
