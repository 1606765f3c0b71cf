"""Where a monthly AirPassengers DAG run spends its time: two real runs (``airflow dags test``) in fresh folders, the
first on an empty MLflow store, the second on the store the first left (its champion re-scored), each with its
wall time and every task's seconds from Airflow's database.

    .venv/bin/python benchmarks/monthly_run.py [--date 1961-01-01] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from dag_runs import dag_env, run_dag


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--date", default="1961-01-01")
    parser.add_argument("--threads", default="1", help="PIPELINE_TORCH_THREADS")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = dag_env(Path(tmp), threads=args.threads)
        first = run_dag(env, args.date)
        second = run_dag(env, args.date)
    tasks = list(dict.fromkeys(task for task, _, _ in first[1]))

    def seconds(rows: list[tuple[str, int, float]], task: str) -> str:
        values = [s for t, _, s in rows if t == task]
        return f"{sum(values):.1f}" + (f" ({len(values)} tasks)" if len(values) > 1 else "")

    trainers = os.environ.get("PIPELINE_TRAIN_THREADS") or f"{len(os.sched_getaffinity(0))} (all CPUs)"
    print(f"AirPassengers monthly DAG run ({args.date}, {trainers} training thread(s) of {args.threads} torch "
          "thread(s) each, `airflow dags test`)\n")
    print("| task | empty store, s | existing store, s |")
    print("|---|---|---|")
    for task in tasks:
        print(f"| {task} | {seconds(first[1], task)} | {seconds(second[1], task)} |")
    print(f"| sum of tasks | {sum(s for *_, s in first[1]):.1f} | {sum(s for *_, s in second[1]):.1f} |")
    print(f"| **wall time of the run** | **{first[0]:.1f}** | **{second[0]:.1f}** |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
