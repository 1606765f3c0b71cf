"""Monitor (beside the training): the current champion scored on the months since it was trained, and drift."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from pipeline.data.panel import Panel
from pipeline.io import write_json
from pipeline.months import months_between
from pipeline.ops import alerts, gauges, pyfunc, registry, tracking
from pipeline.ops import monitor as checks
from pipeline.steps.context import RunContext

logger = logging.getLogger(__name__)


def monitor(ctx: RunContext | Mapping[str, Any]) -> str:
    """Score the current champion on the months since it was trained (every series); check the new months for
    drift, series by series; alert when the champion has gone wrong. Returns the monitor file."""
    import mlflow

    ctx = RunContext.of(ctx)
    cfg = ctx.cfg
    panel = Panel.load(ctx.paths.panel)
    client = tracking.configure()
    name = cfg.registered_model_name
    version = registry.alias_version(client, name, registry.CHAMPION)
    previous = tracking.previous_run(client, cfg.experiment_name, ctx.mlflow_run_id)
    previous_month = previous.data.tags.get("data_month") if previous else None

    live = None
    trained_to = registry.version_data_month(client, name, version) if version is not None else None
    if version is not None and trained_to is not None:  # a champion and the data month it was trained to
        live = checks.live_performance(pyfunc.load_version(name, version), panel, trained_to, cfg.season_length)
        if live:
            live["version"] = version
    months = panel.last_month - int(panel.starts.min()) + 1  # the calendar months the data covers
    months_added = months_between(previous_month, ctx.data_month) if previous_month else months
    recent = months_added if previous_month else cfg.season_length  # first run: compare the last season
    found = checks.panel_drift(panel, max(recent, 1), cfg.season_length, cfg.drift_level_z, cfg.drift_seasonal_corr,
                               cfg.value_domain)

    path = write_json(ctx.paths.monitor, {"live": live, "drift": found, "previous_data_month": previous_month,
                                          "months_added": months_added})
    figures = {"data_months": float(months), "months_added": float(months_added)} | checks.figures(found, live)
    with tracking.resume(ctx.mlflow_run_id):
        mlflow.log_artifact(str(path), "monitoring")
        mlflow.set_tag("drift", "yes" if found["drift"] else "no")
        mlflow.log_metrics(figures)
    gauges.send(figures)
    for finding in found["findings"]:
        logger.warning("drift: %s", finding)
    for subject, text in alerts.champion_alerts(live, cfg, ctx.run_key):
        alerts.send(subject, text)
    return str(path)
