import numpy as np
import pytest

from pipeline.data.features import Rows, ViewSpec, build_features, make_windows
from pipeline.data.level import LIMIT, LevelScaling
from pipeline.theta import theta_rows
from tests.conftest import panel_of, seasonal_series


@pytest.mark.parametrize("deseasonalise, theta", [(False, False), (True, False), (False, True), (True, True)])
def test_targets_decode_back_to_the_months_they_came_from(deseasonalise, theta):
    values = seasonal_series(84, amplitude=0.3).to_numpy()
    scaling = LevelScaling(36, 6, 12, deseasonalise, theta)
    x, y = make_windows(values, 36, 6)
    inputs = scaling.network_inputs(x)
    assert inputs.shape == (len(x), scaling.time_steps, scaling.features)
    np.testing.assert_allclose(scaling.decode(x, scaling.targets(x, y)), y, rtol=1e-9)


def test_windows_are_read_against_the_mean_of_their_last_season():
    window = np.r_[np.full(24, 50.0), np.full(12, 100.0)]
    inputs = LevelScaling(36, 3, 12).network_inputs(window[None])[0, :, 0]
    np.testing.assert_allclose(inputs, np.log(window / 100.0))
    # a series of any size reads the same: the view is scale-free
    np.testing.assert_allclose(LevelScaling(36, 3, 12).network_inputs(1000 * window[None])[0, :, 0], inputs)
    # zero outputs forecast the level itself
    np.testing.assert_allclose(LevelScaling(36, 3, 12).decode(window[None], np.zeros((1, 3))), [[100.0] * 3])


def test_zeros_are_data_a_ratio_is_read_where_logs_are_not_defined():
    window = np.tile(np.r_[np.zeros(6), np.full(6, 4.0)], 3)  # months of zero: a nonnegative series
    rows = Rows.of([window], "auto")
    assert not rows.log[0]
    scaling = LevelScaling(36, 12, 12, deseasonalise=True)
    inputs = scaling.network_inputs(window[None], rows)
    assert np.isfinite(inputs).all() and np.abs(inputs).max() <= LIMIT
    # the seasonality was taken out (the window is its season repeated: nothing is left) and is put back
    np.testing.assert_allclose(inputs[0, :, 0], 0.0, atol=1e-12)
    np.testing.assert_allclose(scaling.decode(window[None], np.zeros((1, 12)), rows), window[None, :12], atol=1e-9)
    # all zeros: the series' level stands in for the window's
    silent = Rows(np.array(["nonnegative"], dtype=object), np.array([3.0]))
    assert np.isfinite(scaling.network_inputs(np.zeros((1, 36)), silent)).all()


def test_the_theta_view_reads_thetas_forecast_and_predicts_its_correction():
    values = seasonal_series(60).to_numpy()
    scaling = LevelScaling(36, 6, 12, theta=True)
    window = values[None, -36:]
    inputs = scaling.network_inputs(window)
    assert inputs.shape == (1, 42, 2)
    np.testing.assert_array_equal(inputs[0, :, 1], np.r_[np.zeros(36), np.ones(6)])
    # a network that outputs zero forecasts Theta's forecast of the window
    np.testing.assert_allclose(scaling.decode(window, np.zeros((1, 6))), theta_rows(window, 6, 12), rtol=1e-9)


def test_a_panel_trains_on_level_windows_with_weights():
    panel = panel_of(seasonal_series(72), seasonal_series(60, level=5.0, seed=1), seasonal_series(30, seed=2))
    view = ViewSpec(36, val_size=0, steps=12, weighted=True, level=True, deseasonalise=True)
    data, scaling = build_features(panel, view)
    assert isinstance(scaling, LevelScaling) and data.x_train.shape[1:] == (36, 1)
    assert data.y_train.shape[1] == 12 and data.w_train is not None and np.isclose(data.w_train.mean(), 1.0)
    # the short series trains too: its windows begin with months backcast from its first season
    assert len(data.x_train) == (72 - 48 + 1) + (60 - 48 + 1) + (30 - 25 + 1)
