"""The end of a run: the champion's forecast published (publish) and the run summary (summarize)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import pandas as pd

from pipeline import settings
from pipeline.data.panel import Panel
from pipeline.errors import ChampionMovedError, ConfigError
from pipeline.io import read_json, write_json, write_parquet, write_text
from pipeline.model.candidates import fallbacks
from pipeline.ops import forecast_table, gauges, pyfunc, registry, tracking
from pipeline.ops import monitor as checks
from pipeline.scoring import backtest as bt
from pipeline.steps.context import RunContext
from pipeline.steps.jobs import Part
from pipeline.workspace import published_forecasts

logger = logging.getLogger(__name__)

WORST_LISTED = 10


def publisher(ctx: RunContext) -> str | None:
    """The version whose forecast the run publishes: the champion; this run's candidate when the champion was trained
    on newer data than the run's (a past month re-run: its forecast never comes from a model that saw the months it
    forecasts); None when there is no champion."""
    client = tracking.configure()
    name = ctx.cfg.registered_model_name
    version = registry.alias_version(client, name, registry.CHAMPION)
    candidate = str(read_json(ctx.paths.decision)["candidate_version"])
    if version is None or version == candidate:
        return version
    trained_to = registry.newer_than(client, name, version, ctx.data_month)
    if trained_to is not None:
        logger.info("champion v%s is trained on data to %s, after this run's %s: the run publishes its own v%s",
                    version, trained_to, ctx.data_month, candidate)
        return candidate
    return version


def publish_part(ctx: RunContext | Mapping[str, Any], part: Part | Mapping[str, Any]) -> list[str]:
    """The champion's forecast of one part's series, when the run publishes the champion's and it is not this run's
    candidate (whose forecast evaluate made already; :func:`publisher`). Returns the table's file (none when there is
    nothing to forecast)."""
    ctx, part = RunContext.of(ctx), Part.of(part)
    cfg, paths = ctx.cfg, ctx.paths
    version = publisher(ctx)
    if version is None or version == read_json(paths.decision)["candidate_version"]:
        return []
    panel = Panel.load(paths.panel)
    mine = part.positions(panel, read_json(paths.shards)["shards"])
    try:
        table = pyfunc.load_version(cfg.registered_model_name, version).forecast(panel.subset(mine), cfg.horizon)
    except ConfigError as exc:  # values outside the domain the champion was trained on
        raise ConfigError(f"champion v{version} cannot forecast this month's data ({exc}); nothing published: "
                          "the previous forecast stays") from exc
    return [str(write_parquet(paths.publish_part(part.key), table.assign(model_version=version)))]


def publish(ctx: RunContext | Mapping[str, Any],
            part_paths: list[str] | None = None) -> forecast_table.Publication | None:
    """The champion's forecast of every series after the decision (the candidate's when it was promoted, or when
    the champion was trained on newer data: :func:`publisher`; else its parts' put together, :func:`publish_part`;
    ``None``: every part forecast here): a table of series, month,
    forecast, intervals, the model used and the model version, in the state folder, the forecast database's table
    (:mod:`pipeline.ops.forecast_table`) and MLflow. Returns what was published (the DAG's forecast Asset event
    carries it), or None when there is no champion."""
    import mlflow

    ctx = RunContext.of(ctx)
    cfg, paths = ctx.cfg, ctx.paths
    version = publisher(ctx)
    if version is None:
        logger.warning("no champion: nothing published")
        return None
    if version == read_json(paths.decision)["candidate_version"]:
        table = pd.read_csv(paths.candidate_forecast).assign(model_version=version)
    else:
        if part_paths is None:
            part_paths = [path for part in read_json(paths.shards)["parts"]
                          for path in publish_part(ctx, Part(shards=tuple(part)))]
        table = pd.concat([pd.read_parquet(path) for path in part_paths], ignore_index=True)
        if set(table["model_version"].astype(str)) != {version}:  # the alias moved since the parts forecast
            raise ChampionMovedError(f"the champion is v{version} now, its parts forecast v"
                                     f"{', v'.join(sorted(set(table['model_version'].astype(str)) - {version}))}: "
                                     "clear publish_part and publish (or re-run the month)")
        panel = Panel.load(paths.panel)
        table = panel.in_order(table)
    url = settings.forecast_db_url()  # first: when the database refuses the month, the files still agree with it
    publication = forecast_table.publish(url, table, forecast_table.Publication(
        cfg.experiment_name, ctx.data_month, version, ctx.mlflow_run_id, ctx.run_key))
    text = table.to_csv(index=False, float_format="%.3f")
    write_text(paths.forecast, text)
    folder = published_forecasts(cfg.experiment_name)
    write_text(folder / f"{ctx.data_month}.csv", text)
    newest = forecast_table.latest(url, cfg.experiment_name)
    if newest is None or newest.data_month == ctx.data_month:  # a past month re-run leaves the newest one's
        write_text(folder / "latest.csv", text)
    served = published_models(table)
    with tracking.resume(ctx.mlflow_run_id):
        mlflow.log_artifact(str(paths.forecast), "forecast")
        tracking.log_result_table(table, "forecast/forecast.json")
        mlflow.set_tags({"published_version": version, "forecast_table": f"{forecast_table.shown(url)} "
                                                                          f"({forecast_table.TABLE})"})
        mlflow.log_metrics({f"published_series_{model}": float(count) for model, count in served.items()})
    logger.info("published v%s's forecast of %d series (%s) to %s", version, table["series"].nunique(),
                ", ".join(f"{count} by {model}" for model, count in served.items()), folder)
    return publication


def published_models(table: pd.DataFrame) -> dict[str, int]:
    """How many series each model forecasts in a published table (``lstm`` first)."""
    counts = table.groupby("series")["model"].first().value_counts()
    return {str(model): int(counts[model]) for model in sorted(counts.index, key=lambda m: (m != bt.LSTM, m))}


def run_summary(ctx: RunContext) -> dict[str, Any]:
    """What the run did, from the files of its steps: data, validation, backtest, holdout, live performance,
    drift, the decision and what was published."""
    cfg, paths = ctx.cfg, ctx.paths
    monitored = read_json(paths.monitor) if paths.monitor.exists() else {"live": None, "drift": {"findings": []}}
    report = read_json(paths.validation_report)
    backtest = read_json(paths.backtest_summary)
    per_series = pd.read_csv(paths.per_series)
    worst = per_series.sort_values(f"{bt.LSTM}.mase", ascending=False).head(WORST_LISTED)[
        ["series", "title", f"{bt.LSTM}.mase", f"{bt.NAIVE}.mase", "model"]].to_dict(orient="records")
    published = pd.read_csv(paths.forecast, usecols=["series", "model", "model_version"]) \
        if paths.forecast.exists() else None
    experiment = tracking.configure().get_run(ctx.mlflow_run_id).info.experiment_id
    return {
        "dag_id": ctx.dag_id or "pipeline run", "run_key": ctx.run_key,
        "data_month": ctx.data_month, "data_rows": report["rows"],
        "months_added": monitored.get("months_added", report["rows"]),
        "previous_data_month": monitored.get("previous_data_month"),
        "validation": {"status": report["status"], "fixes": report["fixes"], "warnings": report["warnings"]},
        "series": {**report["series"], "fallback": fallbacks(backtest["served"])},
        "served": backtest["served"],
        "quarantine": report["quarantine"][:WORST_LISTED], "worst": worst,
        "inactive": report["inactive"][:WORST_LISTED], "short": report["short"][:WORST_LISTED],
        "value_domain": report["value_domain"], "anomalies": report["anomalies"][:WORST_LISTED],
        "flat": report["flat"], "alignment": ctx.cfg.fold_alignment,
        "metrics": read_json(paths.metrics), "backtest": backtest["mean"], "median_mase": backtest["median_mase"],
        "shares": {k: v for k, v in backtest.items() if k.startswith("share_beats_")},
        "fits": backtest.get("fits"), "warm_start": cfg.warm_start,
        "live": monitored.get("live"), "drift": monitored["drift"], "decision": read_json(paths.decision),
        "published_version": str(published["model_version"].iloc[0]) if published is not None else None,
        "published_models": published_models(published) if published is not None else {},
        "preset": cfg.preset, "tuned": ctx.tuned, "mlflow_run_id": ctx.mlflow_run_id,
        "mlflow_links": {"run": tracking.ui_link(experiment, ctx.mlflow_run_id), "runs": tracking.ui_link(experiment)},
    }


def summarize(ctx: RunContext | Mapping[str, Any]) -> str:
    """The run summary (markdown and JSON): logged to MLflow, set as the run description, printed to the log.
    Returns the markdown file."""
    import mlflow

    ctx = RunContext.of(ctx)
    paths = ctx.paths
    summary = run_summary(ctx)
    text = checks.summary_markdown(summary)
    write_text(paths.summary_markdown, text)
    write_json(paths.summary_json, summary)
    with tracking.resume(ctx.mlflow_run_id):
        mlflow.log_artifact(str(paths.summary_markdown))
        mlflow.log_artifact(str(paths.summary_json))
        mlflow.set_tag("mlflow.note.content", text)
    gauges.send({"train_seconds": read_json(paths.history)["seconds"],
                 "holdout_mase": summary["metrics"]["holdout_mase"], "holdout_mape": summary["metrics"]["holdout_mape"],
                 "backtest_mase": summary["decision"]["candidate"]["backtest_mase"],
                 "promoted": float(summary["decision"]["promoted"]),
                 "series_quarantined": float(summary["series"]["quarantined"]),
                 "series_fallback": float(summary["series"]["fallback"])})
    logger.info("run summary\n%s", text)
    return str(paths.summary_markdown)
