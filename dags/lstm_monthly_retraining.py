"""
### Monthly LSTM retraining

Every month: **ingest** the monthly CSV (only rows dated before the end of the run's data interval; one series,
or a panel of many in a long CSV), **validate** it series by series (a series with bad rows or gaps is quarantined
with its reason; too many quarantined, or a file-level problem, fails the run; zeros and negative values are data,
and series too short or discontinued are reported, not modelled),
**plan** the shards (at most `shard_size` series each, by a stable hash), **fit** one global LSTM per shard and
training origin (mapped: the rolling-origin backtest folds and the final model; a few shards a task past Airflow's
`max_map_length`), merge the folds in **backtest_summary** (per-series MASE of the LSTM and the baselines; each
series' candidate for the published forecast), **evaluate_part** (mapped: each part's series scored on the held-out
months and forecast), **evaluate** (the parts put together; the final models logged as one MLflow model),
**score_champion_part** and **score_champion** (the current champion on the same holdout, part by part, and the
same folds, its configuration refitted when it differs), **register** the candidate (`challenger`; `champion` only
when its mean MASE over all series beats the champion's on the same folds), **publish_part** and **publish** the
champion's forecast of every series (part by part when the champion is not the candidate: the forecast table in
its database, one transaction a month; an event on the `lstm_monthly_forecasts` Asset, which schedules the
`lstm_forecast_report` DAG), and **summarize** the run.

* Params override the model and training settings of the pipeline config (the preset, `PIPELINE_CONFIG`; within
  bounds); leave them empty to use the configured values. Data paths, size limits, MLflow names and the gate are
  the operator's (`PIPELINE_CONFIG`): a conf key that is not a param is refused before anything runs.
  `warm_start` fine-tunes each fit from the same fit of last month's run (cold when there is none; off by default:
  measured faster but slightly less accurate, see docs/benchmarks.md).
* Bad data fails the run at once (no retries) with the file, row and column in the task log; transient
  faults (MLflow unreachable, a killed worker) are retried (`PIPELINE_TASK_RETRIES`, `PIPELINE_RETRY_DELAY_SECONDS`).
* Everything is logged to the MLflow experiment `lstm-monthly-retraining`, one run per month; the **summarize**
  task prints the run summary (also the MLflow run's description). **monitor_part** and **monitor** score the
  current champion on the months since it was trained (`champion_live_mape`, alert over `live_mape_alert`) and
  check for drift, part by part, before the decision.
* Scheduled on the month (`PIPELINE_SCHEDULE=monthly`, the default), on each event of the input data Asset
  `lstm_monthly_input` (`data`: an upstream DAG's outlet, or an event posted to Airflow's REST API), or both
  (`monthly_or_data`).
* Failures and missed deadlines (`PIPELINE_DEADLINE_HOURS`, 4 in the deployments) are sent through the `pipeline_alerts`
  connection by Airflow's notifiers (SMTP, or Apprise: Slack, Teams, a webhook), or logged when it is not configured.

The steps, their order and what each takes are declared once, in `pipeline/flow.py` (the command line's
`python -m pipeline run` follows the same declaration). Run one month by hand:
`airflow dags test lstm_monthly_retraining 1961-01-01 --conf '{"epochs": 2}'`.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import DeadlineAlert, DeadlineReference, SyncCallback, dag, get_current_context, task

from pipeline.dagkit import PipelineNotifier, flow_tasks, run_step, schedule, task_defaults, trigger_params
from pipeline.flow import MONTHLY

DAG_ID = "lstm_monthly_retraining"
# Deadline alert, set by deployments (compose file, scripts/services.sh). Off by default: Airflow 3.3.2's
# `airflow dags test` cannot finish a successful run of a DAG that declares deadlines.
DEADLINE_HOURS = float(os.environ.get("PIPELINE_DEADLINE_HOURS") or 0)
FIT_TIMEOUT = timedelta(minutes=45)  # a fit, a part's work (its series grow with the panel), and the champion's
# refit on the candidate's folds


@dag(
    dag_id=DAG_ID,
    schedule=schedule("0 0 1 * *"),  # the operator's choice: monthly, on the input data Asset, or both
    start_date=pendulum.datetime(1949, 1, 1, tz="UTC"),  # the data starts in 1949: any month can be re-run
    catchup=False,
    max_active_runs=1,
    default_args=task_defaults(),
    params=trigger_params(),
    tags=["ml", "lstm", "forecasting", "monthly", "mlflow"],
    doc_md=__doc__,
    on_failure_callback=PipelineNotifier(),
    deadline=DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=timedelta(hours=DEADLINE_HOURS),
        callback=SyncCallback("pipeline.ops.alerts.deadline_missed",
                              kwargs={"dag_id": DAG_ID, "limit": f"{DEADLINE_HOURS:g} h"}),
    ) if DEADLINE_HOURS > 0 else None,
)
def lstm_monthly_retraining() -> None:
    @task
    def ingest() -> dict[str, Any]:
        """Check the trigger's conf; snapshot the rows known at the end of the data interval; open the month's
        MLflow run."""
        from pipeline import steps

        context = get_current_context()
        run = context["dag_run"]
        as_of = (context.get("data_interval_end") or run.run_after).isoformat()  # an Asset's run: its time
        tags = {"airflow.dag_id": DAG_ID, "airflow.run_id": run.run_id}
        return run_step(steps.ingest, f"{DAG_ID}/{run.run_id}", as_of, tags=tags, trigger=dict(run.conf or {}))

    flow_tasks(ingest(), MONTHLY, FIT_TIMEOUT)  # the other steps, as pipeline/flow.py declares them


lstm_monthly_retraining()
