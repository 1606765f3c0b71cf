"""The pipeline's steps as the DAG runs them: each takes and returns a small JSON-able run context.

The context carries the resolved config, the work folder, file paths and MLflow ids: never data. A single
series is a panel of one: every step works on panels.

    ingest -> validate -> plan -> fit (mapped: one task per shard and training origin) -> backtest_summary
           -> evaluate -> register -> publish -> summarize          (monitor beside, after validate)
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from pipeline import settings
from pipeline.config import Config, load_config, trigger_overrides
from pipeline.data import ingest as ig
from pipeline.data import validate as vd
from pipeline.data.panel import Panel, shard_bounds, shards
from pipeline.errors import ConfigError
from pipeline.io import read_json, write_json, write_text
from pipeline.metrics import mase_scale, seasonal_naive
from pipeline.model.calibration import Calibration
from pipeline.months import as_of_month, month_starts, month_text, months_between, parse_month
from pipeline.ops import alerts, gate, gauges, pyfunc, registry, tracking
from pipeline.ops import monitor as monitor_
from pipeline.scoring import backtest as bt
from pipeline.scoring.intervals import interval_scores

if TYPE_CHECKING:
    from pipeline.model.forecaster import Forecaster

logger = logging.getLogger(__name__)

Context = dict[str, Any]
WORST_LISTED = 10


def _config(ctx: Context) -> Config:
    return Config(**ctx["config"])


def _panel(ctx: Context) -> Panel:
    return Panel.load(ctx["panel"])


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
    as_of_month(as_of)
    work = settings.work_dir(run_key)
    csv_path = settings.resolve_data_path(cfg.csv_path, cfg.data_dir, cfg.allow_any_csv_path)
    snap = ig.ingest(csv_path, work / "ingested.npz", cfg.date_column, cfg.target_column, as_of,
                     cfg.max_file_mb * 2**20, cfg.series_column, cfg.title_column)
    data_month = snap.last_month or month_text(as_of_month(as_of) - 1)
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
    """Validate the snapshot series by series; write the report, the quarantine list, the profile and the clean
    panel. Raises on a file-level problem or when too many series are quarantined."""
    import mlflow

    cfg = _config(ctx)
    work = Path(ctx["work_dir"])
    panel, report = vd.validate(ig.read_snapshot(ctx["snapshot"]), cfg.min_rows, cfg.season_length,
                                cfg.max_quarantine_share)
    report_path = write_json(work / "validation_report.json", report)
    quarantine = pd.DataFrame(report["quarantine"], columns=["series", "title", "reason", "row", "column",
                                                             "problems"])
    quarantine_path = write_text(work / "quarantine.csv", quarantine.to_csv(index=False))
    with tracking.resume(ctx["mlflow_run_id"]):
        mlflow.log_artifact(str(report_path), "validation")
        mlflow.log_artifact(str(quarantine_path), "validation")
        mlflow.set_tag("validation", report["status"])
        mlflow.log_metrics({f"series_{k}": float(v) for k, v in report["series"].items()})
        if len(quarantine):
            mlflow.log_table(quarantine, "validation/quarantine.json")
        if report["status"] == "failed":
            vd.raise_for_report(report)
        profile_path = write_json(work / "data_profile.json", report["profile"])
        mlflow.log_artifact(str(profile_path), "validation")
        tracking.log_dataset(panel.to_frame(), ctx["source"], f"{Path(ctx['source']).name}@{ctx['data_month']}",
                             ctx["data_sha256"])
    panel_path = panel.save(work / "panel.npz")
    return {**ctx, "panel": str(panel_path), "validation_report": str(report_path)}


def plan(ctx: Context) -> list[dict[str, Any]]:
    """Assign the series to shards (stable hash, at most ``shard_size`` each) and list the fits to run: one per
    shard and training origin (the backtest origins and the final model's, which is the last fold's when
    ``holdout`` equals ``horizon``). Each is a mapped task; their number must stay under Airflow's
    ``max_map_length`` (``max_mapped_tasks``)."""
    cfg = _config(ctx)
    panel = _panel(ctx)
    parts = shards(panel.ids, cfg.shard_size)
    write_json(Path(ctx["work_dir"]) / "shards.json", {"shards": [[panel.ids[i] for i in part] for part in parts],
                                                        "bounds": shard_bounds(panel.ids, parts)})
    by_origin: dict[int, dict[str, Any]] = {}
    for fold, origin in enumerate(bt.origins(panel.last_month, cfg.folds, cfg.horizon)):
        by_origin.setdefault(origin, {"folds": [], "final": False})["folds"].append(fold)
    by_origin.setdefault(panel.last_month + 1 - cfg.holdout, {"folds": [], "final": False})["final"] = True
    jobs = [{"shard": k, "origin": origin, "train_end": month_text(origin - 1), **spec}
            for k in range(len(parts)) for origin, spec in sorted(by_origin.items())]
    if len(jobs) > cfg.max_mapped_tasks:
        raise ConfigError(f"{len(parts)} shards x {len(by_origin)} training origins = {len(jobs)} mapped tasks, over "
                          f"max_mapped_tasks {cfg.max_mapped_tasks} (Airflow's max_map_length): raise shard_size to "
                          f"at least {-(-len(panel) // (cfg.max_mapped_tasks // len(by_origin)))}")
    logger.info("%d series in %d shard(s); %d fit(s)", len(panel), len(parts), len(jobs))
    return jobs


def fit(ctx: Context, job: Mapping[str, Any]) -> str:
    """Train one shard's global network on the months before one origin (with ``warm_start``, from the weights of
    the same fit last month, and keep its own for next month); score the backtest folds that start there; for the
    final origin, keep the model. Returns the result file."""
    from pipeline.model import warm
    from pipeline.model.train import fit_forecaster

    cfg = _config(ctx)
    work = Path(ctx["work_dir"])
    shard, origin = int(job["shard"]), int(job["origin"])
    panel = _panel(ctx)
    parts = read_json(work / "shards.json")["shards"]
    part = panel.subset([panel.position(sid) for sid in parts[shard]])
    logger.info("shard %d: %d series, training to %s", shard, len(part), month_text(origin - 1))
    weights = warm.folder(cfg, shard, len(parts))
    data_month = parse_month(ctx["data_month"])
    start = warm.load(weights, origin - 1, data_month, cfg.networks) if cfg.warm_start else None
    forecaster, histories = fit_forecaster(part.cut(origin), cfg, start.weights if start else None)
    if cfg.warm_start:
        warm.save(weights, origin - 1, data_month, forecaster.nets)
    seconds = sum(h.seconds for h in histories)
    result: dict[str, Any] = {"shard": shard, "origin": month_text(origin), "train_seconds": seconds, "folds": [],
                              "warm_start": {"source": start.source, "sha256": start.sha256} if start else None}
    for fold in job["folds"]:
        train, actual = bt.fold_split(part, origin, cfg.horizon)
        forecasts, bounds = bt.forecast_models(forecaster, train, cfg.horizon, cfg, cfg.stats_baselines)
        result["folds"].append(bt.fold_result(fold, origin, train, actual, forecasts, cfg.season_length, bounds)
                               | {"train_seconds": seconds, "best_epochs": [h.best_epoch for h in histories]})
    if job["final"]:
        files = forecaster.save(work / "model" / f"shard_{shard}")
        result["final"] = {"files": files, "curves": _curves(forecaster, histories), "seconds": seconds,
                           "best_epochs": [h.best_epoch for h in histories]}
    return str(write_json(work / "fits" / f"shard_{shard}_{month_text(origin)}.json", result))


def _curves(forecaster: Forecaster, histories: list[Any]) -> dict[str, list[float]]:
    """Per-epoch losses averaged over the ensemble, and each view's own (their scaled units differ)."""
    from pipeline.model.train import mean_curves

    curves = mean_curves(histories)
    if len(forecaster.groups) > 1:
        members = iter(histories)  # in the order of the groups' networks
        for scaling, nets in forecaster.groups:
            own = mean_curves([next(members) for _ in nets])
            curves |= {f"{key}_{scaling.view}": values for key, values in own.items()}
    return curves


