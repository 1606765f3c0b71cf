"""
### Forecast versus actual

Runs each time `lstm_monthly_retraining` publishes a month (its **publish** task updates the
`lstm_monthly_forecasts` Asset; the event's extra names the experiment, data month, model version and run). The
**report** task compares every forecast published before that month with the months that have arrived by it (that
run's validated data), by data month and lead: WAPE, MAPE, bias and interval coverage. The report is written to the
state folder (`reports/<experiment>/<data month>.csv` and `.md`) and printed in the task log.

Triggered by hand (no event), it reports on the configured experiment's latest published month. The pattern for any
downstream job of the forecasts (a replenishment run, a planners' export): schedule on the Asset, read the table.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import dag, get_current_context, task

from pipeline.dagkit import FORECASTS, PipelineNotifier, run_step, task_defaults

DAG_ID = "lstm_forecast_report"


@dag(
    dag_id=DAG_ID,
    schedule=[FORECASTS],
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=task_defaults(),
    tags=["ml", "forecasting", "report", "downstream"],
    doc_md=__doc__,
    on_failure_callback=PipelineNotifier(),
)
def lstm_forecast_report() -> None:
    @task
    def report() -> Any:
        """The forecast-versus-actual report of the month the triggering event announced (by hand: the latest)."""
        from pipeline.steps.report import forecast_report

        events = get_current_context()["triggering_asset_events"]
        try:
            announced = [event.extra for event in events[FORECASTS] if event.extra]
        except KeyError:  # triggered by hand
            announced = []
        return run_step(forecast_report, announced[-1] if announced else None)

    report()


lstm_forecast_report()
