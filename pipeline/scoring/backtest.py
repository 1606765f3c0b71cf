"""Rolling-origin backtests of a panel: the configuration is refitted at each origin (one global model over the
series given) and every series is scored on the months after it, beside seasonal naive and, optionally,
statsforecast's AutoARIMA, AutoETS and AutoTheta fitted on the whole panel at once.

Origins for ``folds`` folds of ``horizon`` months (:class:`Origin`), with ``fold_alignment``:

- ``calendar``: the same months for every series, the panel ending at month ``N``: ``N + 1 - horizon * (folds -
  k)``, k = 0..folds-1. For AirPassengers with 3 folds of 12, training ends 1957-12, 1958-12 and 1959-12;
- ``series_end``: ``horizon * (folds - k)`` months before each series' own end (as statsforecast's
  cross-validation places its windows), for collections of unrelated series that end at different dates.

A series is scored in a fold when it holds the fold's ``horizon`` months and, before them, more than a season of
months that change from year to year (what seasonal naive and MASE need).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from pipeline import domains
from pipeline.config import Config
from pipeline.data.features import TooFewWindowsError
from pipeline.data.panel import Panel
from pipeline.errors import ConfigError
from pipeline.metrics import LSTM, NAIVE, flat, interval_scale, mase_scale, mean_defined, metrics_rows
from pipeline.model.calibration import calibrate, scaled_residuals
from pipeline.model.candidates import (
    CANDIDATES,
    NEEDS_LSTM,
    THETA,
    all_candidates,
    choose,
    panel_choice,
    served,
    statistical,
)
from pipeline.months import month_starts, month_text, parse_month
from pipeline.scoring.intervals import interval_scores

if TYPE_CHECKING:  # torch loads only where a network trains or forecasts
    from pipeline.model.forecaster import Forecaster
    from pipeline.model.train import History

logger = logging.getLogger(__name__)

STATS_MODELS = ("AutoARIMA", "AutoETS", "AutoTheta")
PUBLISHED = "published"  # the forecast published: each series by its candidate chosen on earlier folds
WITHOUT_LSTM = "published_without_lstm"  # the same choice among the candidates that do not need the LSTM
METRICS = ("mase", "mape", "smape", "rmse", "mae")


@dataclass(frozen=True)
class Origin:
    """Where a fit's training stops and its test months start: at calendar month ``month`` (a month index) for
    every series, or ``before_end`` months before each series' own end (``fold_alignment: series_end``)."""

    month: int | None = None
    before_end: int | None = None

    @property
    def key(self) -> str:
        """The origin as text: its first test month (``YYYY-MM``), or ``end-<months>``."""
        return month_text(self.month) if self.month is not None else f"end-{self.before_end}"

    @property
    def train_end(self) -> str:
        """The last training month (``YYYY-MM``), or ``end-<months>`` (each series' own)."""
        return month_text(self.month - 1) if self.month is not None else f"end-{self.before_end}"

    @classmethod
    def parse(cls, key: str) -> Origin:
        """The inverse of :attr:`key`."""
        if key.startswith("end-"):
            return cls(before_end=int(key.removeprefix("end-")))
        return cls(month=parse_month(key))

    def cuts(self, panel: Panel) -> np.ndarray:
        """The first test month of every series of ``panel`` (month indexes)."""
        if self.month is not None:
            return np.full(len(panel), self.month, dtype=np.int64)
        return panel.ends - int(self.before_end or 0)

    @property
    def order(self) -> int:
        """Sorts origins earliest first."""
        return self.month if self.month is not None else -int(self.before_end or 0)

    def earlier(self) -> Origin:
        """The same fit a month earlier (its data a month shorter): a warm start's source."""
        return Origin(month=self.month - 1) if self.month is not None else self


def origins(panel: Panel, cfg: Config) -> list[Origin]:
    """The origin of each backtest fold, earliest first."""
    gaps = [cfg.horizon * (cfg.folds - k) for k in range(cfg.folds)]
    if cfg.fold_alignment == "series_end":
        return [Origin(before_end=gap) for gap in gaps]
    return [Origin(month=panel.last_month + 1 - gap) for gap in gaps]


def final_origin(panel: Panel, cfg: Config) -> Origin:
    """Where the final model's training stops: before the last ``holdout`` months (of every series, with
    ``series_end`` folds)."""
    if cfg.fold_alignment == "series_end":
        return Origin(before_end=cfg.holdout)
    return Origin(month=panel.last_month + 1 - cfg.holdout)


