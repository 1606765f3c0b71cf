"""Step 5: recursive holdout forecast, error metrics, the seasonal-naive baseline and the future forecast."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

Predict = Callable[[np.ndarray], np.ndarray]


def recursive_forecast(predict: Predict, history: np.ndarray, steps: int, lookback: int) -> np.ndarray:
    """Forecast ``steps`` values block by block, feeding each block back as the newest inputs.

    ``predict`` maps (1, lookback) windows to (1, k) next values: k = 1 is the classic one-step recursion,
    k >= ``steps`` a direct multi-horizon forecast made in a single call.
    """
    window = np.asarray(history, dtype=float)[-lookback:].tolist()
    if len(window) < lookback:
        raise ValueError(f"need {lookback} months of history, got {len(window)}")
    out: list[float] = []
    while len(out) < steps:
        block = np.asarray(predict(np.array([window[-lookback:]])), dtype=float).reshape(-1)
        block = block[: steps - len(out)].tolist()
        out.extend(block)
        window.extend(block)
    return np.array(out)


def seasonal_naive(history: np.ndarray, steps: int, season_length: int) -> np.ndarray:
    """Repeat the last observed season: the forecast for month T+h is the value of the same month a year before."""
    history = np.asarray(history, dtype=float)
    last_season = history[-season_length:]
    return np.array([last_season[h % season_length] for h in range(steps)])


def mase_scale(history: np.ndarray, season_length: int) -> float:
    """Mean absolute seasonal difference of the training history (the MASE denominator)."""
    history = np.asarray(history, dtype=float)
    if len(history) <= season_length:
        raise ValueError(f"MASE needs more than {season_length} history values, got {len(history)}")
    return float(np.mean(np.abs(history[season_length:] - history[:-season_length])))


def metrics(actual: np.ndarray, forecast: np.ndarray, scale: float) -> dict[str, float]:
    """MAPE (percent), RMSE, MAE and MASE of ``forecast`` against ``actual``."""
    actual, forecast = np.asarray(actual, dtype=float), np.asarray(forecast, dtype=float)
    error = forecast - actual
    mae = float(np.mean(np.abs(error)))
    return {"mape": float(np.mean(np.abs(error) / np.abs(actual)) * 100.0),
            "rmse": float(np.sqrt(np.mean(error**2))),
            "mae": mae,
            "mase": mae / scale if scale > 0 else float("inf")}


def future_months(last_month: pd.Timestamp, steps: int) -> pd.DatetimeIndex:
    """The ``steps`` month starts after ``last_month``."""
    return pd.date_range(last_month + pd.offsets.MonthBegin(1), periods=steps, freq="MS")


def evaluate_holdout(predict: Predict, lookback: int, train: pd.Series, holdout: pd.Series,
                     season_length: int) -> tuple[dict[str, float], pd.DataFrame]:
    """Score a model and the seasonal-naive baseline on the holdout months.

    Returns metrics named ``holdout_*`` and ``baseline_*`` and a frame of actual/forecast/baseline by month.
    """
    history = train.to_numpy(dtype=float)
    steps = len(holdout)
    forecast = recursive_forecast(predict, history, steps, lookback)
    baseline = seasonal_naive(history, steps, season_length)
    scale = mase_scale(history, season_length)
    scores = {f"holdout_{k}": v for k, v in metrics(holdout.to_numpy(), forecast, scale).items()}
    scores |= {f"baseline_{k}": v for k, v in metrics(holdout.to_numpy(), baseline, scale).items()}
    frame = pd.DataFrame({"actual": holdout.to_numpy(dtype=float), "forecast": forecast, "baseline": baseline},
                         index=holdout.index)
    return scores, frame


def forecast_future(predict: Predict, lookback: int, series: pd.Series, steps: int) -> pd.Series:
    """Forecast the ``steps`` months after the last month of ``series``."""
    values = recursive_forecast(predict, series.to_numpy(dtype=float), steps, lookback)
    return pd.Series(values, index=future_months(series.index[-1], steps), name="forecast")
