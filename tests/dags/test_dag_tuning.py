"""The tuning DAG end to end (``airflow dags test lstm_tuning``, 2 trials as mapped tasks) and a monthly DAG run that
takes its output (``tuned_config: latest``), against a real MLflow store."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from pipeline.ops import registry
from tests.conftest import ROOT, TINY, operator_config
from tests.dags.test_dag_run import AIRFLOW, client

pytestmark = pytest.mark.slow
NAME = "air_passengers_lstm"


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, str]:
    """A fresh Airflow home whose operator config holds the tiny model settings (a tuning trigger sets only the
    tuning's own)."""
    base = tmp_path_factory.mktemp("airflow-tuning")
    settings = {k: v for k, v in TINY.items() if k != "allow_any_csv_path"}
    env = {**os.environ, "AIRFLOW_HOME": str(base / "airflow"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"), "PIPELINE_HOME": str(ROOT),
           "PIPELINE_STATE_DIR": str(base / "state"),
           "PIPELINE_CONFIG": str(operator_config(base / "operator.yaml", **settings))}
    env.pop("MLFLOW_TRACKING_URI", None)
    subprocess.run([AIRFLOW, "db", "migrate"], env=env, check=True, capture_output=True, timeout=300)
    return env


def dags_test(env, dag_id, conf):
    result = subprocess.run([AIRFLOW, "dags", "test", dag_id, "1961-01-01", "--conf", json.dumps(conf)], env=env,
                            capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return result


def test_tuning_dag_registers_a_configuration_the_monthly_run_then_uses(env):
    out = dags_test(env, "lstm_tuning", {"tune_trials": 2, "seed": 5})
    mlflow = client(env)
    experiment = mlflow.get_experiment_by_name("lstm-monthly-retraining-tuning")
    (run,) = mlflow.search_runs([experiment.experiment_id], "tags.kind = 'tuning'")
    assert run.data.tags["airflow.dag_id"] == "lstm_tuning" and run.data.params["tune_trials"] == "2"
    trials = mlflow.search_runs([experiment.experiment_id], f"tags.`mlflow.parentRunId` = '{run.info.run_id}'")
    assert sorted(t.data.tags["trial"] for t in trials) == ["0", "1"] and "## tuning" in out.stdout + out.stderr
    version = mlflow.get_model_version(registry.tuned_name(NAME), "1")
    assert version.run_id == run.info.run_id
    tuned = registry.tuned_settings(mlflow, NAME)
    if tuned is None:  # the configuration in use won: the alias stays unset and the monthly run says so
        expected = "none registered yet: the configured values"
    else:
        expected = f"v{tuned[0]} (trial {tuned[1]['trial']} of {tuned[1]['run_key']})"
    dags_test(env, "lstm_monthly_retraining", {"tuned_config": "latest"})
    monthly = mlflow.get_experiment_by_name("lstm-monthly-retraining")
    (month,) = mlflow.search_runs([monthly.experiment_id], "tags.kind = 'monthly'")
    assert month.data.tags["tuned_config"].startswith(expected)
    if tuned is not None:
        assert {k: month.data.params[k] for k in tuned[1]["params"]} == \
            {k: str(v) for k, v in tuned[1]["params"].items()}
    assert f"model settings: tuned_config latest, {expected}" in month.data.tags["mlflow.note.content"]
