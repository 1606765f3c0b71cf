"""Evaluate: the candidate assembled from the shards' final models, scored on the holdout months, its forecast of
the coming months, its figures, and the candidate logged as one MLflow model."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline import domains
from pipeline.data.panel import Panel
from pipeline.io import read_json, write_json, write_text
from pipeline.model.candidates import served
from pipeline.months import month_text
from pipeline.ops import pyfunc, signing, tracking
from pipeline.scoring.holdout import holdout_metrics, holdout_scores
from pipeline.steps.context import RunContext

if TYPE_CHECKING:  # torch loads only where a model is built
    from pipeline.model.sharded import ShardedForecaster

logger = logging.getLogger(__name__)


def evaluate(ctx: RunContext | Mapping[str, Any], fit_paths: list[str]) -> str:
    """Assemble the candidate from the shards' final models (with each series' candidate chosen and the interval
    calibrations of the backtest), score the holdout months, forecast the coming months, plot, and log the model
    to MLflow. Returns the candidate file (its model URI; the holdout metrics are in ``metrics.json``)."""
    import mlflow

    from pipeline.model.calibration import Calibration
    from pipeline.model.forecaster import Forecaster
    from pipeline.model.sharded import ShardedForecaster
    from pipeline.model.train import mean_by_epoch
    from pipeline.ops import plots

    ctx = RunContext.of(ctx)
    cfg, paths = ctx.cfg, ctx.paths
    panel = Panel.load(paths.panel)
    finals = sorted((r for r in (read_json(p) for p in fit_paths) if "final" in r), key=lambda r: r["shard"])
    summary = read_json(paths.backtest_summary)
    forecasters = [Forecaster.load(r["final"]["files"]["weights"], r["final"]["files"]["spec"])
                   if r["final"]["files"] else None for r in finals]  # None: too few months for a network
    candidate = ShardedForecaster(forecasters, read_json(paths.shards)["bounds"], cfg.season_length, cfg.horizon,
                                  summary["choice"], summary["default"],
                                  {m: Calibration.from_dict(c) for m, c in summary["calibration"].items()},
                                  cfg.value_domain, domains.of_panel(panel, cfg.value_domain))

    before = summary["holdout_choice"]  # chosen before the holdout months: a score, not a choice, on them
    holdout = holdout_scores(replace(candidate, choice=before["choice"], default=before["default"]), panel, cfg)
    scores = holdout_metrics(holdout)
    future = candidate.forecast(panel, cfg.horizon)
    histories = [r["final"] for r in finals]
    curves = {key: mean_by_epoch([h["curves"].get(key, []) for h in histories]) for key in histories[0]["curves"]}
    seconds = sum(h["seconds"] for h in histories)
    best = [e for h in histories for e in h["best_epochs"]]

    write_text(paths.candidate_forecast, future.to_csv(index=False, float_format="%.3f"))
    write_json(paths.metrics, scores)
    write_json(paths.history, {**curves, "seconds": seconds, "best_epochs": best})
    files = candidate.save(paths.model)
    write_text(paths.model_summary, _network_summary(candidate))
    figures = plots.run_figures(cfg, ctx.data_month, panel, holdout, future, curves, paths.figure)

    with tracking.resume(ctx.mlflow_run_id) as run:
        tracking.log_series(tracking.configure(), run.info.run_id, curves)
        mlflow.log_metrics(scores | {"train_seconds": seconds, "shards": float(len(forecasters))}
                           | ({"final_train_loss": curves["train_loss"][-1], "best_epoch_mean": float(np.mean(best))}
                              if curves["train_loss"] else {})
                           | ({"final_val_loss": curves["val_loss"][-1]} if curves["val_loss"] else {}))
        mlflow.log_params({"data.series": len(panel), "data.shards": len(forecasters),
                           "data.holdout_first": month_text(panel.last_month + 1 - cfg.holdout),
                           "data.holdout_last": month_text(panel.last_month)})
        for path in (paths.candidate_forecast, paths.metrics):
            mlflow.log_artifact(str(path), "evaluation")
        for path in figures:
            mlflow.log_artifact(str(path), "plots")
        for k in range(len(forecasters)):
            if f"shard_{k}_spec" in files:
                mlflow.log_artifact(files[f"shard_{k}_spec"], f"preprocessing/shard_{k}")
        mlflow.log_artifact(str(paths.model_summary))
        info = pyfunc.log_forecaster(files, panel.subset(range(min(3, len(panel)))), candidate)
        signing.sign_logged_model(tracking.configure(), info.model_id)
    logger.info("holdout mean MASE %.4f (seasonal naive %.4f); logged model %s", scores["holdout_mase"],
                scores["baseline_mase"], info.model_uri)
    return str(write_json(paths.candidate, {"model_uri": info.model_uri}))


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