def _metric_name(model: str, metric: str) -> str:
    """``lstm`` -> ``backtest_mase``; baselines -> ``backtest_<model>_mase`` (the same names on every run)."""
    return f"backtest_{metric}" if model == bt.LSTM else f"backtest_{model.lower()}_{metric}"


def backtest_summary(ctx: Context, fit_paths: list[str]) -> str:
    """Merge the folds of every shard: per-model means and medians, per-series scores (the table analysts read in
    MLflow), the series that fall back to seasonal naive; one nested MLflow run per fold."""
    import mlflow

    cfg = _config(ctx)
    panel = _panel(ctx)
    fits = [read_json(path) for path in fit_paths]
    results = [fold for fit_result in fits for fold in fit_result["folds"]]
    summary = bt.summarize(results, cfg.levels)
    summary["fits"] = {"total": len(fits), "warm": sum(bool(f.get("warm_start")) for f in fits)}
    work = Path(ctx["work_dir"])
    path = write_json(work / "backtest" / "summary.json", {k: v for k, v in summary.items() if k != "per_series"})
    table = pd.DataFrame.from_dict(summary["per_series"], orient="index").rename_axis("series").reset_index()
    table.insert(1, "title", [panel.titles[panel.position(s)] for s in table["series"]])
    table_path = write_text(work / "backtest" / "per_series.csv", table.to_csv(index=False, float_format="%.6g"))
    client = tracking.configure()
    for fold in summary["per_fold"]:
        child = tracking.open_run(client, cfg.experiment_name, f"{ctx['run_key']}/fold-{fold['fold']}",
                                  f"{ctx['data_month']} fold {fold['fold']} (train to {fold['train_end']})",
                                  {"mlflow.parentRunId": ctx["mlflow_run_id"], "fold": str(fold["fold"]),
                                   "data_month": ctx["data_month"], "preset": cfg.preset, "kind": "backtest-fold"})
        with tracking.resume(child):
            mlflow.log_params({"fold": fold["fold"], "train_end": fold["train_end"], "series": fold["series"]})
            mlflow.log_metrics({_metric_name(m, k): v for m, scores in fold.items() if isinstance(scores, dict)
                                for k, v in scores.items()})
    with tracking.resume(ctx["mlflow_run_id"]):
        mlflow.log_metrics({_metric_name(m, k): v for m, scores in summary["mean"].items() for k, v in scores.items()}
                           | {_metric_name(m, "mase_median"): v for m, v in summary["median_mase"].items()}
                           | {key: value for key, value in summary.items() if key.startswith("share_beats_")}
                           | {"series_fallback": float(len(summary["fallback"])),
                              "warm_started_fits": float(summary["fits"]["warm"])})
        mlflow.set_tag("warm_start", f"{summary['fits']['warm']} of {summary['fits']['total']} fits" if cfg.warm_start
                       else "off")
        mlflow.log_artifact(str(path), "backtest")
        mlflow.log_artifact(str(table_path), "backtest")
        mlflow.log_table(table, "backtest/per_series_metrics.json")
    logger.info("backtest mean MASE: %s; %d series fall back to seasonal naive",
                {m: round(s["mase"], 4) for m, s in summary["mean"].items()}, len(summary["fallback"]))
    return str(path)


