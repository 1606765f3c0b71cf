import numpy as np
import pytest

from pipeline.model.windows import forecast_windows, last_windows


def test_forecast_windows_feed_predictions_back():
    seen = []

    def predict_next(windows):
        seen.append(windows[0].tolist())
        return windows[:, -1] + 1

    out = forecast_windows(predict_next, last_windows([np.array([1.0, 2.0, 3.0])], 2), 3)
    assert out.tolist() == [[4.0, 5.0, 6.0]]
    assert seen == [[2.0, 3.0], [3.0, 4.0], [4.0, 5.0]]


def test_a_direct_model_forecasts_in_blocks_cut_to_the_months_asked():
    calls = []

    def predict_block(windows):
        calls.append(len(windows))
        return np.repeat(windows[:, -1:], 4, axis=1) * 2

    out = forecast_windows(predict_block, np.array([[1.0, 1.0], [3.0, 3.0]]), 6)
    assert out.shape == (2, 6) and calls == [2, 2]
    assert out[0].tolist() == [2.0, 2.0, 2.0, 2.0, 4.0, 4.0]


def test_last_windows_refuse_a_history_shorter_than_the_lookback():
    with pytest.raises(ValueError, match="need 5 months of history, got 3"):
        last_windows([np.arange(8.0), np.arange(3.0)], 5)
    assert last_windows([], 4).shape == (0, 4)
