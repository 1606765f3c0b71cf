import numpy as np
import pytest

from pipeline.features import FeatureSet, build_features, fit_scaler, load_scaler, make_windows, save_scaler, split
from tests.conftest import seasonal_series


def test_split_is_time_ordered():
    series = seasonal_series(40)
    train, holdout = split(series, 12)
    assert len(train) == 28 and len(holdout) == 12
    assert train.index.max() < holdout.index.min()


def test_scaler_round_trip_through_json(tmp_path):
    values = seasonal_series(40).to_numpy()
    scaler = fit_scaler(values)
    loaded = load_scaler(save_scaler(scaler, tmp_path / "scaler.json"))
    scaled = loaded.transform(values.reshape(-1, 1))
    assert scaled.min() == pytest.approx(-1) and scaled.max() == pytest.approx(1)
    np.testing.assert_allclose(loaded.inverse_transform(scaled).ravel(), values)
    np.testing.assert_allclose(scaled, scaler.transform(values.reshape(-1, 1)))


def test_scaler_never_sees_the_holdout():
    series = seasonal_series(60)
    series.iloc[-1] = 10_000.0  # an extreme holdout value would change a leaked fit
    train, _ = split(series, 12)
    _, scaler = build_features(train, lookback=12, val_size=3)
    assert scaler.data_max_[0] == train.max() < 10_000.0


def test_window_shapes_and_alignment():
    values = np.arange(20, dtype=float)
    x, y = make_windows(values, lookback=5)
    assert x.shape == (15, 5, 1) and y.shape == (15,)
    assert x[0, :, 0].tolist() == [0, 1, 2, 3, 4] and y[0] == 5
    assert x[-1, -1, 0] == 18 and y[-1] == 19
    with pytest.raises(ValueError, match="too few"):
        make_windows(values[:5], lookback=5)


def test_validation_windows_are_the_last_ones(tmp_path):
    train = seasonal_series(48)
    data, _ = build_features(train, lookback=12, val_size=6)
    assert (len(data.x_train), len(data.x_val)) == (30, 6)
    assert data.x_train.dtype == np.float32
    loaded = FeatureSet.load(data.save(tmp_path / "f.npz"))
    np.testing.assert_array_equal(loaded.y_val, data.y_val)
    np.testing.assert_array_equal(loaded.x_train, data.x_train)