def evaluate(ctx: Context, fit_paths: list[str], backtest_path: str) -> Context:
    """Assemble the candidate from the shards' final models (with the fallback series of the backtest), score
    the holdout months, forecast the coming months, plot, and log the model to MLflow."""
    import mlflow

    from pipeline.model.forecaster import Forecaster
    from pipeline.model.lstm import summarize
    from pipeline.model.sharded import ShardedForecaster
    from pipeline.model.train import mean_by_epoch

    cfg = _config(ctx)
    work = Path(ctx["work_dir"])
    panel = _panel(ctx)
    finals = sorted((r for r in (read_json(p) for p in fit_paths) if "final" in r), key=lambda r: r["shard"])
    shard_spec = read_json(work / "shards.json")
    summary = read_json(backtest_path)
    forecasters = [Forecaster.load(r["final"]["files"]["weights"], r["final"]["files"]["spec"]) for r in finals]
    calibration = {m: Calibration.from_dict(c) for m, c in summary["calibration"].items()}
    candidate = ShardedForecaster(forecasters, shard_spec["bounds"], cfg.season_length, cfg.horizon,
                                  set(summary["fallback"]), calibration)
    holdout = holdout_scores(candidate, panel, cfg)
    scores = {f"holdout_{k}": float(np.mean(v) if k in bt.METRICS else np.nanmean(v))
              for k, v in holdout["scores"]["published"].items()}
    scores |= {f"baseline_{k}": float(np.mean(v)) for k, v in holdout["scores"][bt.NAIVE].items()
               if k in bt.METRICS}
    future = candidate.forecast(panel, cfg.horizon)
    forecast_path = write_text(work / "candidate_forecast.csv", future.to_csv(index=False, float_format="%.3f"))
    metrics_path = write_json(work / "metrics.json", scores)
    histories = [r["final"] for r in finals]
    curves = {key: mean_by_epoch([h["curves"].get(key, []) for h in histories]) for key in histories[0]["curves"]}
    seconds = sum(h["seconds"] for h in histories)
    best = [e for h in histories for e in h["best_epochs"]]
    write_json(work / "history.json", {**curves, "seconds": seconds, "best_epochs": best})
    files = candidate.save(work / "model")
    net_summary = "\n".join(f"Shard {k}, view {i}: {scaling.to_dict()}\n" + summarize(nets[0], scaling.time_steps)
                            for k, f in enumerate(forecasters) for i, (scaling, nets) in enumerate(f.groups))
    summary_path = write_text(work / "model_summary.txt", net_summary + f"Shards: {len(forecasters)}, networks "
                              f"each: {len(forecasters[0].nets)}, fallback series: {len(candidate.fallback)}\n")
    figures = _figures(cfg, ctx["data_month"], panel, holdout, future, curves, work)
    with tracking.resume(ctx["mlflow_run_id"]) as run:
        tracking.log_series(tracking.configure(), run.info.run_id, curves)
        mlflow.log_metrics(scores | {"train_seconds": seconds, "final_train_loss": curves["train_loss"][-1],
                                     "best_epoch_mean": float(np.mean(best)), "shards": float(len(forecasters))}
                           | ({"final_val_loss": curves["val_loss"][-1]} if curves["val_loss"] else {}))
        mlflow.log_params({"data.series": len(panel), "data.shards": len(forecasters),
                           "data.holdout_first": month_text(panel.last_month + 1 - cfg.holdout),
                           "data.holdout_last": month_text(panel.last_month)})
        for path in (forecast_path, metrics_path):
            mlflow.log_artifact(str(path), "evaluation")
        for path in figures:
            mlflow.log_artifact(str(path), "plots")
        for k in range(len(forecasters)):
            mlflow.log_artifact(files[f"shard_{k}_spec"], f"preprocessing/shard_{k}")
        mlflow.log_artifact(str(summary_path))
        info = pyfunc.log_forecaster(files, panel.subset(range(min(3, len(panel)))), candidate)
    logger.info("holdout mean MASE %.4f (seasonal naive %.4f); logged model %s", scores["holdout_mase"],
                scores["baseline_mase"], info.model_uri)
    return {**ctx, "metrics": scores, "model_uri": info.model_uri, "model_dir": str(work / "model"),
            "candidate_forecast": str(forecast_path), "history": str(work / "history.json")}


