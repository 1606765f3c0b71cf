"""Step 5: recursive holdout forecast, error metrics, the seasonal-naive baseline and the future forecast."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

Predict = Callable[[np.ndarray], np.ndarray]


def forecast_windows(predict: Predict, windows: np.ndarray, steps: int) -> np.ndarray:
    """Forecast ``steps`` months after each of the (n, lookback) ``windows`` at once, block by block: each block
    the model predicts (k months, k = 1 for a one-step model) is fed back as the newest inputs."""
    windows = np.asarray(windows, dtype=float)
    lookback = windows.shape[1]
    out = np.zeros((len(windows), 0))
    while out.shape[1] < steps:
        block = np.asarray(predict(windows), dtype=float).reshape(len(windows), -1)[:, : steps - out.shape[1]]
        out = np.concatenate([out, block], axis=1)
        windows = np.concatenate([windows, block], axis=1)[:, -lookback:]
    return out


def last_windows(histories: Sequence[np.ndarray], lookback: int) -> np.ndarray:
    """The last ``lookback`` months of each history: (n, lookback)."""
    short = [len(h) for h in histories if len(h) < lookback]
    if short:
        raise ValueError(f"need {lookback} months of history, got {min(short)}")
    return np.stack([np.asarray(h, dtype=float)[len(h) - lookback:] for h in histories]) if len(histories) else \
        np.zeros((0, lookback))


def recursive_forecast(predict: Predict, history: np.ndarray, steps: int, lookback: int) -> np.ndarray:
    """Forecast ``steps`` values after one history (:func:`forecast_windows` of its last window)."""
    return forecast_windows(predict, last_windows([np.asarray(history, dtype=float)], lookback), steps)[0]


def seasonal_naive(history: np.ndarray, steps: int, season_length: int) -> np.ndarray:
    """Repeat the last observed season: the forecast for month T+h is the value of the same month a year before."""
    history = np.asarray(history, dtype=float)
    last_season = history[-season_length:]
    return np.array([last_season[h % season_length] for h in range(steps)])


def seasonal_change(values: np.ndarray, season_length: int) -> float:
    """The mean absolute change of ``values`` from the same month a year earlier (from the month before when the
    series is not longer than a year); 1 when it never changes: a series' scale of error."""
    values = np.asarray(values, dtype=float)
    lag = season_length if len(values) > season_length else 1
    change = float(np.mean(np.abs(values[lag:] - values[:-lag]))) if len(values) > lag else 0.0
    return change if change > 0 else 1.0


def mase_scale(history: np.ndarray, season_length: int) -> float:
    """Mean absolute seasonal difference of the training history (the MASE denominator)."""
    history = np.asarray(history, dtype=float)
    if len(history) <= season_length:
        raise ValueError(f"MASE needs more than {season_length} history values, got {len(history)}")
    return float(np.mean(np.abs(history[season_length:] - history[:-season_length])))


def metrics(actual: np.ndarray, forecast: np.ndarray, scale: float) -> dict[str, float]:
    """MAPE (percent), RMSE, MAE and MASE of ``forecast`` against ``actual``."""
    return {key: float(value[0]) for key, value in metrics_rows(np.atleast_2d(actual), np.atleast_2d(forecast),
                                                                 np.array([scale])).items()}


def metrics_rows(actual: np.ndarray, forecast: np.ndarray, scales: np.ndarray) -> dict[str, np.ndarray]:
    """The metrics of :func:`metrics` for each row (series) of (n, h) ``actual`` and ``forecast``."""
    actual, forecast = np.asarray(actual, dtype=float), np.asarray(forecast, dtype=float)
    error = forecast - actual
    mae = np.mean(np.abs(error), axis=1)
    scales = np.asarray(scales, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        mase = np.where(scales > 0, mae / np.where(scales > 0, scales, 1.0), np.inf)
    return {"mape": np.mean(np.abs(error) / np.abs(actual), axis=1) * 100.0,
            "rmse": np.sqrt(np.mean(error**2, axis=1)), "mae": mae, "mase": mase}


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
