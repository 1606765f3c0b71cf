import math

import numpy as np
import pytest

from pipeline.model.calibration import Calibration, calibrate, conformal_quantile, scaled_residuals


@pytest.mark.parametrize("n, level, expected", [(19, 0.95, 19.0), (19, 0.80, 16.0), (99, 0.95, 95.0),
                                                 (10, 0.95, math.inf), (0, 0.8, math.inf)])
def test_conformal_quantile_is_the_ceil_n_plus_1_rank(n, level, expected):
    assert conformal_quantile(np.arange(1.0, n + 1), level) == expected


def test_calibrated_intervals_cover_what_they_claim_on_fresh_residuals():
    rng = np.random.default_rng(0)
    scales = rng.uniform(0.02, 0.2, 400)  # series of very different volatility
    errors = rng.standard_normal((400, 12)) * np.sqrt(np.arange(1, 13)) * scales[:, None]
    forecast = np.full((400, 12), 100.0)
    cal = calibrate(scaled_residuals(forecast * np.exp(errors), forecast, scales), (80, 95))
    assert cal.scheme == "per_horizon" and cal.residuals == 400 * 12
    fresh = rng.standard_normal((400, 12)) * np.sqrt(np.arange(1, 13)) * scales[:, None]
    actual = forecast * np.exp(fresh)
    for level, (lower, upper) in cal.bounds(forecast, scales).items():
        covered = np.mean((actual >= lower) & (actual <= upper))
        assert abs(covered - level / 100) < 0.03, (level, covered)
        assert (lower < forecast).all() and (upper > forecast).all() and (lower > 0).all()


def test_one_series_pools_the_months_ahead_with_square_root_growth():
    rng = np.random.default_rng(1)
    residuals = rng.standard_normal((3, 12)) * np.sqrt(np.arange(1, 13))  # 3 folds of one series
    cal = calibrate(residuals, (80, 95))
    assert cal.scheme == "pooled" and len(cal.quantiles["95"]) == 1
    upper = cal.bounds(np.full((1, 24), 50.0), np.array([0.1]))[95][1]
    ratio = np.log(upper[0] / 50.0)
    np.testing.assert_allclose(ratio / ratio[0], np.sqrt(np.arange(1, 25)))  # wider further ahead, past 12 too
    back = Calibration.from_dict(cal.to_dict())
    np.testing.assert_allclose(back.bounds(np.full((1, 3), 5.0), np.array([0.2]))[80][0],
                               cal.bounds(np.full((1, 3), 5.0), np.array([0.2]))[80][0])
