import re

import mlflow
import numpy as np
import pytest

from pipeline.metrics import interval_scale
from pipeline.model.calibration import calibrate
from pipeline.ops import pyfunc, registry, tracking
from tests.conftest import panel_of, seasonal_series, untrained_forecaster


@pytest.mark.slow
def test_logged_panel_model_round_trips_through_the_registry(state):
    from pipeline.data.panel import shard_bounds, shards
    from pipeline.model.sharded import ShardedForecaster

    series = [seasonal_series(48, level=100.0 * (i + 1), seed=i) for i in range(5)]
    history = panel_of(*series, ids=["a", "b", "c", "d", "e"])
    parts = shards(history.ids, 3)
    values = np.linspace(100.0, 400.0, 48)
    residuals = np.random.default_rng(0).standard_normal((60, 3))
    calibration = {m: calibrate(residuals * scale, (80, 95))
                   for m, scale in (("lstm", 1.0), ("seasonal_naive", 2.0))}
    forecaster = ShardedForecaster([untrained_forecaster(values, layers=2), untrained_forecaster(values)],
                                   shard_bounds(history.ids, parts), 12, 3, {"e": "seasonal_naive"},
                                   calibration=calibration)
    client = tracking.configure()
    tracking.ensure_experiment(client, "t")
    mlflow.set_experiment("t")
    with mlflow.start_run() as run:
        info = pyfunc.log_forecaster(forecaster.save(state / "m"), history.subset([0, 1]), forecaster)
    version = registry.register_version(client, "m", info.model_uri, run.info.run_id)
    assert registry.register_version(client, "m", info.model_uri, run.info.run_id) == version, "idempotent"
    client.set_registered_model_alias("m", registry.CHAMPION, version)
    assert registry.alias_version(client, "m", registry.CHAMPION) == version
    assert registry.alias_version(client, "m", "nobody") is None
    assert registry.alias_version(client, "never-registered", registry.CHAMPION) is None

    loaded = mlflow.pyfunc.load_model("models:/m@champion")
    assert loaded.metadata.metadata["input"] == "history" and loaded.metadata.metadata["shards"] == 2
    frame = history.to_frame().sample(frac=1.0, random_state=0)  # any order
    table = loaded.predict(frame)
    assert list(table.columns) == ["series", "month", "forecast", "model", "lower_80", "upper_80", "lower_95",
                                   "upper_95"] and len(table) == 5 * 3
    expected = forecaster.forecast(history)
    for column in ("forecast", "lower_80", "upper_80", "lower_95", "upper_95"):
        np.testing.assert_allclose(table.sort_values(["series", "month"])[column].to_numpy(),
                                   expected.sort_values(["series", "month"])[column].to_numpy(), rtol=1e-6)
    assert ((table["lower_95"] < table["lower_80"]) & (table["lower_80"] < table["forecast"])
            & (table["forecast"] < table["upper_80"]) & (table["upper_80"] < table["upper_95"])).all()
    # the fallback series carries seasonal naive's (wider) calibration, the others the LSTM's
    spread = np.log(table["upper_95"] / table["forecast"])
    scales = {sid: interval_scale(history.values_of(history.position(sid)), 12) for sid in history.ids}
    relative = spread / table["series"].map(scales)
    assert relative[table["series"] == "e"].iloc[0] == pytest.approx(2 * relative[table["series"] == "a"].iloc[0])
    assert set(table.loc[table["series"] == "e", "model"]) == {"seasonal_naive"}, "the fallback series"
    assert table.loc[table["series"] == "a", "month"].tolist() == ["2004-01", "2004-02", "2004-03"]
    longer = loaded.predict(frame, params={"horizon": 6})
    assert len(longer) == 5 * 6
    unseen = history.to_frame().assign(series=lambda f: "new-" + f["series"])
    assert len(loaded.predict(unseen)) == 15, "a series never seen goes to the shard its hash points to"
    with pytest.raises(Exception, match="consecutive"):
        loaded.predict(frame.drop(frame.index[3]))
    # what a client sends wrong comes back as MLflow's own error (its message reaches the client), naming the series
    from mlflow.exceptions import MlflowException

    negative = frame.assign(value=lambda f: f["value"].where(f.index != f.index[5], -5.0))
    bad = {"a negative value": (negative, None, "is not a positive number"),
           "a duplicate month": (frame.iloc[[0, *range(len(frame))]], None, "duplicate month"),
           "horizon 10000": (frame, {"horizon": 10000}, "'horizon' must be a whole number of months from 1 to 60"),
           "one row": (frame.sort_values(["series", "month"]).iloc[:1], None, "history of series 'a': fewer than 12"),
           "horizon 0": (frame, {"horizon": 0}, "'horizon' must be a whole number of months from 1 to 60")}
    for case, (data, params, message) in bad.items():
        with pytest.raises(MlflowException, match=re.escape(message)) as refused:
            loaded.predict(data, params=params)
        assert refused.value.error_code == "INVALID_PARAMETER_VALUE", case


WINDOWS_MODEL = """
import mlflow
import numpy as np


class Windows(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        values = np.asarray(model_input, dtype=float)
        return np.repeat(values[:, -1:], 2, axis=1)  # the last month, twice


mlflow.models.set_model(Windows())
"""


@pytest.mark.slow
def test_a_version_from_before_panels_forecasts_through_the_same_interface(state, tmp_path):
    """Versions logged before panels took (n, lookback) windows: the registry runs them series by series, once the
    operator has signed them (python -m pipeline sign-model)."""
    from pipeline.errors import ModelIntegrityError
    from pipeline.ops import signing

    code = tmp_path / "windows.py"
    code.write_text(WINDOWS_MODEL)
    client = tracking.configure()
    tracking.ensure_experiment(client, "t")
    mlflow.set_experiment("t")
    with mlflow.start_run() as run:
        info = mlflow.pyfunc.log_model(name="model", python_model=str(code), metadata={"lookback": 12})
    version = registry.register_version(client, "old", info.model_uri, run.info.run_id)
    with pytest.raises(ModelIntegrityError, match="carries no signature"):
        pyfunc.load_version("old", version)
    signing.sign_version(client, "old", version)
    history = panel_of(seasonal_series(30), seasonal_series(40, seed=3))
    table = pyfunc.load_version("old", version).forecast(history, 5)
    assert len(table) == 10 and set(table["model"]) == {"lstm"}
    assert table["forecast"].iloc[0] == history.values_of(0)[-1]


def test_versions_logged_before_the_pyfunc_module_still_find_their_class():
    """Their ``mlflow_model.py`` imports ``PanelModel`` from the registry module, which runs against this package."""
    assert registry.PanelModel is pyfunc.PanelModel
    with pytest.raises(AttributeError, match="no attribute 'Nothing'"):
        registry.Nothing  # noqa: B018
