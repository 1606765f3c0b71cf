"""What the DAG files share: a step of ``pipeline.steps`` run as a task, the failure notifier, and the params of the
settings a trigger may set. Entry-point layer (beside the DAG files): it imports Airflow's SDK, the rest of
``pipeline`` never does."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from airflow.sdk import Asset, BaseNotifier, Param, get_current_context

from pipeline.flow import Step

_JSON_TYPES = {"int": "integer", "float": "number", "str": "string", "bool": "boolean"}
# The Assets of the monthly run: the published forecasts (each event's extra: what was published,
# pipeline.ops.forecast_table.Publication), by the name pipeline.flow's steps announce them with (ASSETS), and the
# input data (an upstream DAG's outlet, or an event posted to Airflow's REST API, starts a run when the operator
# schedules on it: PIPELINE_SCHEDULE).
FORECASTS = Asset(name="lstm_monthly_forecasts", uri="pipeline://forecasts/lstm_monthly_forecasts", group="forecasts")
INPUT_DATA = Asset(name="lstm_monthly_input", uri="pipeline://data/lstm_monthly_input", group="data")
ASSETS = {"forecasts": FORECASTS}
SCHEDULES = ("monthly", "data", "monthly_or_data")


def task_defaults() -> dict[str, Any]:
    """Every task's defaults: transient faults (MLflow down, a killed worker) are retried, with a growing delay
    (``PIPELINE_TASK_RETRIES``, ``PIPELINE_RETRY_DELAY_SECONDS``); bad data and config are not (:func:`run_step`).
    Ten minutes a task unless the task says otherwise."""
    return {"owner": "ml-platform", "retries": int(os.environ.get("PIPELINE_TASK_RETRIES", "2")),
            "retry_delay": timedelta(seconds=float(os.environ.get("PIPELINE_RETRY_DELAY_SECONDS", "60"))),
            "retry_exponential_backoff": True, "execution_timeout": timedelta(minutes=10)}


def heavy_pool() -> str:
    """The pool of the heavy tasks (fits, evaluated parts, the champion's re-scoring, tuning trials): the
    deployments' (``PIPELINE_HEAVY_POOL``, as many slots as the workers have), else Airflow's default pool."""
    return os.environ.get("PIPELINE_HEAVY_POOL") or "default_pool"


def trigger_params(names: Sequence[str] | None = None) -> dict[str, Param]:
    """One optional param per setting a trigger may set (``names``: some of them; default all), bounded like the
    config; empty means "the configured value". Paths, limits, MLflow names and the gate are the operator's
    (PIPELINE_CONFIG), not params."""
    from pipeline.config import BOUNDS, CHOICES, FIELDS, SETTINGS, TRIGGER_KEYS, presets

    choices = {"preset": sorted(presets()), **{name: list(values) for name, values in CHOICES.items()}}
    out = {}
    for name in names or TRIGGER_KEYS:
        if name not in TRIGGER_KEYS:
            raise ValueError(f"{name} is not a setting a trigger may set")
        extra: dict[str, Any] = {"enum": [None, *choices[name]]} if name in choices else {}
        if name in BOUNDS:
            # NaN passes every comparison, so it is the one number that meets `minimum: 0` and
            # `exclusiveMaximum: 0` at once: `not` of both refuses NaN (Airflow turns it into null otherwise).
            extra |= {"minimum": BOUNDS[name][0], "maximum": BOUNDS[name][1],
                      "not": {"type": "number", "minimum": 0, "exclusiveMaximum": 0}}
        out[name] = Param(None, type=["null", _JSON_TYPES[str(FIELDS[name].type)]],
                          description=f"{SETTINGS[name].doc}. Empty: the configured value (preset, PIPELINE_CONFIG).",
                          **extra)
    return out


class PipelineNotifier(BaseNotifier):
    """Sends a short failure message (task, error, log link) through the `pipeline_alerts` connection (Airflow's
    SMTP or Apprise notifier, by its type: :mod:`pipeline.ops.alerts`); with no connection it is only logged."""

    template_fields = ()

    def __init__(self, conn_id: str = "pipeline_alerts"):
        super().__init__()
        self.conn_id = conn_id

    def render_template_fields(self, context: Any, jinja_env: Any = None) -> None:
        """Nothing to render (and the scheduler's serialized DAG has no template environment)."""

    def notify(self, context: Any) -> None:
        from pipeline.ops import alerts

        run = context.get("dag_run")
        dag_id = getattr(run, "dag_id", None) or context["dag"].dag_id
        recorded = alerts.recorded_failure(f"{dag_id}/{getattr(run, 'run_id', context.get('run_id'))}")
        alerts.send(*alerts.failure_message({**recorded, **context}), conn_id=self.conn_id, severity="failure")


def run_step(step: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call one step of pipeline.steps (its run context comes back as JSON for XCom); bad data or config fails
    the task without retries."""
    from airflow.sdk.exceptions import AirflowFailException

    from pipeline.errors import PipelineError

    context = get_current_context()
    try:
        result = step(*args, **kwargs)
    except Exception as exc:
        from pipeline.ops import alerts

        run = context["dag_run"]
        alerts.record_failure(f"{run.dag_id}/{run.run_id}", context["ti"].task_id, exc)
        if isinstance(exc, PipelineError) and not exc.retryable:
            raise AirflowFailException(f"{type(exc).__name__}: {exc}") from exc
        raise
    if isinstance(result, list):  # typed jobs (the plan's fits, the parts) cross XCom as JSON
        return [item.to_json() if hasattr(item, "to_json") else item for item in result]
    return result.to_json() if hasattr(result, "to_json") else result  # the run context, a publication


def flow_tasks(first: Any, steps: Sequence[Step], long_timeout: timedelta) -> dict[str, Any]:
    """Every step of ``steps`` after the first as a task, wired as :mod:`pipeline.flow` declares them: each takes
    the run context (the result of ``flow.CONTEXT``; ``first``, the first step's task output, before it), then the
    results of the steps it takes, and waits for the steps it is after; a mapped step is one task per item of the
    result of the step it is over. Heavy steps run in the heavy pool with ``long_timeout``. Returns each step's
    task output by name."""
    from airflow.sdk import task

    from pipeline.flow import CONTEXT

    made: dict[str, Any] = {steps[0].name: first}
    ctx = first
    for step in steps[1:]:
        options: dict[str, Any] = {"task_id": step.name, "doc_md": step.doc}
        if step.heavy:
            options |= {"pool": heavy_pool(), "execution_timeout": long_timeout}
        if step.announces:
            options |= {"outlets": [ASSETS[step.announces]]}
        if step.over is None:
            out = task(**options)(_once(step.name))(ctx, *(made[name] for name in step.takes))
        else:
            out = task(map_index_template="{{ task.op_kwargs['item']['label'] }}", **options)(
                _each(step.name)).partial(ctx=ctx).expand(item=made[step.over])
        for name in step.after:
            made[name] >> out
        made[step.name] = out
        if step.name == CONTEXT:
            ctx = out
    return made


def schedule(cron: str) -> Any:
    """The monthly DAG's schedule, the operator's choice (``PIPELINE_SCHEDULE``): ``monthly`` (default: the month
    ending at each ``cron`` tick), ``data`` (each event of the input data Asset) or ``monthly_or_data``."""
    from airflow.sdk import AssetOrTimeSchedule, CronDataIntervalTimetable

    choice = os.environ.get("PIPELINE_SCHEDULE") or "monthly"
    if choice not in SCHEDULES:
        raise ValueError(f"PIPELINE_SCHEDULE must be one of {', '.join(SCHEDULES)}, got {choice!r}")
    monthly = CronDataIntervalTimetable(cron, timezone="UTC")
    return {"monthly": monthly, "data": [INPUT_DATA],
            "monthly_or_data": AssetOrTimeSchedule(timetable=monthly, assets=[INPUT_DATA])}[choice]


def _once(name: str) -> Callable[..., Any]:
    """The task function of the step ``name``: the run context and the results of the steps it takes (a mapped
    step's, all its tasks' files in one list)."""

    def call(ctx: dict[str, Any], *results: Any) -> Any:
        from pipeline import flow, steps

        taken = [steps.all_files(result) if flow.mapped(source) else result
                 for source, result in zip(flow.STEPS[name].takes, results, strict=True)]
        result = run_step(steps.STEP_FUNCTIONS[name], ctx, *taken)
        announces = flow.STEPS[name].announces
        if announces and result:
            get_current_context()["outlet_events"][ASSETS[announces]].extra = result
        return result

    call.__name__ = call.__qualname__ = name
    return call


def _each(name: str) -> Callable[..., Any]:
    """The task function of the mapped step ``name``: the run context and one item (a fit job, a part)."""

    def call(ctx: dict[str, Any], item: dict[str, Any]) -> Any:
        from pipeline import steps

        return run_step(steps.STEP_FUNCTIONS[name], ctx, item)

    call.__name__ = call.__qualname__ = name
    return call
