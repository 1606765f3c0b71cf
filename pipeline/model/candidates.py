"""The candidates for a series' published forecast, and the choice among them.

Every series is forecast by the candidate that did best on its backtest folds, its own mean MASE shrunk towards the
whole panel's (as if the panel's mean had been seen :data:`PRIOR_FOLDS` more times): a series' few folds are a noisy
guide, and on M1 choosing on them alone lost 5 % to one candidate for all (docs/model.md). The candidates:

- ``lstm``: the global network, the product's core;
- ``seasonal_naive``: the same month a year before;
- ``theta``: the Theta method (:mod:`pipeline.model.theta`), the M3 competition's winner;
- ``lstm_theta``: the mean of the LSTM's and Theta's forecasts (a combination: the M competitions' most reliable
  gain over either part).

Each is computed from the series' history alone, with nothing beyond the monthly run's own libraries, so the
served model forecasts every series the way the backtest chose.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from pipeline import domains
from pipeline.metrics import LSTM, NAIVE, mean_defined, seasonal_naive
from pipeline.model.theta import theta

THETA, COMBINED = "theta", "lstm_theta"
PRIOR_FOLDS = 4  # the weight of the panel's mean MASE in a series' choice, in folds (measured: docs/model.md)
CANDIDATES = (LSTM, NAIVE, THETA, COMBINED)  # in order of preference on a tie
NEEDS_LSTM = (LSTM, COMBINED)


def statistical(histories: Sequence[np.ndarray], steps: int, season_length: int, setting: str = "auto"
                ) -> dict[str, np.ndarray]:
    """Seasonal naive's and Theta's (n, steps) forecasts of every history; Theta's clipped at zero where the
    series' kind is not ``real`` (see :mod:`pipeline.domains`)."""
    if not histories:
        return {NAIVE: np.zeros((0, steps)), THETA: np.zeros((0, steps))}
    kinds = domains.kinds(histories, setting)
    return {NAIVE: np.stack([seasonal_naive(h, steps, season_length) for h in histories]),
            THETA: domains.floor(np.stack([theta(h, steps, season_length) for h in histories]), kinds)}


def all_candidates(lstm: np.ndarray, stats: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every candidate's forecasts from the LSTM's and :func:`statistical`'s, in :data:`CANDIDATES` order."""
    return {LSTM: lstm, NAIVE: stats[NAIVE], THETA: stats[THETA], COMBINED: (lstm + stats[THETA]) / 2}


def served(choice: Mapping[str, str]) -> dict[str, int]:
    """How many series each candidate serves (``{series: candidate}``), in :data:`CANDIDATES` order, the ones
    serving none left out."""
    counts = {c: sum(1 for m in choice.values() if m == c) for c in CANDIDATES}
    return {c: n for c, n in counts.items() if n}


def fallbacks(counts: Mapping[str, int]) -> int:
    """How many series another candidate than the LSTM alone serves (of :func:`served`'s counts)."""
    return sum(n for c, n in counts.items() if c != LSTM)


def choose(mase: Mapping[str, Sequence[float]], prior: Mapping[str, float] | None = None,
           default: str = LSTM) -> str:
    """The candidate with the lowest shrunk mean MASE: its MASE over the folds given (``{candidate: [MASE of each
    fold]}``) averaged with ``prior`` (the panel's mean MASE of each candidate) weighted as :data:`PRIOR_FOLDS`
    folds; the earliest in :data:`CANDIDATES` on a tie; ``default`` when nothing is defined (no fold scored the
    series, or it never changed: MASE undefined)."""
    scores = {}
    for c in CANDIDATES:
        values = np.asarray(mase.get(c, []), dtype=float)
        values = values[np.isfinite(values)]
        if len(values) and prior and c in prior:
            scores[c] = (values.sum() + PRIOR_FOLDS * prior[c]) / (len(values) + PRIOR_FOLDS)
        elif len(values):
            scores[c] = values.mean()
    return min(scores, key=lambda c: (scores[c], CANDIDATES.index(c))) if scores else default


def panel_choice(mase: Mapping[str, Sequence[float]]) -> tuple[dict[str, float], str]:
    """The panel's mean MASE of each candidate over every series-fold given, and the best of them (the LSTM when
    none is defined): the prior of :func:`choose` and the choice for a series no fold scored."""
    prior = {c: mean_defined(mase[c]) for c in CANDIDATES if c in mase and len(mase[c])}
    defined = {c: m for c, m in prior.items() if np.isfinite(m)}
    best = min(defined, key=lambda c: (defined[c], CANDIDATES.index(c))) if defined else LSTM
    return defined, best
