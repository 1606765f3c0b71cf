"""Shared fixtures: an isolated run-state folder per test, small synthetic monthly series, tiny settings."""

from __future__ import annotations

import json
import os
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "AirPassengers.csv"

# Airflow reads AIRFLOW_HOME when it is first imported: give the whole session its own, never ~/airflow.
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="pytest-airflow-"))
os.environ.setdefault("AIRFLOW_HOME", str(_AIRFLOW_HOME))
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "dags")

# Small, fast model settings for tests that train (real training, few epochs).
TINY = {"lookback": 12, "holdout": 6, "val_size": 3, "hidden_size": 8, "num_layers": 1, "epochs": 3,
        "batch_size": 16, "baseline_gate": False, "folds": 2, "horizon": 6, "output_steps": 6, "ensemble_size": 1,
        "patience": 0, "allow_any_csv_path": True}
# The same split as a deployment would: what a DAG trigger may set, and what the operator sets (PIPELINE_CONFIG).
TINY_TRIGGER = {k: v for k, v in TINY.items() if k not in ("baseline_gate", "allow_any_csv_path")}
TINY_OPERATOR = {"baseline_gate": False, "allow_any_csv_path": True}


class Oracle:
    """A 'model' that knows the future: its forecast of each series is what happened next in ``panel``; with
    ``band``, an interval that wide either side (80 %)."""

    def __init__(self, panel, band: float | None = None):
        self.panel, self.band = panel, band

    def forecast(self, history, steps):
        rows = []
        for i, sid in enumerate(history.ids):
            at = self.panel.position(sid)
            end = history.length(i) + int(history.starts[i]) - int(self.panel.starts[at])
            future = self.panel.values_of(at)[end:end + steps]
            rows.append(pd.DataFrame({"series": sid, "month": "", "forecast": future, "model": "lstm"}))
            if self.band is not None:
                rows[-1] = rows[-1].assign(lower_80=future * (1 - self.band), upper_80=future * (1 + self.band))
        return pd.concat(rows, ignore_index=True)


def tracking_client():
    """An MLflow client of the store the pipeline uses in this test (its state folder's, or the server's)."""
    from mlflow.tracking import MlflowClient

    from pipeline import settings

    return MlflowClient(tracking_uri=settings.tracking_uri())


def operator_config(path: Path, **values) -> Path:
    """A deployment config (PIPELINE_CONFIG) with the tests' operator settings and ``values``."""
    import yaml

    path.write_text(yaml.safe_dump({**TINY_OPERATOR, **values}))
    return path


def seasonal_series(months: int = 72, start: str = "2000-01", level: float = 200.0, trend: float = 2.0,
                    amplitude: float = 0.15, noise: float = 0.02, seed: int = 0) -> pd.Series:
    """A positive monthly series with trend and multiplicative yearly seasonality."""
    rng = np.random.default_rng(seed)
    t = np.arange(months)
    season = 1 + amplitude * np.sin(2 * np.pi * t / 12)
    values = (level + trend * t) * season * (1 + noise * rng.standard_normal(months))
    return pd.Series(values.round(1), index=pd.date_range(start, periods=months, freq="MS"), name="value")


def panel_of(*series: pd.Series, ids: list[str] | None = None):
    """A panel of the given monthly series (``ids`` default: series_0, series_1, ...)."""
    from pipeline.data.panel import Panel
    from pipeline.months import month_index

    ids = ids or [f"series_{i}" for i in range(len(series))]
    lengths = [len(s) for s in series]
    return Panel(list(ids), list(ids), np.array([month_index(s.index[0]) for s in series], dtype=np.int32),
                 np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
                 np.concatenate([s.to_numpy(dtype=float) for s in series]))


def write_csv(path: Path, series: pd.Series, date_column: str = "Month", target_column: str = "#Passengers") -> Path:
    """Write a series as the product's CSV format (YYYY-MM dates)."""
    frame = pd.DataFrame({date_column: series.index.strftime("%Y-%m"), target_column: series.to_numpy()})
    frame.to_csv(path, index=False)
    return path


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty run-state folder and a local SQLite MLflow store, private to the test."""
    monkeypatch.setenv("PIPELINE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("PIPELINE_HOME", str(ROOT))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("PIPELINE_FORECAST_DB_URL", raising=False)  # the forecast table in the state folder too
    return tmp_path / "state"


@pytest.fixture
def synthetic_csv(tmp_path: Path) -> Path:
    """72 months of synthetic seasonal data with trend, in the product's CSV format."""
    return write_csv(tmp_path / "synthetic.csv", seasonal_series())


@pytest.fixture
def webhook():
    """A real HTTP server on loopback that records every POST (path, JSON body)."""
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append((self.path, json.loads(self.rfile.read(int(self.headers["Content-Length"])))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], received
    server.shutdown()


def apprise_webhook(port: int, path: str = "hook") -> str:
    """An Apprise connection (JSON) that posts alerts as JSON to the :func:`webhook` server."""
    return json.dumps({"conn_type": "apprise", "extra": {"config": {"path": f"json://127.0.0.1:{port}/{path}"}}})


@pytest.fixture
def smtp_server():
    """A real SMTP server on loopback (aiosmtpd), no TLS, no login: (port, the messages it accepted)."""
    from email import message_from_bytes

    from aiosmtpd.controller import Controller

    from tests.pipeline.ops.test_faults import free_port

    class Keep:
        def __init__(self):
            self.messages = []

        async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
            self.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content)))
            return "250 OK"

    handler = Keep()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller.port, handler.messages
    controller.stop()


def untrained_forecaster(values, layers: int = 1, members: int = 2, steps: int = 3, lookback: int = 12):
    """A small ensemble forecaster (seeded, untrained) with log/relative scaling fitted on ``values``."""
    import torch

    from pipeline.data.features import fit_scaling
    from pipeline.model.forecaster import Forecaster
    from pipeline.model.lstm import LSTMRegressor, NetSpec

    torch.manual_seed(0)
    nets = [LSTMRegressor(NetSpec(8, layers, 0.1 if layers > 1 else 0.0, output_steps=steps)) for _ in range(members)]
    return Forecaster([(fit_scaling(values, lookback, steps, log=True, relative=True), nets)])