def holdout_scores(model: Any, panel: Panel, cfg: Config) -> dict[str, Any]:
    """A model's published forecast (fallbacks included) of the last ``holdout`` months of every series, from the
    months before them, and seasonal naive's: per-series scores (with the published intervals' coverage, width and
    interval score when it has intervals), forecasts and actuals. ``model`` forecasts a history panel (the
    candidate's :class:`ShardedForecaster` or a registered version's ``Published``)."""
    origin = panel.last_month + 1 - cfg.holdout
    history, actual = bt.fold_split(panel, origin, cfg.holdout)
    table = model.forecast(history, cfg.holdout)

    def column(name: str) -> np.ndarray:
        return table[name].to_numpy(dtype=float).reshape(len(history), cfg.holdout)

    forecasts = {"published": column("forecast"),
                 bt.NAIVE: np.stack([seasonal_naive(h, cfg.holdout, cfg.season_length) for h in history])}
    mase_scales = np.array([mase_scale(h, cfg.season_length) for h in history])
    scores = bt.score(history, actual, forecasts, cfg.season_length, mase_scales)
    bands = {level: (column(f"lower_{level}"), column(f"upper_{level}")) for level in cfg.levels
             if f"lower_{level}" in table and table[f"lower_{level}"].notna().any()}  # levels with bounds
    for level, (lower, upper) in bands.items():
        scores["published"] |= {k: v.tolist() for k, v in interval_scores(actual, lower, upper, level,
                                                                            mase_scales).items()}
    return {"series": history.ids, "origin": origin, "actual": actual, "forecasts": forecasts, "bands": bands,
            "scores": scores}


