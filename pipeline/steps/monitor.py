"""Monitor (beside the training): the current champion scored on the months since it was trained, and drift."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.data.panel import Panel
from pipeline.io import read_json, write_json, write_parquet
from pipeline.months import months_between
from pipeline.ops import alerts, gauges, pyfunc, registry, tracking
from pipeline.ops import monitor as checks
from pipeline.steps.context import RunContext
from pipeline.steps.jobs import Part, one_champion

logger = logging.getLogger(__name__)


def monitor_part(ctx: RunContext | Mapping[str, Any], part: Part | Mapping[str, Any]) -> list[str]:
    """One part's share of the monitoring: the current champion's scores on the months since it was trained, and
    drift, of each series of the part. Returns its file."""
    ctx, part = RunContext.of(ctx), Part.of(part)
    panel = Panel.load(ctx.paths.panel)
    mine = part.positions(panel, read_json(ctx.paths.shards)["shards"])
    return [str(_monitor_rows(ctx, panel, mine, part.key))]


def monitor(ctx: RunContext | Mapping[str, Any], part_paths: list[str] | None = None) -> str:
    """Score the current champion on the months since it was trained (every series) and check the new months for
    drift, series by series (the parts' :func:`monitor_part` put together; ``None``: the whole panel here, as
    one part); alert when the champion has gone wrong. Returns the monitor file."""
    import mlflow

    ctx = RunContext.of(ctx)
    cfg = ctx.cfg
    panel = Panel.load(ctx.paths.panel)
    if part_paths is None:
        part_paths = [str(_monitor_rows(ctx, panel, range(len(panel)), "all"))]
    parts = [read_json(path) for path in part_paths]
    one_champion((p["version"] for p in parts), "monitored")
    first = parts[0]
    live = None
    if first["trained_to"] is not None:
        live = checks.live_summary([{"scores": pd.read_parquet(p["scores"]), "band": p["band"]} for p in parts],
                                   panel.last_month, first["trained_to"])
        if live:
            live["version"] = first["version"]
    found = checks.drift_summary([p["drift"] for p in parts], first["recent"])
    path = write_json(ctx.paths.monitor, {"live": live, "drift": found, "previous_data_month": first["previous"],
                                          "months_added": first["months_added"]})
    figures = {"data_months": float(first["months"]), "months_added": float(first["months_added"])} \
        | checks.figures(found, live)
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


def _monitor_rows(ctx: RunContext, panel: Panel, positions: Sequence[int], key: str) -> Path:
    """The champion's live scores and the drift checks of the series at ``positions``, in one file (with the
    champion, its data month, and the months since the last run, the same in every part)."""
    cfg = ctx.cfg
    client = tracking.configure()
    name = cfg.registered_model_name
    version = registry.alias_version(client, name, registry.CHAMPION)
    previous = tracking.previous_run(client, cfg.experiment_name, ctx.mlflow_run_id)
    previous_month = previous.data.tags.get("data_month") if previous else None
    series = panel.subset(positions)
    trained_to = registry.version_data_month(client, name, version) if version is not None else None
    scores = None
    band = None
    if version is not None and trained_to is not None:  # a champion and the data month it was trained to
        rows = checks.live_rows(pyfunc.load_version(name, version), series, positions, panel.last_month, trained_to,
                                cfg.season_length)
        scores, band = str(write_parquet(ctx.paths.monitor_part(key).with_suffix(".parquet"), rows["scores"])), \
            rows["band"]
    months = panel.last_month - int(panel.starts.min()) + 1  # the calendar months the data covers
    months_added = months_between(previous_month, ctx.data_month) if previous_month else months
    recent = max(months_added if previous_month else cfg.season_length, 1)  # first run: compare the last season
    drift = checks.drift_rows(series, positions, recent, cfg.season_length, cfg.drift_level_z,
                              cfg.drift_seasonal_corr, cfg.value_domain)
    return write_json(ctx.paths.monitor_part(key), {
        "version": version, "trained_to": trained_to, "previous": previous_month, "months": months,
        "months_added": months_added, "recent": recent, "scores": scores, "band": band, "drift": drift})
