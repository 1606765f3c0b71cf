"""The candidates for a series' published forecast, and the choice among them.

Every series is forecast by the candidate that did best on its backtest folds, its own mean MASE shrunk towards the
whole panel's (as if the panel's mean had been seen :data:`PRIOR_FOLDS` more times): a series' few folds are a noisy
guide, and on M1 choosing on them alone lost 5 % to one candidate for all (docs/model.md). The candidates:

- ``lstm``: the global network, the product's core;
- ``seasonal_naive``: the same month a year before;
- ``theta``: the Theta method (:mod:`pipeline.theta`), the M3 competition's winner;
- ``lstm_theta``: the mean of the LSTM's and Theta's forecasts (a combination: the M competitions' most reliable
  gain over either part);
- ``ets``: AutoETS (exponential smoothing, its form chosen by AICc: statsforecast);
- ``stats_median``: the median of the statistical models (AutoETS, AutoCES, Dynamic Optimized Theta and Theta: the
  SCUM recipe of Petropoulos & Svetunkov, with the numpy Theta in AutoARIMA's place, which costs a hundred times
  more to fit);
- ``lstm_stats``: the median of AutoETS, AutoCES, Dynamic Optimized Theta and the LSTM (the same recipe with the
  LSTM in Theta's place: what the LSTM adds to the statistical models is the difference between the two).

Each is computed from the series' history alone, with the monthly run's own libraries (statsforecast among them),
so the served model forecasts every series the way the backtest chose. The setting ``statsforecast_candidates``
off leaves the three that need statsforecast out of a run (a panel too large to fit them series by series: they
cost about 80 ms of CPU a series each time they forecast, the others about 1 ms).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np

from pipeline import domains
from pipeline.metrics import LSTM, NAIVE, mean_defined, seasonal_naive
from pipeline.theta import theta

THETA, COMBINED, ETS, STATS, LSTM_STATS = "theta", "lstm_theta", "ets", "stats_median", "lstm_stats"
CES, DOT = "ces", "dynamic_theta"  # statistical models the candidates combine, not candidates themselves
PRIOR_FOLDS = 4  # the weight of the panel's mean MASE in a series' choice, in folds (measured: docs/model.md)
CANDIDATES = (LSTM, NAIVE, THETA, COMBINED, ETS, STATS, LSTM_STATS)  # in order of preference on a tie
NEEDS_LSTM = (LSTM, COMBINED, LSTM_STATS)
NEEDS_STATSFORECAST = (ETS, STATS, LSTM_STATS)
STATS_MONTHS = 120  # statsforecast's models fit each series' last ten years (AutoETS: 2.5 times faster on US
# employment's series of 225-969 months; the M1 series are shorter)
MEDIAN_OF = (ETS, CES, DOT, THETA)  # the models of stats_median; lstm_stats takes the LSTM in the last one's place


def statistical(histories: Sequence[np.ndarray], steps: int, season_length: int, setting: str = "auto",
                fitted: np.ndarray | None = None, statsforecast: bool = True) -> dict[str, np.ndarray]:
    """The (n, steps) forecasts of every history by seasonal naive, Theta and statsforecast's models
    (:func:`statsforecast_models`; only of the histories ``fitted`` marks when given, NaN for the others; Theta's
    where one of them forecast a value that is not finite; none of them without ``statsforecast``); all but
    seasonal naive clipped at zero where the series' kind is not ``real`` (see :mod:`pipeline.domains`)."""
    names = (NAIVE, *MEDIAN_OF) if statsforecast else (NAIVE, THETA)
    if not histories:
        return {name: np.zeros((0, steps)) for name in names}
    kinds = domains.kinds(histories, setting)
    found = {THETA: np.stack([theta(h, steps, season_length) for h in histories])}
    naive = np.stack([seasonal_naive(h, steps, season_length) for h in histories])
    if not statsforecast:
        return {NAIVE: naive, THETA: domains.floor(found[THETA], kinds)}
    found |= {name: np.full((len(histories), steps), np.nan) for name in (ETS, CES, DOT)}
    rows = np.flatnonzero(np.ones(len(histories), dtype=bool) if fitted is None else fitted)
    if len(rows):
        for name, values in statsforecast_models([histories[i] for i in rows.tolist()], steps, season_length).items():
            found[name][rows] = np.where(np.isfinite(values), values, found[THETA][rows])  # a fit that broke
    return {NAIVE: naive, **{name: domains.floor(found[name], kinds) for name in MEDIAN_OF}}


def statsforecast_models(histories: Sequence[np.ndarray], steps: int, season_length: int
                         ) -> dict[str, np.ndarray]:
    """AutoETS's, AutoCES's and Dynamic Optimized Theta's (n, steps) forecasts of every history (statsforecast,
    fitted series by series on their last :data:`STATS_MONTHS` months); a model that cannot fit a series leaves
    seasonal naive's forecast there."""
    import pandas as pd
    from statsforecast import StatsForecast
    from statsforecast.models import AutoCES, AutoETS, DynamicOptimizedTheta, SeasonalNaive

    recent = [np.asarray(h, dtype=float)[-STATS_MONTHS:] for h in histories]
    lengths = np.array([len(h) for h in recent])
    frame = pd.DataFrame({"unique_id": np.repeat(np.arange(len(recent)), lengths),
                          "ds": np.concatenate([np.arange(n) for n in lengths]), "y": np.concatenate(recent)})
    models = [AutoETS(season_length=season_length, alias=ETS), AutoCES(season_length=season_length, alias=CES),
              DynamicOptimizedTheta(season_length=season_length, alias=DOT)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = StatsForecast(models=models, freq=1, fallback_model=SeasonalNaive(season_length=season_length)
                            ).forecast(df=frame, h=steps).sort_values(["unique_id", "ds"])
    return {name: out[name].to_numpy(dtype=float).reshape(len(histories), steps) for name in (ETS, CES, DOT)}


def all_candidates(lstm: np.ndarray, stats: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every candidate's forecasts from the LSTM's and :func:`statistical`'s, in :data:`CANDIDATES` order (the
    first four alone when ``stats`` holds no statsforecast model)."""
    fast = {LSTM: lstm, NAIVE: stats[NAIVE], THETA: stats[THETA], COMBINED: (lstm + stats[THETA]) / 2}
    if ETS not in stats:
        return fast
    models = np.stack([stats[name] for name in MEDIAN_OF])
    return fast | {ETS: stats[ETS], STATS: np.median(models, axis=0),
                   LSTM_STATS: np.median(np.concatenate([models[:-1], lstm[None]]), axis=0)}


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
