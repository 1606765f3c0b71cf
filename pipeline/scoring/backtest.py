"""Rolling-origin backtests of a panel: the configuration is refitted at each origin (one global model over the
series given) and every series is scored on the months after it, beside seasonal naive and, optionally,
statsforecast's AutoARIMA, AutoETS and AutoTheta fitted on the whole panel at once.

Origins for ``folds`` folds of ``horizon`` months, the panel ending at month ``N``: ``N + 1 - horizon * (folds - k)``,
k = 0..folds-1. For AirPassengers with 3 folds of 12, training ends 1957-12, 1958-12 and 1959-12.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import pandas as pd

from pipeline.config import Config
from pipeline.data.ingest import month_text
from pipeline.data.panel import Panel, month_starts, shards
from pipeline.model.forecaster import Forecaster
from pipeline.model.train import fit_forecaster
from pipeline.scoring.evaluate import forecast_windows, last_windows, mase_scale, metrics_rows, seasonal_naive

logger = logging.getLogger(__name__)

LSTM, NAIVE = "lstm", "seasonal_naive"
STATS_MODELS = ("AutoARIMA", "AutoETS", "AutoTheta")
METRICS = ("mase", "mape", "rmse", "mae")


def origins(last_month: int, folds: int, horizon: int) -> list[int]:
    """The first test month (month index) of each fold."""
    return [last_month + 1 - horizon * (folds - k) for k in range(folds)]


def fold_split(panel: Panel, origin: int, horizon: int) -> tuple[Panel, np.ndarray]:
    """The series holding the ``horizon`` months from ``origin``, cut before it, and those months (n, horizon)."""
    positions, actual = panel.window(origin, horizon)
    return panel.subset(positions).cut(origin), actual


def stats_forecasts(train: Panel, steps: int, season_length: int) -> dict[str, np.ndarray]:
    """AutoARIMA, AutoETS and AutoTheta forecasts of every series (statsforecast, the optional ``stats`` extra),
    fitted on the whole panel in one call: {model: (n, steps)} in the panel's order."""
    try:
        from statsforecast import StatsForecast
        from statsforecast.models import AutoARIMA, AutoETS, AutoTheta
    except ImportError as exc:
        raise RuntimeError("statistical baselines need statsforecast: pip install '.[stats]'") from exc
    frame = pd.DataFrame({"unique_id": np.repeat(np.arange(len(train)), np.diff(train.offsets)),
                          "ds": np.concatenate([month_starts(int(train.starts[i]), train.length(i))
                                                for i in range(len(train))]),
                          "y": train.values})
    models = [AutoARIMA(season_length=season_length), AutoETS(season_length=season_length),
              AutoTheta(season_length=season_length)]
    out = StatsForecast(models=models, freq="MS").forecast(df=frame, h=steps).sort_values(["unique_id", "ds"])
    return {name: out[name].to_numpy(dtype=float).reshape(len(train), steps) for name in STATS_MODELS}


def forecast_models(forecaster: Forecaster, train: Panel, steps: int, cfg: Config,
                    stats_baselines: bool = False) -> dict[str, np.ndarray]:
    """Each model's (n, steps) forecast of every series of ``train`` after its last month."""
    histories = list(train)
    out = {LSTM: forecast_windows(forecaster.predict, last_windows(histories, forecaster.lookback), steps),
           NAIVE: np.stack([seasonal_naive(h, steps, cfg.season_length) for h in histories])}
    if stats_baselines:
        out |= stats_forecasts(train, steps, cfg.season_length)
    return out


def score(train: Panel, actual: np.ndarray, forecasts: dict[str, np.ndarray], season_length: int
          ) -> dict[str, dict[str, list[float]]]:
    """Per-series metrics of each model: {model: {metric: [one value a series]}} (MASE scaled by each series'
    own seasonal-naive error in its training months)."""
    scales = np.array([mase_scale(h, season_length) for h in train])
    return {model: {k: v.tolist() for k, v in metrics_rows(actual, forecast, scales).items()}
            for model, forecast in forecasts.items()}