def fold_split(panel: Panel, origin: Origin, horizon: int, season_length: int) -> tuple[Panel, np.ndarray]:
    """The series scored from ``origin`` (holding its ``horizon`` months, and before them more than a season of
    months that change from year to year), cut before it, and those months (n, horizon)."""
    cuts = origin.cuts(panel)
    positions, actual = panel.window(cuts, horizon)
    train = panel.subset(positions).cut(cuts[positions])
    scored = [i for i in range(len(train)) if not flat(train.values_of(i), season_length)]
    return train.subset(scored), actual[scored]


def stats_forecasts(train: Panel, steps: int, season_length: int, levels: Sequence[int] = (80, 95)
                    ) -> tuple[dict[str, np.ndarray], dict[str, dict[int, tuple[np.ndarray, np.ndarray]]]]:
    """AutoARIMA, AutoETS and AutoTheta forecasts of every series (statsforecast),
    fitted on the whole panel in one call: ({model: (n, steps)}, {model: {level: (lower, upper)}}) in the panel's
    order; the intervals are statsforecast's own."""
    from statsforecast import StatsForecast
    from statsforecast.models import AutoARIMA, AutoETS, AutoTheta

    frame = pd.DataFrame({"unique_id": np.repeat(np.arange(len(train)), np.diff(train.offsets)),
                          "ds": np.concatenate([month_starts(int(train.starts[i]), train.length(i))
                                                for i in range(len(train))]),
                          "y": train.values})
    models = [AutoARIMA(season_length=season_length), AutoETS(season_length=season_length),
              AutoTheta(season_length=season_length)]
    out = StatsForecast(models=models, freq="MS").forecast(df=frame, h=steps, level=list(levels))
    out = out.sort_values(["unique_id", "ds"])

    def column(name: str) -> np.ndarray:
        return out[name].to_numpy(dtype=float).reshape(len(train), steps)

    forecasts = {name: column(name) for name in STATS_MODELS}
    bounds = {name: {level: (column(f"{name}-lo-{level}"), column(f"{name}-hi-{level}")) for level in levels}
              for name in STATS_MODELS}
    return forecasts, bounds


def forecast_models(forecaster: Forecaster | None, train: Panel, steps: int, cfg: Config, stats_baselines: bool = False
                    ) -> tuple[dict[str, np.ndarray], dict[str, dict[int, tuple[np.ndarray, np.ndarray]]]]:
    """Each model's (n, steps) forecast of every series of ``train`` after its last month (the candidates of
    :mod:`pipeline.model.candidates`, then the statistical baselines when asked), and the intervals of the models
    that bring their own (statsforecast's); the candidates' come from the backtest residuals (:func:`summarize`)."""
    histories = list(train)
    stats = statistical(histories, steps, cfg.season_length, cfg.value_domain,
                        statsforecast=cfg.statsforecast_candidates)
    lstm = forecaster.forecast(histories, steps, cfg.season_length, cfg.value_domain)[0] \
        if forecaster is not None and histories else stats[NAIVE]
    out = all_candidates(lstm, stats)
    bounds: dict[str, dict[int, tuple[np.ndarray, np.ndarray]]] = {}
    if stats_baselines and histories:
        forecasts, bounds = stats_forecasts(train, steps, cfg.season_length, cfg.levels)
        out |= forecasts
    return out, bounds


def score(train: Panel, actual: np.ndarray, forecasts: dict[str, np.ndarray], season_length: int,
          scales: np.ndarray | None = None) -> dict[str, dict[str, list[float]]]:
    """Per-series metrics of each model: {model: {metric: [one value a series]}} (MASE scaled by each series'
    own seasonal-naive error in its training months: ``scales``, computed when not given)."""
    if scales is None:
        scales = np.array([mase_scale(h, season_length) for h in train])
    return {model: {k: v.tolist() for k, v in metrics_rows(actual, forecast, scales).items()}
            for model, forecast in forecasts.items()}


@dataclass(frozen=True)
class OriginFit:
    """The configuration fitted on every series' months before one origin; no network (``forecaster`` None) when
    those months are too few for a training window: then every series is forecast by seasonal naive."""

    forecaster: Forecaster | None
    histories: list[History]
    seconds: float  # wall-clock seconds of the whole fit (features and every network): what the fit costs


