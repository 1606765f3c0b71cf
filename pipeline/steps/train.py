"""The training steps: one fit per shard and training origin (a mapped task each), then the backtest of every
shard merged (backtest_summary)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import pandas as pd

from pipeline.data.panel import Panel
from pipeline.io import read_json, write_json, write_text
from pipeline.months import parse_month
from pipeline.ops import tracking
from pipeline.scoring import backtest as bt
from pipeline.steps.context import RunContext
from pipeline.steps.jobs import FitJob, Part

logger = logging.getLogger(__name__)


def fit(ctx: RunContext | Mapping[str, Any], job: FitJob | Mapping[str, Any]) -> list[str]:
    """Train the global network of each of the job's shards on the months before its origin (with ``warm_start``,
    from the weights of the same fit last month, and keep its own for next month); score the backtest folds that
    start there; for the final origin, keep each shard's model. Returns the result files, one a shard."""
    ctx, job = RunContext.of(ctx), FitJob.of(job)
    panel, parts = Panel.load(ctx.paths.panel), read_json(ctx.paths.shards)["shards"]
    return [_fit_shard(ctx, job, panel, parts, shard) for shard in job.shards]


def _fit_shard(ctx: RunContext, job: FitJob, panel: Panel, parts: list[list[str]], shard: int) -> str:
    """One shard's fit of ``job``; returns its result file."""
    from pipeline.model import warm

    cfg, paths = ctx.cfg, ctx.paths
    origin = bt.Origin.parse(job.origin)
    part = panel.subset([panel.position(sid) for sid in parts[shard]])  # as plan assigned them
    logger.info("shard %d: %d series, training to %s", shard, len(part), origin.train_end)
    weights = warm.folder(cfg, shard, len(parts))
    data_month = parse_month(ctx.data_month)
    start = warm.load(weights, origin.earlier().train_end, data_month - 1, cfg.networks) if cfg.warm_start else None
    fitted = bt.fit_origin(part, origin, cfg, start.weights if start else None)
    if cfg.warm_start and fitted.forecaster is not None:
        warm.save(weights, origin.train_end, data_month, fitted.forecaster.nets)
    result: dict[str, Any] = {
        "shard": shard, "origin": origin.key, "train_seconds": fitted.seconds,
        "folds": [bt.score_fold(fitted, part, fold, origin, cfg, cfg.stats_baselines) for fold in job.folds],
        "warm_start": {"source": start.source, "sha256": start.sha256} if start else None}
    if job.final:  # no network when the shard's months are too few for one: its series by seasonal naive
        files = fitted.forecaster.save(paths.shard_model(shard)) if fitted.forecaster is not None else None
        result["final"] = {"files": files, "curves": _curves(fitted), "seconds": fitted.seconds,
                           "best_epochs": [h.best_epoch for h in fitted.histories]}
    return str(write_json(paths.fit(shard, origin.key), result))


def _curves(fitted: bt.OriginFit) -> dict[str, list[float]]:
    """Per-epoch losses averaged over the ensemble, and each view's own (their scaled units differ)."""
    from pipeline.model.train import mean_curves

    curves = mean_curves(fitted.histories)
    if fitted.forecaster is not None and len(fitted.forecaster.groups) > 1:
        members = iter(fitted.histories)  # in the order of the groups' networks
        for scaling, nets in fitted.forecaster.groups:
            own = mean_curves([next(members) for _ in nets])
            curves |= {f"{key}_{scaling.view}": values for key, values in own.items()}
    return curves


def backtest_summary(ctx: RunContext | Mapping[str, Any], fit_paths: list[str]) -> list[Part]:
    """Merge the folds of every shard: per-model means and medians, per-series scores (the table analysts read in
    MLflow), the candidate chosen for each series; one nested MLflow run per fold. Returns the parts of the panel
    (as planned) that the candidate is evaluated on next, a mapped task each."""
    import mlflow

    ctx = RunContext.of(ctx)
    cfg, paths = ctx.cfg, ctx.paths
    panel = Panel.load(paths.panel)
    fits = [read_json(path) for path in fit_paths]
    summary = bt.summarize([fold for fit_result in fits for fold in fit_result["folds"]], cfg.levels)
    summary["fits"] = {"total": len(fits), "warm": sum(bool(f.get("warm_start")) for f in fits)}
    write_json(paths.backtest_summary, {k: v for k, v in summary.items() if k != "per_series"})
    table = pd.DataFrame.from_dict(summary["per_series"], orient="index").rename_axis("series").reset_index()
    table.insert(1, "title", [panel.titles[panel.position(s)] for s in table["series"]])
    write_text(paths.per_series, table.to_csv(index=False, float_format="%.6g"))
    tracking.log_fold_runs(ctx.mlflow_run_id, ctx.run_key, ctx.data_month, cfg, summary["per_fold"])
    with tracking.resume(ctx.mlflow_run_id):
        mlflow.log_metrics(tracking.backtest_metrics(summary) | tracking.served_metrics(summary["served"])
                           | tracking.chart_metrics(summary) | {"warm_started_fits": float(summary["fits"]["warm"])})
        mlflow.set_tag("warm_start", f"{summary['fits']['warm']} of {summary['fits']['total']} fits" if cfg.warm_start
                       else "off")
        mlflow.log_artifact(str(paths.backtest_summary), "backtest")
        mlflow.log_artifact(str(paths.per_series), "backtest")
        tracking.log_result_table(table, "backtest/per_series_metrics.json")
    logger.info("backtest mean MASE: %s; series served by %s",
                {m: round(s["mase"], 4) for m, s in summary["mean"].items()}, summary["served"])
    return [Part(shards=tuple(group)) for group in read_json(paths.shards)["parts"]]
