"""The promotion: the current champion scored on this run's data (score_champion, a task of its own: it may refit
the champion's configuration), then the candidate registered and the gate's decision (register), which holds the
champion lock only to move the alias."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

import numpy as np
import pandas as pd

from pipeline import settings
from pipeline.data.panel import Panel
from pipeline.errors import ConfigError
from pipeline.io import read_json, write_json, write_parquet
from pipeline.ops import gate, pyfunc, registry, tracking
from pipeline.scoring import backtest as bt
from pipeline.scoring import fold_cache
from pipeline.scoring.holdout import PUBLISHED, holdout_scores, score_table, table_scores
from pipeline.steps.context import RunContext
from pipeline.steps.jobs import Part, one_champion

logger = logging.getLogger(__name__)


def score_champion_part(ctx: RunContext | Mapping[str, Any], part: Part | Mapping[str, Any]) -> list[str]:
    """The champion's weights on the holdout months of one part's series (the same months as the candidate's): a
    table of each series' scores. Nothing when there is no champion to score (:func:`_champion`), or when the
    champion cannot forecast this part's data (values outside the domain it was trained on: the file says why).
    Returns the result file (none when there is nothing to score: no champion, this run's own, or one trained on
    newer data)."""
    ctx, part = RunContext.of(ctx), Part.of(part)
    cfg, paths = ctx.cfg, ctx.paths
    version, newer = _champion(ctx)
    if version is None or newer:
        return []
    panel = Panel.load(paths.panel)
    series = panel.subset(part.positions(panel, read_json(paths.shards)["shards"]))
    published = pyfunc.load_version(cfg.registered_model_name, version)
    result: dict[str, Any] = {"version": version, "unfit": None, "scores": None}
    try:
        series.check_domain(published.domain)  # it could not publish this month's forecast
        holdout = holdout_scores(published, series, cfg, bt.final_origin(panel, cfg))
    except ConfigError as exc:  # values outside the domain it was trained on, such as a first zero month
        result["unfit"] = f"champion v{version} cannot forecast this month's data ({exc})"
    else:
        table = score_table(holdout, [panel.position(s) for s in holdout["series"]])
        result["scores"] = str(write_parquet(paths.champion_part(part.key), table))
    return [str(write_json(paths.champion_part_result(part.key), result))]


def score_champion(ctx: RunContext | Mapping[str, Any], part_paths: list[str] | None = None) -> str:
    """The champion, as it is now, re-scored on this run's data: its weights on the same holdout months as the
    candidate (the parts' scores put together: :func:`score_champion_part`; ``None``: every part scored here), its
    configuration on the same backtest folds (refitted only when it differs from the candidate's; a refit already
    made for the same data and settings is read from the fold cache). Nothing to score when there is no champion or
    it is this run's own version (a re-run), or when the champion cannot forecast this data (values outside the
    domain it was trained on: the file says why), or when the champion was trained on newer data than this run's (a
    past month re-run or backfilled after a later one: it never replaces the champion, and the champion's score on
    months it was trained on would mean nothing). Returns the file of scores."""
    ctx = RunContext.of(ctx)
    cfg = ctx.cfg
    version, newer = _champion(ctx)
    if newer:
        logger.info("%s: not scored", newer)
        return str(write_json(ctx.paths.champion, {"version": version, "scores": None, "unfit": None,
                                                   "newer": newer}))
    if version is None:  # no champion yet, or this run's own version
        return str(write_json(ctx.paths.champion, {"version": version, "scores": None, "unfit": None}))
    if part_paths is None:
        part_paths = [path for part in read_json(ctx.paths.shards)["parts"]
                      for path in score_champion_part(ctx, Part(shards=tuple(part)))]
    results = [read_json(path) for path in part_paths]
    scored = one_champion((r["version"] for r in results), "scored")
    if scored != version:  # moved after its parts were scored: register sees the move and does not promote
        logger.warning("champion v%s now, its parts scored %s: the decision says it moved", version,
                       f"v{scored}" if scored else "no champion")
        return str(write_json(ctx.paths.champion, {"version": scored, "scores": None, "unfit": None}))
    unfit = next((r["unfit"] for r in results if r["unfit"]), None)
    if unfit:
        logger.warning("%s: the candidate is decided against the baselines alone", unfit)
        return str(write_json(ctx.paths.champion, {"version": version, "scores": None, "unfit": unfit}))
    mase = table_scores(pd.concat([pd.read_parquet(r["scores"]) for r in results], ignore_index=True))
    client = tracking.configure()
    champion_cfg = registry.version_config(client, cfg.registered_model_name, version, cfg)
    if champion_cfg.model_settings() == cfg.model_settings():
        backtest_mase = read_json(ctx.paths.backtest_summary)["mean"][bt.LSTM]["mase"]
    else:
        logger.info("champion v%s has another configuration: refitting it on the same %d folds", version, cfg.folds)
        cache = settings.state_dir() / "cache" / "folds"  # a re-run or another candidate on the same data
        backtest_mase = fold_cache.backtest(Panel.load(ctx.paths.panel), champion_cfg,
                                            cache_dir=cache)["mean"][bt.LSTM]["mase"]
    scores = asdict(gate.Scores(backtest_mase=backtest_mase,
                                holdout_mase=float(np.mean(mase[PUBLISHED]["mase"]))))
    logger.info("champion v%s on this run's data: %s", version, scores)
    return str(write_json(ctx.paths.champion, {"version": version, "scores": scores, "unfit": None}))


def _champion(ctx: RunContext) -> tuple[str | None, str | None]:
    """The champion version to score on this run's data (None: no champion, or this run's own version) and, when
    it was trained on newer data than this run's, why it is not scored."""
    client = tracking.configure()
    name = ctx.cfg.registered_model_name
    version = registry.alias_version(client, name, registry.CHAMPION)
    if version is None or client.get_model_version(name, version).run_id == ctx.mlflow_run_id:
        return None, None
    trained_to = registry.newer_than(client, name, version, ctx.data_month)
    if trained_to is not None:
        return version, (f"champion v{version} is trained on data to {trained_to}, newer than this run's "
                         f"{ctx.data_month}: a past month never replaces it (`python -m pipeline rollback` moves it "
                         "back on purpose)")
    return version, None


