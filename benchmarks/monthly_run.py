"""Where a monthly AirPassengers DAG run spends its time: two real runs (``airflow dags test``) in fresh folders, the
first on an empty MLflow store, the second on the store the first left (its champion re-scored), each with its
wall time and every task's seconds from Airflow's database.

    .venv/bin/python benchmarks/monthly_run.py [--date 1961-01-01] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(env: dict[str, str], date: str) -> tuple[float, list[tuple[str, int, float]]]:
    """One DAG run: wall seconds, and (task, map index, seconds) of its task instances."""
    airflow = str(Path(sys.executable).with_name("airflow"))
    started = time.perf_counter()
    done = subprocess.run([airflow, "dags", "test", "lstm_monthly_retraining", date], env=env, capture_output=True,
                          text=True)
    wall = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(done.stdout[-3000:] + done.stderr[-3000:])
    with sqlite3.connect(Path(env["AIRFLOW_HOME"]) / "airflow.db") as db:
        rows = db.execute("SELECT task_id, map_index, duration FROM task_instance WHERE run_id = "
                          "(SELECT run_id FROM dag_run ORDER BY id DESC LIMIT 1) ORDER BY start_date").fetchall()
    return wall, [(task, int(index), float(seconds or 0.0)) for task, index, seconds in rows]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--date", default="1961-01-01")
    parser.add_argument("--threads", default="1", help="PIPELINE_TORCH_THREADS")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "AIRFLOW_HOME": f"{tmp}/airflow", "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
               "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"), "PIPELINE_HOME": str(ROOT),
               "PIPELINE_STATE_DIR": f"{tmp}/state", "PIPELINE_TORCH_THREADS": args.threads,
               "MLFLOW_DISABLE_TELEMETRY": "true", "PIPELINE_CONFIG": ""}
        env.pop("MLFLOW_TRACKING_URI", None)
        subprocess.run([str(Path(sys.executable).with_name("airflow")), "db", "migrate"], env=env, check=True,
                       capture_output=True)
        first = run(env, args.date)
        second = run(env, args.date)
    tasks = list(dict.fromkeys(task for task, _, _ in first[1]))

    def seconds(rows: list[tuple[str, int, float]], task: str) -> str:
        values = [s for t, _, s in rows if t == task]
        return f"{sum(values):.1f}" + (f" ({len(values)} tasks)" if len(values) > 1 else "")

    print(f"AirPassengers monthly DAG run ({args.date}, {args.threads} torch thread(s), `airflow dags test`)\n")
    print("| task | empty store, s | existing store, s |")
    print("|---|---|---|")
    for task in tasks:
        print(f"| {task} | {seconds(first[1], task)} | {seconds(second[1], task)} |")
    print(f"| sum of tasks | {sum(s for *_, s in first[1]):.1f} | {sum(s for *_, s in second[1]):.1f} |")
    print(f"| **wall time of the run** | **{first[0]:.1f}** | **{second[0]:.1f}** |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
