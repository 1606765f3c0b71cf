"""A month of faults (Jepsen's idea, on the Celery stack of scripts/services.sh): a 12-month backfill during which a
seeded random schedule kills a Celery worker, Redis, PostgreSQL, the MLflow server or the scheduler at a random task
of every month, keeps it down a random while and brings it back (``services.sh up``, as a supervisor would). After
it, every month must be what a sequential, undisturbed replay of the same months makes (``steps.run_all`` in this
process, a fresh MLflow store): the same decision against the same champion, the same published forecast byte for
byte, one MLflow run and one model version per month, and no partial published file.

The schedule is printed before the first fault, with its seed: ``CHAOS_SEED=<seed> make chaos`` replays it.
About 30 minutes on 2 cores: not in ``make test`` (marker ``campaign``); ``make chaos`` runs it with the other
chaos tests (docs/testing.md)."""

from __future__ import annotations

import os
import random
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.conftest import TINY_TRIGGER
from tests.integration.stacks import (
    DAG_ID,
    api_client,
    backfill,
    decisions,
    mlflow_api,
    replay,
    services,
    services_stack,
    wait_for_dag,
    wait_idle,
)

pytestmark = [pytest.mark.slow, pytest.mark.services, pytest.mark.chaos, pytest.mark.campaign]
PARTS = ("worker", "redis", "postgres", "mlflow", "scheduler")
# the monthly DAG's tasks in the order they run: a fault strikes once its task has started
TASKS = ("ingest", "validate", "monitor", "plan", "fit", "backtest_summary", "evaluate", "score_champion",
         "register", "publish")  # not summarize, the last: a fault then would strike after its month
YEAR, MONTHS = 1955, 12
NAMES = {"registered_model_name": "air_passengers_campaign", "experiment_name": "lstm-campaign"}


@dataclass(frozen=True)
class Fault:
    month: int  # 1..MONTHS: the backfill's run of that month
    part: str  # one of PARTS
    task: str  # strikes once this task of the month has started ...
    delay: float  # ... this many seconds later
    down: float  # seconds before the part is brought back

    def __str__(self) -> str:
        return (f"{YEAR}-{self.month:02d}: {self.part} killed {self.delay:.1f} s after {self.task} starts, "
                f"back {self.down:.0f} s later")


def schedule(seed: int) -> list[Fault]:
    """One fault a month, every part at least twice, at a random task, delay and down time."""
    rng = random.Random(seed)
    parts = [*PARTS, *PARTS, *rng.choices(PARTS, k=MONTHS - 2 * len(PARTS))]
    rng.shuffle(parts)
    return [Fault(month, part, rng.choice(TASKS), round(rng.uniform(0, 2), 1), round(rng.uniform(3, 25), 0))
            for month, part in enumerate(parts, start=1)]


