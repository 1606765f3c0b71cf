import numpy as np
import pytest

from pipeline.data.features import (
    FeatureSet,
    TooFewWindowsError,
    ViewSpec,
    build_features,
    fit_scaling,
    load_scaling,
    make_windows,
    save_scaling,
    split,
)
from tests.conftest import panel_of, seasonal_series


def test_split_is_time_ordered():
    series = seasonal_series(40)
    train, holdout = split(series, 12)
    assert len(train) == 28 and len(holdout) == 12
    assert train.index.max() < holdout.index.min()


@pytest.mark.parametrize("log, relative, season", [(False, False, 0), (True, False, 0), (True, True, 0),
                                                   (False, True, 0), (True, True, 12), (False, False, 12)])
def test_scaling_round_trip_through_json(tmp_path, log, relative, season):
    values = seasonal_series(60).to_numpy()
    scaling = fit_scaling(values, lookback=18, steps=3, log=log, relative=relative, season=season)
    loaded = load_scaling(save_scaling(scaling, tmp_path / "scaling.json"))
    assert loaded == scaling
    x, y = make_windows(values, 18, 3)
    scaled, inputs = loaded.targets(x, y), loaded.inputs(x)
    assert inputs.shape == (len(x), 18 - season) == (len(x), loaded.time_steps)
    for part in (scaled, inputs):
        assert part.min() >= -1 - 1e-9 and part.max() <= 1 + 1e-9
    np.testing.assert_allclose(loaded.decode(x, scaled), y, rtol=1e-10)


def test_seasonal_view_reads_year_over_year_changes():
    values = np.arange(1.0, 31.0)  # 30 months
    scaling = fit_scaling(values, lookback=18, steps=12, season=12)
    x, _ = make_windows(values, 18, 12)
    raw = scaling._scaler().inverse_transform(scaling.inputs(x).reshape(-1, 1)).reshape(len(x), -1)
    np.testing.assert_allclose(raw, 12.0)  # each month minus the same month a year earlier
    # a zero change predicts the same months a year earlier, whatever the window's recent level
    zero = scaling._scaler().transform(np.zeros((12, 1))).reshape(1, 12)
    np.testing.assert_allclose(scaling.decode(x[:1], zero), x[:1, -12:])
    with pytest.raises(ValueError, match="at most 12 months"):
        scaling.targets(x[:1], np.ones((1, 13)))


def test_article_scaling_is_minmax_over_the_training_months():
    values = seasonal_series(60).to_numpy()
    scaling = fit_scaling(values, lookback=12, steps=1)
    assert (scaling.data_min, scaling.data_max) == (values.min(), values.max())


def test_scaler_never_sees_the_holdout():
    series = seasonal_series(60)
    series.iloc[-1] = 10_000.0  # an extreme holdout value would change a leaked fit
    train, _ = split(series, 12)
    _, scaling = build_features(panel_of(train), ViewSpec(lookback=12, val_size=3))
    assert scaling.data_max == train.max() < 10_000.0


def test_relative_windows_reach_levels_above_the_training_range():
    values = seasonal_series(60, trend=5.0).to_numpy()
    scaling = fit_scaling(values, lookback=12, steps=1, log=True, relative=True)
    higher = values[-12:][None, :] * 3  # a window at three times any training level
    decoded = scaling.decode(higher, np.array([[1.0]]))
    assert decoded[0, 0] > values.max() * 2


def test_window_shapes_and_alignment():
    values = np.arange(20, dtype=float)
    x, y = make_windows(values, lookback=5)
    assert x.shape == (15, 5) and y.shape == (15, 1)
    assert x[0].tolist() == [0, 1, 2, 3, 4] and y[0, 0] == 5 and x[-1, -1] == 18 and y[-1, 0] == 19
    x, y = make_windows(values, lookback=5, steps=3)
    assert x.shape == (13, 5) and y.shape == (13, 3) and y[0].tolist() == [5, 6, 7] and y[-1].tolist() == [17, 18, 19]
    with pytest.raises(ValueError, match="too few"):
        make_windows(values[:7], lookback=5, steps=3)


def test_validation_windows_are_the_last_ones(tmp_path):
    train = seasonal_series(48)
    data, _ = build_features(panel_of(train), ViewSpec(lookback=12, val_size=6, steps=4, log=True, relative=True))
    assert data.x_train.shape == (27, 12, 1) and data.y_train.shape == (27, 4) and len(data.x_val) == 6
    assert data.x_train.dtype == np.float32
    loaded = FeatureSet.load(data.save(tmp_path / "f.npz"))
    np.testing.assert_array_equal(loaded.y_val, data.y_val)
    np.testing.assert_array_equal(loaded.x_train, data.x_train)


def test_a_panel_pools_the_windows_of_every_series_under_one_scaling():
    small, large = seasonal_series(48, level=50.0), seasonal_series(60, level=5000.0, seed=1)
    view = ViewSpec(lookback=12, val_size=4, steps=3, log=True, relative=True)
    data, scaling = build_features(panel_of(small, large), view)
    # windows of both series (the last 4 of each validate), one scaling for both: relative windows are scale-free
    assert len(data.x_train) == (48 - 14 - 4) + (60 - 14 - 4) and len(data.x_val) == 8
    alone = [build_features(panel_of(s), ViewSpec(lookback=12, val_size=4, steps=3, log=True, relative=True))[1]
             for s in (small, large)]
    assert scaling.data_min == min(a.data_min for a in alone) and scaling.data_max == max(a.data_max for a in alone)
    capped, _ = build_features(panel_of(small, large), ViewSpec(lookback=12, val_size=4, steps=3, max_windows=10))
    assert len(capped.x_train) == 20 and len(capped.x_val) == 8, "the latest 10 training windows of each series"
    with pytest.raises(TooFewWindowsError, match=r"0 training window.*fewer than 12"):
        build_features(panel_of(small.iloc[:18]), ViewSpec(lookback=12, val_size=4, steps=3))
