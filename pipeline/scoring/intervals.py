"""How prediction intervals are scored: coverage, width and MSIS per series (see :mod:`pipeline.model.calibration`
for how they are made)."""

from __future__ import annotations

import warnings

import numpy as np


def interval_scores(actual: np.ndarray, lower: np.ndarray, upper: np.ndarray, level: int,
                    scales: np.ndarray) -> dict[str, np.ndarray]:
    """Per row (series): coverage, mean width and the interval score at ``level``, scaled by ``scales`` (each
    series' MASE denominator)."""
    actual, lower, upper = (np.asarray(a, dtype=float) for a in (actual, lower, upper))
    alpha = 1 - level / 100
    scales = np.asarray(scales, dtype=float)[:, None]
    width = (upper - lower) / scales
    penalty = (2 / alpha) * (np.maximum(lower - actual, 0) + np.maximum(actual - upper, 0)) / scales
    inside = np.where(np.isnan(lower) | np.isnan(upper), np.nan, (actual >= lower) & (actual <= upper))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: no interval at that level
        return {f"coverage_{level}": np.nanmean(inside, axis=1), f"width_{level}": np.nanmean(width, axis=1),
                f"msis_{level}": np.nanmean(width + penalty, axis=1)}
