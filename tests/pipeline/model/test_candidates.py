import numpy as np
import pytest

from pipeline.model.candidates import CANDIDATES, choose, panel_choice, served, statistical


def test_a_candidate_is_chosen_by_its_mean_mase_shrunk_towards_the_panel_and_the_lstm_wins_a_tie():
    folds = {"lstm": [1.0, 0.8], "seasonal_naive": [0.5, 1.5], "theta": [0.9, 0.85]}
    assert choose(folds) == "theta", "no prior: its own folds alone"
    prior, best = panel_choice({"lstm": [0.7, 0.8], "seasonal_naive": [1.2, 1.4], "theta": [1.0, 1.1]})
    assert prior == pytest.approx({"lstm": 0.75, "seasonal_naive": 1.3, "theta": 1.05}) and best == "lstm"
    # with the panel: lstm (1.8 + 4 x 0.75) / 6 = 0.8, theta (1.75 + 4 x 1.05) / 6 = 0.99
    assert choose(folds, prior, best) == "lstm"
    assert choose({c: [1.0] for c in CANDIDATES}) == "lstm"
    assert choose({"lstm": [float("nan")], "theta": [float("nan")]}, prior, default="theta") == "theta", "unscored"
    assert choose({}) == "lstm"
    assert served({"a": "theta", "b": "lstm", "c": "theta"}) == {"lstm": 1, "theta": 2}


def test_statistical_forecasts_of_a_counting_series_never_go_below_zero():
    falling = np.maximum(0.0, 50.0 - 2.0 * np.arange(36))
    stats = statistical([falling], 12, 12)
    assert (stats["theta"] >= 0).all() and stats["theta"].shape == (1, 12)
    assert statistical([], 5, 12)["theta"].shape == (0, 5)


def test_the_statistical_median_and_the_lstm_with_it():
    from pipeline.model.candidates import ETS, LSTM_STATS, MEDIAN_OF, STATS, all_candidates
    from tests.conftest import seasonal_series

    histories = [seasonal_series(60, seed=i).to_numpy() for i in range(3)]
    stats = statistical(histories, 6, 12)
    assert set(stats) == {"seasonal_naive", *MEDIAN_OF} and all(v.shape == (3, 6) for v in stats.values())
    assert np.isfinite(stats[ETS]).all() and not np.allclose(stats[ETS], stats["theta"])
    lstm = np.full((3, 6), 1e6)  # an LSTM far above them: the median with it takes the upper middle one
    candidates = all_candidates(lstm, stats)
    models = np.sort(np.stack([stats[m] for m in MEDIAN_OF]), axis=0)
    np.testing.assert_allclose(candidates[STATS], (models[1] + models[2]) / 2)
    three = np.sort(np.stack([stats[m] for m in MEDIAN_OF[:-1]]), axis=0)  # Theta's place is the LSTM's
    np.testing.assert_allclose(candidates[LSTM_STATS], (three[1] + three[2]) / 2)
    # fitted: statsforecast's models only where a series needs them (a served model's other series skip them)
    some = statistical(histories, 6, 12, fitted=np.array([False, True, False]))
    np.testing.assert_allclose(some[ETS][1], stats[ETS][1])
    assert np.isnan(some[ETS][[0, 2]]).all() and np.isfinite(some["theta"]).all()


def test_without_statsforecast_the_four_candidates_that_need_none_are_the_same_forecasts():
    from pipeline.metrics import LSTM, NAIVE
    from pipeline.model.candidates import COMBINED, ETS, THETA, all_candidates
    from tests.conftest import seasonal_series

    histories = [seasonal_series(60, seed=i).to_numpy() for i in range(3)]
    full, fast = statistical(histories, 6, 12), statistical(histories, 6, 12, statsforecast=False)
    assert set(fast) == {NAIVE, THETA} and ETS in full
    for name in fast:
        np.testing.assert_array_equal(fast[name], full[name])
    lstm = np.ones((3, 6))
    candidates = all_candidates(lstm, fast)
    assert tuple(candidates) == (LSTM, NAIVE, THETA, COMBINED) == CANDIDATES[:4]
    np.testing.assert_array_equal(candidates[COMBINED], (lstm + fast[THETA]) / 2)
    assert set(statistical([], 6, 12, statsforecast=False)) == {NAIVE, THETA}
