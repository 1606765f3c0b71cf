"""The pipeline's steps as the DAG runs them: each takes and returns a small JSON-able run context.

The context carries the resolved config, the work folder, file paths and MLflow ids: never data.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline import settings
from pipeline.config import Config, load_config, trigger_overrides
from pipeline.data import features as ft
from pipeline.data import ingest as ig
from pipeline.data import validate as vd
from pipeline.io import read_json, write_json, write_text
from pipeline.model.forecaster import Forecaster
from pipeline.model.lstm import summarize
from pipeline.model.train import fit_ensemble, mean_curves
from pipeline.ops import alerts, gauges, plots, registry, tracking
from pipeline.ops import monitor as monitor_
from pipeline.scoring import backtest as bt
from pipeline.scoring import evaluate as ev

logger = logging.getLogger(__name__)

Context = dict[str, Any]


def _config(ctx: Context) -> Config:
    return Config(**ctx["config"])


def _series(path: str) -> pd.Series:
    frame = pd.read_csv(path, parse_dates=["month"], index_col="month")
    return frame["value"].astype(float)


def ingest(run_key: str, as_of: str | None = None, overrides: Mapping[str, Any] | None = None,
           config_path: str | None = None, tags: Mapping[str, str] | None = None,
           trigger: Mapping[str, Any] | None = None) -> Context:
    """Resolve the config, snapshot the as-of rows and open (or reuse) the month's MLflow run.

    ``overrides`` are the operator's (CLI flags); ``trigger`` is a DAG run's conf, limited to the settings a
    trigger may set (:data:`pipeline.config.TRIGGER_KEYS`). Both are checked before anything is read or opened.
    ``config_path`` defaults to ``$PIPELINE_CONFIG`` (a deployment-wide YAML file), if set.
    """
    settings.check_run_key(run_key)
    requested = {**(overrides or {}), **trigger_overrides(trigger)}
    logger.info("settings asked for: %s", requested or "none (the configured values)")
    cfg = load_config(config_path or os.environ.get("PIPELINE_CONFIG") or None, requested)
    ig.as_of_month(as_of)
    work = settings.work_dir(run_key)
    csv_path = settings.resolve_data_path(cfg.csv_path, cfg.data_dir, cfg.allow_any_csv_path)
    snap = ig.ingest(csv_path, work / "ingested.npz", cfg.date_column, cfg.target_column, as_of,
                     cfg.max_file_mb * 2**20)
    data_month = snap.last_month or (pd.Timestamp(as_of) - pd.offsets.MonthBegin(1)).strftime("%Y-%m")
    client = tracking.configure()
    run_tags = {"data_month": data_month, "data_sha256": snap.sha256, "data_rows": str(snap.rows),
                "preset": cfg.preset, "as_of": str(as_of), "kind": "monthly", **(tags or {})}
    run_id = tracking.open_run(client, cfg.experiment_name, run_key, data_month, run_tags)
    with tracking.resume(run_id):
        tracking.log_params(cfg.to_dict())
    return {"run_key": run_key, "as_of": as_of, "config": cfg.to_dict(), "work_dir": str(work),
            "mlflow_run_id": run_id, "data_month": data_month, "snapshot": snap.path, "source": str(csv_path),
            "data_sha256": snap.sha256}


def validate(ctx: Context) -> Context:
    """Validate the snapshot; write the report, the data profile and the clean series. Raises on bad data."""
    import mlflow

    cfg = _config(ctx)
    work = Path(ctx["work_dir"])
    series, report = vd.validate(ig.read_snapshot(ctx["snapshot"]), cfg.min_rows, cfg.season_length)
    report_path = write_json(work / "validation_report.json", report)
    with tracking.resume(ctx["mlflow_run_id"]):
        mlflow.log_artifact(str(report_path), "validation")
        mlflow.set_tag("validation", report["status"])
        if report["status"] == "failed":
            vd.raise_for_report(report)
        profile_path = write_json(work / "data_profile.json", report["profile"])
        mlflow.log_artifact(str(profile_path), "validation")
        tracking.log_dataset(series, ctx["source"], f"{Path(ctx['source']).name}@{ctx['data_month']}",
                             ctx["data_sha256"])
    series_path = work / "series.csv"
    write_text(series_path, series.rename_axis("month").to_frame("value").to_csv(date_format="%Y-%m-%d"))
    return {**ctx, "series": str(series_path), "validation_report": str(report_path)}


def features(ctx: Context) -> Context:
    """Split in time order, fit the scaling on training months only, cut windows; save both."""
    import mlflow

    cfg = _config(ctx)
    work = Path(ctx["work_dir"])
    train, holdout = ft.split(_series(ctx["series"]), cfg.holdout)
    views = ft.build_views(train, cfg)
    features_paths = [str(data.save(work / f"features_{i}.npz")) for i, (data, _) in enumerate(views)]
    scaling_paths = [str(ft.save_scaling(scaling, work / f"scaling_{i}.json")) for i, (_, scaling) in enumerate(views)]
    data = views[0][0]
    with tracking.resume(ctx["mlflow_run_id"]):
        for path in scaling_paths:
            mlflow.log_artifact(path, "preprocessing")
        mlflow.log_params({"data.train_months": len(train), "data.holdout_months": len(holdout),
                           "data.train_windows": len(data.x_train), "data.val_windows": len(data.x_val),
                           "data.views": len(views),
                           "data.holdout_first": f"{holdout.index[0]:%Y-%m}",
                           "data.holdout_last": f"{holdout.index[-1]:%Y-%m}"})
    return {**ctx, "features": features_paths, "scaling": scaling_paths}


def train(ctx: Context) -> Context:
    """Train the LSTM (ensemble), log per-epoch losses, the model summary and the MLflow model."""
    import mlflow

    cfg = _config(ctx)
    work = Path(ctx["work_dir"])
    views = [(ft.FeatureSet.load(f), ft.load_scaling(s)) for f, s in zip(ctx["features"], ctx["scaling"], strict=True)]
    logger.info("training %s: %d windows, %d view(s), up to %d epochs, %d member(s) each", cfg.preset,
                len(views[0][0].x_train), len(views), cfg.epochs, cfg.ensemble_size)
    forecaster, histories = fit_ensemble(views, cfg)
    seconds = sum(h.seconds for h in histories)
    files = forecaster.save(work / "model")
    summary = "\n".join(f"View {i}: {scaling.to_dict()}\n" + summarize(nets[0], scaling.time_steps)
                        for i, (scaling, nets) in enumerate(forecaster.groups))
    summary_path = write_text(work / "model_summary.txt", summary + f"Ensemble members: {len(forecaster.nets)}\n")
    curves = mean_curves(histories)
    if len(forecaster.groups) > 1:  # each view's own curves too: their scaled units differ
        members = iter(histories)  # in the order of the groups' networks
        for scaling, nets in forecaster.groups:
            own = mean_curves([next(members) for _ in nets])
            curves |= {f"{key}_{scaling.view}": values for key, values in own.items()}
    write_json(work / "history.json", {**curves, "seconds": seconds, "best_epochs": [h.best_epoch for h in histories]})
    series = _series(ctx["series"])
    example = ft.make_windows(series.to_numpy()[: cfg.input_months + 3], cfg.input_months)[0]
    with tracking.resume(ctx["mlflow_run_id"]) as run:
        tracking.log_series(tracking.configure(), run.info.run_id, curves)
        mlflow.log_metrics({"train_seconds": seconds, "final_train_loss": curves["train_loss"][-1],
                            "best_epoch_mean": sum(h.best_epoch for h in histories) / len(histories)}
                           | ({"final_val_loss": curves["val_loss"][-1]} if curves["val_loss"] else {}))
        mlflow.log_artifact(str(summary_path))
        info = registry.log_forecaster(files, example, forecaster)
    logger.info("trained in %.1fs; logged model %s", seconds, info.model_uri)
    return {**ctx, "model_dir": str(work / "model"), "model_uri": info.model_uri,
            "history": str(work / "history.json")}


def _load_forecaster(ctx: Context) -> Forecaster:
    model_dir = Path(ctx["model_dir"])
    return Forecaster.load(model_dir / "weights.pt", model_dir / "forecaster.json")


def evaluate(ctx: Context) -> Context:
    """Score the holdout forecast and the seasonal-naive baseline; forecast the coming months."""
    import mlflow

    cfg = _config(ctx)
    work = Path(ctx["work_dir"])
    series = _series(ctx["series"])
    train_part, holdout = ft.split(series, cfg.holdout)
    forecaster = _load_forecaster(ctx)
    scores, frame = ev.evaluate_holdout(forecaster.predict, cfg.input_months, train_part, holdout, cfg.season_length)
    future = ev.forecast_future(forecaster.predict, cfg.input_months, series, cfg.horizon)
    forecast_csv = pd.concat([frame.assign(kind="holdout"),
                              future.to_frame("forecast").assign(kind="future")]).rename_axis("month")
    forecast_path = write_text(work / "forecast.csv", forecast_csv.to_csv(date_format="%Y-%m", float_format="%.3f"))
    metrics_path = write_json(work / "metrics.json", scores)
    history = read_json(ctx["history"])
    title = f"{cfg.preset}, data to {ctx['data_month']}"
    figures = [plots.loss_curves(history["train_loss"], history["val_loss"], work / "loss_curves.png", title),
               plots.holdout_forecast(train_part, frame, work / "holdout_forecast.png", title, cfg.target_column),
               plots.future_forecast(series, future, work / "future_forecast.png", title, cfg.target_column)]
    with tracking.resume(ctx["mlflow_run_id"]):
        mlflow.log_metrics(scores)
        for path in (forecast_path, metrics_path):
            mlflow.log_artifact(str(path), "evaluation")
        for path in figures:
            mlflow.log_artifact(str(path), "plots")
    logger.info("holdout MAPE %.2f%% (seasonal naive %.2f%%)", scores["holdout_mape"], scores["baseline_mape"])
    return {**ctx, "metrics": scores, "forecast": str(forecast_path)}


def monitor(ctx: Context) -> Context:
    """Score the current champion on the months since it was trained; check the new months for drift."""
    import mlflow

    cfg = _config(ctx)
    series = _series(ctx["series"])
    client = tracking.configure()
    name = cfg.registered_model_name
    live = None
    version = registry.alias_version(client, name, registry.CHAMPION)
    previous = tracking.previous_run(client, cfg.experiment_name, ctx["mlflow_run_id"])
    previous_month = previous.data.tags.get("data_month") if previous else None
    if version is not None:
        trained_to = client.get_run(client.get_model_version(name, version).run_id).data.tags.get("data_month")
        model, lookback = registry.load_version(name, version)
        live = monitor_.live_performance(model.predict, lookback, series, trained_to, cfg.season_length)
        if live:
            live["version"] = version
    months_added = _months_between(previous_month, ctx["data_month"]) if previous_month else len(series)
    recent = months_added if previous_month else cfg.season_length  # first run: compare the last season
    found = monitor_.drift(series, max(recent, 1), cfg.season_length, cfg.drift_level_z, cfg.drift_seasonal_corr)
    result = {"live": live, "drift": found, "previous_data_month": previous_month, "months_added": months_added}
    path = write_json(Path(ctx["work_dir"]) / "monitor.json", result)
    figures = {"data_months": float(len(series)), "months_added": float(months_added)}
    with tracking.resume(ctx["mlflow_run_id"]):
        mlflow.log_artifact(str(path), "monitoring")
        mlflow.set_tag("drift", "yes" if found["drift"] else "no")
        if found.get("checked"):
            figures |= {"drift_level_z": found["level_z"], "drift_seasonal_corr": found["seasonal_corr"]}
        if live:
            figures |= {"champion_live_mape": live["live_mape"], "champion_live_months": float(live["months"])}
        mlflow.log_metrics(figures)
    gauges.send(figures)
    for finding in found["findings"]:
        logger.warning("drift: %s", finding)
    if live and live["live_mape"] > cfg.live_mape_alert:
        alerts.send(f"[{cfg.experiment_name}] champion v{version} live MAPE {live['live_mape']:.1f}%",
                    f"The champion's MAPE on {live['months']} month(s) since {live['trained_to']} "
                    f"({live['first']}..{live['last']}) is {live['live_mape']:.2f}%, over the "
                    f"{cfg.live_mape_alert:.1f}% alert threshold (run {ctx['run_key']}).")
    return {**ctx, "monitor": str(path)}


def _months_between(earlier: str, later: str) -> int:
    a, b = pd.Period(earlier, "M"), pd.Period(later, "M")
    return (b - a).n


def backtest_plan(ctx: Context) -> list[int]:
    """The fold indices to run (one mapped task each)."""
    return list(range(_config(ctx).folds))


def backtest_fold(ctx: Context, fold: int) -> str:
    """Run one backtest fold as a nested MLflow run under the month's run; returns the fold's result file."""
    import mlflow

    cfg = _config(ctx)
    result = bt.run_fold(_series(ctx["series"]), cfg, fold, cfg.stats_baselines)
    path = write_json(Path(ctx["work_dir"]) / "backtest" / f"fold_{fold}.json", result)
    client = tracking.configure()
    child = tracking.open_run(client, cfg.experiment_name, f"{ctx['run_key']}/fold-{fold}",
                              f"{ctx['data_month']} fold {fold} (train to {result['train_end']})",
                              {"mlflow.parentRunId": ctx["mlflow_run_id"], "fold": str(fold),
                               "data_month": ctx["data_month"], "preset": cfg.preset, "kind": "backtest-fold"})
    with tracking.resume(child):
        mlflow.log_params({"fold": fold, "train_end": result["train_end"], "test_start": result["test_start"],
                           "test_end": result["test_end"]})
        mlflow.log_metrics({_metric_name(model, key): value for model, scores in result["scores"].items()
                            for key, value in scores.items()} | {"train_seconds": result["train_seconds"]})
        mlflow.log_artifact(str(path))
    return str(path)


def _metric_name(model: str, metric: str) -> str:
    """``lstm`` -> ``backtest_mape``; baselines -> ``backtest_<model>_mape`` (the same names on every run)."""
    return f"backtest_{metric}" if model == bt.LSTM else f"backtest_{model.lower()}_{metric}"


def backtest_summary(ctx: Context, fold_paths: list[str]) -> str:
    """Merge the folds: mean metrics per model, logged on the month's run; returns the summary file."""
    import mlflow

    summary = bt.summarize([read_json(p) for p in fold_paths])
    path = write_json(Path(ctx["work_dir"]) / "backtest" / "summary.json", summary)
    with tracking.resume(ctx["mlflow_run_id"]):
        mlflow.log_metrics({_metric_name(model, key): value for model, scores in summary["mean"].items()
                            for key, value in scores.items()})
        mlflow.log_artifact(str(path), "backtest")
    logger.info("backtest mean MAPE: %s", {m: round(s["mape"], 2) for m, s in summary["mean"].items()})
    return str(path)


