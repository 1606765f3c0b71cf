"""Tuning the model settings: trials over a declared search space (``search_spaces`` in ``defaults.yaml``), each
scored by the rolling-origin backtest on the months *before* the ones the monthly run scores, so a tuned
configuration is never chosen on the months it is later judged on.

Trial 0 is always the incumbent (the configuration the monthly run uses today): a tuned configuration must beat it
on the same folds to be kept, as a candidate must beat the champion. The other trials are drawn by Optuna's TPE
sampler, seeded, so the same data, config and seed give the same trials and scores. Two ways to run them:

- :func:`ask` draws every trial at once (the ``lstm_tuning`` DAG scores them as mapped tasks on the workers);
- :func:`tune` draws and scores them one after the other in this process, each draw informed by the scores so
  far (``backtest --tune``, which tunes inside every fold on that fold's training months: :func:`tuned_backtest`).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.config import MODEL_KEYS, Config, search_spaces
from pipeline.data.panel import Panel
from pipeline.errors import ConfigError
from pipeline.metrics import LSTM
from pipeline.scoring import backtest as bt
from pipeline.scoring import fold_cache

logger = logging.getLogger(__name__)

INCUMBENT = 0  # the number of the trial that scores the configuration in use


@dataclass(frozen=True)
class Dimension:
    """One setting of the search space: a list of ``choices``, or a range ``low..high`` (``log``: sampled on a log
    scale; an integer setting gets integers)."""

    name: str
    choices: tuple[Any, ...] | None = None
    low: float | None = None
    high: float | None = None
    log: bool = False

    def suggest(self, trial: Any, integer: bool) -> Any:
        """The value an Optuna trial draws."""
        if self.choices is not None:
            return trial.suggest_categorical(self.name, list(self.choices))
        low, high = float(self.low or 0), float(self.high or 0)  # a range has both bounds (search_space)
        if integer:
            return trial.suggest_int(self.name, int(low), int(high), log=self.log)
        return trial.suggest_float(self.name, low, high, log=self.log)


def search_space(cfg: Config) -> list[Dimension]:
    """The declared search space of the run's preset, checked against the settings' bounds."""
    from pipeline.config import BOUNDS

    declared = search_spaces()
    if cfg.preset not in declared:
        raise ConfigError(f"preset {cfg.preset!r} has no search space (pipeline/defaults.yaml search_spaces: "
                          f"{', '.join(sorted(declared))})")
    space = []
    for name, spec in declared[cfg.preset].items():
        dim = (Dimension(name, choices=tuple(spec)) if isinstance(spec, list)
               else Dimension(name, low=spec["low"], high=spec["high"], log=bool(spec.get("log", False))))
        values = dim.choices if dim.choices is not None else (dim.low, dim.high)
        low, high = BOUNDS.get(name, (-math.inf, math.inf))
        numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
        if name not in MODEL_KEYS or any(not low <= v <= high for v in numbers):
            raise ConfigError(f"search space of {cfg.preset!r}: {name} {list(values)} is not a model setting "
                              "within its bounds")
        space.append(dim)
    return space


def tuning_panel(panel: Panel, cfg: Config) -> Panel:
    """Every series up to the first month the monthly run scores (its earliest backtest fold): what trials learn
    and are scored on."""
    earliest = bt.origins(panel, cfg)[0]
    return panel.cut(earliest.cuts(panel))


def _sampler(seed: int) -> Any:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=8, multivariate=True)


def _draw(study: Any, space: Sequence[Dimension]) -> tuple[Any, dict[str, Any]]:
    trial = study.ask()
    integer = {f.name for f in dataclasses.fields(Config) if f.type == "int"}
    return trial, {dim.name: dim.suggest(trial, dim.name in integer) for dim in space}


def _study(cfg: Config) -> Any:
    import optuna

    return optuna.create_study(direction="minimize", sampler=_sampler(cfg.seed))


def incumbent(cfg: Config, space: Sequence[Dimension]) -> dict[str, Any]:
    """The search space's settings at their configured values: trial 0."""
    return {dim.name: getattr(cfg, dim.name) for dim in space}


def ask(cfg: Config, trials: int) -> list[dict[str, Any]]:
    """``trials`` trials drawn at once: the incumbent's settings first (the search space's keys at their configured
    values), then ``trials - 1`` draws of the seeded sampler. Each is ``{"trial": n, "params": {...}}``."""
    space = search_space(cfg)
    study = _study(cfg)
    jobs = [{"trial": INCUMBENT, "params": incumbent(cfg, space)}]
    for number in range(1, trials):
        _, params = _draw(study, space)
        jobs.append({"trial": number, "params": params})
    return jobs


