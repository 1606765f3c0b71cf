"""The panel benchmark: US employment (148 series), the whole monthly DAG run and its 3 origins x 12 months backtest.

1. One real DAG run (``airflow dags test``, in a fresh Airflow home and state folder) with the operator config
   ``configs/us_employment.yaml`` (statistical baselines off, as in production): wall time, CPU seconds (all
   processes) and peak memory, per series too. ``airflow dags test`` runs the mapped tasks one after the other in
   one process; each fit trains its networks side by side on both cores (``PIPELINE_TRAIN_THREADS``, default);
   under a real executor the shards run in parallel too.
2. The backtest of that run, per model over all series-folds: mean and median MASE, mean MAPE, and the share of
   series-folds where the LSTM beats each baseline; with ``--stats`` also statsforecast's AutoARIMA, AutoETS and
   AutoTheta, fitted on the whole panel at once on the same folds (about 30 minutes on 2 cores).

    .venv/bin/python benchmarks/panel.py [--stats] [--date 2019-10-01]
    .venv/bin/python benchmarks/panel.py --warm 2    # the month after a cold one, warm-started (warm_epochs 2)
    .venv/bin/python benchmarks/panel.py --time-model     # per-task seconds and the time model (README)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dag_runs import dag_env  # noqa: E402  (benchmarks/dag_runs.py, beside this script)
from dag_runs import run_dag as dag_run  # noqa: E402

from pipeline.config import load_config  # noqa: E402
from pipeline.data.panel import Panel  # noqa: E402
from pipeline.scoring import backtest as bt  # noqa: E402

CONFIG = ROOT / "configs" / "us_employment.yaml"


def run_dag(state: Path, date: str, first: int | None = None, warm_epochs: int | None = None,
            precision: str | None = None) -> dict:
    """One DAG run in fresh folders (on the first ``first`` series only, when given); wall and CPU seconds and peak
    memory of every process it started. With ``warm_epochs``, a warm-started run: the month before runs first
    (untimed, cold: the chain's start), then the measured month fine-tunes its fits."""
    config = CONFIG
    base = yaml.safe_load(CONFIG.read_text())
    values = dict(base)
    if first:
        frame = pd.read_csv(ROOT / "data" / "us_employment.csv")
        frame[frame["series_id"].isin(frame["series_id"].unique()[:first])].to_csv(state / "few.csv", index=False)
        values |= {"csv_path": str(state / "few.csv"), "allow_any_csv_path": True}
    if warm_epochs is not None:
        values |= {"warm_start": True, "warm_epochs": warm_epochs}
    if precision:
        values |= {"precision": precision}
    if values != base:
        config = state / "benchmark.yaml"
        config.write_text(yaml.safe_dump(values))
    env = dag_env(state, config, os.environ.get("PIPELINE_TORCH_THREADS", "1"))
    if warm_epochs is not None:
        dag_run(env, (pd.Timestamp(date) - pd.offsets.MonthBegin(1)).strftime("%Y-%m-%d"))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall, tasks = dag_run(env, date)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    work = max((state / "state" / "runs").iterdir(), key=lambda folder: folder.stat().st_mtime)
    return {"wall": wall, "cpu": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
            "peak_mib": after.ru_maxrss / 1024, "work": work, "tasks": tasks}


def time_model(small: dict, full: dict, folds: int) -> str:
    """Where the monthly run's time goes, and what N series would need. Each task's seconds are fitted as
    ``fixed + per_series * series`` through two runs (a few series, the whole panel); the mapped fits run in parallel
    over the worker slots, one shard of ``shard_size`` series and one training origin each; the other tasks run once,
    one after the other."""
    def per_task(run: dict) -> dict[str, float]:
        out: dict[str, float] = {}
        for task, _, seconds in run["tasks"]:
            out[task] = out.get(task, 0.0) + seconds
        return out

    a, b = per_task(small), per_task(full)
    slope = {t: (b[t] - a[t]) / (full["series"] - small["series"]) for t in b}
    fixed = {t: max(0.0, a[t] - slope[t] * small["series"]) for t in b}
    lines = [f"| task | seconds, {small['series']} series | seconds, {full['series']} series | fixed s | "
             "s per series |", "|---|---|---|---|---|"]
    lines += [f"| {t}{' (mapped: shards x origins)' if t == 'fit' else ''} | {a[t]:.1f} | {b[t]:.1f} | "
              f"{fixed[t]:.1f} | {slope[t]:.4f} |" for t in b]
    fit_rate = slope["fit"] / folds  # seconds per series and training origin
    serial_fixed = sum(v for t, v in fixed.items() if t != "fit")
    serial_rate = sum(v for t, v in slope.items() if t != "fit")
    lines += ["", f"fit: {fit_rate:.3f} s per series and origin (1 torch thread); the tasks that run once: "
                  f"{serial_fixed:.0f} s + {serial_rate * 1000:.2f} ms per series", "",
              "| series | shard_size | fit tasks | CPU hours per month | worker slots | hours per month (fits / "
              "tasks that run once) |", "|---|---|---|---|---|---|"]
    for n, size, workers in ((1_000, 200, 2), (100_000, 500, 32), (1_000_000, 1_000, 200)):
        tasks = folds * -(-n // size)
        fit_hours = fit_rate * n * folds / 3600
        serial_hours = (serial_fixed + serial_rate * n) / 3600
        rounds = -(-tasks // workers)  # waves of fits over the slots
        fit_wall = rounds * fit_rate * size / 3600
        lines.append(f"| {n:,} | {size:,} | {tasks:,}{' (over max_map_length 1,024)' if tasks > 1024 else ''} | "
                     f"{fit_hours + serial_hours:.1f} | {workers} | {fit_wall + serial_hours:.1f} ({fit_wall:.1f} / "
                     f"{serial_hours:.1f}) |")
    return "\n".join(lines)


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
        origin = bt.origins(panel, cfg)[fold]
        train, actual = bt.fold_split(panel.subset([panel.position(s) for s in ids]), origin, cfg.horizon,
                                      cfg.season_length)
        started = time.perf_counter()
        forecasts, bounds = bt.stats_forecasts(train, cfg.horizon, cfg.season_length, cfg.levels)
        print(f"fold {fold}: statsforecast {time.perf_counter() - started:.0f}s", file=sys.stderr)
        stats = bt.fold_result(fold, origin, train, actual, forecasts, cfg, bounds)
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
    parser.add_argument("--time-model", action="store_true",
                        help="only the DAG run, on 1 core (a worker slot: 1 torch thread, 1 training thread): where "
                             "its time goes, and what 1,000 to 1,000,000 series would need")
    parser.add_argument("--warm", type=int, default=None, metavar="EPOCHS",
                        help="measure a warm-started month (warm_epochs EPOCHS) after a cold run of the month before")
    parser.add_argument("--precision", choices=("fp32", "bf16"), default=None, help="override the preset's precision")
    args = parser.parse_args()
    if args.time_model:
        os.environ["PIPELINE_TORCH_THREADS"] = os.environ["PIPELINE_TRAIN_THREADS"] = "1"
        runs = []
        for first in (15, None):  # a few series, then the whole panel
            with tempfile.TemporaryDirectory() as tmp:
                run = run_dag(Path(tmp), args.date, first)
                run["series"] = len(Panel.load(run["work"] / "panel.npz"))
            print(f"DAG run: {run['wall']:.0f} s wall, {run['cpu']:.0f} s CPU, {run['series']} series modelled")
            runs.append(run)
        print(time_model(*runs, load_config(CONFIG).folds))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        run = run_dag(Path(tmp), args.date, warm_epochs=args.warm, precision=args.precision)
        panel = Panel.load(run["work"] / "panel.npz")
        report = json.loads((run["work"] / "validation_report.json").read_text())
        results = fold_results(run["work"])
        if args.stats:
            results = with_stats(results, panel)
        summary = bt.summarize(results, load_config(CONFIG).levels)
    n = report["series"]["in"]
    print(f"US employment: {n} series in, {report['series']['quarantined']} quarantined, {len(panel)} modelled; "
          f"{summary['folds']} origins x 12 months; series served by "
          + ", ".join(f"{model} {count}" for model, count in summary["served"].items()))
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
    warm = f", warm start, warm_epochs {args.warm}" if args.warm is not None else ""
    warm += f", precision {args.precision}" if args.precision else ""
    print(f"| whole monthly DAG run (stats off{warm}) | value |")
    print("|---|---|")
    print(f"| wall time | {run['wall'] / 60:.1f} min ({run['wall'] / n:.2f} s per series) |")
    print(f"| CPU time, all processes | {run['cpu'] / 60:.1f} min ({run['cpu'] / n:.2f} s per series) |")
    print(f"| peak memory (largest process) | {run['peak_mib']:.0f} MiB |")
    lstm = np.array([v for r in results for v in r["scores"]["lstm"]["mase"]])
    print(f"\nseries-folds: {len(lstm)}; LSTM MASE quartiles {np.percentile(lstm, [25, 50, 75]).round(3).tolist()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
