"""Forecasting from windows: the last months of each history, and multi-step forecasts that feed each predicted
block back as the newest inputs (a one-step model forecasts recursively; a direct model in one block)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from pipeline.data.features import backcast

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


def last_windows(histories: Sequence[np.ndarray], lookback: int, season_length: int = 0) -> np.ndarray:
    """The last ``lookback`` months of each history: (n, lookback); with ``season_length``, a shorter history is
    backcast from its first season (:func:`pipeline.data.features.backcast`), as training did."""
    if season_length:
        histories = [backcast(h, lookback - len(h), season_length) for h in histories]
    short = [len(h) for h in histories if len(h) < lookback]
    if short:
        raise ValueError(f"need {lookback} months of history, got {min(short)}")
    return np.stack([np.asarray(h, dtype=float)[len(h) - lookback:] for h in histories]) if len(histories) else \
        np.zeros((0, lookback))
