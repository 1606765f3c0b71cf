"""The monthly run's steps and their order, declared once: the DAG's tasks and edges (``pipeline.dagkit``) and the
run in one process (``pipeline.steps.run_all``) are both derived from :data:`MONTHLY`. Plain data, no imports: the
DAG file reads it at parse time.

Each step is the function of ``pipeline.steps`` of its name. The first (``ingest``) opens the run; every later step
takes the run context that :data:`CONTEXT` returns, then the results of the steps it ``takes`` (a mapped step's: the
files of all its tasks, in one list). A mapped step runs once per item of the result of the step it is ``over`` (the
plan's fit jobs, the backtest summary's parts). ``after``: steps it waits for without taking their results.
``announces``: the Airflow Asset (``pipeline.dagkit.ASSETS``) its task updates, its result the event's extra.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Step:
    """One step of the monthly run: its function's name, what it does, what it takes and waits for, how it runs."""

    name: str
    doc: str
    takes: tuple[str, ...] = ()
    over: str | None = None  # mapped: one task per item of this step's result
    after: tuple[str, ...] = ()
    heavy: bool = False  # the heavy tasks' pool and the long time-out (a fit's; its work grows with the panel)
    announces: str | None = None  # the Asset its task updates (an outlet)


CONTEXT = "validate"  # the step whose result (the run context, the data checked) every later step takes first
MONTHLY: tuple[Step, ...] = (
    Step("ingest", "Check the trigger's conf; snapshot the rows known at the end of the data interval; open the "
                   "month's MLflow run."),
    Step("validate", "Check the data; write the validation report, the quarantine and the profile."),
    Step("plan", "Shards and training origins: one fit each (a few shards a task past Airflow's max_map_length)."),
    Step("fit", "Train a shard's global LSTM (or a few shards') before one origin; score its backtest folds or "
                "keep it as final.", over="plan", heavy=True),
    Step("backtest_summary", "Per-series and mean metrics over the folds of every shard, per model; each series' "
                             "candidate. Returns the parts the later mapped steps run on.", takes=("fit",)),
    Step("evaluate_part", "The candidate on one part's series: its holdout scores and its forecast of the coming "
                          "months.", over="backtest_summary", heavy=True),
    Step("evaluate", "Assemble the shards' final models and the parts' scores and forecasts, plot, log the model.",
         takes=("fit", "evaluate_part")),
    Step("monitor_part", "One part's live scores of the current champion on the new months, and drift checks.",
         over="backtest_summary", heavy=True),
    Step("monitor", "Live performance of the current champion on the new months; drift of the new months (the "
                    "parts' put together); alerts.", takes=("monitor_part",)),
    Step("score_champion_part", "The champion's weights on one part's holdout months.", over="backtest_summary",
         after=("evaluate",), heavy=True),
    Step("score_champion", "The champion on this run's holdout (its parts' scores) and folds (its configuration "
                           "refitted when it differs).", takes=("score_champion_part",), heavy=True),
    Step("register", "Register the version; move the champion alias only on improvement.",
         after=("score_champion", "monitor")),
    Step("publish_part", "The champion's forecast of one part's series (nothing when it is this run's candidate).",
         over="backtest_summary", after=("register",), heavy=True),
    Step("publish", "The champion's forecast of every series: the forecast table in its database (one transaction), "
                    "the state folder and MLflow; announced on the forecasts Asset.",
         takes=("publish_part",), announces="forecasts"),
    Step("summarize", "The run summary: MLflow description and artifacts, and this task's log.", after=("publish",)),
)
STEPS = {step.name: step for step in MONTHLY}


def mapped(name: str) -> bool:
    """Whether the step ``name`` runs as one task per item (its result: each task's list of files)."""
    return STEPS[name].over is not None
