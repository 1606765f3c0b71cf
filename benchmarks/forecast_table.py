"""The forecast table: how long one month's publish takes (one transaction: delete the month's rows, write the new
ones) for panels of several sizes, on SQLite and on a PostgreSQL server, and the peak memory of the process.

    .venv/bin/python benchmarks/forecast_table.py --series 1000,10000,100000
    .venv/bin/python benchmarks/forecast_table.py --series 100000 --url "$PIPELINE_FORECAST_DB_URL"   # PostgreSQL
    .venv/bin/python benchmarks/forecast_table.py --series 100000 --postgres   # a throwaway local PostgreSQL server

Each size publishes twice (the second replaces the first's rows, as a re-run of the month does); the table shows
the second. Every run writes 12 months a series with 80 % and 95 % bounds.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.ops import forecast_table as ft  # noqa: E402


def table(series: int, seed: int = 0) -> pd.DataFrame:
    months = pd.period_range("2020-01", periods=12, freq="M").strftime("%Y-%m")
    forecast = np.random.default_rng(seed).gamma(2.0, 100.0, 12 * series)
    frame = pd.DataFrame({"series": np.repeat([f"s{i:07d}" for i in range(series)], 12),
                          "month": np.tile(months, series), "forecast": forecast, "model": "lstm"})
    for level, width in ((80, 0.2), (95, 0.35)):
        frame[f"lower_{level}"], frame[f"upper_{level}"] = forecast * (1 - width), forecast * (1 + width)
    return frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--series", default="1000,10000,100000")
    parser.add_argument("--url", action="append", default=[], help="a database URL (default: SQLite in a temp dir)")
    parser.add_argument("--postgres", action="store_true", help="also a throwaway local PostgreSQL server")
    args = parser.parse_args()
    with ExitStack() as stack:
        urls = args.url or [f"sqlite:///{stack.enter_context(tempfile.TemporaryDirectory())}/forecasts.db"]
        if args.postgres:
            from tests.postgres import postgres_server

            urls.append(stack.enter_context(postgres_server()))
        print("| database | series | rows | publish s | rows a second | peak MB |")
        print("|---|---|---|---|---|---|")
        for url in urls:
            for series in (int(n) for n in args.series.split(",")):
                frame = table(series)
                month = ft.Publication("benchmark", "2019-12", "1", "run", "benchmark/2019-12")
                ft.publish(url, frame, month)
                started = time.perf_counter()
                rows = ft.publish(url, frame, month).rows
                seconds = time.perf_counter() - started
                peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                print(f"| {url.split(':')[0].split('+')[0]} | {series:,} | {rows:,} | {seconds:.1f} | "
                      f"{rows / seconds:,.0f} | {peak:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
