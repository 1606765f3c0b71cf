"""How reading and validation behave on large and hostile files: outcome, wall time and peak memory.

Each file is read by ``pipeline.data.validate.check_csv`` (what the ``ingest`` and ``validate`` tasks do) in a fresh
process, so its peak resident memory (``VmHWM``: not inherited from the parent, unlike ``ru_maxrss``) is its own;
the first row is that process with the imports only. Files are generated in a temporary folder (about 300 MB of
disk while it runs).

    .venv/bin/python benchmarks/input_limits.py            # prints a markdown table
    .venv/bin/python benchmarks/input_limits.py --quick    # without the 200 MB file
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHILD = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
from pipeline.errors import DataValidationError
from pipeline.config import load_config
from pipeline.data.validate import check_csv
path, max_mb = sys.argv[2], int(sys.argv[3])
started = time.perf_counter()
outcome = "imports only"
if path != "-":
    try:
        series, report = check_csv(path, load_config(overrides={"max_file_mb": max_mb}), min_months=39)
        outcome = f"{report['status']}: {len(series)} months" if report["status"] == "passed" else (
            "refused: " + report["errors"][0]["message"][:70] + f" (+{len(report['errors']) - 1} more)")
    except DataValidationError as exc:
        outcome = "refused: " + str(exc)[len(path) + 2:][:90]
seconds = time.perf_counter() - started
peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"outcome": outcome, "seconds": seconds, "peak_mib": peak / 1024}))
"""


def _series_lines(rows: int) -> str:
    """``rows`` rows of monthly data cycling over 1700-01..2019-12 (a single series of that length repeats)."""
    return "".join(f"{1700 + (i // 12) % 320:04d}-{i % 12 + 1:02d},{100 + i % 997}\n" for i in range(rows))


def make_files(folder: Path, quick: bool) -> list[tuple[str, Path, int]]:
    """(label, path, max_file_mb) of every case, written block by block (this process stays small)."""
    header = "Month,#Passengers\n"
    block = _series_lines(1_000_000)  # about 11.4 MB
    cases = [("AirPassengers (144 months)", "air.csv", [(ROOT / "data" / "AirPassengers.csv").read_text()], 50),
             ("45 MB, one series repeated (duplicate months)", "dup45.csv", [header, *[block] * 4], 50),
             ("45 MB, a NUL byte in the last row", "nul45.csv", [header, *[block] * 4, "2020-01,3\x001\n"], 50),
             ("45 MB, no line break", "oneline45.csv", [header, *["9" * 2**20] * 45], 50),
             ("45 MB, CR-only line endings", "cr45.csv", [t.replace("\n", "\r") for t in [header, *[block] * 4]], 50),
             ("60 MB over the 50 MB limit", "over60.csv", [header, *[block] * 5, block[: len(block) // 4]], 50)]
    if not quick:
        cases.append(("200 MB with max_file_mb raised to 256", "dup200.csv", [header, *[block] * 17], 256))
    out = []
    for label, name, parts, limit in cases:
        path = folder / name
        with open(path, "w", encoding="utf-8") as handle:
            for part in parts:
                handle.write(part)
        out.append((label, path, limit))
    return out


def measure(path: Path | None, max_mb: int) -> dict:
    """Outcome, seconds and peak memory of one read in a fresh process."""
    command = [sys.executable, "-c", CHILD, str(ROOT), str(path) if path else "-", str(max_mb)]
    done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=1800)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="skip the 200 MB file")
    args = parser.parse_args()
    rows = [("(imports only)", 0.0, 50, measure(None, 50))]
    with tempfile.TemporaryDirectory() as tmp:
        for label, path, limit in make_files(Path(tmp), args.quick):
            started = time.perf_counter()
            result = measure(path, limit)
            print(f"{label}: {result} ({time.perf_counter() - started:.1f}s with start-up)", file=sys.stderr)
            rows.append((label, path.stat().st_size / 2**20, limit, result))
    base = rows[0][3]["peak_mib"]
    print("| file | size MiB | max_file_mb | outcome | seconds | peak MiB | over the imports MiB |")
    print("|---|---|---|---|---|---|---|")
    for label, size, limit, r in rows:
        print(f"| {label} | {size:.1f} | {limit} | {r['outcome']} | {r['seconds']:.1f} | {r['peak_mib']:.0f} | "
              f"{r['peak_mib'] - base:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
