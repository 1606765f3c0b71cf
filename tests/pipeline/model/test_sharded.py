from pathlib import Path

import numpy as np
import pytest

from pipeline.data.panel import shard_bounds, shard_for, shards
from pipeline.errors import ModelIntegrityError
from pipeline.metrics import seasonal_naive
from pipeline.model.sharded import ShardedForecaster
from tests.conftest import panel_of, seasonal_series, untrained_forecaster


def _model(ids, fallback=()):
    values = np.linspace(100.0, 400.0, 48)
    parts = shards(ids, 2)
    nets = [untrained_forecaster(values, steps=3, lookback=18), untrained_forecaster(values, members=1, steps=3)]
    return ShardedForecaster(nets[: len(parts)], shard_bounds(ids, parts), 12, 3, set(fallback))


def test_each_series_is_forecast_by_its_shard_or_falls_back():
    history = panel_of(*(seasonal_series(36, level=100.0 * (i + 1), seed=i) for i in range(4)), ids=list("abcd"))
    model = _model(history.ids, fallback={"c"})
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


def test_too_short_a_history_for_the_network_is_forecast_by_seasonal_naive_and_says_so():
    history = panel_of(seasonal_series(14), seasonal_series(36, seed=1), ids=["short", "long"])
    model = _model(history.ids)
    table = model.forecast(history)
    assert set(table.loc[table["series"] == "short", "model"]) == {"seasonal_naive"}
    assert set(table.loc[table["series"] == "long", "model"]) == {"lstm"}
    with pytest.raises(ValueError, match="fewer than 12 months"):
        model.forecast(panel_of(seasonal_series(8)))


def test_save_load_round_trip_checks_every_shards_weights(tmp_path):
    history = panel_of(*(seasonal_series(36, seed=i) for i in range(4)), ids=list("wxyz"))
    model = _model(history.ids, fallback={"x"})
    files = model.save(tmp_path)
    loaded = ShardedForecaster.load(files, model.checksums(files))
    assert loaded.fallback == {"x"} and loaded.bounds == model.bounds and len(loaded.shards) == len(model.shards)
    np.testing.assert_allclose(loaded.forecast(history)["forecast"], model.forecast(history)["forecast"])
    weights = Path(files["shard_1_weights"])
    raw = bytearray(weights.read_bytes())
    raw[-100:-84] = bytes(16)
    weights.write_bytes(bytes(raw))
    with pytest.raises(ModelIntegrityError, match="do not match the checksum"):
        ShardedForecaster.load(files)  # the checksum in the shard's own spec catches it too
