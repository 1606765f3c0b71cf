"""The Theta method (Assimakopoulos & Nikolopoulos 2000, the M3 competition's winner), in numpy: a statistical
candidate for the published forecast, and what the level view (:mod:`pipeline.data.level`) corrects when asked.

As Hyndman & Billah (2003) write it: a series that is seasonal (its autocorrelation at lag ``season_length``
significant at 90 %, the M3 test) is deseasonalised by classical decomposition (multiplicative for a positive
series, additive otherwise), forecast by simple exponential smoothing (its smoothing weight fitted by least squares
on the one-step errors) with a drift of half the slope of a straight line fitted to it, and reseasonalised.

Every function works on many rows of the same length at once (windows of a panel: :func:`theta_rows`); the
one-series forms call them with one row.
"""

from __future__ import annotations

import numpy as np

ALPHAS = np.linspace(0.01, 1.0, 100)  # the smoothing weights tried (a grid: deterministic, no optimiser)


def seasonal_rows(values: np.ndarray, season_length: int) -> np.ndarray:
    """(n,) whether each row of (n, L) ``values`` is seasonal: three seasons or more, and the autocorrelation at lag
    ``season_length`` beyond 1.645 standard errors (Bartlett's), the M3 Theta method's test."""
    values = np.atleast_2d(np.asarray(values, dtype=float))
    n = values.shape[1]
    if season_length < 2 or n < 3 * season_length:
        return np.zeros(len(values), dtype=bool)
    centred = values - values.mean(axis=1, keepdims=True)
    denominator = np.sum(centred**2, axis=1)
    safe = np.where(denominator > 0, denominator, 1.0)
    acf = np.stack([np.sum(centred[:, k:] * centred[:, :n - k], axis=1) / safe
                    for k in range(1, season_length + 1)], axis=1)
    limit = 1.645 * np.sqrt((1 + 2 * np.sum(acf[:, :-1] ** 2, axis=1)) / n)
    return (np.abs(acf[:, -1]) > limit) & (denominator > 0)


def seasonal(values: np.ndarray, season_length: int) -> bool:
    """Whether one series is seasonal (:func:`seasonal_rows`)."""
    return bool(seasonal_rows(np.asarray(values, dtype=float)[None, :], season_length)[0])


def seasonal_indices_rows(values: np.ndarray, season_length: int, multiplicative: np.ndarray) -> np.ndarray:
    """Classical decomposition's seasonal index of each position in the season (a row's first month at position 0)
    for each row of (n, L) ``values``: the mean ratio (or difference, where ``multiplicative`` is False) of the row to
    its centred moving average, normalised. (n, season_length)."""
    values = np.atleast_2d(np.asarray(values, dtype=float))
    m = season_length
    kernel = np.r_[0.5, np.ones(m - 1), 0.5] / m if m % 2 == 0 else np.ones(m) / m
    width = values.shape[1] - len(kernel) + 1
    trend = sum(kernel[j] * values[:, j:j + width] for j in range(len(kernel)))
    start = (len(kernel) - 1) // 2
    part = values[:, start:start + width]
    mult = np.asarray(multiplicative, dtype=bool).reshape(-1, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        detrended = np.where(mult, part / np.where(mult, trend, 1.0), part - trend)
    positions = (np.arange(width) + start) % m
    indices = np.stack([detrended[:, positions == p].mean(axis=1) for p in range(m)], axis=1)
    mean = indices.mean(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(mult, indices / np.where(mult, mean, 1.0), indices - mean)


def seasonal_indices(values: np.ndarray, season_length: int, multiplicative: bool) -> np.ndarray:
    """:func:`seasonal_indices_rows` of one series."""
    return seasonal_indices_rows(np.asarray(values, dtype=float)[None, :], season_length,
                                 np.array([multiplicative]))[0]


def ses_rows(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Simple exponential smoothing of each row of (n, L) ``values``, its weight fitted by least squares on the
    one-step errors: (last level (n,), weight (n,))."""
    values = np.atleast_2d(np.asarray(values, dtype=float))
    level = np.repeat(values[:, :1], len(ALPHAS), axis=1)  # one level per row and weight tried, smoothed together
    sse = np.zeros_like(level)
    for t in range(1, values.shape[1]):
        error = values[:, t:t + 1] - level
        sse += error**2
        level += ALPHAS * error
    best = np.argmin(sse, axis=1)
    rows = np.arange(len(values))
    return level[rows, best], ALPHAS[best]


def ses(values: np.ndarray) -> tuple[float, float]:
    """:func:`ses_rows` of one series: (last level, weight)."""
    level, alpha = ses_rows(np.asarray(values, dtype=float)[None, :])
    return float(level[0]), float(alpha[0])


def theta_rows(values: np.ndarray, steps: int, season_length: int) -> np.ndarray:
    """The Theta method's forecast of the ``steps`` months after each row of (n, L) ``values``: (n, steps)."""
    values = np.atleast_2d(np.asarray(values, dtype=float))
    count, n = values.shape
    multiplicative = np.all(values > 0, axis=1)
    adjust = np.where(multiplicative[:, None], 1.0, 0.0) * np.ones((count, season_length))
    found = seasonal_rows(values, season_length)
    if found.any():
        adjust[found] = seasonal_indices_rows(values[found], season_length, multiplicative[found])
    positions = np.arange(n) % season_length
    mult = multiplicative[:, None]
    plain = np.where(mult, values / np.where(mult, adjust[:, positions], 1.0), values - adjust[:, positions])
    if n > 1:
        t = np.arange(n) - (n - 1) / 2
        slope = (plain - plain.mean(axis=1, keepdims=True)) @ t / float(t @ t)
    else:
        slope = np.zeros(count)
    level, alpha = ses_rows(plain)
    h = np.arange(1, steps + 1)
    drift = 0.5 * slope[:, None] * (h - 1 + 1 / alpha[:, None] - (1 - alpha[:, None]) ** n / alpha[:, None])
    ahead = adjust[:, np.arange(n, n + steps) % season_length]
    return np.where(mult, (level[:, None] + drift) * ahead, level[:, None] + drift + ahead)


def theta(history: np.ndarray, steps: int, season_length: int) -> np.ndarray:
    """The Theta method's forecast of the ``steps`` months after one ``history``."""
    return theta_rows(np.asarray(history, dtype=float)[None, :], steps, season_length)[0]
