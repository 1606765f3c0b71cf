"""Warm vs cold start on a backfill: every data month from ``--from`` to ``--to`` fitted the way a monthly DAG run
fits it (``ingest`` -> ``validate`` -> ``steps.plan`` -> ``steps.fit`` for every shard and origin, the pipeline's own
functions, without MLflow), once cold and once with ``warm_start`` (each month's fits fine-tuned from the previous
month's). Per mode: the backtest each month scores (mean MASE and MAPE over its folds, 3 origins x 12 months),
averaged over the months, and the training seconds. The first month of the warm chain starts cold.

    .venv/bin/python benchmarks/warm_start.py                           # AirPassengers, data months 1959-01..1960-12
    .venv/bin/python benchmarks/warm_start.py --panel --from 2019-04 --to 2019-09 --warm-epochs 2   # US employment
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline import steps  # noqa: E402
from pipeline.config import Config, load_config  # noqa: E402
from pipeline.data import ingest as ig  # noqa: E402
from pipeline.data import validate as vd  # noqa: E402
from pipeline.io import read_json  # noqa: E402
from pipeline.scoring import backtest as bt  # noqa: E402


def month_run(cfg: Config, month: pd.Period, state: Path) -> dict[str, float]:
    """One data month's fits, as the DAG's tasks run them; the backtest means and the training seconds."""
    ctx = steps.RunContext(run_key=f"warm/{month}", work_dir=str(state / "runs" / str(month)), config=cfg.to_dict(),
                           mlflow_run_id="", data_month=str(month), source=str(ROOT / cfg.csv_path), data_sha256="")
    as_of = (month + 1).to_timestamp().strftime("%Y-%m-%d")
    snap = ig.ingest(ROOT / cfg.csv_path, ctx.paths.snapshot, cfg, as_of)
    panel, _ = vd.validate(ig.read_snapshot(snap.path), cfg)
    panel.save(ctx.paths.panel)
    started = time.perf_counter()
    fits = [read_json(path) for job in steps.plan(ctx) for path in steps.fit(ctx, job)]
    seconds = time.perf_counter() - started
    summary = bt.summarize([fold for fit in fits for fold in fit["folds"]], cfg.levels)
    return {"mase": summary["mean"][bt.LSTM]["mase"], "mape": summary["mean"][bt.LSTM]["mape"],
            "naive_mase": summary["mean"][bt.NAIVE]["mase"], "seconds": seconds,
            "train_seconds": sum(fit["train_seconds"] for fit in fits),
            "warm": sum(bool(fit["warm_start"]) for fit in fits), "fits": len(fits), "series": len(panel)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--panel", action="store_true", help="US employment (configs/us_employment.yaml)")
    parser.add_argument("--from", dest="first", default=None, help="first data month (YYYY-MM)")
    parser.add_argument("--to", dest="last", default=None, help="last data month (YYYY-MM)")
    parser.add_argument("--warm-epochs", type=int, default=0, help="warm_epochs (0: the preset's epochs)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    config = str(ROOT / "configs" / "us_employment.yaml") if args.panel else None
    first = pd.Period(args.first or ("2019-04" if args.panel else "1959-01"), "M")
    last = pd.Period(args.last or ("2019-09" if args.panel else "1960-12"), "M")
    months = pd.period_range(first, last, freq="M")
    rows = {}
    for mode in ("cold", "warm"):
        cfg = load_config(config, {"warm_start": mode == "warm", "warm_epochs": args.warm_epochs})
        with tempfile.TemporaryDirectory() as tmp:
            os.environ["PIPELINE_STATE_DIR"] = tmp
            rows[mode] = [month_run(cfg, month, Path(tmp)) for month in months]
            for month, row in zip(months, rows[mode], strict=True):
                print(f"{mode} {month}: MASE {row['mase']:.4f} MAPE {row['mape']:.2f} % "
                      f"fits {row['seconds']:.1f} s ({row['warm']}/{row['fits']} warm)", file=sys.stderr)
    name = f"US employment ({rows['cold'][-1]['series']} series)" if args.panel else "AirPassengers"
    print(f"{name}, data months {first}..{last} ({len(months)} monthly runs), preset {cfg.preset}, warm_epochs "
          f"{args.warm_epochs or cfg.epochs}; means over the months (the warm chain's first month is cold)\n")
    print("| start | backtest mean MASE | backtest mean MAPE % | months better than the other | fit seconds per month "
          "(summed over the networks) |")
    print("|---|---|---|---|---|")
    for mode, other in (("cold", "warm"), ("warm", "cold")):
        got, ref = rows[mode], rows[other]
        better = sum(a["mase"] < b["mase"] for a, b in zip(got, ref, strict=True))
        print(f"| {mode} | {np.mean([r['mase'] for r in got]):.4f} | {np.mean([r['mape'] for r in got]):.2f} | "
              f"{better} of {len(got)} | {np.mean([r['seconds'] for r in got]):.1f} "
              f"({np.mean([r['train_seconds'] for r in got]):.1f}) |")
    print(f"\nseasonal naive on the same folds: mean MASE {np.mean([r['naive_mase'] for r in rows['cold']]):.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
