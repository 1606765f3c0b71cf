"""The M1 competition's monthly series, by the competition's protocol: one origin, 18 months, every series scored.

``data/m1_monthly.csv`` holds the 617 monthly series (48 to 150 months; their training parts end 1999-12, the
competition's test is their last 18 months). The pipeline's own backtest (``configs/m1_monthly.yaml``: one fold of
18 months, the panel model of the default preset) scores the LSTM and seasonal naive and, with ``--stats``,
statsforecast's AutoETS, AutoTheta and AutoARIMA fitted on the same training months in the same run. Metrics per
series, then their mean and median over the series: MASE (the error over the in-sample seasonal-naive error, m=12)
and sMAPE (``200 |y - f| / (|y| + |f|)``, the M competitions').

    .venv/bin/python benchmarks/m1.py [--stats] [--seed 42]
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.config import load_config  # noqa: E402
from pipeline.data.validate import check_csv, raise_for_report  # noqa: E402
from pipeline.scoring import backtest as bt  # noqa: E402

CONFIG = ROOT / "configs" / "m1_monthly.yaml"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stats", action="store_true", help="also statsforecast's AutoETS, AutoTheta, AutoARIMA")
    parser.add_argument("--seed", type=int, default=None, help="the LSTM's seed (default: the preset's)")
    parser.add_argument("--preset", default=None, help="another preset (default: the panel's, lstm-global)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a model setting for this run (an experiment), e.g. --set epochs=16; repeatable")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    overrides = dict(item.split("=", 1) for item in args.set)
    cfg = load_config(CONFIG, {"seed": args.seed, "preset": args.preset,
                               **{key: yaml.safe_load(value) for key, value in overrides.items()}})
    panel, report = check_csv(ROOT / cfg.csv_path, cfg)
    raise_for_report(report)
    started = time.perf_counter()
    summary = bt.backtest(panel, cfg, stats_baselines=args.stats)
    seconds = time.perf_counter() - started
    series = report["series"]
    changed = "".join(f", {k}={v}" for k, v in overrides.items())
    print(f"M1 monthly: {series['in']} series in, {series['quarantined']} quarantined, {series['short']} too short, "
          f"{len(panel)} modelled; {summary['series']} scored on one origin x {cfg.horizon} months; preset "
          f"{cfg.preset}{changed}, seed {cfg.seed}; backtest {seconds / 60:.1f} min on this machine\n")
    print("| model | mean MASE | median MASE | mean sMAPE % | median sMAPE % | LSTM better on (series) |")
    print("|---|---|---|---|---|---|")
    rows = {model: np.array([row[f"{model}.smape"] for row in summary["per_series"].values()])
            for model in summary["mean"]}
    for model, scores in sorted(summary["mean"].items(), key=lambda item: item[1]["mase"]):
        share = summary.get(f"share_beats_{model.lower()}")
        print(f"| {model} | {scores['mase']:.3f} | {summary['median_mase'][model]:.3f} | {scores['smape']:.2f} | "
              f"{np.median(rows[model]):.2f} | {'' if share is None else f'{share:.1%}'} |")
    print(f"\n{len(summary['fallback'])} of {summary['series']} series fall back to seasonal naive in the published "
          "forecast (the LSTM lost their backtest)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
