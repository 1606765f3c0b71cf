"""Rolling-origin backtests: the whole configuration is refitted at each origin and scored on the months after it.

Origins for ``folds`` folds of ``horizon`` months over ``n`` months: ``n - horizon * (folds - k)``,
k = 0..folds-1. For AirPassengers with 3 folds of 12, training ends 1957-12, 1958-12 and 1959-12.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import pandas as pd

from pipeline.config import Config
from pipeline.model.train import fit_forecaster
from pipeline.scoring.evaluate import mase_scale, metrics, recursive_forecast, seasonal_naive

logger = logging.getLogger(__name__)

LSTM, NAIVE = "lstm", "seasonal_naive"
STATS_MODELS = ("AutoARIMA", "AutoETS", "AutoTheta")


def fold_split(series: pd.Series, fold: int, folds: int, horizon: int) -> tuple[pd.Series, pd.Series]:
    """Training months before origin ``fold`` and the ``horizon`` months after it."""
    if not 0 <= fold < folds:
        raise ValueError(f"fold {fold} is not in 0..{folds - 1}")
    origin = len(series) - horizon * (folds - fold)
    if origin < 1:
        raise ValueError(f"{len(series)} months are too few for {folds} folds of {horizon} months")
    return series.iloc[:origin], series.iloc[origin:origin + horizon]


def stats_forecasts(train: pd.Series, steps: int, season_length: int) -> dict[str, np.ndarray]:
    """AutoARIMA, AutoETS and AutoTheta forecasts from statsforecast (the optional ``stats`` extra)."""
    try:
        from statsforecast import StatsForecast
        from statsforecast.models import AutoARIMA, AutoETS, AutoTheta
    except ImportError as exc:
        raise RuntimeError("statistical baselines need statsforecast: pip install '.[stats]'") from exc
    frame = pd.DataFrame({"unique_id": "series", "ds": train.index, "y": train.to_numpy(dtype=float)})
    models = [AutoARIMA(season_length=season_length), AutoETS(season_length=season_length),
              AutoTheta(season_length=season_length)]
    out = StatsForecast(models=models, freq="MS").forecast(df=frame, h=steps)
    return {name: out[name].to_numpy(dtype=float) for name in STATS_MODELS}


def run_fold(series: pd.Series, cfg: Config, fold: int, stats_baselines: bool = False) -> dict[str, Any]:
    """Fit the configuration on one fold's training months and score it and the baselines on its test months."""
    train, test = fold_split(series, fold, cfg.folds, cfg.horizon)
    started = time.perf_counter()
    forecaster, histories = fit_forecaster(train, cfg)
    seconds = time.perf_counter() - started
    history = train.to_numpy(dtype=float)
    forecasts = {LSTM: recursive_forecast(forecaster.predict, history, len(test), cfg.input_months),
                 NAIVE: seasonal_naive(history, len(test), cfg.season_length)}
    if stats_baselines:
        forecasts |= stats_forecasts(train, len(test), cfg.season_length)
    scale = mase_scale(history, cfg.season_length)
    actual = test.to_numpy(dtype=float)
    result = {
        "fold": fold, "train_end": f"{train.index[-1]:%Y-%m}", "test_start": f"{test.index[0]:%Y-%m}",
        "test_end": f"{test.index[-1]:%Y-%m}", "train_seconds": seconds,
        "best_epochs": [h.best_epoch for h in histories],
        "scores": {name: metrics(actual, forecast, scale) for name, forecast in forecasts.items()},
        "forecasts": {name: forecast.tolist() for name, forecast in forecasts.items()},
        "actual": actual.tolist(),
    }
    logger.info("fold %d (train to %s): LSTM MAPE %.2f%%, seasonal naive %.2f%% (%.1fs)", fold,
                result["train_end"], result["scores"][LSTM]["mape"], result["scores"][NAIVE]["mape"], seconds)
    return result


def summarize(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean of every metric over the folds, per model, and whether the LSTM beat seasonal naive on each fold."""
    results = sorted(results, key=lambda r: r["fold"])
    models = results[0]["scores"].keys()
    mean = {model: {metric: float(np.mean([r["scores"][model][metric] for r in results]))
                    for metric in results[0]["scores"][model]} for model in models}
    return {"folds": len(results), "mean": mean,
            "per_fold": [{"fold": r["fold"], "train_end": r["train_end"], **{m: r["scores"][m] for m in models}}
                         for r in results],
            "lstm_beats_naive_every_fold": all(r["scores"][LSTM]["mape"] < r["scores"][NAIVE]["mape"]
                                               for r in results),
            "train_seconds_mean": float(np.mean([r["train_seconds"] for r in results]))}


def backtest(series: pd.Series, cfg: Config, stats_baselines: bool = False) -> dict[str, Any]:
    """All folds in this process, then the summary (the command line and benchmarks use this)."""
    return summarize([run_fold(series, cfg, fold, stats_baselines) for fold in range(cfg.folds)])