def _champion_scores(client: Any, name: str, version: str, cfg: Config, series: pd.Series,
                     candidate_backtest: dict[str, Any]) -> registry.Scores:
    """The champion re-scored on this run's data: its weights on the same holdout months, its configuration
    on the same backtest folds (refitted only when it differs from the candidate's)."""
    model, lookback = registry.load_version(name, version)
    train_part, holdout = ft.split(series, cfg.holdout)
    holdout_scores, _ = ev.evaluate_holdout(model.predict, lookback, train_part, holdout, cfg.season_length)
    champion_cfg = registry.version_config(client, name, version, cfg)
    if champion_cfg.model_settings() == cfg.model_settings():
        backtest_mape = candidate_backtest["mean"][bt.LSTM]["mape"]
    else:
        logger.info("champion v%s has another configuration: refitting it on the same %d folds", version, cfg.folds)
        backtest_mape = bt.backtest(series, champion_cfg)["mean"][bt.LSTM]["mape"]
    return registry.Scores(backtest_mape=backtest_mape, holdout_mape=holdout_scores["holdout_mape"])


def register(ctx: Context, backtest_path: str, monitor_path: str | None = None) -> Context:
    """Register the candidate, alias it challenger, and move champion only if it is better."""
    import mlflow

    cfg = _config(ctx)
    drift = bool(read_json(monitor_path)["drift"]["drift"]) if monitor_path else False
    name = cfg.registered_model_name
    summary = read_json(backtest_path)
    client = tracking.configure()
    version = registry.register_version(client, name, ctx["model_uri"], ctx["mlflow_run_id"])
    client.set_registered_model_alias(name, registry.CHALLENGER, version)
    candidate = registry.Scores(backtest_mape=summary["mean"][bt.LSTM]["mape"],
                                holdout_mape=ctx["metrics"]["holdout_mape"])
    baseline = summary["mean"][bt.NAIVE]["mape"]
    with registry.champion_lock(name):  # one decision at a time: the champion read here is the one replaced
        champion_version = registry.alias_version(client, name, registry.CHAMPION)
        champion = None
        if champion_version is not None and champion_version != version:
            champion = _champion_scores(client, name, champion_version, cfg, _series(ctx["series"]), summary)
        promoted, reason = registry.decide(candidate, baseline, champion, cfg.baseline_gate, drift)
        if champion_version == version:
            promoted, reason = True, "this version is already the champion (re-run)"
        if promoted and champion_version != version:
            refused = registry.move_champion(client, name, champion_version, version)
            if refused:
                promoted, reason = False, refused
    decision = registry.Decision(model_name=name, candidate_version=version, candidate=candidate,
                                 baseline_backtest_mape=baseline, champion_version=champion_version,
                                 champion=champion, promoted=promoted, reason=reason, decided_at=registry.now_iso())
    for key, value in decision.as_tags().items():
        client.set_model_version_tag(name, version, key, value)
    path = write_json(Path(ctx["work_dir"]) / "decision.json", asdict(decision))
    with tracking.resume(ctx["mlflow_run_id"]):
        mlflow.log_artifact(str(path))
        mlflow.set_tags({"decision": "promoted" if promoted else "rejected", "model_version": version})
    logger.info("%s v%s: %s (%s)", name, version, "PROMOTED to champion" if promoted else "not promoted", reason)
    return {**ctx, "model_version": version, "promoted": promoted, "decision": str(path),
            "backtest": backtest_path, "monitor": monitor_path}


