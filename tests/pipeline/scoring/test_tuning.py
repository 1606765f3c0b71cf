"""Tuning: the declared search spaces, seeded draws, no month the monthly run scores seen by a trial, and the
backtest of tuning itself."""

import dataclasses

import pytest

from pipeline.config import load_config, search_spaces
from pipeline.errors import ConfigError
from pipeline.scoring import backtest as bt
from pipeline.scoring import tuning
from tests.conftest import TINY, panel_of, seasonal_series


def tiny(**values):
    return load_config(None, {**{k: v for k, v in TINY.items() if k != "baseline_gate"}, **values})


def test_every_preset_with_a_search_space_declares_model_settings_within_bounds():
    assert {"lstm-global", "lstm-direct"} <= set(search_spaces())
    for preset in search_spaces():
        space = tuning.search_space(load_config(None, {"preset": preset}))
        assert space and all(dim.choices or dim.low < dim.high for dim in space)
    with pytest.raises(ConfigError, match="preset 'keras-seed' has no search space"):
        tuning.search_space(load_config(None, {"preset": "keras-seed"}))


def test_draws_are_seeded_and_the_first_trial_is_the_configuration_in_use():
    cfg = tiny()
    jobs = tuning.ask(cfg, 5)
    assert jobs == tuning.ask(cfg, 5), "same seed, same trials"
    assert jobs[0] == {"trial": 0, "params": {d.name: getattr(cfg, d.name) for d in tuning.search_space(cfg)}}
    assert [j["trial"] for j in jobs] == [0, 1, 2, 3, 4] and len({str(j["params"]) for j in jobs}) == 5
    assert tuning.ask(dataclasses.replace(cfg, seed=7), 5)[1:] != jobs[1:]
    for job in jobs[1:]:
        lr = job["params"]["learning_rate"]
        assert 0.002 <= lr <= 0.02 and job["params"]["hidden_size"] in (32, 64, 128)


def test_trials_never_see_the_months_the_monthly_run_scores():
    panel = panel_of(seasonal_series(72), seasonal_series(60, start="2001-01", seed=3))
    cfg = tiny()  # 2 folds x 6 months
    cut = tuning.tuning_panel(panel, cfg)
    first_scored = bt.origins(panel, cfg)[0].month
    assert int(cut.ends.max()) == first_scored and cut.last_month == first_scored - 1
    assert [len(s) for s in cut] == [60, 48]
    ragged = dataclasses.replace(cfg, fold_alignment="series_end")
    assert [len(s) for s in tuning.tuning_panel(panel_of(seasonal_series(72), seasonal_series(50)), ragged)] == \
        [60, 38], "series_end: each series before its own scored months"


def test_tune_scores_trials_on_the_months_it_is_given_and_keeps_the_best():
    panel = tuning.tuning_panel(panel_of(seasonal_series(84)), tiny())
    found = tuning.tune(panel, tiny(), trials=3)
    assert [t["trial"] for t in found.trials] == [0, 1, 2]
    assert all(t["mase"] > 0 for t in found.trials)
    assert found.best["mase"] == min(t["mase"] for t in found.trials)
    assert found.improved == (found.best["trial"] != 0)
    again = tuning.tune(panel, tiny(), trials=3)
    assert [t["mase"] for t in again.trials] == [t["mase"] for t in found.trials], "deterministic"


def test_best_prefers_the_configuration_in_use_on_a_tie_and_skips_unscored_trials():
    results = [{"trial": 0, "mase": 0.5}, {"trial": 1, "mase": 0.5}, {"trial": 2, "mase": None}]
    assert tuning.best(results)["trial"] == 0
    with pytest.raises(ConfigError, match="no tuning trial could be scored"):
        tuning.best([{"trial": 1, "mase": None}])


def test_an_invalid_combination_is_a_refused_trial_not_a_failed_run():
    panel = panel_of(seasonal_series(84))
    result = tuning.score_trial(panel, tiny(), {"lookback": 0, "seasonal_lookback": 0})
    assert result["mase"] is None and "all empty" in result["error"]


def test_the_backtest_of_tuning_tunes_each_fold_on_its_training_months_only():
    panel = panel_of(seasonal_series(96))
    cfg = tiny()
    summary = tuning.tuned_backtest(panel, cfg, trials=2)
    assert [t["fold"] for t in summary["tuned"]] == [0, 1]
    assert [t["train_end"] for t in summary["tuned"]] == [o.train_end for o in bt.origins(panel, cfg)]
    assert summary["folds"] == 2 and summary["mean"]["lstm"]["mase"] > 0
