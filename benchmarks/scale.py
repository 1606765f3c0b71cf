"""Scale: panels of 10^3 to 10^6 series resampled from the real series in ``data/`` (each copy a random window of a
random US employment series or AirPassengers, rescaled, all ending 2019-12), and what the steps cost on them: wall
time, peak memory and the growth exponent of each.

    .venv/bin/python benchmarks/scale.py --sizes 1000,10000,100000      # validate: Parquet, CSV, a bare read
    .venv/bin/python benchmarks/scale.py --steps --sizes 1000,10000 --shard-size 1000  # every step, two runs
    .venv/bin/python benchmarks/scale.py --make 100000 --out /tmp/p.csv # only write a panel

``--steps`` runs each step of the monthly DAG as its own process, as a worker runs a task (the mapped ones,
``fit`` and ``evaluate_part``, ``--slots`` at a time), with the smallest network (one epoch, one window a series,
one fold: the other steps' cost shows) and without the candidates built on statsforecast's models (``--statsforecast``
keeps them), twice: the first month makes a champion, the second re-scores it; the table is the second month's.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
logger = logging.getLogger("scale")
LAST = pd.Period("2019-12", "M")


def sources() -> list[np.ndarray]:
    """The real monthly series the panels are drawn from."""
    employment = pd.read_csv(ROOT / "data" / "us_employment.csv")
    found = [g["employed"].dropna().to_numpy(float) for _, g in employment.groupby("series_id")]
    found.append(pd.read_csv(ROOT / "data" / "AirPassengers.csv")["#Passengers"].to_numpy(float))
    return [s for s in found if len(s) >= 36 and np.all(s > 0)]


def make_panel(n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` series: each a random window (36 to 240 months) of a random real series, times a random factor."""
    rng = np.random.default_rng(seed)
    pool = sources()
    picks = rng.integers(len(pool), size=n)
    lengths = rng.integers(36, 241, size=n)
    parts, names, months = [], [], []
    for i, (pick, length) in enumerate(zip(picks, lengths, strict=True)):
        source = pool[pick]
        length = min(int(length), len(source))
        start = int(rng.integers(0, len(source) - length + 1))
        parts.append(np.round(source[start:start + length] * rng.lognormal(0.0, 1.0), 2))
        names.append(np.full(length, i, dtype=np.int64))
        months.append(np.arange(-length + 1, 1))
    offsets = np.concatenate(months)
    month_text = pd.period_range(LAST - 239, LAST, freq="M").astype(str).to_numpy()
    return pd.DataFrame({"series": np.char.add("s", np.concatenate(names).astype(str)),
                         "month": month_text[offsets + 239], "value": np.concatenate(parts)})


