"""The Theta method (Assimakopoulos & Nikolopoulos 2000, the M3 competition's winner), in numpy: a statistical
candidate for the published forecast that the served model computes without any library beyond the monthly run's.

As Hyndman & Billah (2003) write it: a series that is seasonal (its autocorrelation at lag ``season_length``
significant at 90 %, the M3 test) is deseasonalised by classical decomposition (multiplicative for a positive
series, additive otherwise), forecast by simple exponential smoothing (its smoothing weight fitted by least squares
on the one-step errors) with a drift of half the slope of a straight line fitted to it, and reseasonalised.
"""

from __future__ import annotations

import numpy as np

ALPHAS = np.linspace(0.01, 1.0, 100)  # the smoothing weights tried (a grid: deterministic, no optimiser)


def seasonal(values: np.ndarray, season_length: int) -> bool:
    """Whether ``values`` are seasonal: three seasons or more, and the autocorrelation at lag ``season_length``
    beyond 1.645 standard errors (Bartlett's), the M3 Theta method's test."""
    n = len(values)
    if season_length < 2 or n < 3 * season_length:
        return False
    centred = values - values.mean()
    denominator = float(np.sum(centred**2))
    if denominator == 0:
        return False
    acf = np.array([np.sum(centred[k:] * centred[:n - k]) / denominator for k in range(1, season_length + 1)])
    limit = 1.645 * np.sqrt((1 + 2 * np.sum(acf[:-1] ** 2)) / n)
    return bool(abs(acf[-1]) > limit)


def seasonal_indices(values: np.ndarray, season_length: int, multiplicative: bool) -> np.ndarray:
    """Classical decomposition's seasonal index of each position in the season (the series' first month at
    position 0): the mean ratio (or difference) of the series to its centred moving average, normalised."""
    m = season_length
    kernel = np.r_[0.5, np.ones(m - 1), 0.5] / m if m % 2 == 0 else np.ones(m) / m
    trend = np.convolve(values, kernel, mode="valid")
    start = (len(kernel) - 1) // 2
    part = values[start:start + len(trend)]
    detrended = part / trend if multiplicative else part - trend
    positions = (np.arange(len(trend)) + start) % m
    indices = np.array([detrended[positions == p].mean() for p in range(m)])
    return indices / indices.mean() if multiplicative else indices - indices.mean()


def ses(values: np.ndarray) -> tuple[float, float]:
    """Simple exponential smoothing fitted by least squares on the one-step errors: (last level, weight)."""
    level = np.full(len(ALPHAS), float(values[0]))  # one level per weight tried, smoothed together
    sse = np.zeros(len(ALPHAS))
    for value in values[1:]:
        sse += (value - level) ** 2
        level += ALPHAS * (value - level)
    best = int(np.argmin(sse))
    return float(level[best]), float(ALPHAS[best])


def theta(history: np.ndarray, steps: int, season_length: int) -> np.ndarray:
    """The Theta method's forecast of the ``steps`` months after ``history``."""
    values = np.asarray(history, dtype=float)
    n = len(values)
    multiplicative = bool(np.all(values > 0))
    adjust = np.zeros(season_length) if not multiplicative else np.ones(season_length)
    if seasonal(values, season_length):
        adjust = seasonal_indices(values, season_length, multiplicative)
    positions = np.arange(n) % season_length
    plain = values / adjust[positions] if multiplicative else values - adjust[positions]
    slope = float(np.polyfit(np.arange(n), plain, 1)[0]) if n > 1 else 0.0
    level, alpha = ses(plain)
    h = np.arange(1, steps + 1)
    drift = 0.5 * slope * (h - 1 + 1 / alpha - (1 - alpha) ** n / alpha)
    ahead = (np.arange(n, n + steps)) % season_length
    return (level + drift) * adjust[ahead] if multiplicative else level + drift + adjust[ahead]
