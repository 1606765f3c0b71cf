from pathlib import Path

import numpy as np
import pytest
import torch

from pipeline.model.forecaster import Forecaster
from pipeline.model.lstm import LSTMRegressor, NetSpec
from tests.conftest import untrained_forecaster


def test_forecaster_round_trip_predicts_a_batch(tmp_path):
    values = np.linspace(100, 300, 40)
    forecaster = untrained_forecaster(values)
    nets = forecaster.nets
    windows = np.stack([values[i:i + 12] for i in range(4)])
    expected = forecaster.predict(windows)
    assert expected.shape == (4, 3)
    scaling = forecaster.groups[0][0]
    np.testing.assert_allclose(expected, np.mean([Forecaster([(scaling, [n])]).predict(windows)
                                                  for n in nets], axis=0))
    loaded = Forecaster.load(**forecaster.save(tmp_path))
    assert len(loaded.nets) == 2 and loaded.output_steps == 3
    np.testing.assert_array_equal(loaded.predict(windows), expected)
    with pytest.raises(ValueError, match="shape"):
        loaded.predict(windows[:, :5])


def test_two_view_forecaster_round_trip_and_legacy_layout(tmp_path):
    import json

    from pipeline.data.features import fit_scaling

    values = np.linspace(100, 300, 48)
    torch.manual_seed(0)
    nets = [LSTMRegressor(NetSpec(8, 1, 0.0, output_steps=3)) for _ in range(4)]
    relative = fit_scaling(values, 12, 3, log=True, relative=True)
    seasonal = fit_scaling(values, 18, 3, log=True, season=12)
    forecaster = Forecaster([(relative, nets[:2]), (seasonal, nets[2:])])
    windows = np.stack([values[i:i + 18] for i in range(4)])
    expected = forecaster.predict(windows)
    parts = [Forecaster([(relative, nets[:2])]).predict(windows[:, -12:]),
             Forecaster([(seasonal, nets[2:])]).predict(windows)]
    np.testing.assert_allclose(expected, np.mean(parts, axis=0))  # every network weighs the same
    loaded = Forecaster.load(**forecaster.save(tmp_path / "two"))
    assert loaded.lookback == 18 and [s for s, _ in loaded.groups] == [relative, seasonal]
    np.testing.assert_array_equal(loaded.predict(windows), expected)

    # the layout written before groups existed (registered versions from earlier releases) still loads
    files = Forecaster([(relative, nets[:2])]).save(tmp_path / "old")
    meta = json.loads(Path(files["spec"]).read_text())["groups"][0]
    scaling = {k: v for k, v in meta["scaling"].items() if k not in ("lookback", "season")}
    Path(files["spec"]).write_text(json.dumps({"net": meta["net"], "members": 2, "lookback": 12, "scaling": scaling}))
    legacy = Forecaster.load(**files)
    np.testing.assert_array_equal(legacy.predict(windows[:, -12:]), parts[0])


def test_corrupted_weights_are_refused_with_the_checksum(tmp_path):
    from pipeline.errors import ModelIntegrityError

    values = np.linspace(100, 300, 40)
    files = untrained_forecaster(values).save(tmp_path)
    Forecaster.load(**files)  # intact: loads
    raw = bytearray(Path(files["weights"]).read_bytes())
    raw[-200:-184] = bytes(16)  # 16 bytes of a weight tensor overwritten
    Path(files["weights"]).write_bytes(bytes(raw))
    with pytest.raises(ModelIntegrityError, match="do not match the checksum recorded when the model was trained"):
        Forecaster.load(**files)


def test_a_forecast_is_never_nan(tmp_path):
    from pipeline.errors import ModelIntegrityError

    values = np.linspace(100, 300, 40)
    forecaster = untrained_forecaster(values)
    with torch.no_grad():
        forecaster.nets[0].head.bias.fill_(float("nan"))
    windows = np.stack([values[i:i + 12] for i in range(3)])
    with pytest.raises(ModelIntegrityError, match="NaN or infinite"):
        forecaster.predict(windows)
    with pytest.raises(ValueError, match="NaN or infinite"):
        untrained_forecaster(values).predict(np.full((1, 12), np.nan))


def test_a_level_view_forecaster_with_the_median_round_trips(tmp_path):
    from pipeline.data.level import LevelScaling

    values = np.linspace(100, 300, 60) * (1 + 0.2 * np.sin(np.arange(60) * np.pi / 6))
    torch.manual_seed(0)
    plain, theta = LevelScaling(36, 6, 12, deseasonalise=True), LevelScaling(24, 6, 12, theta=True)
    nets = [LSTMRegressor(NetSpec(8, 1, 0.0, output_steps=6)) for _ in range(3)]
    nets.append(LSTMRegressor(NetSpec(8, 1, 0.0, input_size=2, output_steps=6)))
    forecaster = Forecaster([(plain, nets[:3]), (theta, nets[3:])], combine="median")
    windows = np.stack([values[i:i + 36] for i in range(5)])
    expected = forecaster.predict(windows)
    members = [Forecaster([(plain, [n])]).predict(windows) for n in nets[:3]]
    members.append(Forecaster([(theta, nets[3:])]).predict(windows[:, -24:]))
    np.testing.assert_allclose(expected, np.median(members, axis=0))
    loaded = Forecaster.load(**forecaster.save(tmp_path))
    assert loaded.combine == "median" and [s for s, _ in loaded.groups] == [plain, theta]
    np.testing.assert_array_equal(loaded.predict(windows), expected)


def test_a_view_predicting_a_season_beside_one_predicting_the_horizon_is_fed_its_own_months():
    from pipeline.data.features import fit_scaling
    from pipeline.data.level import LevelScaling
    from pipeline.model.windows import forecast_windows

    values = np.linspace(100, 300, 60) * (1 + 0.2 * np.sin(np.arange(60) * np.pi / 6))
    torch.manual_seed(1)
    yearly = fit_scaling(values, 18, 12, log=True, season=12)
    level = LevelScaling(24, 18, 12, deseasonalise=True)
    nets = [LSTMRegressor(NetSpec(8, 1, 0.0, output_steps=12)), LSTMRegressor(NetSpec(8, 1, 0.0, output_steps=18))]
    forecaster = Forecaster([(yearly, nets[:1]), (level, nets[1:])])
    windows = np.stack([values[i:i + 24] for i in range(3)])
    assert forecaster.output_steps == 18
    own = forecast_windows(Forecaster([(yearly, nets[:1])]).predict, windows[:, -18:], 18)
    np.testing.assert_allclose(forecaster.predict(windows),
                               (own + Forecaster([(level, nets[1:])]).predict(windows)) / 2, rtol=1e-6)
