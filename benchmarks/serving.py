"""Serving load: the champion behind ``python -m pipeline serve`` (MLflow's scoring server, what ``make serve``
runs), asked by a loop of HTTP clients on this machine: ``--requests`` requests, ``--clients`` at a time, each a
history table; prints the latency percentiles, throughput and errors per request kind.

The champion is trained first in a scratch state folder (the monthly run on AirPassengers with the default
settings), so the figures do not depend on what a local store holds. Request kinds: the series the model was
trained on (144 months), and a panel of 10 series (the same months at 10 levels, none seen in training).

    .venv/bin/python benchmarks/serving.py [--requests 500] [--clients 8] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "AirPassengers.csv"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


TOKEN = secrets.token_hex(32)  # the server's bearer token (PIPELINE_SERVE_TOKEN of the server this script starts)


def post(url: str, body: bytes) -> tuple[int, float]:
    """One request: its status and seconds."""
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json",
                                                              "Authorization": f"Bearer {TOKEN}"})
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            response.read()
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except OSError:
        status = 0
    return status, time.perf_counter() - started


def wait_until_up(base: str, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{base}/ping", timeout=5)
            return
        except OSError:
            time.sleep(1)
    raise RuntimeError(f"the scoring server did not answer {base}/ping in {seconds:.0f} s")


def histories() -> dict[str, bytes]:
    """The request bodies of each kind."""
    frame = pd.read_csv(DATA)
    one = [{"series": "air", "month": m, "value": float(v)}
           for m, v in zip(frame["Month"], frame["#Passengers"], strict=True)]
    panel = [{**row, "series": f"s{k}", "value": row["value"] * (k + 1)} for k in range(10) for row in one]
    return {"one series (144 months)": json.dumps({"dataframe_records": one}).encode(),
            "panel of 10 series never seen": json.dumps({"dataframe_records": panel}).encode()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=500, help="requests of each kind (default 500)")
    parser.add_argument("--clients", type=int, default=8, help="requests at a time (default 8)")
    parser.add_argument("--workers", type=int, default=2, help="server processes (default 2, make serve's)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as state:
        env = {**os.environ, "PIPELINE_STATE_DIR": state, "MLFLOW_TRACKING_URI": f"sqlite:///{state}/mlflow.db",
               "PIPELINE_CONFIG": "", "PYTHONPATH": str(ROOT),
               "PIPELINE_SERVE_TOKEN": TOKEN}
        subprocess.run([sys.executable, "-m", "pipeline", "run", "--run-key", "serving/bench", "--as-of",
                        "1961-01-01"], env=env, check=True, capture_output=True, cwd=ROOT)
        port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "pipeline", "serve", "--port", str(port), "--workers",
                                   str(args.workers)], env=env, cwd=ROOT, start_new_session=True,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            base = f"http://127.0.0.1:{port}"
            wait_until_up(base)
            print(f"{args.requests} requests of each kind, {args.clients} at a time, {args.workers} server "
                  f"processes, {os.cpu_count()} cores\n")
            print("| request | p50 ms | p90 ms | p99 ms | max ms | requests/s | errors |")
            print("|---|---|---|---|---|---|---|")
            url = f"{base}/invocations"
            bodies = histories()
            with ThreadPoolExecutor(args.clients) as pool:
                def burst(body: bytes, count: int) -> list[tuple[int, float]]:
                    return list(pool.map(lambda _: post(url, body), range(count)))

                # Each server process loads the model on its first request: a first burst reaches them all.
                first = max(seconds for _, seconds in burst(next(iter(bodies.values())), args.clients))
                for kind, body in bodies.items():
                    started = time.perf_counter()
                    replies = burst(body, args.requests)
                    wall = time.perf_counter() - started
                    ms = np.array([seconds for _, seconds in replies]) * 1000
                    errors = sum(status != 200 for status, _ in replies)
                    p50, p90, p99 = np.percentile(ms, [50, 90, 99])
                    print(f"| {kind} | {p50:.0f} | {p90:.0f} | {p99:.0f} | {ms.max():.0f} | "
                          f"{args.requests / wall:.1f} | {errors} |")
            print(f"\nfirst burst of {args.clients} (server processes loading the model): {first * 1000:.0f} ms")
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
