"""Prediction intervals from backtest residuals (split conformal): the calibration a published model carries.

A forecast's error of a positive series is taken in logs (``log actual - log forecast``: scale-free, and the
interval stays positive) and divided by its series' scale ``s`` (the mean absolute change of its logs from the same
month a year earlier); the error of any other series (:mod:`pipeline.domains`) is ``actual - forecast`` divided by
the mean absolute change of its values from the same month a year earlier. Residuals of series of any size,
volatility and kind so pool together. For each level, the conformal quantile ``q`` of the absolute scaled residuals
gives the interval ``forecast * exp(+-q * s)`` of a positive series, ``forecast +- q * s`` of another (never below
zero unless the series is ``real``):

- ``per_horizon``: one ``q`` for each month ahead, when the calibration set holds at least ``PER_HORIZON_MIN``
  series-folds (a panel);
- ``pooled``: one ``q`` for the residuals of every month ahead divided by ``sqrt(h)`` (errors grow with the months
  ahead), then ``q * sqrt(h)`` for month ``h``: for a single series, whose folds give too few residuals a month.

Scores, each series scaled like MASE (by its mean absolute seasonal difference): coverage (share of actual months
inside), mean width, and MSIS, the M4 interval score (width plus ``2 / alpha`` times the distance by which the
actual month falls outside). With too few residuals for a level (95 % needs 19), its bounds are NaN: not
published, not scored.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from pipeline import domains
from pipeline.domains import POSITIVE

PER_HORIZON_MIN = 50


def _logs(kinds: np.ndarray | None, rows: int) -> np.ndarray:
    """(n, 1) whether each row's errors are taken in logs (a positive series; every row when kinds are unknown)."""
    return np.ones((rows, 1), dtype=bool) if kinds is None else (np.asarray(kinds, dtype=object) == POSITIVE)[:, None]


def scaled_residuals(actual: np.ndarray, forecast: np.ndarray, scales: np.ndarray,
                     kinds: np.ndarray | None = None) -> np.ndarray:
    """(n, h) errors divided by each row's scale: in logs for the rows of positive series (all, without
    ``kinds``), in the values' own units for the others."""
    actual, forecast = np.asarray(actual, dtype=float), np.asarray(forecast, dtype=float)
    logs = _logs(kinds, len(actual))
    with np.errstate(divide="ignore", invalid="ignore"):
        errors = np.where(logs, np.log(np.where(logs, actual, 1.0)) - np.log(np.maximum(forecast, 1e-300)),
                          actual - forecast)
    return errors / np.asarray(scales, dtype=float)[:, None]


def conformal_quantile(values: np.ndarray, level: float) -> float:
    """The split-conformal quantile of ``values`` for coverage ``level`` (0..1): the ``ceil((n + 1) level)``-th
    smallest; infinite when there are too few values for that level."""
    values = np.sort(np.asarray(values, dtype=float)[np.isfinite(values)])
    rank = math.ceil((len(values) + 1) * level)
    return float(values[rank - 1]) if 0 < rank <= len(values) else math.inf


@dataclass(frozen=True)
class Calibration:
    """The multipliers ``q[level][h]`` of one model's intervals, and how they were fitted."""

    levels: tuple[int, ...]
    scheme: str
    quantiles: dict[str, list[float]]
    residuals: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-able (levels as strings: JSON has no integer keys)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        """The inverse of :meth:`to_dict`."""
        return cls(tuple(int(x) for x in data["levels"]), data["scheme"],
                   {str(k): [float(v) for v in q] for k, q in data["quantiles"].items()}, int(data["residuals"]))

    def bounds(self, forecast: np.ndarray, scales: np.ndarray, kinds: np.ndarray | None = None
               ) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """{level: (lower, upper)} around (n, h) ``forecast`` of series of ``kinds`` (all positive when not
        given); months past the calibrated ones reuse the last."""
        forecast = np.asarray(forecast, dtype=float)
        logs = _logs(kinds, len(forecast))
        steps = forecast.shape[1]
        out = {}
        for level in self.levels:
            q = np.asarray(self.quantiles[str(level)], dtype=float)
            if self.scheme == "pooled":
                q = q[0] * np.sqrt(np.arange(1, steps + 1))
            else:
                q = np.concatenate([q, np.repeat(q[-1:], max(0, steps - len(q)))])[:steps]
            with np.errstate(invalid="ignore", over="ignore"):
                width = np.outer(np.asarray(scales, dtype=float), np.where(np.isfinite(q), q, np.nan))
                spread = np.exp(np.where(logs, width, 0.0))
                lower = np.where(logs, forecast / spread, forecast - width)  # NaN where too few residuals
                upper = np.where(logs, forecast * spread, forecast + width)
            if kinds is not None:
                lower, upper = domains.floor(lower, kinds), domains.floor(upper, kinds)
            out[level] = (lower, upper)
        return out


def calibrate(residuals: np.ndarray, levels: Sequence[int]) -> Calibration:
    """Fit the interval multipliers on (m, h) scaled residuals (m series-folds): per month ahead when m is large
    enough, else pooled over the months ahead with ``sqrt(h)`` growth."""
    residuals = np.abs(np.asarray(residuals, dtype=float))
    rows, steps = residuals.shape
    if rows >= PER_HORIZON_MIN:
        quantiles = {str(level): [conformal_quantile(residuals[:, j], level / 100) for j in range(steps)]
                     for level in levels}
        return Calibration(tuple(levels), "per_horizon", quantiles, int(residuals.size))
    growth = np.sqrt(np.arange(1, steps + 1))
    pooled = (residuals / growth).ravel()
    quantiles = {str(level): [conformal_quantile(pooled, level / 100)] for level in levels}
    return Calibration(tuple(levels), "pooled", quantiles, int(residuals.size))
