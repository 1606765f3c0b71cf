"""Backtests in one process (:func:`backtest`) through the cache of fold results: a fold already computed for the
same configuration, data, code and library versions is read back, not refitted (the command line, the gate's refit
of the champion, tuning trials)."""

from __future__ import annotations

import hashlib
import json
import logging
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.config import Config
from pipeline.data.panel import Panel, shards
from pipeline.io import read_json, write_json
from pipeline.scoring.backtest import fold_split, origins, run_fold, summarize

logger = logging.getLogger(__name__)


def cached_fold(panel: Panel, cfg: Config, fold: int, stats_baselines: bool, cache_dir: Path | None
                ) -> dict[str, Any]:
    """:func:`run_fold`, through a cache of fold results keyed by what decides them (see :func:`fold_key`)."""
    if cache_dir is None:
        return run_fold(panel, cfg, fold, stats_baselines)
    path = Path(cache_dir) / f"{fold_key(panel, cfg, fold, stats_baselines)}.json"
    if path.exists():
        logger.info("fold %d: cached result %s (same configuration, data and code)", fold, path.name[:12])
        return read_json(path)
    result = run_fold(panel, cfg, fold, stats_baselines)
    write_json(path, result)
    return result


def fold_key(panel: Panel, cfg: Config, fold: int, stats_baselines: bool) -> str:
    """The SHA-256 of what decides a fold's result: the model settings, the fold's months of every series (training
    and test), the torch thread count (it can change the numbers), the source of the modelling code and the
    versions of the libraries that compute it (a torch or numpy upgrade refits)."""
    from pipeline import settings

    origin = origins(panel, cfg)[fold]
    _, actual = fold_split(panel, origin, cfg.horizon, cfg.season_length)
    facts = {"model": cfg.model_settings(), "origin": origin.key, "horizon": cfg.horizon, "stats": stats_baselines,
             "threads": settings.torch_threads(), "code": _code_digest(),
             "libraries": library_versions()}
    digest = hashlib.sha256(json.dumps(facts, sort_keys=True).encode())
    digest.update(panel.cut(origin.cuts(panel)).sha256.encode())  # the months the fit trains on
    digest.update(np.ascontiguousarray(actual, dtype=float).tobytes())
    return digest.hexdigest()


@cache
def _code_digest() -> str:
    """SHA-256 of the modules whose code decides a fit's numbers (a changed model invalidates every cached fold)."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted([*root.glob("model/*.py"), *root.glob("data/*.py"), *root.glob("scoring/*.py"),
                        root / "metrics.py"]):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def library_versions() -> dict[str, str]:
    """The installed versions of the libraries a fold's numbers depend on."""
    from importlib.metadata import version

    names = ["torch", "numpy", "scikit-learn", "pandas", "statsforecast"]
    return {name: version(name) for name in names}


def backtest(panel: Panel, cfg: Config, stats_baselines: bool = False, cache_dir: Path | None = None
             ) -> dict[str, Any]:
    """Every fold of every shard (``shard_size``) in this process, one global model per shard and fold, then the
    summary: what the DAG's fits compute, in one call (the command line, the gate's refit and benchmarks). With
    ``cache_dir``, a fold already computed for the same configuration, data and code is read back, not refitted."""
    if cfg.warm_start:
        logger.info("warm_start applies to monthly runs (each fit from last month's): every fold here trains cold")
    parts = [panel.subset(part) for part in shards(panel.ids, cfg.shard_size)]
    return summarize([cached_fold(part, cfg, fold, stats_baselines, cache_dir) for part in parts
                      for fold in range(cfg.folds)], cfg.levels)
