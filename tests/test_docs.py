"""Facts the docs state that the code decides: read from the code, so that the prose cannot drift from it (the
settings tables are checked in tests/pipeline/test_config.py)."""

from datetime import timedelta

import pytest

from tests.conftest import ROOT


@pytest.fixture(scope="module")
def monthly():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags" / "lstm_monthly_retraining.py")).dags["lstm_monthly_retraining"]


def minutes(delta: timedelta) -> int:
    return int(delta.total_seconds() // 60)


def test_the_task_time_outs_the_docs_state_are_the_dags(monthly):
    heavy = {minutes(task.execution_timeout) for task in monthly.tasks if task.task_id in ("fit", "evaluate_part")}
    light = {minutes(task.execution_timeout) for task in monthly.tasks if task.task_id in ("ingest", "publish")}
    assert len(heavy) == len(light) == 1
    (heavy_minutes,), (light_minutes,) = heavy, light
    deployment = (ROOT / "docs" / "deployment.md").read_text()
    assert f"a fit or a part times out at {heavy_minutes} min, the other tasks at {light_minutes}" in deployment


def test_the_readme_says_which_torch_build_an_install_gets():
    readme = (ROOT / "README.md").read_text()
    lock = (ROOT / "requirements.lock").read_text().splitlines()
    torch = next(line for line in lock if line.startswith("torch=="))
    assert f"{torch.removeprefix('torch==')} CPU)" not in readme, "make setup installs the index's default build"
    assert f"torch {torch.removeprefix('torch==')}" in readme


def test_the_dag_doc_names_every_candidate_that_publishes():
    from pipeline.model.candidates import CANDIDATES

    doc = (ROOT / "dags" / "lstm_monthly_retraining.py").read_text()
    assert "falls back to seasonal naive" not in doc
    readme = (ROOT / "README.md").read_text()
    assert all(name in readme for name in CANDIDATES), "the README names every candidate"
