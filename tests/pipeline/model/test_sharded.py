import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.data.panel import shard_bounds, shard_for, shards
from pipeline.errors import ConfigError, ModelIntegrityError
from pipeline.metrics import seasonal_naive
from pipeline.model.sharded import ShardedForecaster
from pipeline.theta import theta
from tests.conftest import panel_of, seasonal_series, untrained_forecaster


def _model(ids, choice=None, default="lstm"):
    values = np.linspace(100.0, 400.0, 48)
    parts = shards(ids, 2)
    nets = [untrained_forecaster(values, steps=3, lookback=18), untrained_forecaster(values, members=1, steps=3)]
    return ShardedForecaster(nets[: len(parts)], shard_bounds(ids, parts), 12, 3, dict(choice or {}), default)


def test_each_series_is_forecast_by_its_shard_or_falls_back():
    history = panel_of(*(seasonal_series(36, level=100.0 * (i + 1), seed=i) for i in range(4)), ids=list("abcd"))
    model = _model(history.ids, choice={"c": "seasonal_naive"})
    table = model.forecast(history)
    assert list(table.columns) == ["series", "month", "forecast", "model"] and len(table) == 12
    assert table["month"].iloc[:3].tolist() == ["2003-01", "2003-02", "2003-03"]
    c = table[table["series"] == "c"]
    assert set(c["model"]) == {"seasonal_naive"}
    np.testing.assert_allclose(c["forecast"], seasonal_naive(history.values_of(2), 3, 12))
    for sid in "abd":
        k = shard_for(sid, model.bounds)
        i = history.position(sid)
        expected = model.shards[k].predict(history.values_of(i)[None, -model.shards[k].lookback:])[0]
        np.testing.assert_allclose(table.loc[table["series"] == sid, "forecast"], expected, rtol=1e-6)
    assert len(model.forecast(history, 7)) == 28, "past the networks' 3 months, recursively"


def test_a_short_history_is_backcast_for_the_network_and_below_a_season_and_a_month_falls_back():
    history = panel_of(seasonal_series(12), seasonal_series(14, seed=1), seasonal_series(36, seed=2),
                       ids=["year", "short", "long"])
    model = _model(history.ids)
    table = model.forecast(history)
    used = table.groupby("series")["model"].first().to_dict()
    assert used == {"year": "seasonal_naive", "short": "lstm", "long": "lstm"}
    np.testing.assert_allclose(table.loc[table["series"] == "year", "forecast"],
                               seasonal_naive(history.values_of(0), 3, 12))
    # the 14 months read as 18: the first season repeated before them (no change from year to year)
    short = history.values_of(1)
    network = model.shards[shard_for("short", model.bounds)]
    window = np.concatenate([short[8:12], short])[None, -network.lookback:]  # 4 months before: months 9-12
    np.testing.assert_allclose(table.loc[table["series"] == "short", "forecast"], network.predict(window)[0],
                               rtol=1e-6)
    with pytest.raises(ConfigError, match="fewer than 12 months"):
        model.forecast(panel_of(seasonal_series(8)))


def test_zeros_negative_values_and_unchanging_series_are_forecast_in_their_domain():
    from pipeline.model.calibration import calibrate

    t = np.arange(48)
    counts = np.where(t % 12 < 3, 0.0, 40.0 + 20 * np.sin(2 * np.pi * t / 12) + t)  # no sales in winter
    celsius = 8.0 + 12.0 * np.sin(2 * np.pi * (t - 3) / 12) + 0.05 * t  # below zero in winter
    unchanging = np.tile(np.arange(1.0, 13.0), 4)  # the same every year
    history = panel_of(*(pd.Series(v, index=pd.date_range("2000-01", periods=48, freq="MS"))
                         for v in (counts, celsius, unchanging, np.zeros(48))), ids=["counts", "celsius", "same",
                                                                                      "zeros"])
    model = _model(history.ids)
    rng = np.random.default_rng(0)
    model.calibration = {m: calibrate(rng.normal(0, 1, (60, 3)), (80, 95)) for m in ("lstm", "seasonal_naive")}
    table = model.forecast(history, 12).set_index("series")
    assert table.loc["counts", "model"].eq("lstm").all() and (table.loc["counts", "forecast"] >= 0).all()
    assert (table.loc["counts", "lower_95"] >= 0).all()  # a nonnegative series: never a bound below zero
    assert table.loc["celsius", "model"].eq("lstm").all() and (table.loc["celsius", "lower_95"] < 0).any()
    for sid in ("same", "zeros"):  # nothing to learn: the rule repeats the last year, and says so
        assert table.loc[sid, "model"].eq("seasonal_naive").all()
        np.testing.assert_allclose(table.loc[sid, "forecast"], history.values_of(history.position(sid))[-12:])
        assert table.loc[sid, ["lower_95", "upper_95"]].isna().all().all()  # no error to scale an interval by
    rest = table.loc[["counts", "celsius"], ["forecast", "lower_80", "upper_80", "lower_95", "upper_95"]]
    assert np.isfinite(rest.to_numpy()).all()


