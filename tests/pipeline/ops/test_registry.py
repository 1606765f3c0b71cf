import math

import mlflow
import numpy as np
import pytest

from pipeline.ops import registry, tracking
from tests.conftest import untrained_forecaster

S = registry.Scores


@pytest.mark.parametrize("candidate, baseline, champion, gate, promoted, reason", [
    (S(5.0, 4.0), 8.0, None, True, True, "no champion yet"),
    (S(5.0, 4.0), 8.0, S(6.0, 1.0), True, True, "beats champion 6.000 on the same folds"),
    (S(7.0, 1.0), 8.0, S(6.0, 9.0), True, False, "is not better than champion 6.000"),
    (S(6.0, 3.0), 8.0, S(6.0, 4.0), True, True, "same backtest MAPE 6.000; candidate holdout MAPE 3.000 beats"),
    (S(6.0, 4.0), 8.0, S(6.0, 4.0), True, False, "is not better than champion 4.000"),
    (S(9.0, 1.0), 8.0, None, True, False, "does not beat seasonal naive 8.000"),
    (S(9.0, 1.0), 8.0, None, False, True, "no champion yet"),
    (S(math.nan, 1.0), 8.0, None, False, False, "not finite"),
    (S(5.0, math.inf), 8.0, S(6.0, 1.0), False, False, "not finite"),
])
def test_promotion_gate(candidate, baseline, champion, gate, promoted, reason):
    decided, why = registry.decide(candidate, baseline, champion, gate)
    assert decided is promoted and reason in why


def test_decision_tags_are_a_flat_audit_trail():
    decision = registry.Decision("m", "3", S(5.0, 4.0), 8.0, "2", S(6.0, 5.0), True, "why", "2026-01-01T00:00:00")
    tags = decision.as_tags()
    assert tags["decision.champion_version"] == "2" and tags["decision.candidate_backtest_mape"] == "5.0"
    assert tags["decision.champion_holdout_mape"] == "5.0" and tags["decision.reason"] == "why"
    assert registry.Decision("m", "1", S(5.0, 4.0), 8.0, None, None, True, "", "").as_tags()[
        "decision.champion_backtest_mape"] == "None"


@pytest.mark.slow
def test_logged_model_round_trips_through_the_registry(state):
    values = np.linspace(100.0, 400.0, 48)
    forecaster = untrained_forecaster(values, layers=2)
    windows = np.stack([values[i:i + 12] for i in range(7)])
    client = tracking.configure()
    tracking.ensure_experiment(client, "t")
    mlflow.set_experiment("t")
    with mlflow.start_run() as run:
        info = registry.log_forecaster(forecaster.save(state / "m"), windows[:3], forecaster)
    version = registry.register_version(client, "m", info.model_uri, run.info.run_id)
    assert registry.register_version(client, "m", info.model_uri, run.info.run_id) == version, "idempotent"
    client.set_registered_model_alias("m", registry.CHAMPION, version)
    assert registry.alias_version(client, "m", registry.CHAMPION) == version
    assert registry.alias_version(client, "m", "nobody") is None

    loaded = mlflow.pyfunc.load_model("models:/m@champion")
    assert loaded.metadata.metadata["lookback"] == 12
    predicted = np.asarray(loaded.predict(windows))
    assert predicted.shape == (7, 3), "the logged model must take a batch of several windows"
    np.testing.assert_allclose(predicted, forecaster.predict(windows), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(loaded.predict(windows[:1])), predicted[:1], rtol=1e-6)
    assert list(loaded.metadata.signature.inputs.to_dict()[0]["tensor-spec"]["shape"]) == [-1, 12]


def test_version_config_reads_the_versions_own_settings(state):
    from pipeline.config import load_config

    client = tracking.configure()
    tracking.ensure_experiment(client, "t")
    mlflow.set_experiment("t")
    client.create_registered_model("cfg")
    base = load_config()
    versions = {}
    for label, params in {"earlier release": {"lookback": 24, "hidden_size": 32},
                          "current": {"lookback": 12, "seasonal_lookback": 3, "hidden_size": 32}}.items():
        with mlflow.start_run() as run:
            mlflow.log_params(params)
        versions[label] = client.create_model_version("cfg", f"runs:/{run.info.run_id}/model", run.info.run_id).version
    earlier = registry.version_config(client, "cfg", versions["earlier release"], base)
    # trained before the year-over-year view existed: it had none, whatever today's default says
    assert (earlier.lookback, earlier.seasonal_lookback, earlier.hidden_size) == (24, 0, 32)
    current = registry.version_config(client, "cfg", versions["current"], base)
    assert (current.lookback, current.seasonal_lookback, current.epochs) == (12, 3, base.epochs)
