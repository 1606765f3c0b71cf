"""The holdout: a model's published forecast of the last ``holdout`` months of every series, from the months
before them, scored beside seasonal naive's (the candidate's, and the champion's on the same months)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from pipeline.config import Config
from pipeline.data.panel import Panel
from pipeline.metrics import mase_scale, mean_defined, seasonal_naive
from pipeline.scoring.backtest import METRICS, NAIVE, PUBLISHED, Origin, final_origin, fold_split, score
from pipeline.scoring.intervals import interval_scores


def holdout_scores(model: Any, panel: Panel, cfg: Config, origin: Origin | None = None) -> dict[str, Any]:
    """A model's published forecast (fallbacks included) of the last ``holdout`` months of every series, from the
    months before them, and seasonal naive's: per-series scores (with the published intervals' coverage, width and
    interval score when it has intervals), forecasts and actuals. ``model`` forecasts a history panel (the
    candidate's :class:`ShardedForecaster` or a registered version's ``Published``). ``origin``: the final origin
    of the whole panel when ``panel`` is a part of it (default: ``panel``'s own)."""
    origin = origin or final_origin(panel, cfg)
    history, actual = fold_split(panel, origin, cfg.holdout, cfg.season_length)
    table = model.forecast(history, cfg.holdout)

    def column(name: str) -> np.ndarray:
        return table[name].to_numpy(dtype=float).reshape(len(history), cfg.holdout)

    forecasts = {PUBLISHED: column("forecast"),
                 NAIVE: np.stack([seasonal_naive(h, cfg.holdout, cfg.season_length) for h in history])}
    mase_scales = np.array([mase_scale(h, cfg.season_length) for h in history])
    scores = score(history, actual, forecasts, cfg.season_length, mase_scales)
    bands = {level: (column(f"lower_{level}"), column(f"upper_{level}")) for level in cfg.levels
             if f"lower_{level}" in table and table[f"lower_{level}"].notna().any()}  # levels with bounds
    for level, (lower, upper) in bands.items():
        scores[PUBLISHED] |= {k: v.tolist() for k, v in interval_scores(actual, lower, upper, level,
                                                                          mase_scales).items()}
    return {"series": history.ids, "origin": origin.key, "starts": history.ends.tolist(), "actual": actual,
            "forecasts": forecasts, "bands": bands, "scores": scores}


def score_table(holdout: dict[str, Any], positions: Sequence[int]) -> pd.DataFrame:
    """The per-series scores of :func:`holdout_scores` as a table: ``series``, its ``position`` in the whole panel
    (``positions``, one a scored series), a ``<model>/<metric>`` column each (a part's share of the run's scores)."""
    columns = {f"{model}/{metric}": values for model, scores in holdout["scores"].items()
               for metric, values in scores.items()}
    return pd.DataFrame({"series": holdout["series"], "position": np.asarray(positions, dtype=np.int64), **columns})


def table_scores(table: pd.DataFrame) -> dict[str, dict[str, list[float]]]:
    """The scores of :func:`score_table`'s tables put together (in the whole panel's order), as
    :func:`holdout_scores` gives them: ``{model: {metric: [one value a series]}}``."""
    table = table.sort_values("position", kind="stable")
    scores: dict[str, dict[str, list[float]]] = {}
    for column in table.columns.drop(["series", "position"]):
        model, metric = column.split("/", 1)
        scores.setdefault(model, {})[metric] = table[column].to_numpy(dtype=float).tolist()
    return scores


def holdout_metrics(holdout: dict[str, Any]) -> dict[str, float]:
    """The run's holdout metrics: ``holdout_<metric>`` means over the series of the published forecast (intervals'
    scores over the series that have them), ``baseline_<metric>`` seasonal naive's."""
    scores = {f"holdout_{k}": mean_defined(v) for k, v in holdout["scores"][PUBLISHED].items()}
    return scores | {f"baseline_{k}": mean_defined(v) for k, v in holdout["scores"][NAIVE].items() if k in METRICS}