def fit_origin(panel: Panel, origin: Origin, cfg: Config, start: list[dict[str, Any]] | None = None) -> OriginFit:
    """Fit one global model on the months of every series of ``panel`` before ``origin`` (from ``start``'s
    weights when given: a warm start)."""
    from pipeline.model.train import fit_forecaster  # torch loads only where a network trains

    started = time.perf_counter()
    try:
        forecaster, histories = fit_forecaster(panel.cut(origin.cuts(panel)), cfg, start)
    except TooFewWindowsError as exc:
        logger.warning("no network trained before %s (%s): its series are forecast by seasonal naive",
                       origin.key, exc)
        return OriginFit(None, [], time.perf_counter() - started)
    return OriginFit(forecaster, histories, time.perf_counter() - started)


def score_fold(fitted: OriginFit, panel: Panel, fold: int, origin: Origin, cfg: Config,
               stats_baselines: bool = False) -> dict[str, Any]:
    """Score a fit and the baselines on the ``horizon`` months from ``origin``, series by series: the fold's
    record (:func:`fold_result`) with the fit's seconds and best epochs. The DAG's fits and :func:`run_fold` both
    score here."""
    train, actual = fold_split(panel, origin, cfg.horizon, cfg.season_length)
    forecasts, bounds = forecast_models(fitted.forecaster, train, cfg.horizon, cfg, stats_baselines)
    result = fold_result(fold, origin, train, actual, forecasts, cfg, bounds)
    means = {m: round(float(np.mean(s["mase"])), 3) if s["mase"] else None for m, s in result["scores"].items()}
    logger.info("fold %d (train to %s, %d series): mean MASE %s (fit %.1fs)", fold, result["train_end"], len(train),
                means, fitted.seconds)
    return result | {"train_seconds": fitted.seconds, "best_epochs": [h.best_epoch for h in fitted.histories]}


def run_fold(panel: Panel, cfg: Config, fold: int, stats_baselines: bool = False) -> dict[str, Any]:
    """Fit the configuration on one fold's training months (all series of ``panel`` at once) and score it and the
    baselines on its test months, series by series."""
    if not 0 <= fold < cfg.folds:
        raise ValueError(f"fold {fold} is not in 0..{cfg.folds - 1}")
    origin = origins(panel, cfg)[fold]
    return score_fold(fit_origin(panel, origin, cfg), panel, fold, origin, cfg, stats_baselines)


def fold_result(fold: int, origin: Origin, train: Panel, actual: np.ndarray, forecasts: dict[str, np.ndarray],
                cfg: Config, bounds: dict[str, dict[int, tuple[np.ndarray, np.ndarray]]] | None = None
                ) -> dict[str, Any]:
    """A fold's record: its months, its series with their kinds and scales, each model's per-series scores and
    forecasts (and intervals, for the models that bring their own), the actuals."""
    season_length = cfg.season_length
    histories = list(train)
    mase_scales = np.array([mase_scale(h, season_length) for h in histories])
    kinds = domains.kinds(histories, cfg.value_domain)
    test_end = (month_text(origin.month + actual.shape[1] - 1) if origin.month is not None
                else f"end-{origin.before_end - actual.shape[1]}")
    return {"fold": fold, "train_end": origin.train_end, "test_start": origin.key, "test_end": test_end,
            "series": list(train.ids), "kinds": kinds.tolist(), "mase_scales": mase_scales.tolist(),
            "interval_scales": [interval_scale(h, season_length, kind == domains.POSITIVE)
                                for h, kind in zip(histories, kinds, strict=True)],
            "scores": score(train, actual, forecasts, season_length, mase_scales),
            "forecasts": {m: f.round(6).tolist() for m, f in forecasts.items()}, "actual": actual.tolist(),
            "intervals": {m: {str(level): {"lower": lo.round(6).tolist(), "upper": hi.round(6).tolist()}
                              for level, (lo, hi) in levels.items()} for m, levels in (bounds or {}).items()}}