def run_fold(panel: Panel, cfg: Config, fold: int, stats_baselines: bool = False) -> dict[str, Any]:
    """Fit the configuration on one fold's training months (all series of ``panel`` at once) and score it and the
    baselines on its test months, series by series."""
    if not 0 <= fold < cfg.folds:
        raise ValueError(f"fold {fold} is not in 0..{cfg.folds - 1}")
    origin = origins(panel.last_month, cfg.folds, cfg.horizon)[fold]
    started = time.perf_counter()
    train, actual = fold_split(panel, origin, cfg.horizon)
    forecaster, histories = fit_forecaster(train, cfg)
    seconds = time.perf_counter() - started
    result = fold_result(fold, origin, train, actual, forecast_models(forecaster, train, cfg.horizon, cfg,
                                                                      stats_baselines), cfg.season_length)
    result |= {"train_seconds": seconds, "best_epochs": [h.best_epoch for h in histories]}
    means = {m: float(np.mean(s["mase"])) for m, s in result["scores"].items()}
    logger.info("fold %d (train to %s, %d series): mean MASE %s (%.1fs)", fold, result["train_end"], len(train),
                {m: round(v, 3) for m, v in means.items()}, seconds)
    return result


def fold_result(fold: int, origin: int, train: Panel, actual: np.ndarray, forecasts: dict[str, np.ndarray],
                season_length: int) -> dict[str, Any]:
    """A fold's record: its months, its series, each model's per-series scores and forecasts, the actuals."""
    return {"fold": fold, "train_end": month_text(origin - 1), "test_start": month_text(origin),
            "test_end": month_text(origin + actual.shape[1] - 1), "series": list(train.ids),
            "scores": score(train, actual, forecasts, season_length),
            "forecasts": {m: f.round(6).tolist() for m, f in forecasts.items()}, "actual": actual.tolist()}


def summarize(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Merge fold results (of one or several shards): per model the mean of each metric over all series-folds and
    the median MASE; per fold the means; per series the means over its folds, and whether the LSTM lost to
    seasonal naive there (its published forecast then falls back to seasonal naive)."""
    models = list(results[0]["scores"])
    folds = sorted({r["fold"] for r in results})
    rows: dict[str, dict[str, list[float]]] = {}  # series -> "model.metric" -> values over folds
    per_fold = []
    pooled = {m: {k: [] for k in METRICS} for m in models}
    for fold in folds:
        parts = [r for r in results if r["fold"] == fold]
        fold_scores = {m: {k: [v for r in parts for v in r["scores"][m][k]] for k in METRICS} for m in models}
        for m in models:
            for k in METRICS:
                pooled[m][k] += fold_scores[m][k]
        for r in parts:
            for i, series in enumerate(r["series"]):
                row = rows.setdefault(series, {})
                for m in models:
                    for k in METRICS:
                        row.setdefault(f"{m}.{k}", []).append(r["scores"][m][k][i])
        per_fold.append({"fold": fold, "train_end": parts[0]["train_end"],
                         "series": len(fold_scores[models[0]]["mase"]),
                         **{m: {k: float(np.mean(v)) for k, v in fold_scores[m].items()} for m in models}})
    per_series = {series: {key: float(np.mean(values)) for key, values in row.items()} for series, row in rows.items()}
    for row in per_series.values():
        row["fallback"] = bool(row[f"{LSTM}.mase"] >= row[f"{NAIVE}.mase"])
    mean = {m: {k: float(np.mean(pooled[m][k])) for k in METRICS} for m in models}
    lstm = np.array(pooled[LSTM]["mase"])
    shares = {f"share_beats_{m.lower()}": float(np.mean(lstm < np.array(pooled[m]["mase"])))
              for m in models if m != LSTM}
    return {"folds": len(folds), "series": len(per_series), "mean": mean,
            "median_mase": {m: float(np.median(pooled[m]["mase"])) for m in models},
            "per_fold": per_fold, "per_series": per_series, **shares,
            "fallback": sorted(s for s, row in per_series.items() if row["fallback"]),
            "lstm_beats_naive_every_fold": all(f[LSTM]["mase"] < f[NAIVE]["mase"] for f in per_fold),
            "train_seconds_mean": float(np.mean([r.get("train_seconds", 0.0) for r in results]))}


def backtest(panel: Panel, cfg: Config, stats_baselines: bool = False) -> dict[str, Any]:
    """Every fold of every shard (``shard_size``) in this process, one global model per shard and fold, then the
    summary: what the DAG's fits compute, in one call (the command line, the gate's refit and benchmarks)."""
    parts = [panel.subset(part) for part in shards(panel.ids, cfg.shard_size)]
    return summarize([run_fold(part, cfg, fold, stats_baselines) for part in parts for fold in range(cfg.folds)])
