"""Evaluate: the candidate assembled from the shards' final models, scored on the holdout months and its forecast of
the coming months part by part (a mapped task each: every series' statistical candidates are fitted there), then
put together: the run's holdout metrics, its figures, and the candidate logged as one MLflow model."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from pipeline import domains
from pipeline.data.panel import Panel
from pipeline.io import read_json, write_json, write_parquet, write_text
from pipeline.model.candidates import served
from pipeline.months import month_text
from pipeline.ops import pyfunc, signing, tracking
from pipeline.scoring import backtest as bt
from pipeline.scoring.holdout import holdout_metrics, holdout_scores, score_table, table_scores
from pipeline.steps.context import RunContext
from pipeline.steps.jobs import Part
from pipeline.workspace import PART_SCORES

if TYPE_CHECKING:  # torch loads only where a model is built
    from pipeline.model.sharded import ShardedForecaster

logger = logging.getLogger(__name__)


def evaluate_part(ctx: RunContext | Mapping[str, Any], part: Part | Mapping[str, Any]) -> list[str]:
    """The candidate on the series of one part (its shards): scored on the holdout months (with the candidates
    chosen before them) and its forecast of the coming months, each a Parquet table. Returns the two files."""
    ctx, part = RunContext.of(ctx), Part.of(part)
    cfg, paths = ctx.cfg, ctx.paths
    panel = Panel.load(paths.panel)
    summary = read_json(paths.backtest_summary)
    candidate = _candidate(ctx, panel, summary, part.shards)
    series = panel.subset(part.positions(panel, read_json(paths.shards)["shards"]))
    before = summary["holdout_choice"]  # chosen before the holdout months: a score, not a choice, on them
    holdout = holdout_scores(replace(candidate, choice=before["choice"], default=before["default"]), series, cfg,
                             bt.final_origin(panel, cfg))
    future = candidate.forecast(series, cfg.horizon)
    scored = score_table(holdout, [panel.position(sid) for sid in holdout["series"]])
    logger.info("part %s: %d series, %d scored on the holdout", part.key, len(series), len(scored))
    return [str(write_parquet(paths.part_scores(part.key), scored)),
            str(write_parquet(paths.part_forecast(part.key), future))]


def evaluate(ctx: RunContext | Mapping[str, Any], fit_paths: list[str], part_paths: list[str]) -> str:
    """Assemble the candidate from the shards' final models (with each series' candidate chosen and the interval
    calibrations of the backtest), put together the parts' holdout scores and forecasts (:func:`evaluate_part`),
    plot, and log the model to MLflow. Returns the candidate file (its model URI; the holdout metrics are in
    ``metrics.json``)."""
    import mlflow

    from pipeline.model.train import mean_by_epoch
    from pipeline.ops import plots

    ctx = RunContext.of(ctx)
    cfg, paths = ctx.cfg, ctx.paths
    panel = Panel.load(paths.panel)
    finals = sorted((r for r in (read_json(p) for p in fit_paths) if "final" in r), key=lambda r: r["shard"])
    summary = read_json(paths.backtest_summary)
    candidate = _candidate(ctx, panel, summary)
    scored = [pd.read_parquet(path) for path in part_paths if path.endswith(PART_SCORES)]
    scores = holdout_metrics({"scores": table_scores(pd.concat(scored, ignore_index=True))})
    future = pd.concat([pd.read_parquet(path) for path in part_paths if not path.endswith(PART_SCORES)],
                       ignore_index=True)
    future = panel.in_order(future)
    shown = plots.largest(panel)  # the figures' series, their holdout forecast again (a few)
    before = summary["holdout_choice"]
    holdout = holdout_scores(replace(candidate, choice=before["choice"], default=before["default"]),
                             panel.subset(shown), cfg, bt.final_origin(panel, cfg))
    histories = [r["final"] for r in finals]
    curves = {key: mean_by_epoch([h["curves"].get(key, []) for h in histories]) for key in histories[0]["curves"]}
    seconds = sum(h["seconds"] for h in histories)
    best = [e for h in histories for e in h["best_epochs"]]

    write_text(paths.candidate_forecast, future.to_csv(index=False, float_format="%.3f"))
    write_json(paths.metrics, scores)
    write_json(paths.history, {**curves, "seconds": seconds, "best_epochs": best})
    files = candidate.save(paths.model)
    write_text(paths.model_summary, _network_summary(candidate))
    figures = plots.run_figures(cfg, ctx.data_month, panel.subset(shown), holdout,
                                future[future["series"].isin([panel.ids[i] for i in shown])], curves, paths.figure)

    with tracking.resume(ctx.mlflow_run_id) as run:
        tracking.log_series(tracking.configure(), run.info.run_id, curves)
        mlflow.log_metrics(scores | tracking.holdout_chart_metrics(scores)
                           | {"train_seconds": seconds, "shards": float(len(candidate.shards))}
                           | ({"final_train_loss": curves["train_loss"][-1], "best_epoch_mean": float(np.mean(best))}
                              if curves["train_loss"] else {})
                           | ({"final_val_loss": curves["val_loss"][-1]} if curves["val_loss"] else {}))
        mlflow.log_params({"data.series": len(panel), "data.shards": len(candidate.shards),
                           "data.holdout_first": month_text(panel.last_month + 1 - cfg.holdout),
                           "data.holdout_last": month_text(panel.last_month)})
        for path in (paths.candidate_forecast, paths.metrics):
            mlflow.log_artifact(str(path), "evaluation")
        for path in figures:
            mlflow.log_artifact(str(path), "plots")
        for k in range(len(candidate.shards)):
            if f"shard_{k}_spec" in files:
                mlflow.log_artifact(files[f"shard_{k}_spec"], f"preprocessing/shard_{k}")
        mlflow.log_artifact(str(paths.model_summary))
        info = pyfunc.log_forecaster(files, panel.subset(range(min(3, len(panel)))), candidate)
        signing.sign_logged_model(tracking.configure(), info.model_id)
    logger.info("holdout mean MASE %.4f (seasonal naive %.4f); logged model %s", scores["holdout_mase"],
                scores["baseline_mase"], info.model_uri)
    return str(write_json(paths.candidate, {"model_uri": info.model_uri}))


def _candidate(ctx: RunContext, panel: Panel, summary: dict[str, Any], shards: Sequence[int] | None = None
               ) -> ShardedForecaster:
    """The candidate: the shards' final models (only those of ``shards`` when given, the others left out: a part
    forecasts its own series), each series' candidate and the interval calibrations of the backtest."""
    from pipeline.model.calibration import Calibration
    from pipeline.model.forecaster import Forecaster
    from pipeline.model.sharded import ShardedForecaster

    cfg, paths = ctx.cfg, ctx.paths
    split = read_json(paths.shards)
    finals = [read_json(paths.fit(k, bt.final_origin(panel, cfg).key)).get("final") if shards is None or k in shards
              else None for k in range(len(split["shards"]))]
    forecasters = [Forecaster.load(f["files"]["weights"], f["files"]["spec"]) if f and f["files"] else None
                   for f in finals]  # None: too few months for a network (or a shard of another part)
    return ShardedForecaster(forecasters, split["bounds"], cfg.season_length, cfg.horizon, summary["choice"],
                             summary["default"],
                             {m: Calibration.from_dict(c) for m, c in summary["calibration"].items()},
                             cfg.value_domain, domains.of_panel(panel, cfg.value_domain))


def _network_summary(candidate: ShardedForecaster) -> str:
    """Each shard's and view's network (layers, parameters) and scaling, for the model_summary.txt artifact."""
    from pipeline.model.lstm import summarize

    forecasters = candidate.shards
    parts = []
    for k, forecaster in enumerate(forecasters):
        if forecaster is None:
            parts.append(f"Shard {k}: no network (its months are too few for one): seasonal naive\n")
            continue
        parts += [f"Shard {k}, view {i}: {scaling.to_dict()}\n" + summarize(nets[0], scaling.time_steps)
                  for i, (scaling, nets) in enumerate(forecaster.groups)]
    text = "\n".join(parts)
    networks = max((len(f.nets) for f in forecasters if f is not None), default=0)
    by = ", ".join(f"{n} by {model}" for model, n in served(candidate.choice).items())
    return text + f"Shards: {len(forecasters)}, networks each: {networks}; series served: {by}\n"