def _figures(cfg: Config, data_month: str, panel: Panel, holdout: dict[str, Any], future: pd.DataFrame,
             curves: dict[str, list[float]], work: Path) -> list[Path]:
    """Loss curves; the holdout forecast against the actual months and the coming months' forecast (for a panel,
    the 9 largest series)."""
    from pipeline.ops import plots

    title = f"{cfg.preset}, data to {data_month}"
    shown = sorted(range(len(panel)), key=lambda i: -float(np.mean(panel.values_of(i))))[:9]
    names = [panel.ids[i] for i in shown]
    at = {sid: i for i, sid in enumerate(holdout["series"])}

    def months(first: int, values: Any) -> pd.Series:
        return pd.Series(np.asarray(values, dtype=float), index=month_starts(first, len(values)))

    history = {sid: panel.series(panel.position(sid)) for sid in names}
    start = holdout["origin"]
    fitted = {s: months(start, holdout["forecasts"]["published"][at[s]]) for s in names if s in at}
    actual = {s: months(start, holdout["actual"][at[s]]) for s in names if s in at}
    rows = {sid: group for sid, group in future.groupby("series") if sid in names}
    end = {sid: panel.end(panel.position(sid)) for sid in rows}
    ahead = {sid: months(end[sid], group["forecast"]) for sid, group in rows.items()}
    ahead_bands = {sid: {level: (months(end[sid], group[f"lower_{level}"]), months(end[sid], group[f"upper_{level}"]))
                         for level in cfg.levels if f"lower_{level}" in group} for sid, group in rows.items()}
    holdout_bands = {s: {level: (months(start, lower[at[s]]), months(start, upper[at[s]]))
                         for level, (lower, upper) in holdout["bands"].items()} for s in fitted}
    return [plots.loss_curves(curves["train_loss"], curves["val_loss"], work / "loss_curves.png", title),
            plots.panel_forecasts({s: history[s][history[s].index < actual[s].index[0]] for s in fitted}, fitted,
                                  work / "holdout_forecast.png", f"Holdout forecast vs actual: {title}",
                                  cfg.target_column, actual, holdout_bands),
            plots.panel_forecasts(history, {s: ahead[s] for s in names if s in ahead}, work / "future_forecast.png",
                                  f"Forecast after {data_month}, with its intervals: {title}", cfg.target_column,
                                  bands=ahead_bands)]