def summarize(results: list[dict[str, Any]], levels: Sequence[int] = (80, 95)) -> dict[str, Any]:
    """Merge fold results (of one or several shards): per model the mean of each metric over all series-folds and
    the median MASE; per fold the means; per series the means over its folds and the candidate that serves it
    (``choice``: the best over its folds, see :mod:`pipeline.model.candidates`; ``default`` for a series no fold
    scored), with the ``published`` forecast scored as it would have been chosen (on earlier folds only);
    ``holdout_choice``: the choice made before the last fold (whose months are the holdout's when ``horizon``
    equals ``holdout``), what the candidate's holdout score uses, so that it is not chosen on the months scored.
    Intervals: each candidate's calibrated on the residuals of every fold (``calibration``, what the published
    model uses) and scored fold by fold with a calibration on the other folds (cross-conformal), beside the
    baselines' own."""
    if not any(r["series"] for r in results):
        raise ConfigError("no series holds the months of any backtest fold (the fold's horizon months and, before "
                          "them, more than a season that changes from year to year): use fewer folds or a shorter "
                          "horizon")
    results = with_published(results)
    models = list(results[0]["scores"])
    folds = sorted({r["fold"] for r in results})
    rows: dict[str, dict[str, list[float]]] = {}  # series -> "model.metric" -> values over folds
    per_fold = []
    pooled: dict[str, dict[str, list[float]]] = {m: {k: [] for k in METRICS} for m in models}
    interval_rows = _interval_scores(results, levels)
    for fold in folds:
        parts = [r for r in results if r["fold"] == fold]
        fold_scores = {m: {k: [v for r in parts for v in r["scores"][m][k]] for k in METRICS} for m in models}
        for m in models:
            for k in METRICS:
                pooled[m][k] += fold_scores[m][k]
        for r in parts:
            for i, series in enumerate(r["series"]):
                row = rows.setdefault(series, {})
                for m in models:
                    for k in METRICS:
                        row.setdefault(f"{m}.{k}", []).append(r["scores"][m][k][i])
                for (m, key), values in interval_rows.get((fold, r["train_end"], series), {}).items():
                    row.setdefault(f"{m}.{key}", []).append(values)
        fold_means = {m: {k: mean_defined(v) for k, v in fold_scores[m].items()} for m in models}
        fold_rows = {key: scores for key, scores in interval_rows.items() if key[0] == fold}
        for (m, k), value in _interval_means(fold_rows).items():
            fold_means.setdefault(m, {})[k] = value
        per_fold.append({"fold": fold, "train_end": parts[0]["train_end"],
                         "series": len(fold_scores[models[0]]["mase"]), **fold_means})
    per_series: dict[str, dict[str, Any]] = {series: {key: mean_defined(values) for key, values in row.items()}
                                             for series, row in rows.items()}
    candidates = scored_candidates(results)
    prior, default = panel_choice({c: pooled[c]["mase"] for c in candidates})
    choice = {series: choose({c: row[f"{c}.mase"] for c in candidates}, prior, default)
              for series, row in rows.items()}
    for series, scores in per_series.items():
        scores["model"] = choice[series]
    mean = {m: {k: mean_defined(pooled[m][k]) for k in METRICS} for m in models}
    for (model, metric), value in _interval_means(interval_rows).items():
        mean.setdefault(model, {})[metric] = value
    lstm = np.array(pooled[LSTM]["mase"])
    shares = {f"share_beats_{m.lower()}": float(np.mean(lstm < np.array(pooled[m]["mase"])))
              for m in models if m != LSTM}
    return {"folds": len(folds), "series": len(per_series), "mean": mean, "levels": list(levels),
            "median_mase": {m: mean_defined(pooled[m]["mase"], np.median) for m in models},
            "per_fold": per_fold, "per_series": per_series, **shares,
            "calibration": {m: calibrate(_residuals(results, m), levels).to_dict() for m in candidates},
            "choice": choice, "default": default, "served": served(choice),
            "holdout_choice": {"choice": {s: c for r in results if r["fold"] == folds[-1]
                                          for s, c in zip(r["series"], r["chosen"], strict=True)},
                               "default": next(r["chosen_default"] for r in results if r["fold"] == folds[-1])},
            "lstm_beats_naive_every_fold": all(f[LSTM]["mase"] < f[NAIVE]["mase"] for f in per_fold if f["series"]),
            "train_seconds_mean": float(np.mean([r.get("train_seconds", 0.0) for r in results]))}


