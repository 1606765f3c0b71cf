import logging
from pathlib import Path

import pytest
import torch

from pipeline.config import load_config
from pipeline.model import warm
from pipeline.model.train import fit_forecaster
from pipeline.months import month_index, month_text
from pipeline.scoring.backtest import Origin
from tests.conftest import TINY, panel_of, seasonal_series

CFG = {k: v for k, v in TINY.items() if k not in ("baseline_gate", "allow_any_csv_path")}


def _month(text: str) -> int:
    import pandas as pd

    return month_index(pd.Timestamp(text))


def _nets(seed: int, n: int = 2) -> list[torch.nn.Module]:
    torch.manual_seed(seed)
    return [torch.nn.Linear(3, 2) for _ in range(n)]


def test_a_fit_starts_from_the_same_fit_of_last_months_run_only(state, caplog):
    cfg = load_config(overrides=CFG)
    where = warm.folder(cfg, 0, 1)
    assert where.is_relative_to(state / "warm") and where.name == "shard_0_of_1"
    nets = _nets(0)
    warm.save(where, "2005-06", _month("2005-12"), nets)
    # next month's run, the same fit: it trains to 2005-07 and reads the fit to 2005-06 of the 2005-12 run
    this = Origin.parse("2005-08")
    start = warm.load(where, this.earlier().train_end, _month("2006-01") - 1, 2)
    assert start is not None and start.source.endswith("2005-06@2005-12.pt") and len(start.sha256) == 64
    assert all(torch.equal(start.weights[i]["weight"], nets[i].weight) for i in range(2))
    with caplog.at_level(logging.INFO, logger="pipeline.model.warm"):
        assert warm.load(where, this.train_end, _month("2005-12"), 2) is None  # this run's own fits: never
        assert warm.load(where, "2005-06", _month("2005-11"), 2) is None  # a month skipped: cold
        assert warm.load(where, "2005-06", _month("2005-12"), 3) is None  # another ensemble: cold
    assert "cold start" in caplog.text and "holds 2 networks, not 3" in caplog.text
    # with series_end folds, the same fit a month earlier ends as many months before each series' end
    assert Origin.parse("end-12").earlier().train_end == "end-12"
    Path(start.source).write_bytes(b"not a torch file")
    with caplog.at_level(logging.WARNING, logger="pipeline.model.warm"):
        assert warm.load(where, "2005-06", _month("2005-12"), 2) is None
    assert "2005-06@2005-12.pt is unreadable" in caplog.text


def test_other_settings_and_shards_keep_their_own_weights(state):
    cfg = load_config(overrides=CFG)
    assert warm.folder(cfg, 0, 1) == warm.folder(load_config(overrides=CFG), 0, 1)
    for other in ({"hidden_size": 9}, {"warm_start": True}, {"warm_epochs": 5}, {"learning_rate": 0.001}):
        assert warm.folder(cfg, 0, 1) != warm.folder(load_config(overrides={**CFG, **other}), 0, 1)
    assert warm.folder(cfg, 0, 1) != warm.folder(cfg, 0, 2) != warm.folder(cfg, 1, 2)


def test_weights_older_than_a_year_are_dropped(state):
    where = warm.folder(load_config(overrides=CFG), 0, 1)
    for month in ("2004-11", "2004-12", "2005-06"):
        warm.save(where, month_text(_month(month) - 6), _month(month), _nets(1))
    warm.save(where, month_text(_month("2005-12") - 6), _month("2005-12"), _nets(1))
    assert sorted(p.name for p in where.glob("*.pt")) == ["2004-06@2004-12.pt", "2004-12@2005-06.pt",
                                                         "2005-06@2005-12.pt"]


def test_a_warm_ensemble_starts_from_the_given_weights_for_warm_epochs():
    panel = panel_of(seasonal_series(60))
    cold_cfg = load_config(overrides={**CFG, "ensemble_size": 2, "epochs": 4})
    cold, cold_hist = fit_forecaster(panel, cold_cfg)
    assert [len(h.train_loss) for h in cold_hist] == [4] * 4  # two views x two seeds
    start = [net.state_dict() for net in cold.nets]
    warm_cfg = load_config(overrides={**CFG, "ensemble_size": 2, "epochs": 4, "warm_start": True, "warm_epochs": 1,
                                      "learning_rate": 1e-6})
    tuned, tuned_hist = fit_forecaster(panel, warm_cfg, start)
    assert [len(h.train_loss) for h in tuned_hist] == [1] * 4
    # one epoch at lr 1e-6 moves every weight by at most ~1e-6 per step: the networks start where the cold ones ended
    for before, after in zip(cold.nets, tuned.nets, strict=True):
        for a, b in zip(before.state_dict().values(), after.state_dict().values(), strict=True):
            assert torch.allclose(a, b, atol=1e-4) and not torch.equal(a, b)
    assert tuned_hist[0].train_loss[0] < cold_hist[0].train_loss[0]
    with pytest.raises(ValueError, match="needs 4 networks' weights, got 1"):
        fit_forecaster(panel, warm_cfg, start[:1])
