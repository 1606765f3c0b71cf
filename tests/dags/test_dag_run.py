"""Real Airflow DAG runs (``airflow dags test``) against a real local MLflow store, checked via MlflowClient."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import ROOT, TINY_TRIGGER, operator_config

pytestmark = pytest.mark.slow
DAG_ID = "lstm_monthly_retraining"
NAME = "air_passengers_lstm"
AIRFLOW = str(Path(sys.executable).with_name("airflow"))


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, str]:
    """A fresh Airflow home (SQLite, migrated) and run-state folder shared by this module's runs."""
    base = tmp_path_factory.mktemp("airflow-e2e")
    env = {**os.environ, "AIRFLOW_HOME": str(base / "airflow"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"), "PIPELINE_HOME": str(ROOT),
           "PIPELINE_STATE_DIR": str(base / "state"),
           "PIPELINE_CONFIG": str(operator_config(base / "operator.yaml"))}
    env.pop("MLFLOW_TRACKING_URI", None)
    subprocess.run([AIRFLOW, "db", "migrate"], env=env, check=True, capture_output=True, timeout=300)
    return env


def dags_test(env: dict[str, str], date: str, conf: dict) -> subprocess.CompletedProcess[str]:
    """Run the whole DAG once, in one process, as ``airflow dags test`` does."""
    return subprocess.run([AIRFLOW, "dags", "test", DAG_ID, date, "--conf", json.dumps(conf)], env=env,
                          capture_output=True, text=True, timeout=900, cwd=ROOT)


def client(env: dict[str, str]) -> MlflowClient:
    return MlflowClient(tracking_uri=f"sqlite:///{env['PIPELINE_STATE_DIR']}/mlflow.db")


def test_dag_run_trains_logs_and_registers_a_champion(env):
    result = dags_test(env, "1960-12-01", TINY_TRIGGER)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    mlflow = client(env)
    experiment = mlflow.get_experiment_by_name("lstm-monthly-retraining")
    (run,) = mlflow.search_runs([experiment.experiment_id], "tags.kind = 'monthly'")
    # The run at 1960-12-01 covers November 1960: it must not see December's row.
    assert run.info.run_name == "1960-11" and run.data.tags["data_rows"] == "143"
    assert run.data.tags["airflow.dag_id"] == DAG_ID and run.data.tags["airflow.run_id"].startswith("manual__")
    assert run.data.params["epochs"] == "3" and run.data.params["lookback"] == "12"
    assert [m.step for m in mlflow.get_metric_history(run.info.run_id, "train_loss")] == [1, 2, 3]
    assert {"holdout_mape", "holdout_rmse", "holdout_mae", "holdout_mase", "baseline_mape"} <= set(run.data.metrics)
    folds = mlflow.search_runs([experiment.experiment_id], f"tags.`mlflow.parentRunId` = '{run.info.run_id}'")
    assert len(folds) == 2 and "backtest_mase" in run.data.metrics
    assert {f.path for f in mlflow.list_artifacts(run.info.run_id, "plots")} == {
        "plots/loss_curves.png", "plots/holdout_forecast.png", "plots/future_forecast.png"}
    champion = mlflow.get_model_version_by_alias(NAME, "champion")
    assert champion.run_id == run.info.run_id and champion.tags["decision.promoted"] == "True"
    assert "ingest" in result.stdout + result.stderr and "epoch 3/3" in result.stdout + result.stderr


def test_second_dag_run_records_the_decision(env):
    result = dags_test(env, "1961-01-01", {**TINY_TRIGGER, "epochs": 4})
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    mlflow = client(env)
    latest = max(mlflow.search_model_versions(f"name='{NAME}'"), key=lambda v: int(v.version))
    assert str(latest.version) == "2"
    assert {"decision.promoted", "decision.reason", "decision.champion_backtest_mase",
            "decision.candidate_backtest_mase", "decision.champion_holdout_mase", "decision.champion_version",
            "decision.decided_at"} <= set(latest.tags)
    assert latest.tags["decision.champion_version"] == "1"
    assert float(latest.tags["decision.champion_backtest_mase"]) > 0
    run = mlflow.get_run(latest.run_id)
    assert run.info.run_name == "1960-12" and run.data.tags["decision"] in {"promoted", "rejected"}
    champion = mlflow.get_model_version_by_alias(NAME, "champion")
    expected = "2" if latest.tags["decision.promoted"] == "True" else "1"
    assert str(champion.version) == expected


def test_bad_data_fails_the_dag_without_retries_or_registration(env, tmp_path):
    bad = tmp_path / "bad.csv"
    rows = (ROOT / "data" / "AirPassengers.csv").read_text().splitlines()
    rows[5] = "1949-05,1 200"
    bad.write_text("\n".join(rows) + "\n")
    before = len(client(env).search_model_versions(f"name='{NAME}'"))
    operator = {**env, "PIPELINE_CONFIG": str(operator_config(tmp_path / "op.yaml", csv_path=str(bad)))}
    result = dags_test(operator, "1961-01-01", TINY_TRIGGER)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert f"{bad}, row 6, column '#Passengers': value '1 200' is not a number" in output
    assert "up_for_retry" not in output
    assert len(client(env).search_model_versions(f"name='{NAME}'")) == before


def test_mlflow_outage_is_retried_then_fails_saying_so(env):
    from tests.pipeline.ops.test_faults import free_port

    down = {**env, "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{free_port()}", "PIPELINE_TASK_RETRIES": "1",
            "PIPELINE_RETRY_DELAY_SECONDS": "1"}
    result = dags_test(down, "1961-01-01", TINY_TRIGGER)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert output.count(f"MLflow tracking server {down['MLFLOW_TRACKING_URI']} is unreachable") >= 2, output[-3000:]
    assert "up_for_retry" in output


def test_a_failed_run_sends_a_notice_through_the_alerts_connection(env, tmp_path, smtp_server):
    """Airflow's SMTP notifier, the connection given as a URI (its extras in the query), to a real SMTP server."""
    port, messages = smtp_server
    bad = tmp_path / "bad.csv"
    bad.write_text("Month,#Passengers\n1949-01,112\n1949-02,abc\n")
    alerting = {**env, "AIRFLOW_CONN_PIPELINE_ALERTS": f"smtp://127.0.0.1:{port}?to=ops%40example.com"
                                                       "&from_email=airflow%40example.com&disable_ssl=true"
                                                       "&disable_tls=true",
                "PIPELINE_CONFIG": str(operator_config(tmp_path / "op.yaml", csv_path=str(bad)))}
    result = dags_test(alerting, "1961-01-01", TINY_TRIGGER)
    assert result.returncode != 0
    assert messages, (result.stdout + result.stderr)[-3000:]
    recipients, mail = messages[0]
    assert recipients == ["ops@example.com"] and mail["Subject"].startswith(f"[airflow] {DAG_ID} failed")
    body = next(part for part in mail.walk() if part.get_content_type() == "text/html").get_payload(decode=True)
    assert b"validate" in body and b"&#x27;abc&#x27; is not a number" in body


@pytest.fixture(scope="module")
def fresh_env(tmp_path_factory) -> dict[str, str]:
    """An Airflow home and an empty state folder (no MLflow store) with no deployment config."""
    base = tmp_path_factory.mktemp("airflow-refused")
    env = {**os.environ, "AIRFLOW_HOME": str(base / "airflow"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"), "PIPELINE_HOME": str(ROOT),
           "PIPELINE_STATE_DIR": str(base / "state")}
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("PIPELINE_CONFIG", None)
    subprocess.run([AIRFLOW, "db", "migrate"], env=env, check=True, capture_output=True, timeout=300)
    return env


@pytest.mark.parametrize("conf, refused", [
    ({"epoch": 2}, "unknown DAG param 'epoch' (did you mean 'epochs'?)"),
    ({"csv_path": "/proc/self/environ", "data_dir": "/proc"}, "DAG param 'csv_path' is set by the operator"),
    ({"learning_rate": float("nan")}, "Invalid input for param learning_rate: nan"),  # refused by the schema
])
def test_a_conf_a_trigger_may_not_give_fails_before_anything_runs(fresh_env, conf, refused):
    """Unknown keys, operator settings and non-finite values are refused at once: no retry, no MLflow run."""
    result = dags_test(fresh_env, "1961-01-01", conf)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and refused in output, output[-3000:]
    assert "up_for_retry" not in output and "PATH=" not in output
    assert not (Path(fresh_env["PIPELINE_STATE_DIR"]) / "mlflow.db").exists(), "nothing opened in MLflow"