def timed(command: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Seconds, peak MB (of this child) and the last line of stderr of one command."""
    wrapper = [sys.executable, "-c", "import resource, subprocess, sys, time; t = time.perf_counter(); "
               "r = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
               "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, "
               "r.returncode, sep='\\t'); sys.stderr.write(r.stderr[-2000:])", *command]
    done = subprocess.run(wrapper, env=env, capture_output=True, text=True)
    seconds, mb, code = done.stdout.strip().splitlines()[-1].split("\t")
    if code != "0":
        raise RuntimeError(f"{command} failed: {done.stderr[-1500:]}")
    return float(seconds), float(mb), done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""


def best(command: list[str], env: dict[str, str], runs: int = 2) -> tuple[float, float]:
    """The fastest of ``runs`` runs (the first pays for a cold file cache): seconds and its peak MB."""
    return min(timed(command, env)[:2] for _ in range(runs))


TASK = """
import json, sys, time
from pipeline import steps
name, args = sys.argv[1], json.loads(sys.argv[2])
started = time.perf_counter()
out = getattr(steps, name)(*args)
seconds = time.perf_counter() - started
out = out.to_json() if hasattr(out, "to_json") else [o.to_json() if hasattr(o, "to_json") else o for o in out] \
    if isinstance(out, list) else out
# this process's own peak (VmHWM): ru_maxrss would carry over the benchmark's own size through fork and exec
peak_mb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM")) / 1024
print(json.dumps({"out": out, "seconds": seconds, "peak_mb": peak_mb}))
"""
TINY_MODEL = {"epochs": 1, "ensemble_size": 1, "windows_per_series": 1, "hidden_size": 8, "folds": 1, "patience": 0,
              "baseline_gate": False}


def task(name: str, args: list, env: dict[str, str]) -> dict:
    """One step in its own process, as a worker runs a task: its result, seconds (the step alone) and peak MB."""
    done = subprocess.run([sys.executable, "-c", TASK, name, json.dumps(args)], env=env, capture_output=True,
                          text=True)
    if done.returncode:
        raise RuntimeError(f"{name} failed: {done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def mapped(name: str, ctx: dict, jobs: list, env: dict[str, str], slots: int) -> tuple[dict, list]:
    """A mapped step over ``jobs``, ``slots`` tasks at a time: wall seconds, the tasks' seconds, the largest peak;
    and every task's result."""
    from concurrent.futures import ThreadPoolExecutor

    started = time.perf_counter()
    with ThreadPoolExecutor(slots) as pool:
        done = list(pool.map(lambda job: task(name, [ctx, job], env), jobs))
    return ({"seconds": time.perf_counter() - started, "task_seconds": sum(d["seconds"] for d in done),
             "peak_mb": max(d["peak_mb"] for d in done), "tasks": len(done)}, [d["out"] for d in done])


def monthly_run(key: str, as_of: str, overrides: dict, env: dict[str, str], slots: int) -> dict[str, dict]:
    """Every step of one monthly run, each in its own process: {step: seconds, peak MB (, tasks)}."""
    costs: dict[str, dict] = {}

    def once(name: str, *args: object) -> object:
        done = task(name, list(args), env)
        costs[name] = {"seconds": done["seconds"], "peak_mb": done["peak_mb"], "tasks": 1}
        return done["out"]

    def flat(tasks: list) -> list[str]:
        return [path for files in tasks for path in files]

    def reduce(name: str, parts: list) -> list[str]:
        """The mapped ``<name>_part`` over the parts, then ``name`` over their files."""
        costs[f"{name}_part"], files = mapped(f"{name}_part", ctx, parts, env, slots)
        once(name, ctx, flat(files))
        return files

    ctx = once("ingest", key, as_of, overrides)
    once("validate", ctx)
    costs["fit"], fits = mapped("fit", ctx, once("plan", ctx), env, slots)
    fits = flat(fits)
    parts = once("backtest_summary", ctx, fits)
    reduce("monitor", parts)
    costs["evaluate_part"], evaluated = mapped("evaluate_part", ctx, parts, env, slots)
    once("evaluate", ctx, fits, flat(evaluated))
    reduce("score_champion", parts)
    once("register", ctx)
    reduce("publish", parts)
    once("summarize", ctx)
    return costs


def steps_table(sizes: list[int], slots: int, shard_size: int, statsforecast: bool) -> int:
    """Two monthly runs a panel size (the second re-scores the first's champion): each step's cost, its growth."""
    results: dict[int, dict[str, dict]] = {}
    with tempfile.TemporaryDirectory() as folder:
        for n in sizes:
            path = Path(folder) / f"panel_{n}.parquet"
            make_panel(n).to_parquet(path, index=False)
            env = {**os.environ, "PIPELINE_STATE_DIR": str(Path(folder) / f"state_{n}"), "PIPELINE_CONFIG": "",
                   "PYTHONPATH": str(ROOT), "PIPELINE_TORCH_THREADS": "1", "PIPELINE_TRAIN_THREADS": "1",
                   "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
            overrides = {**TINY_MODEL, "csv_path": str(path), "allow_any_csv_path": True, "series_column": "series",
                         "date_column": "month", "target_column": "value", "max_file_mb": 2048,
                         "max_quarantine_share": 1.0, "experiment_name": "scale", "registered_model_name": "scale",
                         "shard_size": shard_size, "statsforecast_candidates": statsforecast}
            monthly_run("scale/2020-01", "2020-01-01", overrides, env, slots)
            results[n] = monthly_run("scale/2020-02", "2020-02-01", overrides, env, slots)
            logger.info("%d series: %s", n, json.dumps(results[n]))
    names = list(results[sizes[0]])
    print(f"Every step of the second of two monthly runs (smallest network; shards of {shard_size}; the "
          f"statsforecast candidates {'in' if statsforecast else 'out'}), each step its own process, the mapped ones "
          f"{slots} at a time; seconds (the step's own, in its process) and peak MB of its largest process\n")
    print("| step | " + " | ".join(f"{n:,} series: s | MB" for n in sizes) + " | growth exponent |")
    print("|---|" + "---|---|" * len(sizes) + "---|")
    for name in names:
        cells = []
        for n in sizes:
            c = results[n][name]
            tasks = f" ({c['tasks']} tasks, {c['task_seconds']:.0f} s in all)" if "task_seconds" in c else ""
            cells.append(f"{c['seconds']:.1f}{tasks} | {c['peak_mb']:.0f}")
        first, last = results[sizes[0]][name]["seconds"], results[sizes[-1]][name]["seconds"]
        growth = np.log(last / first) / np.log(sizes[-1] / sizes[0]) if len(sizes) > 1 and first > 0 else float("nan")
        print(f"| {name} | " + " | ".join(cells) + f" | {growth:.2f} |")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000,100000", help="panel sizes, comma-separated")
    parser.add_argument("--make", type=int, help="only write a panel of this many series (to --out)")
    parser.add_argument("--out", help="where --make writes (.csv or .parquet)")
    parser.add_argument("--csv-up-to", type=int, default=100_000, help="time the CSV input up to this many series")
    parser.add_argument("--steps", action="store_true", help="every step of two monthly runs, not validate alone")
    parser.add_argument("--slots", type=int, default=2, help="mapped tasks at once (worker slots) with --steps")
    parser.add_argument("--shard-size", type=int, default=200, help="series a shard with --steps")
    parser.add_argument("--statsforecast", action="store_true",
                        help="with --steps, the candidates built on statsforecast's models too")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.steps:
        return steps_table([int(s) for s in args.sizes.split(",")], args.slots, args.shard_size, args.statsforecast)
    if args.make:
        frame = make_panel(args.make)
        if args.out.endswith(".parquet"):
            frame.to_parquet(args.out, index=False)
        else:
            frame.to_csv(args.out, index=False)
        logger.info("%d series, %d rows -> %s", args.make, len(frame), args.out)
        return 0
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        env = {**os.environ, "PIPELINE_STATE_DIR": folder, "PIPELINE_CONFIG": "", "PYTHONPATH": str(ROOT)}
        for n in (int(s) for s in args.sizes.split(",")):
            frame = make_panel(n)
            csv, parquet = Path(folder) / f"panel_{n}.csv", Path(folder) / f"panel_{n}.parquet"
            frame.to_parquet(parquet, index=False)
            row = {"series": n, "rows": len(frame), "parquet_file_mb": parquet.stat().st_size / 1e6}
            if n <= args.csv_up_to:
                frame.to_csv(csv, index=False)
                row["csv_file_mb"] = csv.stat().st_size / 1e6
            del frame
            bare = ("import sys, pyarrow.parquet as pq; t = pq.read_table(sys.argv[1]); "
                    "print(len(t.group_by('series').aggregate([('value', 'count'), ('month', 'max')])))")
            row["bare_s"], row["bare_peak"] = best([sys.executable, "-c", bare, str(parquet)], env)
            for kind, path in (("parquet", parquet), ("csv", csv)):
                if kind == "csv" and n > args.csv_up_to:
                    continue
                flags = ["--csv", str(path), "--series-column", "series", "--date-column", "month",
                         "--target-column", "value", "--data-dir", folder, "--max-file-mb", "2048",
                         "--max-quarantine-share", "1"]
                row[f"{kind}_s"], row[f"{kind}_peak"] = best([sys.executable, "-m", "pipeline", "validate", *flags],
                                                             env)
            rows.append(row)
            logger.info("%s", json.dumps(row))
            csv.unlink(missing_ok=True)
            parquet.unlink()
    print("validate (read, check, report) of a panel: Parquet and CSV input, beside a bare pyarrow read and group-by")
    print("of the same Parquet file; seconds and peak MB of each process\n")
    print("| series | rows | Parquet MB | bare read s | validate Parquet s | peak MB | CSV MB | validate CSV s | "
          "peak MB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        csv_part = (f"{r['csv_file_mb']:.0f} | {r['csv_s']:.1f} | {r['csv_peak']:.0f}" if "csv_s" in r
                    else "- | - | -")
        print(f"| {r['series']:,} | {r['rows']:,} | {r['parquet_file_mb']:.0f} | {r['bare_s']:.2f} | "
              f"{r['parquet_s']:.1f} | {r['parquet_peak']:.0f} | {csv_part} |")
    if len(rows) > 1:
        first, last = rows[0], rows[-1]
        growth = np.log(last["parquet_s"] / first["parquet_s"]) / np.log(last["series"] / first["series"])
        print(f"\ngrowth of validate (Parquet) with the series: exponent {growth:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
