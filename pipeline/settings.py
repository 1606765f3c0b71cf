"""Where the pipeline keeps its run state; everything is read from the environment at call time.

- ``PIPELINE_HOME``: the project folder relative paths (the CSV) are resolved against (default: cwd).
- ``PIPELINE_STATE_DIR``: run state (work folders, MLflow store) (default: ``$PIPELINE_HOME/.state``).
- ``MLFLOW_TRACKING_URI``: the MLflow tracking server or store (default: SQLite in the state folder).
- ``PIPELINE_MLFLOW_UI_URL``: where people open the MLflow UI, for the links of run summaries (default: the
  tracking server; with the local store, ``make mlflow-ui``'s address).
- ``PIPELINE_FORECAST_DB_URL``: the database of the published forecasts' table, a SQLAlchemy URL (default: SQLite in
  the state folder; the deployments: their PostgreSQL server).
- ``PIPELINE_WORKER_NAME``: the host name task instances record (a worker's name; default: the machine's).
- ``PIPELINE_TORCH_THREADS``: CPU threads torch may use per process (default 1: these small networks train no
  faster on more, and parallel tasks, such as the mapped backtest folds, would fight over the cores).
- ``PIPELINE_TRAIN_THREADS``: networks of an ensemble trained side by side, one per thread (default: the CPUs this
  process may use). The results do not depend on it.
- ``PIPELINE_OPTIMIZER``: ``builtin`` (default: the pipeline's Adam, without torch.optim's 1.4 s import) or
  ``torch`` (``torch.optim.Adam``). The results do not depend on it.
"""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path

from pipeline.errors import ConfigError, excerpt


def project_home() -> Path:
    """The folder that relative data paths are resolved against."""
    return Path(os.environ.get("PIPELINE_HOME") or os.getcwd()).resolve()


def state_dir() -> Path:
    """The run-state folder (never tracked by git)."""
    configured = os.environ.get("PIPELINE_STATE_DIR")
    return Path(configured).resolve() if configured else project_home() / ".state"


def tracking_uri() -> str:
    """``MLFLOW_TRACKING_URI`` if set, else a SQLite store in the state folder."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{state_dir() / 'mlflow.db'}"


def mlflow_ui_url() -> str:
    """``PIPELINE_MLFLOW_UI_URL`` if set, else the tracking server, else ``make mlflow-ui``'s address."""
    uri = tracking_uri()
    return (os.environ.get("PIPELINE_MLFLOW_UI_URL")
            or (uri if uri.startswith(("http://", "https://")) else "http://127.0.0.1:5000")).rstrip("/")


def forecast_db_url() -> str:
    """``PIPELINE_FORECAST_DB_URL`` if set, else a SQLite database in the state folder."""
    return os.environ.get("PIPELINE_FORECAST_DB_URL") or f"sqlite:///{state_dir() / 'forecasts.db'}"


def _positive_int(name: str, default: int) -> int:
    value = os.environ.get(name) or str(default)
    if not value.isdigit() or int(value) < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def torch_threads() -> int:
    """CPU threads per process for torch (``PIPELINE_TORCH_THREADS``, default 1)."""
    return _positive_int("PIPELINE_TORCH_THREADS", 1)


def train_threads() -> int:
    """Networks trained at once per process (``PIPELINE_TRAIN_THREADS``, default: the CPUs this process may use)."""
    return _positive_int("PIPELINE_TRAIN_THREADS", len(os.sched_getaffinity(0)))


OPTIMIZERS = ("builtin", "torch")


def optimizer() -> str:
    """Which Adam trains the networks (``PIPELINE_OPTIMIZER``, default ``builtin``)."""
    value = os.environ.get("PIPELINE_OPTIMIZER") or "builtin"
    if value not in OPTIMIZERS:
        raise ConfigError(f"PIPELINE_OPTIMIZER must be one of {', '.join(OPTIMIZERS)}, got {excerpt(value)}")
    return value


def worker_hostname() -> str:
    """The host name a task instance records (Airflow's ``hostname_callable``): ``PIPELINE_WORKER_NAME`` when set
    (several Celery workers on one machine tell themselves apart), else the machine's name."""
    return os.environ.get("PIPELINE_WORKER_NAME") or socket.getfqdn()


def artifact_root() -> Path:
    """Where experiments created against the default local store keep their artifacts."""
    return state_dir() / "mlartifacts"


def resolve_data_path(path: str | os.PathLike[str], data_dir: str | os.PathLike[str] = "data",
                      allow_outside: bool = False) -> Path:
    """Resolve a CSV path against the project home; it must lie inside ``data_dir`` unless ``allow_outside``."""
    home = project_home()
    candidate = Path(path).expanduser()
    resolved = (candidate if candidate.is_absolute() else home / candidate).resolve()
    folder = (home / Path(data_dir).expanduser()).resolve()
    if not allow_outside and not resolved.is_relative_to(folder):
        raise ConfigError(f"CSV path {resolved} is outside the data folder {folder}; move it there or set "
                          "allow_any_csv_path=true")
    return resolved


RUN_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.~:+/@ -]{0,249}")


def check_run_key(run_key: str) -> str:
    """A run key names the month's MLflow run (a tag searched by value) and its work folder: refuse anything
    but the characters of Airflow run ids, ``/``, ``@`` and spaces."""
    if not RUN_KEY.fullmatch(str(run_key)):
        raise ConfigError(f"run key {excerpt(run_key)} may only hold letters, digits, spaces and _ . ~ : + / @ - "
                          "(at most 250, starting with a letter or digit)")
    return run_key


def work_dir(run_key: str) -> Path:
    """The per-run work folder (created on demand by the caller)."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", run_key).strip("_") or "run"
    return state_dir() / "runs" / safe
