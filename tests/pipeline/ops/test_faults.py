"""Faults with real processes: an MLflow server that goes down mid-month, a training task killed mid-way,
and a champion rollback. Nothing half-registered remains, the champion is untouched, re-runs are idempotent."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from pipeline import settings, steps
from pipeline.errors import NotFoundError, TrackingUnavailableError
from pipeline.ops import registry
from tests.conftest import ROOT, TINY

pytestmark = pytest.mark.slow
NAME = "air_passengers_lstm"
MLFLOW = str(Path(sys.executable).with_name("mlflow"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class MlflowServer:
    """A real ``mlflow server`` on a loopback port, in its own process group (its workers die with it)."""

    def __init__(self, folder: Path):
        self.folder, self.port, self.process = folder, free_port(), None
        self.uri = f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120) -> None:
        log = open(self.folder / "server.log", "ab")  # noqa: SIM115 (closed with the process)
        self.process = subprocess.Popen(
            [MLFLOW, "server", "--backend-store-uri", f"sqlite:///{self.folder / 'mlflow.db'}",
             "--artifacts-destination", str(self.folder / "artifacts"), "--host", "127.0.0.1",
             "--port", str(self.port), "--workers", "1"],
            stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.uri}/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        raise RuntimeError(f"mlflow server did not answer in {timeout}s: {(self.folder / 'server.log').read_text()}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None


@pytest.fixture
def server(tmp_path, monkeypatch):
    monkeypatch.setenv("PIPELINE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("PIPELINE_HOME", str(ROOT))
    srv = MlflowServer(tmp_path)
    srv.start()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", srv.uri)
    yield srv
    srv.stop()


def test_mlflow_outage_fails_clearly_then_a_rerun_completes(server):
    first = steps.run_all("fault/month-1", None, TINY)
    assert first.promoted is True
    client = MlflowClient(server.uri)
    server.stop()
    started = time.monotonic()
    with pytest.raises(TrackingUnavailableError, match=f"MLflow tracking server {server.uri} is unreachable"):
        steps.run_all("fault/month-2", None, {**TINY, "epochs": 4})
    assert time.monotonic() - started < 60, "an outage must fail fast, not after minutes of client retries"
    server.start()
    assert [str(v.version) for v in client.search_model_versions(f"name='{NAME}'")] == ["1"]
    assert str(client.get_model_version_by_alias(NAME, "champion").version) == "1"
    again = steps.run_all("fault/month-2", None, {**TINY, "epochs": 4})
    assert again.model_version == "2"
    assert len(client.search_model_versions(f"name='{NAME}'")) == 2
    assert len(client.search_runs([client.get_experiment_by_name("lstm-monthly-retraining").experiment_id],
                                  "tags.kind = 'monthly'")) == 2
    # artifacts went through the server: no shared disk needed by the workers
    assert (server.folder / "artifacts").is_dir()


def test_killed_training_rerun_gives_the_same_result(tmp_path, state):
    slow = {**TINY, "epochs": 400, "hidden_size": 48}  # long enough to be killed in the middle
    reference = steps.run_all("fault/reference", None, slow)
    ctx = steps.validate(steps.ingest("fault/killed", None, slow))
    final = next(job for job in steps.plan(ctx) if job.final).to_json()
    code = ("import json, sys; from pipeline import steps; "
            "steps.fit(*json.loads(sys.argv[1]))")
    proc = subprocess.Popen([sys.executable, "-c", code, json.dumps([ctx.to_json(), final])], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(4)
    assert proc.poll() is None, "training should still be running when it is killed"
    proc.kill()
    proc.wait()
    # The same DAG run (same key, same config) is re-run: it reuses the month's MLflow run.
    rerun = steps.run_all("fault/killed", None, slow)
    assert rerun.mlflow_run_id == ctx.mlflow_run_id
    rerun_again = steps.run_all("fault/killed", None, slow)
    assert rerun_again.model_version == rerun.model_version, "no duplicate model versions"
    assert rerun.metrics == reference.metrics, "bit-identical holdout metrics for the same data and seed"
    client = MlflowClient(settings.tracking_uri())
    assert len(client.search_model_versions(f"name='{NAME}'")) == 2


def test_rollback_restores_the_previous_champion_with_an_audit_trail(state):
    steps.run_all("fault/weak", None, {**TINY, "epochs": 1, "learning_rate": 0.0001})
    strong = steps.run_all("fault/strong", None, {**TINY, "epochs": 40, "learning_rate": 0.01})
    assert strong.promoted is True
    client = MlflowClient(settings.tracking_uri())
    assert registry.rollback(client, NAME, "bad forecasts in production") == ("2", "1")
    assert str(client.get_model_version_by_alias(NAME, "champion").version) == "1"
    demoted, restored = client.get_model_version(NAME, "2").tags, client.get_model_version(NAME, "1").tags
    assert demoted["rollback.reason"] == restored["rollback.reason"] == "bad forecasts in production"
    assert demoted["rollback.restored"] == "1" and restored["rollback.demoted"] == "2"
    with pytest.raises(NotFoundError, match="replaced no earlier champion"):
        registry.rollback(client, NAME, "again")


RACE = ("import json, sys; from pipeline import steps; "
        "print(json.dumps(steps.register(json.loads(sys.argv[1]))))")


def test_two_racing_runs_promote_one_and_the_loser_says_why(server):
    steps.run_all("race/old-champion", None, {**TINY, "epochs": 1, "learning_rate": 0.0001})
    prepared = []
    for key in ("race/scheduled", "race/manual"):  # the same better configuration, two DAG runs
        ctx = steps.validate(steps.ingest(key, None, {**TINY, "epochs": 30, "learning_rate": 0.01}))
        steps.train_and_evaluate(ctx)
        steps.score_champion(ctx)  # both score the old champion before either decides
        prepared.append(ctx.to_json())
    env = {**os.environ, "MLFLOW_TRACKING_URI": server.uri}
    procs = [subprocess.Popen([sys.executable, "-c", RACE, json.dumps(p)], cwd=ROOT, env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for p in prepared]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    decisions = [json.loads(Path(path).read_text()) for path in results]
    winners = [d for d in decisions if d["promoted"]]
    assert len(winners) == 1, decisions
    loser = next(d for d in decisions if not d["promoted"])
    # overlapping: the loser saw the alias move before or after its own write; one after the other: a normal gate
    assert any(why in loser["reason"] for why in ("while deciding", "lost a race", "not better than champion"))
    client = MlflowClient(server.uri)
    assert str(client.get_model_version_by_alias(NAME, "champion").version) == winners[0]["candidate_version"]
    assert client.get_model_version(NAME, loser["candidate_version"]).tags["decision.reason"] == loser["reason"]


FULL_DISK = """
import json, resource, signal, sys
from pipeline import steps
from pipeline.steps import RunContext

