import numpy as np
import pytest

from pipeline.scoring.intervals import interval_scores


def test_interval_scores_on_a_known_case():
    actual = np.array([[10.0, 20.0, 30.0, 40.0]])
    lower = np.array([[9.0, 21.0, 25.0, 30.0]])
    upper = np.array([[11.0, 25.0, 35.0, 38.0]])
    scores = interval_scores(actual, lower, upper, 80, np.array([2.0]))
    assert scores["coverage_80"][0] == 0.5  # months 1 and 3 inside, 2 below, 4 above
    widths = np.array([2.0, 4.0, 10.0, 8.0]) / 2
    assert scores["width_80"][0] == pytest.approx(widths.mean())
    penalties = (2 / 0.2) * np.array([0.0, 1.0, 0.0, 2.0]) / 2  # 1 below the lower bound, 2 above the upper
    assert scores["msis_80"][0] == pytest.approx((widths + penalties).mean())