def summarize_run(ctx: Context) -> str:
    """The run summary (markdown and JSON): logged to MLflow, set as the run description, printed to the log."""
    import mlflow

    cfg = _config(ctx)
    monitored = read_json(ctx["monitor"]) if ctx.get("monitor") else {"live": None, "drift": {"findings": []}}
    report = read_json(ctx["validation_report"])
    summary = {
        "dag_id": ctx.get("dag_id", "lstm_monthly_retraining"), "run_key": ctx["run_key"],
        "data_month": ctx["data_month"], "data_rows": report["rows"],
        "months_added": monitored.get("months_added", report["rows"]),
        "previous_data_month": monitored.get("previous_data_month"),
        "validation": {"status": report["status"], "fixes": report["fixes"], "warnings": report["warnings"]},
        "metrics": ctx["metrics"], "backtest": read_json(ctx["backtest"])["mean"] if ctx.get("backtest") else None,
        "live": monitored.get("live"), "drift": monitored["drift"], "decision": read_json(ctx["decision"]),
        "preset": cfg.preset, "mlflow_run_id": ctx["mlflow_run_id"],
    }
    text = monitor_.summary_markdown(summary)
    work = Path(ctx["work_dir"])
    md, js = write_text(work / "summary.md", text), write_json(work / "summary.json", summary)
    with tracking.resume(ctx["mlflow_run_id"]):
        mlflow.log_artifact(str(md))
        mlflow.log_artifact(str(js))
        mlflow.set_tag("mlflow.note.content", text)
    gauges.send({"train_seconds": read_json(ctx["history"])["seconds"],
                     "holdout_mape": ctx["metrics"]["holdout_mape"],
                     "backtest_mape": summary["decision"]["candidate"]["backtest_mape"],
                     "promoted": float(summary["decision"]["promoted"])})
    logger.info("run summary\n%s", text)
    return str(md)


def run_all(run_key: str, as_of: str | None = None, overrides: Mapping[str, Any] | None = None,
            config_path: str | None = None, tags: Mapping[str, str] | None = None) -> Context:
    """Run every step in order, in this process (the command-line equivalent of one DAG run)."""
    ctx = validate(ingest(run_key, as_of, overrides, config_path, tags))
    monitored = monitor(ctx)["monitor"]
    folds = [backtest_fold(ctx, fold) for fold in backtest_plan(ctx)]
    summary = backtest_summary(ctx, folds)
    for step in (features, train, evaluate):
        logger.info("step %s", step.__name__)
        ctx = step(ctx)
    ctx = register(ctx, summary, monitored)
    return {**ctx, "summary": summarize_run(ctx)}
