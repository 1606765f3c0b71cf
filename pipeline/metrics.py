"""The error metrics and baselines every layer needs: seasonal naive, the scale of a series' changes, MASE's
denominator, and MAPE, RMSE, MAE and MASE per series."""

from __future__ import annotations

import numpy as np

# The names of the network's and the baseline's forecasts in every table, record and metric.
LSTM, NAIVE = "lstm", "seasonal_naive"


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


def log_scale(history: np.ndarray, season_length: int) -> float:
    """The mean absolute change of a series' logs from the same month a year earlier (one month earlier when it
    is shorter than two years); 1 when it never changes."""
    return seasonal_change(np.log(np.asarray(history, dtype=float)), season_length)
