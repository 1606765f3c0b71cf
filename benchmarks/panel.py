"""The panel benchmark: US employment (148 series), the whole monthly DAG run and its 3 origins x 12 months backtest.

1. One real DAG run (``airflow dags test``, in a fresh Airflow home and state folder) with the operator config
   ``configs/us_employment.yaml`` (statistical baselines off, as in production): wall time, CPU seconds (all
   processes) and peak memory, per series too. ``airflow dags test`` runs the mapped tasks one after the other in
   one process, so torch gets both cores (``PIPELINE_TORCH_THREADS=2``); under a real executor the shards run in
   parallel instead.
2. The backtest of that run, per model over all series-folds: mean and median MASE, mean MAPE, and the share of
   series-folds where the LSTM beats each baseline; with ``--stats`` also statsforecast's AutoARIMA, AutoETS and
   AutoTheta, fitted on the whole panel at once on the same folds (about 30 minutes on 2 cores).

    .venv/bin/python benchmarks/panel.py [--stats] [--date 2019-10-01]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.config import load_config  # noqa: E402
from pipeline.data.panel import Panel  # noqa: E402
from pipeline.scoring import backtest as bt  # noqa: E402

CONFIG = ROOT / "configs" / "us_employment.yaml"


def run_dag(state: Path, date: str) -> dict:
    """One DAG run in fresh folders; wall and CPU seconds and peak memory of every process it started."""
    env = {**os.environ, "AIRFLOW_HOME": str(state / "airflow"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"), "PIPELINE_HOME": str(ROOT),
           "PIPELINE_STATE_DIR": str(state / "state"), "PIPELINE_CONFIG": str(CONFIG),
           "PIPELINE_TORCH_THREADS": os.environ.get("PIPELINE_TORCH_THREADS", "2"), "MLFLOW_DISABLE_TELEMETRY": "true"}
    env.pop("MLFLOW_TRACKING_URI", None)
    airflow = str(Path(sys.executable).with_name("airflow"))
    subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([airflow, "dags", "test", "lstm_monthly_retraining", date], env=env, capture_output=True,
                          text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode:
        raise SystemExit(done.stdout[-3000:] + done.stderr[-3000:])
    (work,) = (state / "state" / "runs").iterdir()
    return {"wall": wall, "cpu": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
            "peak_mib": after.ru_maxrss / 1024, "work": work}


def fold_results(work: Path) -> list[dict]:
    """Every shard's fold results of the run (per-series scores and forecasts)."""
    return [fold for path in sorted((work / "fits").glob("*.json")) for fold in json.loads(path.read_text())["folds"]]


def with_stats(results: list[dict], panel: Panel) -> list[dict]:
    """The fold results with statsforecast's models fitted on the whole panel at once and scored alike."""
    cfg = load_config(CONFIG)
    out = []
    for fold in sorted({r["fold"] for r in results}):
        parts = [r for r in results if r["fold"] == fold]
        ids = [s for r in parts for s in r["series"]]
        origin = bt.origins(panel.last_month, cfg.folds, cfg.horizon)[fold]
        train, actual = bt.fold_split(panel.subset([panel.position(s) for s in ids]), origin, cfg.horizon)
        started = time.perf_counter()
        forecasts, bounds = bt.stats_forecasts(train, cfg.horizon, cfg.season_length, cfg.levels)
        print(f"fold {fold}: statsforecast {time.perf_counter() - started:.0f}s", file=sys.stderr)
        stats = bt.fold_result(fold, origin, train, actual, forecasts, cfg.season_length, bounds)
        merged = {**stats, "scores": {m: {k: [v for r in parts for v in r["scores"][m][k]] for k in bt.METRICS}
                                      for m in parts[0]["scores"]} | stats["scores"],
                  "forecasts": {m: [row for r in parts for row in r["forecasts"][m]] for m in parts[0]["forecasts"]}
                  | stats["forecasts"]}
        out.append(merged)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stats", action="store_true", help="also statsforecast's models (about 30 min)")
    parser.add_argument("--date", default="2019-10-01", help="the DAG run's date (default: the data's last month)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run = run_dag(Path(tmp), args.date)
        panel = Panel.load(run["work"] / "panel.npz")
        report = json.loads((run["work"] / "validation_report.json").read_text())
        results = fold_results(run["work"])
        if args.stats:
            results = with_stats(results, panel)
        summary = bt.summarize(results, load_config(CONFIG).levels)
    n = report["series"]["in"]
    print(f"US employment: {n} series in, {report['series']['quarantined']} quarantined, {len(panel)} modelled; "
          f"{summary['folds']} origins x 12 months; {len(summary['fallback'])} series fall back to seasonal naive")
    print()
    print("| model | mean MASE | median MASE | mean MAPE % | LSTM better on (series-folds) | 80 % coverage | "
          "95 % coverage | 95 % width (scaled) | MSIS |")
    print("|---|---|---|---|---|---|---|---|---|")
    for model, scores in sorted(summary["mean"].items(), key=lambda item: item[1]["mase"]):
        share = summary.get(f"share_beats_{model.lower()}")
        bands = (f"{scores['coverage_80']:.1%} | {scores['coverage_95']:.1%} | {scores['width_95']:.2f} | "
                 f"{scores['msis_95']:.2f}" if "coverage_95" in scores else " | | | ")
        print(f"| {model} | {scores['mase']:.3f} | {summary['median_mase'][model]:.3f} | {scores['mape']:.2f} | "
              f"{'' if share is None else f'{share:.1%}'} | {bands} |")
    print()
    print("| whole monthly DAG run (stats off) | value |")
    print("|---|---|")
    print(f"| wall time | {run['wall'] / 60:.1f} min ({run['wall'] / n:.2f} s per series) |")
    print(f"| CPU time, all processes | {run['cpu'] / 60:.1f} min ({run['cpu'] / n:.2f} s per series) |")
    print(f"| peak memory (largest process) | {run['peak_mib']:.0f} MiB |")
    lstm = np.array([v for r in results for v in r["scores"]["lstm"]["mase"]])
    print(f"\nseries-folds: {len(lstm)}; LSTM MASE quartiles {np.percentile(lstm, [25, 50, 75]).round(3).tolist()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
