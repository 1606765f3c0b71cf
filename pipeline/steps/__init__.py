"""The pipeline's steps as the DAG runs them, one task each, in the order :data:`pipeline.flow.MONTHLY` declares
(the DAG and :func:`run_all` are both derived from it). Every step takes the run context (:class:`RunContext`,
plain JSON through XCom), reads what earlier steps wrote to the run's work folder
(:class:`pipeline.workspace.RunPaths`), and writes and logs its own: never data through the context. A single
series is a panel of one: every step works on panels.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from pipeline import flow
from pipeline.io import read_json
from pipeline.steps.context import RunContext
from pipeline.steps.decide import register, score_champion, score_champion_part
from pipeline.steps.evaluate import evaluate, evaluate_part
from pipeline.steps.jobs import FitJob, Part
from pipeline.steps.monitor import monitor, monitor_part
from pipeline.steps.prepare import ingest, plan, validate
from pipeline.steps.publish import publish, publish_part, summarize
from pipeline.steps.train import backtest_summary, fit
from pipeline.workspace import RunPaths

__all__ = ["FitJob", "Part", "RunContext", "RunResult", "all_files", "backtest_summary", "evaluate",
           "evaluate_part", "fit", "ingest", "monitor", "monitor_part", "plan", "publish", "publish_part", "register",
           "run_all", "run_steps", "score_champion", "score_champion_part", "summarize", "train_and_evaluate",
           "validate"]


@dataclass(frozen=True)
class RunResult:
    """What one run in this process did: its context and, read from its files, the decision and metrics."""

    ctx: RunContext

    @property
    def paths(self) -> RunPaths:
        return self.ctx.paths

    @property
    def mlflow_run_id(self) -> str:
        return self.ctx.mlflow_run_id

    @property
    def data_month(self) -> str:
        return self.ctx.data_month

    @cached_property
    def decision(self) -> dict[str, Any]:
        return read_json(self.paths.decision)

    @property
    def model_version(self) -> str:
        return self.decision["candidate_version"]

    @property
    def promoted(self) -> bool:
        return self.decision["promoted"]

    @cached_property
    def metrics(self) -> dict[str, float]:
        return read_json(self.paths.metrics)


def all_files(tasks: Iterable[Iterable[str]]) -> list[str]:
    """The files of every mapped task (each returns a list: a fit its shards', a part its tables), in one list."""
    return [path for files in tasks for path in files]


STEP_FUNCTIONS: dict[str, Callable[..., Any]] = {step.name: globals()[step.name] for step in flow.MONTHLY}


def run_steps(ctx: RunContext, first: str, last: str) -> dict[str, Any]:
    """The steps of :data:`pipeline.flow.MONTHLY` from ``first`` to ``last``, in their order, in this process (a
    mapped step's tasks one after the other): each one's result by name (a mapped step's: each task's files)."""
    names = [step.name for step in flow.MONTHLY]
    results: dict[str, Any] = {}
    for step in flow.MONTHLY[names.index(first):names.index(last) + 1]:
        function = STEP_FUNCTIONS[step.name]
        if step.over is not None:
            results[step.name] = [function(ctx, item) for item in results[step.over]]
        else:
            results[step.name] = function(ctx, *(all_files(results[name]) if flow.mapped(name) else results[name]
                                                  for name in step.takes))
        if step.name == flow.CONTEXT:
            ctx = results[step.name]
    return results


def train_and_evaluate(ctx: RunContext) -> str:
    """plan, every fit, backtest_summary, every part and evaluate, in this process; returns the candidate file."""
    return str(run_steps(ctx, "plan", "evaluate")["evaluate"])


def run_all(run_key: str, as_of: str | None = None, overrides: Mapping[str, Any] | None = None,
            config_path: str | None = None, tags: Mapping[str, str] | None = None) -> RunResult:
    """Run every step in order, in this process (the command-line equivalent of one DAG run)."""
    ctx = ingest(run_key, as_of, overrides, config_path, tags)
    return RunResult(run_steps(ctx, flow.MONTHLY[1].name, flow.MONTHLY[-1].name)[flow.CONTEXT])
