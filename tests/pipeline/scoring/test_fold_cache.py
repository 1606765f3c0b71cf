import json

import pytest

from pipeline.config import load_config
from pipeline.scoring import fold_cache
from pipeline.scoring.fold_cache import backtest
from tests.conftest import TINY, panel_of, seasonal_series


@pytest.mark.slow
def test_cached_folds_are_read_back_and_any_change_refits(tmp_path, caplog):
    panel = panel_of(seasonal_series(60), seasonal_series(60, level=50.0, seed=2))
    cfg = load_config(overrides=TINY)
    first = backtest(panel, cfg, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*.json"))) == cfg.folds
    with caplog.at_level("INFO", logger="pipeline.scoring.fold_cache"):
        again = backtest(panel, cfg, cache_dir=tmp_path)
    assert caplog.text.count("cached result") == cfg.folds
    assert json.dumps(again, sort_keys=True) == json.dumps(first, sort_keys=True)  # NaN where 95 % is unknown
    changed = panel_of(seasonal_series(60), seasonal_series(60, level=51.0, seed=2))  # other data
    backtest(changed, cfg, cache_dir=tmp_path)
    backtest(panel, load_config(overrides={**TINY, "epochs": 2}), cache_dir=tmp_path)  # another configuration
    assert len(list(tmp_path.glob("*.json"))) == 3 * cfg.folds


def test_a_library_upgrade_changes_the_fold_key(monkeypatch):
    panel = panel_of(seasonal_series(60))
    cfg = load_config(overrides=TINY)
    before = fold_cache.fold_key(panel, cfg, 0, False)
    assert fold_cache.fold_key(panel, cfg, 0, False) == before, "the same facts, the same key"
    installed = fold_cache.library_versions()
    assert set(installed) == {"torch", "numpy", "scikit-learn", "pandas", "statsforecast"}
    assert installed["torch"].startswith("2.")
    monkeypatch.setattr(fold_cache, "library_versions", lambda: {**installed, "torch": "9.9.9"})
    assert fold_cache.fold_key(panel, cfg, 0, False) != before, "a torch upgrade refits instead of reading a stale fold"
