import math

import mlflow
import numpy as np
import pytest
import torch

from pipeline import registry, tracking
from pipeline.features import fit_scaler
from pipeline.model import Forecaster, LSTMRegressor, NetSpec


@pytest.mark.parametrize("candidate, baseline, champion, gate, promoted, reason", [
    (5.0, 8.0, None, True, True, "no champion yet"),
    (5.0, 8.0, 6.0, True, True, "beats champion"),
    (6.0, 8.0, 6.0, True, False, "not better than champion"),
    (7.0, 8.0, 6.0, True, False, "not better than champion"),
    (9.0, 8.0, None, True, False, "does not beat seasonal naive"),
    (9.0, 8.0, None, False, True, "no champion yet"),
    (math.nan, 8.0, None, False, False, "not finite"),
    (math.inf, 8.0, 6.0, False, False, "not finite"),
])
def test_promotion_gate(candidate, baseline, champion, gate, promoted, reason):
    decided, why = registry.decide(candidate, baseline, champion, gate)
    assert decided is promoted and reason in why


@pytest.mark.slow
def test_logged_model_round_trips_through_the_registry(state):
    torch.manual_seed(0)
    values = np.linspace(100.0, 400.0, 48)
    forecaster = Forecaster(LSTMRegressor(NetSpec(8, 2, 0.1)), fit_scaler(values), lookback=12)
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
    assert predicted.shape == (7,), "the logged model must take a batch of several windows"
    np.testing.assert_allclose(predicted, forecaster.predict_next(windows), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(loaded.predict(windows[:1])), predicted[:1], rtol=1e-6)
    assert list(loaded.metadata.signature.inputs.to_dict()[0]["tensor-spec"]["shape"]) == [-1, 12]