ctx, job, where = RunContext.of(json.loads(sys.argv[1])), json.loads(sys.argv[2]), sys.argv[3]
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG) instead of killing
if where == "fit":
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))  # no file past 4 KB: the weights cannot be written
    steps.fit(ctx, job)
else:
    steps.train_and_evaluate(ctx)
    steps.score_champion(ctx)
    steps.register(ctx)
    resource.setrlimit(resource.RLIMIT_FSIZE, (100, 100))  # not even the forecast table
    steps.publish(ctx)
"""


@pytest.mark.chaos
def test_a_full_disk_fails_fit_or_publish_clearly_and_keeps_every_earlier_file(state):
    """A file-size limit (RLIMIT_FSIZE: no mount needed) stands for a full disk of the state folder."""
    first = steps.run_all("disk/1960-11", "1960-12-01", TINY)
    latest = settings.state_dir() / "forecasts" / "lstm-monthly-retraining" / "latest.csv"
    published = latest.read_bytes()
    ctx = steps.validate(steps.ingest("disk/1960-12", "1961-01-01", TINY))
    final = next(job for job in steps.plan(ctx) if job.final).to_json()
    for where in ("fit", "publish"):
        failed = subprocess.run([sys.executable, "-c", FULL_DISK, json.dumps(ctx.to_json()), json.dumps(final),
                                 where], cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert failed.returncode != 0, where
        assert "StorageFullError" in failed.stderr and "no room to write" in failed.stderr, failed.stderr[-3000:]
        # publish first copies the champion to verify its signature: the disk is full there already
        assert re.search("the file it would replace is unchanged|nothing was replaced", failed.stderr), where
        assert latest.read_bytes() == published, f"{where}: the previous published forecast is intact"
        assert not list(settings.state_dir().rglob("*.tmp")), f"{where}: no partial file left behind"
    # with room again, the same month's run completes and publishes, in the same MLflow run
    rerun = steps.run_all("disk/1960-12", "1961-01-01", TINY)
    assert rerun.mlflow_run_id == ctx.mlflow_run_id and rerun.mlflow_run_id != first.mlflow_run_id
    assert latest.read_bytes() != published and "1961-01" in latest.read_text()
    versions = MlflowClient(settings.tracking_uri()).search_model_versions(f"name='{NAME}'")
    assert len(versions) == 2, "one version a month: the failed publish registered none twice"
