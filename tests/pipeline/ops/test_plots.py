import numpy as np
import pandas as pd

from pipeline.config import load_config
from pipeline.ops import plots
from tests.conftest import TINY, panel_of, seasonal_series

PNG = b"\x89PNG\r\n\x1a\n"


def test_a_runs_figures_are_pngs_named_by_the_run(tmp_path):
    panel = panel_of(*(seasonal_series(48, level=100.0 * (i + 1), seed=i) for i in range(11)))
    cfg = load_config(overrides=TINY)
    origin = panel.last_month + 1 - 6
    actual = np.stack([panel.values_of(i)[-6:] for i in range(len(panel))])
    holdout = {"series": panel.ids, "origin": origin, "starts": [origin] * len(panel), "actual": actual,
               "forecasts": {"published": actual * 1.02},
               "bands": {80: (actual * 0.9, actual * 1.1), 95: (actual * 0.8, actual * 1.2)}}
    future = pd.concat([pd.DataFrame({"series": sid, "month": range(6), "forecast": np.full(6, 100.0),
                                      "lower_80": 90.0, "upper_80": 110.0, "lower_95": 80.0, "upper_95": 120.0})
                        for sid in panel.ids])
    curves = {"train_loss": [1.0, 0.5, 0.25], "val_loss": [1.2, 0.7, 0.6]}
    written = plots.run_figures(cfg, "2003-12", panel, holdout, future, curves, lambda name: tmp_path / f"{name}.png")
    assert [p.name for p in written] == ["loss_curves.png", "holdout_forecast.png", "future_forecast.png"]
    assert all(p.read_bytes().startswith(PNG) and p.stat().st_size > 5000 for p in written)


def test_loss_curves_without_validation(tmp_path):
    path = plots.loss_curves([1.0, 0.5], [], tmp_path / "loss.png", "no validation split")
    assert path.read_bytes().startswith(PNG)


def test_the_figures_show_the_largest_series_first():
    levels = [5.0, 500.0, 50.0, 60.0]
    panel = panel_of(*(seasonal_series(36 + i, level=level, seed=i) for i, level in enumerate(levels)))
    assert plots.largest(panel, 3) == [1, 3, 2]
    assert plots.largest(panel)[0] == 1 and sorted(plots.largest(panel)) == [0, 1, 2, 3]