def monitor(ctx: Context) -> Context:
    """Score the current champion on the months since it was trained (every series); check the new months for
    drift, series by series."""
    import mlflow

    cfg = _config(ctx)
    panel = _panel(ctx)
    client = tracking.configure()
    name = cfg.registered_model_name
    live = None
    version = registry.alias_version(client, name, registry.CHAMPION)
    previous = tracking.previous_run(client, cfg.experiment_name, ctx["mlflow_run_id"])
    previous_month = previous.data.tags.get("data_month") if previous else None
    if version is not None:
        trained_to = client.get_run(client.get_model_version(name, version).run_id).data.tags.get("data_month")
        live = monitor_.live_performance(pyfunc.load_version(name, version), panel, trained_to, cfg.season_length)
        if live:
            live["version"] = version
    months = panel.last_month - int(panel.starts.min()) + 1  # the calendar months the data covers
    months_added = months_between(previous_month, ctx["data_month"]) if previous_month else months
    recent = months_added if previous_month else cfg.season_length  # first run: compare the last season
    found = monitor_.panel_drift(panel, max(recent, 1), cfg.season_length, cfg.drift_level_z, cfg.drift_seasonal_corr)
    result = {"live": live, "drift": found, "previous_data_month": previous_month, "months_added": months_added}
    path = write_json(Path(ctx["work_dir"]) / "monitor.json", result)
    figures = {"data_months": float(months), "months_added": float(months_added)}
    with tracking.resume(ctx["mlflow_run_id"]):
        mlflow.log_artifact(str(path), "monitoring")
        mlflow.set_tag("drift", "yes" if found["drift"] else "no")
        if found.get("checked"):
            figures |= {"drift_level_z": found["level_z"], "drift_seasonal_corr": found["seasonal_corr"]}
        if live:
            figures |= {"champion_live_mape": live["live_mape"], "champion_live_mase": live["live_mase"],
                        "champion_live_months": float(live["months"])}
        if live and live["band"]:
            figures |= {"champion_outside_band_share": live["band"]["outside_share"],
                        "champion_outside_band_p": live["band"]["p_value"]}
        mlflow.log_metrics(figures)
    gauges.send(figures)
    for finding in found["findings"]:
        logger.warning("drift: %s", finding)
    band = live["band"] if live else None
    if band and band["p_value"] < cfg.band_alert_p:
        months = "; ".join(f"{m['series']} {m['month']}: {m['value']:g} outside [{m['lower']:.4g}, {m['upper']:.4g}]"
                           for m in band["months"])
        alerts.send(f"[{cfg.experiment_name}] champion v{version}: {band['outside']} of {band['checked']} months "
                    f"outside its {band['level']} % interval",
                    f"Since {live['trained_to']} ({live['first']}..{live['last']}), {band['outside']} of "
                    f"{band['checked']} actual months ({band['outside_share']:.0%}) fell outside the champion's "
                    f"{band['level']} % prediction interval, where a calibrated interval misses "
                    f"{band['expected_share']:.0%}: that many misses has probability {band['p_value']:.2g} "
                    f"(alert under {cfg.band_alert_p:g}). The series moved away from what the model expects (run "
                    f"{ctx['run_key']}). Months: {months}.")
    if live and live["live_mape"] > cfg.live_mape_alert:
        worst = ", ".join(f"{w['series']} {w['live_mape']:.1f}%" for w in live["worst"][:3])
        alerts.send(f"[{cfg.experiment_name}] champion v{version} live MAPE {live['live_mape']:.1f}%",
                    f"The champion's mean MAPE over {live['series']} series on {live['months']} month(s) since "
                    f"{live['trained_to']} ({live['first']}..{live['last']}) is {live['live_mape']:.2f}%, over the "
                    f"{cfg.live_mape_alert:.1f}% alert threshold (run {ctx['run_key']}). Worst: {worst}.")
    return {**ctx, "monitor": str(path)}


def _champion_scores(client: Any, name: str, version: str, cfg: Config, panel: Panel,
                     candidate_backtest: dict[str, Any]) -> gate.Scores:
    """The champion re-scored on this run's data: its weights on the same holdout months, its configuration on
    the same backtest folds (refitted only when it differs from the candidate's)."""
    holdout = holdout_scores(pyfunc.load_version(name, version), panel, cfg)["scores"]["published"]
    champion_cfg = registry.version_config(client, name, version, cfg)
    if champion_cfg.model_settings() == cfg.model_settings():
        backtest_mase = candidate_backtest["mean"][bt.LSTM]["mase"]
    else:
        logger.info("champion v%s has another configuration: refitting it on the same %d folds", version, cfg.folds)
        cache = settings.state_dir() / "cache" / "folds"  # a re-run or another candidate on the same data: no refit
        backtest_mase = bt.backtest(panel, champion_cfg, cache_dir=cache)["mean"][bt.LSTM]["mase"]
    return gate.Scores(backtest_mase=backtest_mase, holdout_mase=float(np.mean(holdout["mase"])))


