"""The steps of a tuning run (the ``lstm_tuning`` DAG), after the same ``ingest`` and ``validate`` as a monthly run:

    tune_plan -> tune_trial (mapped: one task per trial) -> tune_select

Trials learn and are scored on the months before the ones the monthly run scores (:func:`tuning.tuning_panel`);
trial 0 is the configuration in use, and the best trial replaces it (alias ``tuned``) only when it beats it.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from typing import Any

import pandas as pd

from pipeline import settings
from pipeline.data.panel import Panel
from pipeline.errors import ConfigError
from pipeline.io import read_json, write_json
from pipeline.months import month_text
from pipeline.ops import registry, tracking
from pipeline.scoring import tuning
from pipeline.steps import prepare
from pipeline.steps.context import RunContext

logger = logging.getLogger(__name__)

TUNING_SUFFIX = "-tuning"  # tuning runs live in their own experiment, beside the monthly runs'


def experiment(name: str) -> str:
    """The MLflow experiment of the tuning runs of monthly experiment ``name``."""
    return f"{name}{TUNING_SUFFIX}"


def ingest(run_key: str, as_of: str | None = None, tags: Mapping[str, str] | None = None,
           trigger: Mapping[str, Any] | None = None) -> RunContext:
    """The monthly run's ``ingest``, opening the run in the tuning experiment (tag ``kind: tuning``)."""
    from pipeline.config import TUNING_TRIGGER_KEYS, load_config
    from pipeline.overrides import trigger_overrides

    trigger_overrides(trigger, TUNING_TRIGGER_KEYS)  # this DAG's params only, before anything is read
    name = load_config(os.environ.get("PIPELINE_CONFIG") or None).experiment_name  # the operator's, not a trigger's
    return prepare.ingest(run_key, as_of, tags={**(tags or {}), "kind": "tuning"}, trigger=trigger,
                          experiment=experiment(name))


def tune_plan(ctx: RunContext | Mapping[str, Any]) -> list[dict[str, Any]]:
    """Draw the trials (the configuration in use first) and fix the run's deadline; returns one job per trial."""
    import mlflow

    ctx = RunContext.of(ctx)
    cfg, paths = ctx.cfg, ctx.paths
    panel = tuning.tuning_panel(Panel.load(paths.panel), cfg)
    if not len(panel):
        raise ConfigError("no months are left for tuning before the ones the monthly run scores: use fewer "
                                 "folds or a shorter horizon")
    if not paths.tuning_plan.exists():  # a retried task keeps the deadline it set
        write_json(paths.tuning_plan, {"jobs": tuning.ask(cfg, cfg.tune_trials),
                                       "deadline": time.time() + cfg.tune_minutes * 60,
                                       "tuning_months_end": month_text(int(panel.ends.max()) - 1)})
    plan = read_json(paths.tuning_plan)
    with tracking.resume(ctx.mlflow_run_id):
        mlflow.log_dict({dim.name: dim.choices or [dim.low, dim.high] for dim in tuning.search_space(cfg)},
                        "tuning/search_space.json")
        mlflow.set_tag("tuning_months_end", plan["tuning_months_end"])
    logger.info("%d trials over the months to %s (the monthly run scores the later ones)", len(plan["jobs"]),
                plan["tuning_months_end"])
    return plan["jobs"]


def tune_trial(ctx: RunContext | Mapping[str, Any], job: Mapping[str, Any]) -> str:
    """Backtest one trial's settings on the tuning months (skipped when the run's deadline has passed, but for the
    configuration in use); one nested MLflow run with its params and scores. Returns its result file."""
    import mlflow

    ctx = RunContext.of(ctx)
    cfg, paths = ctx.cfg, ctx.paths
    number, plan = int(job["trial"]), read_json(paths.tuning_plan)
    if number != tuning.INCUMBENT and time.time() > plan["deadline"]:
        result: dict[str, Any] = {"params": dict(job["params"]), "mase": None,
                                  "error": f"not started: the run's {cfg.tune_minutes:g} minutes were over"}
    else:
        panel = tuning.tuning_panel(Panel.load(paths.panel), cfg)
        result = tuning.score_trial(panel, cfg, job["params"], cache_dir=settings.state_dir() / "cache" / "folds")
    result = {"trial": number, **result}
    client = tracking.configure()
    child = tracking.open_run(client, experiment(cfg.experiment_name), f"{ctx.run_key}/trial-{number}",
                              f"trial {number}" + (" (configuration in use)" if number == tuning.INCUMBENT else ""),
                              {"mlflow.parentRunId": ctx.mlflow_run_id, "kind": "tuning-trial", "trial": str(number)})
    with tracking.resume(child):
        tracking.log_params(job["params"])
        mlflow.log_metrics({key: float(result[key]) for key in ("mase", "mase_median", "smape", "seasonal_naive_mase",
                                                                 "seconds") if result.get(key) is not None})
        if result.get("error"):
            mlflow.set_tag("error", result["error"][:500])
    logger.info("trial %d: %s -> mean MASE %s", number, job["params"], result["mase"])
    return str(write_json(paths.trial(number), result))


