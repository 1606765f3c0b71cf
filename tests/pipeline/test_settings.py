from pathlib import Path

import pytest

from pipeline import settings
from pipeline.errors import ConfigError


def test_state_and_store_follow_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("PIPELINE_HOME", str(tmp_path))
    monkeypatch.delenv("PIPELINE_STATE_DIR", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert settings.state_dir() == tmp_path.resolve() / ".state"
    assert settings.tracking_uri() == f"sqlite:///{tmp_path.resolve() / '.state' / 'mlflow.db'}"
    monkeypatch.setenv("PIPELINE_STATE_DIR", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert settings.state_dir() == (tmp_path / "elsewhere").resolve()
    assert settings.tracking_uri() == "http://127.0.0.1:5000"
    assert settings.artifact_root() == (tmp_path / "elsewhere").resolve() / "mlartifacts"


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5"])
def test_thread_counts_must_be_positive_integers(monkeypatch, value):
    monkeypatch.setenv("PIPELINE_TORCH_THREADS", value)
    with pytest.raises(ConfigError, match=f"PIPELINE_TORCH_THREADS must be a positive integer, got '{value}'"):
        settings.torch_threads()
    monkeypatch.setenv("PIPELINE_TRAIN_THREADS", value)
    with pytest.raises(ConfigError, match="PIPELINE_TRAIN_THREADS"):
        settings.train_threads()


def test_thread_defaults(monkeypatch):
    import os

    monkeypatch.delenv("PIPELINE_TORCH_THREADS", raising=False)
    monkeypatch.delenv("PIPELINE_TRAIN_THREADS", raising=False)
    assert settings.torch_threads() == 1 and settings.train_threads() == len(os.sched_getaffinity(0))


def test_a_worker_names_itself(monkeypatch):
    monkeypatch.setenv("PIPELINE_WORKER_NAME", "worker-2@host")
    assert settings.worker_hostname() == "worker-2@host"
    monkeypatch.delenv("PIPELINE_WORKER_NAME")
    assert settings.worker_hostname()


def test_csv_paths_stay_inside_the_data_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("PIPELINE_HOME", str(tmp_path))
    assert settings.resolve_data_path("data/a.csv") == tmp_path.resolve() / "data" / "a.csv"
    for outside in ("data/../secrets.csv", "/etc/passwd", "other/a.csv"):
        with pytest.raises(ConfigError, match="is outside the data folder"):
            settings.resolve_data_path(outside)
    assert settings.resolve_data_path("/etc/hostname", allow_outside=True) == Path("/etc/hostname").resolve()


@pytest.mark.parametrize("key, ok", [("lstm_monthly_retraining/manual__2026-01-01T00:00:00+00:00", True),
                                     ("cli/20260101T000000", True), ("backfill/1960-01", True),
                                     ("", False), ("../../etc", False), ("a\nb", False), ("x" * 251, False),
                                     ("run'; drop", False)])
def test_run_keys_are_refused_unless_plain(key, ok):
    if ok:
        assert settings.check_run_key(key) == key
    else:
        with pytest.raises(ConfigError, match="run key"):
            settings.check_run_key(key)


def test_the_work_folder_of_a_run_key_is_one_safe_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("PIPELINE_STATE_DIR", str(tmp_path))
    folder = settings.work_dir("lstm_monthly_retraining/manual__2026-01-01T00:00:00+00:00")
    assert folder.parent == tmp_path.resolve() / "runs" and "/" not in folder.name and ":" not in folder.name
    assert settings.work_dir("a/b") != settings.work_dir("a/c")