def register(ctx: Context, backtest_path: str, monitor_path: str | None = None) -> Context:
    """Register the candidate, alias it challenger, and move champion only if its mean MASE is better."""
    import mlflow

    cfg = _config(ctx)
    drift = bool(read_json(monitor_path)["drift"]["drift"]) if monitor_path else False
    name = cfg.registered_model_name
    summary = read_json(backtest_path)
    client = tracking.configure()
    version = registry.register_version(client, name, ctx["model_uri"], ctx["mlflow_run_id"])
    client.set_registered_model_alias(name, registry.CHALLENGER, version)
    candidate = gate.Scores(backtest_mase=summary["mean"][bt.LSTM]["mase"],
                                holdout_mase=ctx["metrics"]["holdout_mase"])
    baseline = summary["mean"][bt.NAIVE]["mase"]
    level = max(cfg.levels)
    coverage = {k: v for k, v in summary["mean"][bt.LSTM].items() if k.startswith(("coverage_", "msis_"))}
    with registry.champion_lock(name):  # one decision at a time: the champion read here is the one replaced
        champion_version = registry.alias_version(client, name, registry.CHAMPION)
        champion = None
        if champion_version is not None and champion_version != version:
            champion = _champion_scores(client, name, champion_version, cfg, _panel(ctx), summary)
        promoted, reason = gate.decide(candidate, baseline, champion, cfg.baseline_gate, drift,
                                           (level, coverage.get(f"coverage_{level}"), cfg.coverage_tolerance))
        if champion_version == version:
            promoted, reason = True, "this version is already the champion (re-run)"
        if promoted and champion_version != version:
            refused = registry.move_champion(client, name, champion_version, version)
            if refused:
                promoted, reason = False, refused
    decision = gate.Decision(model_name=name, candidate_version=version, candidate=candidate,
                                 baseline_backtest_mase=baseline, champion_version=champion_version,
                                 champion=champion, promoted=promoted, reason=reason, decided_at=registry.now_iso(),
                                 coverage=coverage or None)
    for key, value in decision.as_tags().items():
        client.set_model_version_tag(name, version, key, value)
    path = write_json(Path(ctx["work_dir"]) / "decision.json", asdict(decision))
    with tracking.resume(ctx["mlflow_run_id"]):
        mlflow.log_artifact(str(path))
        mlflow.set_tags({"decision": "promoted" if promoted else "rejected", "model_version": version})
    logger.info("%s v%s: %s (%s)", name, version, "PROMOTED to champion" if promoted else "not promoted", reason)
    return {**ctx, "model_version": version, "promoted": promoted, "decision": str(path),
            "backtest": backtest_path, "monitor": monitor_path}


def publish(ctx: Context) -> Context:
    """The champion's forecast of every series after the decision (the candidate's when it was promoted): a table
    of series, month, forecast, the model used and the model version, in the state folder and in MLflow."""
    import mlflow

    cfg = _config(ctx)
    client = tracking.configure()
    version = registry.alias_version(client, cfg.registered_model_name, registry.CHAMPION)
    if version is None:
        logger.warning("no champion: nothing published")
        return {**ctx, "published": None}
    if version == ctx["model_version"]:
        table = pd.read_csv(ctx["candidate_forecast"])
    else:
        table = pyfunc.load_version(cfg.registered_model_name, version).forecast(_panel(ctx), cfg.horizon)
    table["model_version"] = version
    text = table.to_csv(index=False, float_format="%.3f")
    path = write_text(Path(ctx["work_dir"]) / "forecast.csv", text)
    folder = settings.state_dir() / "forecasts" / cfg.experiment_name
    write_text(folder / f"{ctx['data_month']}.csv", text)
    write_text(folder / "latest.csv", text)
    with tracking.resume(ctx["mlflow_run_id"]):
        mlflow.log_artifact(str(path), "forecast")
        mlflow.log_table(table, "forecast/forecast.json")
        mlflow.set_tag("published_version", version)
    logger.info("published v%s's forecast of %d series (%d fall back to seasonal naive) to %s", version,
                table["series"].nunique(), table.loc[table["model"] != bt.LSTM, "series"].nunique(), folder)
    return {**ctx, "published": str(path), "published_version": version}


