"""Value domains: what values a series may take, and how the model reads and bounds each series accordingly.

The operator's ``value_domain`` is ``positive`` (every value above zero), ``nonnegative`` (zero allowed),
``real`` (any finite number) or ``auto`` (any finite number; each series is read by what it holds). Each series
then has a *kind*, from that setting and its own values:

- ``positive``: every value above zero (and the setting not ``real``): read in logs, as the model always did;
  its forecasts and interval bounds stay above zero;
- ``nonnegative``: a zero but no negative value: read relative to its level (no log of zero); its forecasts and
  bounds are clipped at zero, never negative;
- ``real``: a negative value, or the setting ``real``: read relative to its level, not clipped.

A panel's domain is the widest kind of its series (what ``auto`` infers and reports).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

SETTINGS = ("auto", "positive", "nonnegative", "real")
POSITIVE, NONNEGATIVE, REAL = "positive", "nonnegative", "real"
KINDS = (POSITIVE, NONNEGATIVE, REAL)  # narrowest first
RULES = {POSITIVE: "is not positive", NONNEGATIVE: "is negative"}  # a value outside a declared domain


def kind(values: np.ndarray, setting: str = "auto") -> str:
    """The kind of one series (see the module's doc) under the ``value_domain`` setting."""
    values = np.asarray(values, dtype=float)
    if setting == REAL:
        return REAL
    low = float(values.min()) if values.size else 1.0
    return POSITIVE if low > 0 else NONNEGATIVE if low >= 0 else REAL


def kinds(histories: Iterable[np.ndarray], setting: str = "auto") -> np.ndarray:
    """The kind of every series, as an array of strings."""
    return np.array([kind(h, setting) for h in histories], dtype=object)


def widest(found: Iterable[str]) -> str:
    """The widest of some kinds (a panel's domain); ``positive`` for none."""
    ranks = [KINDS.index(k) for k in found]
    return KINDS[max(ranks)] if ranks else POSITIVE


def of_panel(histories: Iterable[np.ndarray], setting: str = "auto") -> str:
    """The domain of a panel's values: the declared one, or (``auto``) the widest kind of its series."""
    return setting if setting != "auto" else widest(kinds(histories, setting))


def outside(values: np.ndarray, domain: str) -> np.ndarray:
    """Where ``values`` fall outside ``domain`` (a declared or a model's domain; ``auto``/``real``: nowhere)."""
    values = np.asarray(values, dtype=float)
    if domain == POSITIVE:
        return ~(values > 0)
    if domain == NONNEGATIVE:
        return ~(values >= 0)
    return np.zeros(values.shape, dtype=bool)


def floor(values: np.ndarray, found: np.ndarray) -> np.ndarray:
    """(n, h) ``values`` of series of kinds ``found`` (n,), clipped at zero where the series is not ``real``."""
    values = np.asarray(values, dtype=float)
    clip = (np.asarray(found, dtype=object) != REAL)[:, None]
    return np.where(clip, np.maximum(values, 0.0), values)
