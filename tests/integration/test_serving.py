"""The champion served by a real ``mlflow models serve`` process, asked by a plain HTTP client: a good history gets
its forecast, a bad one a 400 whose message names series and month, never a stack trace."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pandas as pd
import pytest

from benchmarks.serving import free_port, wait_until_up
from pipeline import steps
from tests.conftest import DATA, TINY

pytestmark = pytest.mark.slow
TOKEN = "t" * 8 + os.urandom(16).hex()


@pytest.fixture
def served(state):
    steps.run_all("serve/a", "1961-01-01", {**TINY, "csv_path": str(DATA)})
    port = free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{state}/mlflow.db", "PIPELINE_SERVE_TOKEN": TOKEN}
    # what `make serve` runs: the champion on loopback
    server = subprocess.Popen([sys.executable, "-m", "pipeline", "serve", "--port", str(port)], env=env,
                              start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until_up(f"http://127.0.0.1:{port}")
        yield f"http://127.0.0.1:{port}/invocations"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def post(url: str, records: list[dict], params: dict | None = None, token: str | None = TOKEN) -> tuple[int, dict]:
    body = {"dataframe_records": records, **({"params": params} if params else {})}
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def test_a_served_champion_forecasts_good_histories_and_says_what_is_wrong_with_a_bad_one(served):
    frame = pd.read_csv(DATA)
    history = [{"series": "air", "month": m, "value": float(v)} for m, v in zip(frame["Month"], frame["#Passengers"],
                                                                                  strict=True)]
    status, body = post(served, history)
    first = body["predictions"][0]  # tiny settings: enough backtest residuals for the 80 % interval only
    assert status == 200 and len(body["predictions"]) == TINY["horizon"] and first["month"] == "1961-01"
    assert first["lower_80"] < first["forecast"] < first["upper_80"]
    negative = [dict(row) for row in history]
    negative[50]["value"] = -5.0
    unseen = [{**row, "series": "new", "value": row["value"] * 3} for row in history[-24:]]
    status, body = post(served, history + unseen)  # a panel: the series trained on and one never seen
    assert status == 200 and len(body["predictions"]) == 2 * TINY["horizon"], body
    by = pd.DataFrame(body["predictions"]).groupby("series")["forecast"].mean()
    assert 2 < by["new"] / by["air"] < 4, "each series forecast at its own level"
    cases = {"a negative value": (negative, None, "history of series 'air', month 1953-03: value '-5.0' is not a "
                                                  "positive number"),
             "a missing month": (history[:60] + history[61:], None, "'air': missing month(s) 1954-01 before 1954-02"),
             "a duplicate month": (history + history[-1:], None, "series 'air': duplicate month 1960-12"),
             "one row": (history[:1], None, "history of series 'air': fewer than 12 months"),
             "horizon 10000": (history, {"horizon": 10000}, "param 'horizon' must be a whole number of months")}
    for case, (records, params, message) in cases.items():
        status, body = post(served, records, params)
        assert status == 400 and body["error_code"] == "INVALID_PARAMETER_VALUE", (case, body)
        assert message in body["message"] and "stack_trace" not in body and "Traceback" not in body["message"], case

    with ThreadPoolExecutor(8) as pool:  # 8 clients at once (benchmarks/serving.py measures the latencies)
        replies = list(pool.map(lambda _: post(served, history), range(40)))
    assert {status for status, _ in replies} == {200}
    assert all(body == replies[0][1] for _, body in replies), "the same history, the same forecast"


@pytest.mark.security
def test_the_scoring_server_refuses_a_caller_without_its_token(served):
    frame = pd.read_csv(DATA).tail(24)
    history = [{"series": "air", "month": m, "value": float(v)} for m, v in zip(frame["Month"], frame["#Passengers"],
                                                                                  strict=True)]
    assert post(served, history)[0] == 200  # the check is real: the same request with the token
    for token in (None, "wrong", TOKEN[:-1]):
        status, body = post(served, history, token=token)
        assert status == 401 and body["error_code"] == "UNAUTHENTICATED", (token, body)
    base = served.removesuffix("/invocations")
    assert urllib.request.urlopen(f"{base}/ping", timeout=10).status == 200  # health checks stay open
    with pytest.raises(urllib.error.HTTPError, match="401"):
        urllib.request.urlopen(f"{base}/version", timeout=10)


@pytest.mark.security
def test_a_tampered_champion_is_not_served(state):
    from mlflow.tracking import MlflowClient

    from pipeline.ops import registry, signing

    steps.run_all("serve/t", "1961-01-01", {**TINY, "csv_path": str(DATA)})
    client = MlflowClient(f"sqlite:///{state}/mlflow.db")
    version = registry.alias_version(client, "air_passengers_lstm", registry.CHAMPION)
    source = client.get_model_version("air_passengers_lstm", version).source
    folder = client.get_logged_model(source.removeprefix("models:/")).artifact_location.removeprefix("file://")
    marker = state / "the-model-code-ran"
    code = os.path.join(folder, "mlflow_model.py")
    with open(code, encoding="utf-8") as handle:
        original = handle.read()
    with open(code, "w", encoding="utf-8") as handle:
        handle.write(f"open({str(marker)!r}, 'w').close()\n" + original)
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{state}/mlflow.db", "PIPELINE_SERVE_TOKEN": TOKEN}
    done = subprocess.run([sys.executable, "-m", "pipeline", "serve", "--port", str(free_port())], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 1 and "its files do not match its signature" in done.stderr, done.stderr[-2000:]
    assert not marker.exists() and signing.TAG in client.get_model_version("air_passengers_lstm", version).tags