def trial_config(cfg: Config, params: Mapping[str, Any]) -> Config:
    """The configuration of a trial (ConfigError when the combination is not a valid one)."""
    return dataclasses.replace(cfg, **params)


def score_trial(panel: Panel, cfg: Config, params: Mapping[str, Any], cache_dir: Path | None = None
                ) -> dict[str, Any]:
    """Backtest one trial's settings on ``panel`` (already cut to the tuning months): its LSTM mean and median MASE
    over the series-folds (``mase`` None when the settings are not a valid combination)."""
    started = time.perf_counter()
    try:
        summary = fold_cache.backtest(panel, trial_config(cfg, params), cache_dir=cache_dir)
    except ConfigError as exc:
        logger.warning("trial %s refused: %s", dict(params), exc)
        return {"params": dict(params), "mase": None, "error": str(exc), "seconds": time.perf_counter() - started}
    return {"params": dict(params), "mase": summary["mean"][LSTM]["mase"],
            "mase_median": summary["median_mase"][LSTM], "smape": summary["mean"][LSTM]["smape"],
            "seasonal_naive_mase": summary["mean"]["seasonal_naive"]["mase"], "series": summary["series"],
            "seconds": time.perf_counter() - started}


def best(results: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
    """The trial of lowest mean MASE (the earliest on a tie: the incumbent wins ties)."""
    scored = [r for r in results if r.get("mase") is not None and math.isfinite(r["mase"])]
    if not scored:
        raise ConfigError("no tuning trial could be scored")
    return min(scored, key=lambda r: (r["mase"], r["trial"]))


@dataclass(frozen=True)
class Tuned:
    """What a tuning found: every trial's result (``trial``, ``params``, scores) and the best one."""

    trials: list[dict[str, Any]]
    best: dict[str, Any]

    @property
    def improved(self) -> bool:
        """Whether a drawn trial beat the incumbent."""
        return self.best["trial"] != INCUMBENT


def tune(panel: Panel, cfg: Config, trials: int, minutes: float | None = None, cache_dir: Path | None = None
         ) -> Tuned:
    """Tune on every month of ``panel`` (the caller cuts it: :func:`tuning_panel`), one trial after the other, each
    draw informed by the scores so far; no trial starts after ``minutes``."""
    space = search_space(cfg)
    study, started, results = _study(cfg), time.monotonic(), list[dict[str, Any]]()
    for number in range(trials):
        if minutes is not None and results and time.monotonic() - started > minutes * 60:
            logger.warning("tuning: %d of %d trials in %.0f minutes, the limit", len(results), trials, minutes)
            break
        trial, params = (None, incumbent(cfg, space)) if number == INCUMBENT else _draw(study, space)
        result = {"trial": number, **score_trial(panel, cfg, params, cache_dir)}
        if trial is not None:
            study.tell(trial, result["mase"] if result["mase"] is not None else None,
                       state=None if result["mase"] is not None else _failed())
        results.append(result)
        logger.info("trial %d/%d: %s -> mean MASE %s (%.0fs)", number + 1, trials, params, result["mase"],
                    result["seconds"])
    return Tuned(results, dict(best(results)))


def _failed() -> Any:
    import optuna

    return optuna.trial.TrialState.FAIL


def tuned_backtest(panel: Panel, cfg: Config, trials: int, cache_dir: Path | None = None) -> dict[str, Any]:
    """The backtest of tuning itself: in every fold, tune on that fold's training months only (their own earlier
    folds score the trials), then fit the winner on them and score it on the fold's test months. An honest score
    of "tune, then forecast": no fold's test month is seen by its tuning."""
    results, chosen = [], []
    for fold, origin in enumerate(bt.origins(panel, cfg)):
        found = tune(panel.cut(origin.cuts(panel)), cfg, trials, cache_dir=cache_dir)
        logger.info("fold %d (train to %s): tuned %s (trial %d)", fold, origin.train_end, found.best["params"],
                    found.best["trial"])
        chosen.append({"fold": fold, "train_end": origin.train_end, **found.best})
        results.append(bt.run_fold(panel, trial_config(cfg, found.best["params"]), fold))
    summary = bt.summarize(results, cfg.levels)
    return summary | {"tuned": chosen}
