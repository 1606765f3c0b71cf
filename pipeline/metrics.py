"""The error metrics and baselines every layer needs: seasonal naive, the scale of a series' changes, MASE's
denominator, and MAPE, RMSE, MAE and MASE per series."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

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


def series_level(values: np.ndarray) -> float:
    """A series' level: its mean absolute value (1 when it is all zeros)."""
    found = float(np.mean(np.abs(np.asarray(values, dtype=float)))) if len(values) else 0.0
    return found if found > 0 else 1.0


def flat(values: np.ndarray, season_length: int) -> bool:
    """Whether every month of a series equals the same month a year earlier (all zeros, a constant, one season
    repeated): it has no change to learn from or to scale errors by."""
    values = np.asarray(values, dtype=float)
    return len(values) <= season_length or bool(np.all(values[season_length:] == values[:-season_length]))


def mase_scale(history: np.ndarray, season_length: int) -> float:
    """Mean absolute seasonal difference of the training history (the MASE denominator); of the month-to-month
    differences when the history is not longer than a season (a short series). 0 when it never changes."""
    history = np.asarray(history, dtype=float)
    lag = season_length if len(history) > season_length else 1
    if len(history) <= lag:
        raise ValueError(f"MASE needs at least 2 history values, got {len(history)}")
    return float(np.mean(np.abs(history[lag:] - history[:-lag])))


def metrics(actual: np.ndarray, forecast: np.ndarray, scale: float) -> dict[str, float]:
    """MAPE and sMAPE (percent), RMSE, MAE and MASE of ``forecast`` against ``actual``."""
    return {key: float(value[0]) for key, value in metrics_rows(np.atleast_2d(actual), np.atleast_2d(forecast),
                                                                 np.array([scale])).items()}


def metrics_rows(actual: np.ndarray, forecast: np.ndarray, scales: np.ndarray) -> dict[str, np.ndarray]:
    """The metrics of :func:`metrics` for each row (series) of (n, h) ``actual`` and ``forecast``. Undefined ones
    are NaN: MASE where the series never changed in its history (scale 0), MAPE where an actual month is zero.
    sMAPE is the M competitions' ``200 |y - f| / (|y| + |f|)`` (0 where both are 0)."""
    actual, forecast = np.asarray(actual, dtype=float), np.asarray(forecast, dtype=float)
    error = forecast - actual
    mae = np.mean(np.abs(error), axis=1)
    scales = np.asarray(scales, dtype=float)
    total = np.abs(actual) + np.abs(forecast)
    with np.errstate(divide="ignore", invalid="ignore"):
        mase = np.where(scales > 0, mae / np.where(scales > 0, scales, 1.0), np.nan)
        mape = np.where((actual != 0).all(axis=1), np.mean(np.abs(error) / np.abs(actual), axis=1) * 100.0, np.nan)
        smape = np.mean(np.where(total > 0, 200.0 * np.abs(error) / np.where(total > 0, total, 1.0), 0.0), axis=1)
    return {"mape": mape, "smape": smape, "rmse": np.sqrt(np.mean(error**2, axis=1)), "mae": mae, "mase": mase}


def mean_defined(values: Sequence[float] | np.ndarray, how: Callable[[np.ndarray], Any] = np.mean) -> float:
    """The mean (or ``how``) of the defined values (a metric is NaN where undefined, such as MAPE on a zero
    month); NaN when none is."""
    array = np.asarray(values, dtype=float)
    defined = array[~np.isnan(array)]
    return float(how(defined)) if defined.size else float("nan")


def interval_scale(history: np.ndarray, season_length: int, log: bool = True) -> float:
    """The scale of a series' forecast errors for its intervals: the mean absolute change of its logs (``log``: a
    positive series) or of its values from the same month a year earlier (one month earlier when it is not longer
    than a year); 1 when it never changes."""
    values = np.asarray(history, dtype=float)
    return seasonal_change(np.log(values) if log else values, season_length)