def with_published(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each fold result with the scores of the forecast the product would have published there: every series by
    the candidate chosen on its earlier folds (never on the months scored), a series they did not score by the
    candidate best on the whole panel in them, every series by the LSTM in the first fold. Beside it, the forecast
    the same choice publishes among the candidates without the LSTM (:data:`WITHOUT_LSTM`; Theta in the first
    fold): what the LSTM adds is the difference."""
    out = []
    candidates = scored_candidates(results)
    for r in results:
        earlier = [o for o in results if o["fold"] < r["fold"]]
        picks, default = _picks(r, earlier, candidates, LSTM)
        without, _ = _picks(r, earlier, tuple(c for c in candidates if c not in NEEDS_LSTM), THETA)
        scores = {name: {k: [r["scores"][c][k][i] for i, c in enumerate(chosen)] for k in METRICS}
                  for name, chosen in ((PUBLISHED, picks), (WITHOUT_LSTM, without))}
        out.append(r | {"scores": r["scores"] | scores, "chosen": picks, "chosen_default": default})
    return out


def scored_candidates(results: list[dict[str, Any]]) -> tuple[str, ...]:
    """The candidates the fold results scored (every one of :data:`CANDIDATES`, or the four that need no
    statsforecast model: the setting ``statsforecast_candidates``), in :data:`CANDIDATES` order."""
    return tuple(c for c in CANDIDATES if not results or c in results[0]["forecasts"])


def _picks(r: dict[str, Any], earlier: list[dict[str, Any]], candidates: Sequence[str], first: str
           ) -> tuple[list[str], str]:
    """The candidate of each series of fold ``r`` among ``candidates``, chosen on the ``earlier`` folds (``first``
    when there are none), and the choice for a series they did not score."""
    seen: dict[str, dict[str, list[float]]] = {}
    for o in earlier:
        for i, series in enumerate(o["series"]):
            for c in candidates:
                seen.setdefault(series, {}).setdefault(c, []).append(o["scores"][c]["mase"][i])
    prior, default = panel_choice({c: [v for o in earlier for v in o["scores"][c]["mase"]] for c in candidates})
    if not earlier:
        default = first
    return [choose(seen.get(series, {}), prior, default) for series in r["series"]], default


def _residuals(results: list[dict[str, Any]], model: str) -> np.ndarray:
    """The scaled log residuals of ``model`` over every series of ``results``: (series-folds, months)."""
    parts = [scaled_residuals(np.array(r["actual"]), np.array(r["forecasts"][model]), np.array(r["interval_scales"]),
                              np.array(r["kinds"], dtype=object)) for r in results if r["series"]]
    return np.concatenate(parts) if parts else np.zeros((0, 1))


def _interval_scores(results: list[dict[str, Any]], levels: Sequence[int]
                     ) -> dict[tuple[int, str, str], dict[tuple[str, str], float]]:
    """Coverage, width and interval score of every series-fold and level: the LSTM's and seasonal naive's
    calibrated on the other folds (none when there is only one fold), the other models' their own."""
    out: dict[tuple[int, str, str], dict[tuple[str, str], float]] = {}
    folds = sorted({r["fold"] for r in results})
    candidates = scored_candidates(results)
    calibrations = {(model, fold): calibrate(_residuals([o for o in results if o["fold"] != fold], model), levels)
                    for model in candidates for fold in folds} if len(folds) > 1 else {}
    for r in results:
        actual = np.array(r["actual"])
        mase_scales = np.array(r["mase_scales"])
        bounds: dict[str, dict[int, tuple[np.ndarray, np.ndarray]]] = {}
        for model in candidates if calibrations else ():
            bounds[model] = calibrations[model, r["fold"]].bounds(np.array(r["forecasts"][model]),
                                                                 np.array(r["interval_scales"]),
                                                                 np.array(r["kinds"], dtype=object))
        for model, by_level in r.get("intervals", {}).items():
            bounds[model] = {int(level): (np.array(b["lower"]), np.array(b["upper"])) for level, b in by_level.items()}
        for model, by_level in bounds.items():
            for level, (lower, upper) in by_level.items():
                for key, values in interval_scores(actual, lower, upper, level, mase_scales).items():
                    for i, series in enumerate(r["series"]):
                        out.setdefault((r["fold"], r["train_end"], series), {})[(model, key)] = float(values[i])
    return out


def _interval_means(rows: dict[tuple[int, str, str], dict[tuple[str, str], float]]) -> dict[tuple[str, str], float]:
    """The mean of each (model, score) over every series-fold that has it."""
    pooled: dict[tuple[str, str], list[float]] = {}
    for scores in rows.values():
        for key, value in scores.items():
            if np.isfinite(value):
                pooled.setdefault(key, []).append(value)
    return {key: float(np.mean(values)) for key, values in pooled.items()}