def summarize_run(ctx: Context) -> str:
    """The run summary (markdown and JSON): logged to MLflow, set as the run description, printed to the log."""
    import mlflow

    cfg = _config(ctx)
    monitored = read_json(ctx["monitor"]) if ctx.get("monitor") else {"live": None, "drift": {"findings": []}}
    report = read_json(ctx["validation_report"])
    backtest = read_json(ctx["backtest"]) if ctx.get("backtest") else None
    per_series = pd.read_csv(Path(ctx["backtest"]).with_name("per_series.csv")) if backtest else None
    worst = ([] if per_series is None else
             per_series.sort_values(f"{bt.LSTM}.mase", ascending=False).head(WORST_LISTED)[
                 ["series", "title", f"{bt.LSTM}.mase", f"{bt.NAIVE}.mase", "fallback"]].to_dict(orient="records"))
    summary = {
        "dag_id": ctx.get("dag_id", "lstm_monthly_retraining"), "run_key": ctx["run_key"],
        "data_month": ctx["data_month"], "data_rows": report["rows"],
        "months_added": monitored.get("months_added", report["rows"]),
        "previous_data_month": monitored.get("previous_data_month"),
        "validation": {"status": report["status"], "fixes": report["fixes"], "warnings": report["warnings"]},
        "series": {**report["series"], "fallback": len(backtest["fallback"]) if backtest else 0},
        "quarantine": report["quarantine"][:WORST_LISTED], "worst": worst,
        "metrics": ctx["metrics"], "backtest": backtest["mean"] if backtest else None,
        "median_mase": backtest["median_mase"] if backtest else None,
        "shares": {k: v for k, v in (backtest or {}).items() if k.startswith("share_beats_")},
        "fits": (backtest or {}).get("fits"), "warm_start": cfg.warm_start,
        "live": monitored.get("live"), "drift": monitored["drift"], "decision": read_json(ctx["decision"]),
        "published_version": ctx.get("published_version"), "preset": cfg.preset, "mlflow_run_id": ctx["mlflow_run_id"],
    }
    text = monitor_.summary_markdown(summary)
    work = Path(ctx["work_dir"])
    md, js = write_text(work / "summary.md", text), write_json(work / "summary.json", summary)
    with tracking.resume(ctx["mlflow_run_id"]):
        mlflow.log_artifact(str(md))
        mlflow.log_artifact(str(js))
        mlflow.set_tag("mlflow.note.content", text)
    gauges.send({"train_seconds": read_json(ctx["history"])["seconds"],
                 "holdout_mase": ctx["metrics"]["holdout_mase"], "holdout_mape": ctx["metrics"]["holdout_mape"],
                 "backtest_mase": summary["decision"]["candidate"]["backtest_mase"],
                 "promoted": float(summary["decision"]["promoted"]),
                 "series_quarantined": float(report["series"]["quarantined"]),
                 "series_fallback": float(summary["series"]["fallback"])})
    logger.info("run summary\n%s", text)
    return str(md)


def run_all(run_key: str, as_of: str | None = None, overrides: Mapping[str, Any] | None = None,
            config_path: str | None = None, tags: Mapping[str, str] | None = None) -> Context:
    """Run every step in order, in this process (the command-line equivalent of one DAG run)."""
    ctx = validate(ingest(run_key, as_of, overrides, config_path, tags))
    monitored = monitor(ctx)["monitor"]
    fits = [fit(ctx, job) for job in plan(ctx)]
    backtest_path = backtest_summary(ctx, fits)
    ctx = evaluate(ctx, fits, backtest_path)
    ctx = publish(register(ctx, backtest_path, monitored))
    return {**ctx, "summary": summarize_run(ctx)}
