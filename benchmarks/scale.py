"""Scale: panels of 10^3 to 10^6 series resampled from the real series in ``data/`` (each copy a random window of a
random US employment series or AirPassengers, rescaled, all ending 2019-12), and what the steps that run once cost
on them: wall time, peak memory and the growth exponent of each.

    .venv/bin/python benchmarks/scale.py --sizes 1000,10000,100000      # prints the table
    .venv/bin/python benchmarks/scale.py --make 100000 --out /tmp/p.csv # only write a panel
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000,100000", help="panel sizes, comma-separated")
    parser.add_argument("--make", type=int, help="only write a panel of this many series (to --out)")
    parser.add_argument("--out", help="where --make writes (.csv or .parquet)")
    parser.add_argument("--csv-up-to", type=int, default=100_000, help="time the CSV input up to this many series")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
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
