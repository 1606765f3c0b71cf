"""
### LSTM tuning

On demand (or quarterly): **ingest** and **validate** the configured CSV as the monthly run does, **plan** the
trials (the configuration in use first, then draws of a seeded Optuna TPE sampler over the preset's search space,
`search_spaces` in `pipeline/defaults.yaml`), score each **trial** as its own mapped task on the workers (a
rolling-origin backtest on the months *before* the ones the monthly run scores: no leak), and **select** the best:
it is logged as `tuned/config.json` and registered as a version of `<registered_model_name>_tuned`; alias `tuned`
moves to it only when it beat the configuration in use on the same folds.

* The monthly DAG takes it when the operator (or a trigger) sets `tuned_config: latest`, and says so in its summary.
* Bounded by `tune_trials` (20) and `tune_minutes` (60: no trial starts later); deterministic for a `seed`.
* Every trial is a nested MLflow run (params and scores) under the tuning run, in the experiment
  `<experiment_name>-tuning`; the tuning run's description lists the trials.

Run it by hand: `airflow dags test lstm_tuning 2026-12-01 --conf '{"tune_trials": 4}'`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import dag, get_current_context, task

from pipeline.config import TUNING_TRIGGER_KEYS
from pipeline.dagkit import PipelineNotifier, heavy_pool, run_step, task_defaults, trigger_params

DAG_ID = "lstm_tuning"
TRIAL_TIMEOUT = timedelta(minutes=90)  # one trial: a whole backtest of one configuration


@dag(
    dag_id=DAG_ID,
    schedule=None,  # on demand; a deployment may set a quarterly cron
    start_date=pendulum.datetime(1949, 1, 1, tz="UTC"),  # any as-of date can be tuned on
    catchup=False,
    max_active_runs=1,
    default_args=task_defaults(),
    params=trigger_params(TUNING_TRIGGER_KEYS),
    tags=["ml", "lstm", "forecasting", "tuning", "mlflow"],
    doc_md=__doc__,
    on_failure_callback=PipelineNotifier(),
)
def lstm_tuning() -> None:
    @task
    def ingest() -> dict[str, Any]:
        """Check the trigger's conf; snapshot the rows known now; open the tuning run in MLflow."""
        from pipeline.steps import tune

        context = get_current_context()
        run = context["dag_run"]
        end = context.get("data_interval_end")
        tags = {"airflow.dag_id": DAG_ID, "airflow.run_id": run.run_id}
        return run_step(tune.ingest, f"{DAG_ID}/{run.run_id}", end.isoformat() if end else None, tags=tags,
                        trigger=dict(run.conf or {}))

    @task
    def validate(ctx: dict[str, Any]) -> dict[str, Any]:
        """Check the data as the monthly run does."""
        from pipeline import steps

        return run_step(steps.validate, ctx)

    @task
    def plan(ctx: dict[str, Any]) -> list[dict[str, Any]]:
        """The trials: the configuration in use, then the sampler's draws."""
        from pipeline.steps import tune

        return run_step(tune.tune_plan, ctx)

    @task(execution_timeout=TRIAL_TIMEOUT, pool=heavy_pool(),
          map_index_template="trial {{ task.op_kwargs['job']['trial'] }}")
    def trial(ctx: dict[str, Any], job: dict[str, Any]) -> str:
        """Backtest one trial's settings on the tuning months; one nested MLflow run."""
        from pipeline.steps import tune

        return run_step(tune.tune_trial, ctx, job)

    @task
    def select(ctx: dict[str, Any], trials: list[str]) -> str:
        """The best trial: logged, registered, alias `tuned` when it beat the configuration in use."""
        from pipeline.steps import tune

        return run_step(tune.tune_select, ctx, list(trials))

    ctx = validate(ingest())
    select(ctx, trial.partial(ctx=ctx).expand(job=plan(ctx)))


lstm_tuning()