def test_a_12_month_backfill_under_random_faults_equals_an_undisturbed_replay(tmp_path, state):
    from airflow_client.client.api.dag_run_api import DagRunApi
    from airflow_client.client.api.task_instance_api import TaskInstanceApi

    seed = int(os.environ.get("CHAOS_SEED") or 20261206)
    faults = schedule(seed)
    print(f"\nfault campaign, seed {seed} (CHAOS_SEED={seed} replays it):", *faults, sep="\n  ")
    assert {f.month for f in faults} == set(range(1, MONTHS + 1)) and {f.part for f in faults} == set(PARTS)

    folder = tmp_path / "campaign"
    folder.mkdir()
    config = folder / "deployment.yaml"
    deployment = yaml.safe_dump({**TINY_TRIGGER, "baseline_gate": False})
    config.write_text(deployment)
    struck: list[dict] = []
    with services_stack(folder, config) as stack:
        env, values = stack["env"], stack["values"]
        with api_client(values) as api:
            wait_for_dag((None, api))
            wait_idle(api)  # the latest month's scheduled run, on the deployment's own names
            config.write_text(deployment + yaml.safe_dump(NAMES))
            ids = backfill(api, YEAR, MONTHS)

        def reached(run_id: str, task: str) -> tuple[str, str] | None:
            """Once ``task`` of the run has started (or the run ended): the run's state and the worker that runs
            the task ('' when none does now); None before, or while the API cannot answer (a fault)."""
            try:
                with api_client(values) as api:  # a new client each time: a fault may have broken the last one's
                    run = DagRunApi(api).get_dag_run(DAG_ID, run_id)
                    tis = TaskInstanceApi(api).get_task_instances(DAG_ID, run_id, limit=100).task_instances
            except Exception:
                return None
            mine = [ti for ti in tis if ti.task_id == task and ti.start_date]
            if not mine and run.state not in ("success", "failed"):
                return None
            return str(run.state.value), next((ti.hostname.split("@")[0] for ti in mine if ti.state == "running"),
                                              "")

        for fault in faults:
            deadline = time.monotonic() + 1800
            while not (found := reached(ids[fault.month - 1], fault.task)):
                assert time.monotonic() < deadline, f"never reached: {fault}"
                time.sleep(0.5)
            run_state, worker = found
            time.sleep(fault.delay)
            if fault.part == "worker":  # the one that runs the task, else either
                worker = worker or random.Random(f"{seed}/{fault.month}").choice(["worker-1", "worker-2"])
            services(env, "kill", worker if fault.part == "worker" else fault.part)
            struck.append({"fault": str(fault), "run": run_state, "worker": worker if fault.part == "worker" else ""})
            time.sleep(fault.down)
            services(env, "up")

        with api_client(values) as api:
            deadline = time.monotonic() + 1800
            while (states := [DagRunApi(api).get_dag_run(DAG_ID, i).state for i in ids]) and not all(
                    s in ("success", "failed") for s in states):
                assert time.monotonic() < deadline, states
                time.sleep(5)
            runs = [DagRunApi(api).get_dag_run(DAG_ID, i) for i in ids]
        print("faults struck:", *(f"{s['fault']} (run {s['run']}{', ' + s['worker'] if s['worker'] else ''})"
                                  for s in struck), sep="\n  ")
        print("months:", *(f"{r.dag_run_id}: {r.state.value}, {(r.end_date - r.start_date).total_seconds():.0f} s"
                            for r in runs), sep="\n  ")
        assert [r.state for r in runs] == ["success"] * MONTHS
        decided = decisions(values, NAMES["experiment_name"], NAMES["registered_model_name"], ids)
        experiment_id = mlflow_api(values, "experiments/get-by-name", experiment_name=NAMES["experiment_name"])[
            "experiment"]["experiment_id"]
        kinds = run_kinds([{t["key"]: t["value"] for t in r["data"]["tags"]} for r in mlflow_api(
            values, "runs/search", {"experiment_ids": [experiment_id], "max_results": 1000})["runs"]])
        versions = mlflow_api(values, "model-versions/search", filter=f"name='{NAMES['registered_model_name']}'",
                              max_results="1000")["model_versions"]
        published = Path(values["PIPELINE_STATE_DIR"]) / "forecasts" / NAMES["experiment_name"]
        files = {p.name: p.read_bytes() for p in published.iterdir()}

    assert all(s["run"] == "running" for s in struck), "every fault struck while its month ran"
    assert len(versions) == MONTHS and len({v["run_id"] for v in versions}) == MONTHS, "one version a month"
    assert not [name for name in files if name.endswith(".tmp")], "a partial file was left"

    local = state.parent / "deployment.yaml"
    local.write_text(deployment + yaml.safe_dump(NAMES))
    assert decided == replay(decided, local)  # the same decisions, against the same champions

    from mlflow.tracking import MlflowClient

    from pipeline import settings
    from pipeline.workspace import published_forecasts

    client = MlflowClient(tracking_uri=settings.tracking_uri())
    replayed = client.get_experiment_by_name(NAMES["experiment_name"])
    assert kinds == run_kinds([r.data.tags for r in client.search_runs([replayed.experiment_id], max_results=1000)])
    expected = {p.name: p.read_bytes() for p in published_forecasts(NAMES["experiment_name"]).iterdir()}
    assert sorted(files) == sorted(expected)
    for name, content in expected.items():
        assert files[name] == content, f"{name}: the published forecast differs from the undisturbed replay's"


def run_kinds(tags: list[dict[str, str]]) -> dict[str, int]:
    """How many MLflow runs of each kind (monthly, backtest-fold, ...), from each run's tags."""
    return dict(sorted(Counter(t.get("kind", "") for t in tags).items()))
