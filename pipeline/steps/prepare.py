"""The first steps of a run: resolve the settings and snapshot the data (ingest), check it series by series
(validate), and list the fits to run (plan)."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from typing import Any

import pandas as pd

from pipeline import settings
from pipeline.config import Config, load_config
from pipeline.data import ingest as ig
from pipeline.data import validate as vd
from pipeline.data.panel import Panel, shard_bounds, shards
from pipeline.errors import ConfigError
from pipeline.io import read_json, write_json, write_text
from pipeline.months import as_of_month, current_month, month_text
from pipeline.ops import tracking
from pipeline.overrides import trigger_overrides, tuned_overrides
from pipeline.scoring import backtest as bt
from pipeline.steps.context import RunContext
from pipeline.steps.jobs import FitJob, shard_groups
from pipeline.workspace import RunPaths

logger = logging.getLogger(__name__)

QUARANTINE_COLUMNS = ["series", "title", "reason", "row", "column", "problems"]


def ingest(run_key: str, as_of: str | None = None, overrides: Mapping[str, Any] | None = None,
           config_path: str | None = None, tags: Mapping[str, str] | None = None,
           trigger: Mapping[str, Any] | None = None, experiment: str | None = None) -> RunContext:
    """Resolve the config, snapshot the as-of rows and open (or reuse) the month's MLflow run.

    ``overrides`` are the operator's (CLI flags); ``trigger`` is a DAG run's conf, limited to the settings a
    trigger may set (:data:`pipeline.config.TRIGGER_KEYS`; a DAG with fewer params checks its own first). Both are
    checked before anything is read or opened.
    ``config_path`` defaults to ``$PIPELINE_CONFIG`` (a deployment-wide YAML file), if set. ``tags`` join the MLflow
    run's (``airflow.dag_id`` names the DAG in the run summary); ``experiment`` is the MLflow experiment (default: the
    configured one). With ``tuned_config: latest`` the model settings of the registered tuned configuration come
    over the preset and config file (a flag or trigger still wins).
    """
    settings.check_run_key(run_key)
    requested = {**(overrides or {}), **trigger_overrides(trigger)}
    logger.info("settings asked for: %s", requested or "none (the configured values)")
    config_path = config_path or os.environ.get("PIPELINE_CONFIG") or None
    cfg = load_config(config_path, requested)
    as_of_month(as_of)  # a bad date fails before anything is read
    tuned_tag = ""
    if cfg.tuned_config:
        cfg, tuned_tag = _tuned(cfg, config_path, requested)
    paths = RunPaths.of(run_key)
    cfg, tuned_tag = _started_with(paths, cfg, tuned_tag)
    csv_path = settings.resolve_data_path(cfg.csv_path, cfg.data_dir, cfg.allow_any_csv_path)
    snap = ig.ingest(csv_path, paths.snapshot, cfg, as_of)
    data_month = snap.last_month or month_text((as_of_month(as_of) or current_month()) - 1)
    client = tracking.configure()
    run_tags = {"data_month": data_month, "data_sha256": snap.sha256, "data_rows": str(snap.rows),
                "preset": cfg.preset, "as_of": str(as_of), "kind": "monthly",
                **({"tuned_config": tuned_tag} if tuned_tag else {}), **(tags or {})}
    run_id = tracking.open_run(client, experiment or cfg.experiment_name, run_key, data_month, run_tags)
    with tracking.resume(run_id):
        tracking.log_params(cfg.to_dict())
    write_json(paths.settings, {"config": cfg.to_dict(), "tuned": tuned_tag})  # the same, once it was kept
    return RunContext(run_key=run_key, work_dir=str(paths.root), config=cfg.to_dict(), mlflow_run_id=run_id,
                      data_month=data_month, source=str(csv_path), data_sha256=snap.sha256,
                      dag_id=(tags or {}).get("airflow.dag_id", ""), tuned=tuned_tag)


def _started_with(paths: RunPaths, cfg: Config, tuned_tag: str) -> tuple[Config, str]:
    """The configuration a run started with, once its ingest has completed (a cleared or retried ingest of the same
    run reads it back), so that one run never mixes two configurations: a deployment config edited while a run is
    in flight counts from the next run. Before that, ``cfg`` (a fixed config file applies to the retry)."""
    if not paths.settings.exists():
        return cfg, tuned_tag
    kept = read_json(paths.settings)
    now = json.loads(json.dumps(cfg.to_dict(), default=str))
    if changed := sorted(k for k, v in now.items() if kept["config"].get(k) != v):
        logger.warning("the configuration changed since this run started (%s): the run keeps the one it started "
                       "with; the change applies from the next run", ", ".join(changed))
    return Config(**kept["config"]), kept["tuned"]


def _tuned(cfg: Config, config_path: str | None, requested: Mapping[str, Any]) -> tuple[Config, str]:
    """The configuration with the latest tuned model settings (alias ``tuned``) and the tag that says which."""
    from pipeline.ops import registry

    found = registry.tuned_settings(tracking.configure(), cfg.registered_model_name)
    if found is None:
        logger.warning("tuned_config: latest, but %s has no tuned version yet: the configured values are used",
                       registry.tuned_name(cfg.registered_model_name))
        return cfg, "none registered yet: the configured values"
    version, tuned = found
    origin = f"{registry.tuned_name(cfg.registered_model_name)} v{version}"
    if tuned.get("preset") != cfg.preset:
        raise ConfigError(f"tuned_config: latest: {origin} was tuned for preset {tuned.get('preset')!r}, this run "
                          f"uses {cfg.preset!r}; run the lstm_tuning DAG for it, or set tuned_config to ''")
    params = {k: v for k, v in tuned_overrides(tuned.get("params") or {}, origin).items() if k not in requested}
    logger.info("tuned_config: latest: v%s (trial %s of %s): %s", version, tuned["trial"], tuned["run_key"], params)
    tag = (f"v{version} (trial {tuned['trial']} of {tuned['run_key']}): "
           + ", ".join(f"{k}={v}" for k, v in params.items()))
    return load_config(config_path, {**params, **requested}), tag


def validate(ctx: RunContext | Mapping[str, Any]) -> RunContext:
    """Validate the snapshot series by series; write the report, the quarantine list, the profile and the clean
    panel. Raises on a file-level problem or when too many series are quarantined; returns the context."""
    import mlflow

    ctx = RunContext.of(ctx)
    cfg, paths = ctx.cfg, ctx.paths
    panel, report = vd.validate(ig.read_snapshot(paths.snapshot), cfg)
    write_json(paths.validation_report, report)
    quarantine = pd.DataFrame(report["quarantine"], columns=QUARANTINE_COLUMNS)
    write_text(paths.quarantine, quarantine.to_csv(index=False))
    with tracking.resume(ctx.mlflow_run_id):
        mlflow.log_artifact(str(paths.validation_report), "validation")
        mlflow.log_artifact(str(paths.quarantine), "validation")
        mlflow.set_tag("validation", report["status"])
        domain = report["value_domain"]
        mlflow.set_tag("value_domain", f"{domain['domain']} ({domain['setting']})")
        mlflow.log_metrics({f"series_{k}": float(v) for k, v in report["series"].items()}
                           | {f"series_{k}": float(v) for k, v in domain["series"].items()}
                           | {"series_flat": float(report["flat"]["series"]),
                              "data_anomalies": float(len(report["anomalies"]))})
        if len(quarantine):
            tracking.log_result_table(quarantine, "validation/quarantine.json")
        if report["status"] == "failed":
            vd.raise_for_report(report)
        write_json(paths.profile, report["profile"])
        mlflow.log_artifact(str(paths.profile), "validation")
        tracking.log_dataset(panel.to_frame(), ctx.source, f"{os.path.basename(ctx.source)}@{ctx.data_month}",
                             ctx.data_sha256)
    panel.save(paths.panel)
    return ctx


def plan(ctx: RunContext | Mapping[str, Any]) -> list[FitJob]:
    """Assign the series to shards (stable hash, at most ``shard_size`` each) and list the fits to run: each
    shard's network at each training origin (the backtest origins and the final model's, which is the last fold's
    when ``holdout`` equals ``horizon``). One mapped task a shard and origin; when that would pass Airflow's
    ``max_map_length`` (``max_mapped_tasks``), each task fits a group of consecutive shards at one origin. The same
    groups are the parts evaluated after the backtest, one task each (``shards.json``)."""
    ctx = RunContext.of(ctx)
    cfg = ctx.cfg
    panel = Panel.load(ctx.paths.panel)
    parts = shards(panel.ids, cfg.shard_size)
    by_origin: dict[bt.Origin, dict[str, Any]] = {}
    for fold, origin in enumerate(bt.origins(panel, cfg)):
        by_origin.setdefault(origin, {"folds": [], "final": False})["folds"].append(fold)
    by_origin.setdefault(bt.final_origin(panel, cfg), {"folds": [], "final": False})["final"] = True
    groups = shard_groups(len(parts), len(by_origin), cfg.max_mapped_tasks)
    jobs = [FitJob(shards=tuple(group), origin=origin.key, train_end=origin.train_end, folds=tuple(spec["folds"]),
                   final=spec["final"])
            for group in groups for origin, spec in sorted(by_origin.items(), key=lambda item: item[0].order)]
    write_json(ctx.paths.shards, {"shards": [[panel.ids[i] for i in part] for part in parts],
                                  "bounds": shard_bounds(panel.ids, parts), "parts": [list(g) for g in groups]})
    logger.info("%d series in %d shard(s); %d fit(s) in %d task(s); %d part(s)", len(panel), len(parts),
                len(parts) * len(by_origin), len(jobs), len(groups))
    return jobs
