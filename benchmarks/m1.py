"""The M1 competition's monthly series, by the competition's protocol: one origin, 18 months, every series scored.

``data/m1_monthly.csv`` holds the 617 monthly series (48 to 150 months; their training parts end 1999-12, the
competition's test is their last 18 months). The pipeline's own backtest (``configs/m1_monthly.yaml``: one fold of
18 months, the panel model of the default preset) scores the LSTM, the other candidates of the published forecast
(seasonal naive, Theta, the LSTM-Theta mean) and, with ``--stats``, statsforecast's AutoETS, AutoTheta and
AutoARIMA fitted on the same training months in the same run. The published forecast chooses each series'
candidate on an earlier fold (the 18 months before the test; a series too short for it by the candidate best on
the panel there), never on the test. Metrics per series, then their mean and median over the series: MASE (the
error over the in-sample seasonal-naive error, m=12) and sMAPE (``200 |y - f| / (|y| + |f|)``, the M
competitions').

    .venv/bin/python benchmarks/m1.py [--stats] [--seed 42] [--set epochs=16]
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import replace
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
    chooser = replace(cfg, folds=cfg.folds + 1)  # one fold before the test, for the published forecast's choice
    results = bt.with_published([bt.run_fold(panel, chooser, fold, args.stats) for fold in range(chooser.folds)])
    test = [r for r in results if r["fold"] == chooser.folds - 1]
    seconds = time.perf_counter() - started
    series = report["series"]
    changed = "".join(f", {k}={v}" for k, v in overrides.items())
    scored = len(test[0]["series"])
    print(f"M1 monthly: {series['in']} series in, {series['quarantined']} quarantined, {series['short']} too short, "
          f"{len(panel)} modelled; {scored} scored on one origin x {cfg.horizon} months; preset {cfg.preset}"
          f"{changed}, seed {cfg.seed}; backtest {seconds / 60:.1f} min on this machine\n")
    print("| model | mean MASE | median MASE | mean sMAPE % | median sMAPE % | LSTM better on (series) |")
    print("|---|---|---|---|---|---|")
    scores = {model: {k: np.array([v for r in test for v in r["scores"][model][k]]) for k in ("mase", "smape")}
              for model in test[0]["scores"]}
    lstm = scores[bt.LSTM]["mase"]
    for model, by in sorted(scores.items(), key=lambda item: np.nanmean(item[1]["mase"])):
        share = "" if model == bt.LSTM else f"{np.mean(lstm < by['mase']):.1%}"
        print(f"| {model} | {np.nanmean(by['mase']):.3f} | {np.nanmedian(by['mase']):.3f} | "
              f"{np.nanmean(by['smape']):.2f} | {np.nanmedian(by['smape']):.2f} | {share} |")
    earlier = bt.summarize([r for r in results if r["fold"] < chooser.folds - 1], cfg.levels)
    picked = [earlier["choice"].get(s, earlier["default"]) for s in test[0]["series"]]
    print("\npublished: each series by the candidate best on the 18 months before the test: "
          + ", ".join(f"{m} {picked.count(m)}" for m in dict.fromkeys(sorted(picked))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
