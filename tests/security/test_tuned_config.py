"""A registered tuned configuration and a trigger set model settings only: whoever registers `<model>_tuned` first
(any MLflow account may create a registered model) or triggers a DAG does not reach the operator's keys."""

import json

import mlflow
import pytest

from pipeline.config import OPERATOR_KEYS, TRIGGER_KEYS, TUNABLE_KEYS, TUNING_TRIGGER_KEYS
from pipeline.errors import ConfigError
from pipeline.ops import registry, tracking
from pipeline.overrides import trigger_overrides
from pipeline.steps import prepare, tune
from tests.conftest import TINY, operator_config, tracking_client

pytestmark = pytest.mark.security
NAME = "air_passengers_lstm"


@pytest.fixture
def deployment(state, synthetic_csv, tmp_path, monkeypatch):
    values = {k: v for k, v in TINY.items() if k != "allow_any_csv_path"}
    monkeypatch.setenv("PIPELINE_CONFIG", str(operator_config(tmp_path / "op.yaml", csv_path=str(synthetic_csv),
                                                              **values)))
    return state


def squat(params: dict) -> None:
    """Register a `_tuned` version as another account would: a run with its own tuned/config.json, alias `tuned`."""
    client = tracking.configure()
    mlflow.set_experiment("squatter")
    with mlflow.start_run() as run:
        mlflow.log_dict({"preset": "lstm-direct", "params": params, "trial": 0, "run_key": "x"}, registry.TUNED_FILE)
    client.create_registered_model(registry.tuned_name(NAME))
    version = client.create_model_version(registry.tuned_name(NAME), f"{run.info.artifact_uri}/tuned",
                                          run_id=run.info.run_id)
    client.set_registered_model_alias(registry.tuned_name(NAME), registry.TUNED, version.version)


def test_a_squatted_tuned_version_that_sets_operator_keys_is_refused_before_anything_is_read(deployment):
    squat({"csv_path": "/etc/hostname", "allow_any_csv_path": True, "hidden_size": 8})
    with pytest.raises(ConfigError, match=r"air_passengers_lstm_tuned v1 sets 'allow_any_csv_path', 'csv_path': "
                                          r"a tuned configuration may set model settings only") as error:
        prepare.ingest("monthly/squatted", "2006-01-01", trigger={"tuned_config": "latest"})
    assert "/etc/hostname" not in str(error.value) and not (deployment / "runs" / "monthly").exists()
    assert tracking_client().get_experiment_by_name("lstm-monthly-retraining") is None, "no run was opened"


def test_a_tuned_version_of_model_settings_is_taken(deployment):
    squat({"hidden_size": 16})
    ctx = prepare.ingest("monthly/tuned", "2006-01-01", trigger={"tuned_config": "latest"})
    assert ctx.cfg.hidden_size == 16 and ctx.tuned.startswith("v1 (trial 0 of x): hidden_size=16")


def test_what_a_tuned_configuration_may_set():
    assert set(TUNABLE_KEYS) <= set(TRIGGER_KEYS) and not set(TUNABLE_KEYS) & set(OPERATOR_KEYS)
    assert {"hidden_size", "epochs", "learning_rate"} <= set(TUNABLE_KEYS)
    assert not {"csv_path", "preset", "tuned_config", "season_length", "shard_size"} & set(TUNABLE_KEYS)


def test_each_dag_checks_its_trigger_against_its_own_params(deployment):
    from airflow.dag_processing.dagbag import DagBag

    from tests.conftest import ROOT

    dags = DagBag(dag_folder=str(ROOT / "dags")).dags
    assert set(dags["lstm_tuning"].params) == set(TUNING_TRIGGER_KEYS)
    assert set(dags["lstm_monthly_retraining"].params) == set(TRIGGER_KEYS)
    assert trigger_overrides({"tune_trials": 2}, TUNING_TRIGGER_KEYS) == {"tune_trials": 2}
    with pytest.raises(ConfigError, match="unknown DAG param 'epochs'; a trigger of this DAG may set: tune_trials"):
        trigger_overrides({"epochs": 2}, TUNING_TRIGGER_KEYS)
    with pytest.raises(ConfigError, match="unknown DAG param 'hidden_size'"):
        tune.ingest("tuning/wide", "2006-01-01", trigger={"hidden_size": 512})
    assert json.dumps(trigger_overrides({"epochs": 2})) == '{"epochs": 2}'
