"""The pipeline's steps as the DAG runs them, one task each. Every step takes the run context
(:class:`RunContext`, plain JSON through XCom), reads what earlier steps wrote to the run's work folder
(:class:`pipeline.workspace.RunPaths`), and writes and logs its own: never data through the context. A single
series is a panel of one: every step works on panels.

    ingest -> validate -> plan -> fit (mapped: a shard (or a few) and a training origin a task) -> backtest_summary
           -> evaluate -> score_champion -> register -> publish -> summarize      (monitor beside, before register)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from pipeline.io import read_json
from pipeline.steps.context import RunContext
from pipeline.steps.decide import register, score_champion
from pipeline.steps.evaluate import evaluate
from pipeline.steps.jobs import FitJob
from pipeline.steps.monitor import monitor
from pipeline.steps.prepare import ingest, plan, validate
from pipeline.steps.publish import publish, summarize
from pipeline.steps.train import backtest_summary, fit
from pipeline.workspace import RunPaths

__all__ = ["FitJob", "RunContext", "RunResult", "backtest_summary", "evaluate", "fit", "fit_files", "ingest",
           "monitor", "plan", "publish", "register", "run_all", "score_champion", "summarize", "validate"]


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


def fit_files(fits: Iterable[Iterable[str]]) -> list[str]:
    """The result files of every fit task (each returns its shards'), in one list."""
    return [path for files in fits for path in files]


def run_all(run_key: str, as_of: str | None = None, overrides: Mapping[str, Any] | None = None,
            config_path: str | None = None, tags: Mapping[str, str] | None = None) -> RunResult:
    """Run every step in order, in this process (the command-line equivalent of one DAG run)."""
    ctx = validate(ingest(run_key, as_of, overrides, config_path, tags))
    monitor(ctx)
    fits = fit_files(fit(ctx, job) for job in plan(ctx))
    backtest_summary(ctx, fits)
    evaluate(ctx, fits)
    score_champion(ctx)
    register(ctx)
    publish(ctx)
    summarize(ctx)
    return RunResult(ctx)