def register(ctx: RunContext | Mapping[str, Any]) -> str:
    """Register the candidate, alias it challenger, and move champion only if the gate says it is better than the
    champion scored by :func:`score_champion` (and that champion is still the one in place). Returns the
    decision file."""
    import mlflow

    ctx = RunContext.of(ctx)
    cfg, paths = ctx.cfg, ctx.paths
    name = cfg.registered_model_name
    model_uri, summary = read_json(paths.candidate)["model_uri"], read_json(paths.backtest_summary)
    scored = read_json(paths.champion)
    drift = paths.monitor.exists() and bool(read_json(paths.monitor)["drift"]["drift"])
    client = tracking.configure()
    version = registry.register_version(client, name, model_uri, ctx.mlflow_run_id)
    client.set_registered_model_alias(name, registry.CHALLENGER, version)
    candidate = gate.Scores(backtest_mase=summary["mean"][bt.LSTM]["mase"],
                            holdout_mase=read_json(paths.metrics)["holdout_mase"])
    champion = gate.Scores(**scored["scores"]) if scored["scores"] else None
    baseline = summary["mean"][bt.NAIVE]["mase"]
    level = max(cfg.levels)
    coverage = {k: v for k, v in summary["mean"][bt.LSTM].items() if k.startswith(("coverage_", "msis_"))}
    promoted, reason = gate.decide(candidate, baseline, champion, cfg.baseline_gate, drift,
                                   (level, coverage.get(f"coverage_{level}"), cfg.coverage_tolerance))
    if scored.get("unfit"):
        reason = f"{scored['unfit']}; {reason.replace('no champion yet; ', '')}"
    if scored.get("newer"):
        promoted, reason = False, scored["newer"]
    with registry.champion_lock(name):  # one move at a time: the champion read here is the one replaced
        champion_version = registry.alias_version(client, name, registry.CHAMPION)
        if champion_version == version:
            promoted, reason = True, "this version is already the champion (re-run)"
        elif champion_version != scored["version"]:
            promoted, reason = False, (f"champion moved to v{champion_version} while deciding (v{scored['version']} "
                                       "was scored); not promoted: a re-run decides against the new champion")
        elif promoted:
            refused = registry.move_champion(client, name, champion_version, version)
            if refused:
                promoted, reason = False, refused
    decision = gate.Decision(model_name=name, candidate_version=version, candidate=candidate,
                             baseline_backtest_mase=baseline, champion_version=champion_version, champion=champion,
                             promoted=promoted, reason=reason, decided_at=registry.now_iso(), coverage=coverage or None)
    for key, value in decision.as_tags().items():
        client.set_model_version_tag(name, version, key, value)
    path = write_json(paths.decision, asdict(decision))
    with tracking.resume(ctx.mlflow_run_id):
        mlflow.log_artifact(str(path))
        mlflow.set_tags({"decision": "promoted" if promoted else "rejected", "model_version": version})
    logger.info("%s v%s: %s (%s)", name, version, "PROMOTED to champion" if promoted else "not promoted", reason)
    return str(path)