def test_save_load_round_trip_checks_every_shards_weights(tmp_path):
    history = panel_of(*(seasonal_series(36, seed=i) for i in range(4)), ids=list("wxyz"))
    model = _model(history.ids, choice={"x": "theta", "y": "lstm"}, default="lstm_theta")
    files = model.save(tmp_path)
    loaded = ShardedForecaster.load(files, model.checksums(files))
    assert (loaded.choice, loaded.default) == ({"x": "theta", "y": "lstm"}, "lstm_theta")
    assert loaded.fallback == {"x"} and loaded.bounds == model.bounds and len(loaded.shards) == len(model.shards)
    np.testing.assert_allclose(loaded.forecast(history)["forecast"], model.forecast(history)["forecast"])
    weights = Path(files["shard_1_weights"])
    raw = bytearray(weights.read_bytes())
    raw[-100:-84] = bytes(16)
    weights.write_bytes(bytes(raw))
    with pytest.raises(ModelIntegrityError, match="do not match the checksum"):
        ShardedForecaster.load(files)  # the checksum in the shard's own spec catches it too


def test_each_series_is_forecast_by_its_chosen_candidate_and_a_series_never_seen_by_the_default():
    history = panel_of(*(seasonal_series(48, level=100.0 * (i + 1), seed=i) for i in range(4)), ids=list("abcd"))
    model = _model(history.ids, choice={"a": "lstm", "b": "theta", "c": "lstm_theta"}, default="theta")
    table = model.forecast(history, 6)
    used = table.groupby("series")["model"].first().to_dict()
    assert used == {"a": "lstm", "b": "theta", "c": "lstm_theta", "d": "theta"}, "d: never chosen, the default"
    lstm = _model(history.ids).forecast(history, 6).set_index("series")["forecast"]
    by = table.set_index("series")["forecast"]
    for sid in "bcd":
        expected = theta(history.values_of(history.position(sid)), 6, 12)
        if sid == "c":
            expected = (expected + lstm.loc[sid].to_numpy()) / 2
        np.testing.assert_allclose(by.loc[sid], expected, rtol=1e-6)
    np.testing.assert_allclose(by.loc["a"], lstm.loc["a"])


def test_a_model_saved_with_seasonal_naive_fallbacks_loads_with_them_as_its_choice(tmp_path):
    history = panel_of(*(seasonal_series(36, seed=i) for i in range(2)), ids=["x", "y"])
    files = _model(history.ids).save(tmp_path)
    spec = json.loads(Path(files["panel"]).read_text())
    spec.pop("choice"), spec.pop("default")
    Path(files["panel"]).write_text(json.dumps(spec | {"fallback": ["y"]}))  # the format before the candidates
    loaded = ShardedForecaster.load(files)
    assert (loaded.choice, loaded.default) == ({"y": "seasonal_naive"}, "lstm")
    assert loaded.forecast(history).groupby("series")["model"].first().to_dict() == {"x": "lstm",
                                                                                     "y": "seasonal_naive"}


def test_series_chosen_for_statsforecast_models_are_forecast_by_them():
    from pipeline.model.candidates import ETS, LSTM_STATS, all_candidates, statistical

    history = panel_of(*(seasonal_series(48, level=100.0 * (i + 1), seed=i) for i in range(3)), ids=list("abc"))
    table = _model(history.ids, choice={"a": ETS, "b": LSTM_STATS, "c": "lstm"}).forecast(history, 3)
    by = {sid: part["forecast"].to_numpy() for sid, part in table.groupby("series")}
    stats = statistical(list(history), 3, 12)
    np.testing.assert_allclose(by["a"], stats[ETS][0], rtol=1e-9)
    lstm = table.loc[table["series"] == "c", "forecast"].to_numpy()
    assert np.isfinite(by["b"]).all() and not np.allclose(by["b"], lstm)
    b = history.position("b")
    shard = _model(history.ids).shards[shard_for("b", _model(history.ids).bounds)]
    own = shard.predict(history.values_of(b)[None, -shard.lookback:])
    np.testing.assert_allclose(by["b"], all_candidates(own, {k: v[[b]] for k, v in stats.items()})[LSTM_STATS][0],
                               rtol=1e-6)