def tune_select(ctx: RunContext | Mapping[str, Any], trial_paths: list[str]) -> str:
    """Choose the best trial, log it as the run's ``tuned/config.json`` and register it (a version of
    ``<registered_model_name>_tuned``); alias ``tuned`` moves to it only when it beat the configuration in use."""
    import mlflow

    ctx = RunContext.of(ctx)
    cfg, paths = ctx.cfg, ctx.paths
    results = sorted((read_json(path) for path in trial_paths), key=lambda r: r["trial"])
    winner = tuning.best(results)
    incumbent: dict[str, Any] = next((r for r in results if r["trial"] == tuning.INCUMBENT), {})
    improved = winner["trial"] != tuning.INCUMBENT
    chosen = {"preset": cfg.preset, "params": winner["params"], "trial": winner["trial"], "mase": winner["mase"],
              "incumbent_mase": incumbent.get("mase"), "trials": len(results),
              "scored": sum(r.get("mase") is not None for r in results), "data_month": ctx.data_month,
              "tuning_months_end": read_json(paths.tuning_plan)["tuning_months_end"], "run_key": ctx.run_key}
    write_json(paths.tuned, chosen)
    with tracking.resume(ctx.mlflow_run_id):
        mlflow.log_artifact(str(paths.tuned), "tuned")
        mlflow.log_table(pd.DataFrame([{"trial": r["trial"], **r["params"], "mase": r.get("mase"),
                                        "error": r.get("error", "")} for r in results]), "tuning/trials.json")
        mlflow.log_metrics({"tuned_mase": float(winner["mase"]), "trials_scored": float(chosen["scored"])}
                           | ({"incumbent_mase": float(incumbent["mase"])} if incumbent.get("mase") else {}))
    version, before = registry.register_tuned(tracking.configure(), cfg.registered_model_name, ctx.mlflow_run_id,
                                              improved)
    chosen |= {"version": version, "alias_before": before, "moved": improved}
    text = tuning_summary(chosen, results)
    with tracking.resume(ctx.mlflow_run_id):
        mlflow.set_tag("mlflow.note.content", text)
        mlflow.set_tag("tuned", f"v{version}" if improved else f"v{version} not better: alias stays on v{before}")
    logger.info("tuning summary\n%s", text)
    return str(write_json(paths.tuned, chosen))


def tuning_summary(chosen: Mapping[str, Any], results: list[Mapping[str, Any]]) -> str:
    """The tuning run's summary as markdown (the MLflow run description and the task log)."""
    name = f"{registry.TUNED} v{chosen['version']}"
    verdict = (f"trial {chosen['trial']} beat the configuration in use: alias {name}" if chosen["moved"] else
               f"no trial beat the configuration in use: alias {registry.TUNED} stays "
               f"{'on v' + str(chosen['alias_before']) if chosen['alias_before'] else 'unset'} (v{chosen['version']} "
               "registered as a record)")
    incumbent = "not scored" if chosen["incumbent_mase"] is None else f"{chosen['incumbent_mase']:.4f}"
    lines = [f"## tuning — data to {chosen['data_month']} — {verdict}", "",
             f"- {chosen['scored']} of {chosen['trials']} trials scored, each a backtest of the months to "
             f"{chosen['tuning_months_end']} (the monthly run scores the later ones); preset {chosen['preset']}",
             f"- best mean MASE {chosen['mase']:.4f} (the configuration in use: {incumbent})",
             f"- chosen: {', '.join(f'{k}={v}' for k, v in chosen['params'].items())}", "",
             "| trial | mean MASE | settings |", "|---|---|---|"]
    for r in sorted(results, key=lambda r: (r.get("mase") is None, r.get("mase") or 0.0)):
        score = f"{r['mase']:.4f}" if r.get("mase") is not None else r.get("error", "not scored")
        lines.append(f"| {r['trial']} | {score} | {', '.join(f'{k}={v}' for k, v in r['params'].items())} |")
    return "\n".join(lines) + "\n"
