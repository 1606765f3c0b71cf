import math

import mlflow
import numpy as np
import pytest

from pipeline.metrics import log_scale
from pipeline.model.calibration import calibrate
from pipeline.ops import registry, tracking
from tests.conftest import panel_of, seasonal_series, untrained_forecaster

S = registry.Scores


@pytest.mark.parametrize("candidate, baseline, champion, gate, promoted, reason", [
    (S(0.5, 0.4), 0.8, None, True, True, "no champion yet"),
    (S(0.5, 0.4), 0.8, S(0.6, 0.1), True, True, "beats champion 0.6000 on the same folds"),
    (S(0.7, 0.1), 0.8, S(0.6, 0.9), True, False, "is not better than champion 0.6000"),
    (S(0.6, 0.3), 0.8, S(0.6, 0.4), True, True, "same backtest MASE 0.6000; candidate holdout MASE 0.3000 beats"),
    (S(0.6, 0.4), 0.8, S(0.6, 0.4), True, False, "is not better than champion 0.4000"),
    (S(0.9, 0.1), 0.8, None, True, False, "does not beat seasonal naive 0.8000"),
    (S(0.9, 0.1), 0.8, None, False, True, "no champion yet"),
    (S(math.nan, 0.1), 0.8, None, False, False, "not finite"),
    (S(0.5, math.inf), 0.8, S(0.6, 0.1), False, False, "not finite"),
])
def test_promotion_gate_on_mean_mase(candidate, baseline, champion, gate, promoted, reason):
    decided, why = registry.decide(candidate, baseline, champion, gate)
    assert decided is promoted and reason in why


@pytest.mark.parametrize("coverage, promoted, reason", [
    ((95, 0.80, 0.05), False, "95 % intervals covered 80.0% of the backtest months, more than 5% from 95 %"),
    ((95, 1.00, 0.04), False, "covered 100.0%"),  # too wide is miscalibrated too
    ((95, 0.93, 0.05), True, "no champion yet"),
    ((95, None, 0.05), True, "no champion yet"),  # not measured (too few residuals): judged on MASE alone
])
def test_the_gate_refuses_a_candidate_with_miscalibrated_intervals(coverage, promoted, reason):
    decided, why = registry.decide(S(0.5, 0.4), 0.8, None, True, coverage=coverage)
    assert decided is promoted and reason in why


def test_decision_tags_are_a_flat_audit_trail():
    decision = registry.Decision("m", "3", S(0.5, 0.4), 0.8, "2", S(0.6, 0.5), True, "why", "2026-01-01T00:00:00")
    tags = decision.as_tags()
    assert tags["decision.champion_version"] == "2" and tags["decision.candidate_backtest_mase"] == "0.5"
    assert tags["decision.champion_holdout_mase"] == "0.5" and tags["decision.reason"] == "why"
    assert registry.Decision("m", "1", S(0.5, 0.4), 0.8, None, None, True, "", "").as_tags()[
        "decision.champion_backtest_mase"] == "None"
    covered = registry.Decision("m", "1", S(0.5, 0.4), 0.8, None, None, True, "", "", {"coverage_95": 0.9})
    assert covered.as_tags()["decision.candidate_backtest_coverage_95"] == "0.9"


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
                                   shard_bounds(history.ids, parts), 12, 3, {"e"}, calibration)
    client = tracking.configure()
    tracking.ensure_experiment(client, "t")
    mlflow.set_experiment("t")
    with mlflow.start_run() as run:
        info = registry.log_forecaster(forecaster.save(state / "m"), history.subset([0, 1]), forecaster)
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
    scales = {sid: log_scale(history.values_of(history.position(sid)), 12) for sid in history.ids}
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


@pytest.mark.slow
def test_a_version_from_before_panels_forecasts_through_the_same_interface(state):
    """Versions logged before panels took (n, lookback) windows: the registry runs them series by series."""

    class Windows(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):
            values = np.asarray(model_input, dtype=float)
            return np.repeat(values[:, -1:], 2, axis=1)  # the last month, twice

    client = tracking.configure()
    tracking.ensure_experiment(client, "t")
    mlflow.set_experiment("t")
    with mlflow.start_run() as run:
        info = mlflow.pyfunc.log_model(name="model", python_model=Windows(), metadata={"lookback": 12})
    version = registry.register_version(client, "old", info.model_uri, run.info.run_id)
    history = panel_of(seasonal_series(30), seasonal_series(40, seed=3))
    table = registry.load_version("old", version).forecast(history, 5)
    assert len(table) == 10 and set(table["model"]) == {"lstm"}
    assert table["forecast"].iloc[0] == history.values_of(0)[-1]


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
