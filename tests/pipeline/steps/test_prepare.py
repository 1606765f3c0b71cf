"""Ingest, validate and plan: bad data stops the run before training; the fits a run maps."""

import json
from pathlib import Path

import pytest

from pipeline import steps
from pipeline.errors import DataValidationError
from tests.conftest import TINY, seasonal_series, tracking_client

pytestmark = pytest.mark.slow
NAME = "air_passengers_lstm"


def test_bad_data_stops_before_training_and_registers_nothing(state, tmp_path, synthetic_csv):
    lines = synthetic_csv.read_text().splitlines()
    lines[10] = lines[10].split(",")[0] + ",n/a"
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines) + "\n")
    ctx = steps.ingest("unit/bad", None, {**TINY, "csv_path": str(bad)})
    with pytest.raises(DataValidationError, match=r"row 11, column '#Passengers': missing value"):
        steps.validate(ctx)
    client = tracking_client()
    run = client.get_run(ctx.mlflow_run_id)
    assert run.info.status == "FAILED" and run.data.tags["validation"] == "failed"
    assert "validation/validation_report.json" in {f.path for f in client.list_artifacts(run.info.run_id,
                                                                                          "validation")}
    assert client.search_registered_models() == []


@pytest.mark.parametrize("holdout, expected_fits", [(6, 2), (3, 3)])
def test_plan_maps_one_fit_per_shard_and_origin(tmp_path, holdout, expected_fits):
    from pipeline.config import load_config
    from tests.conftest import panel_of

    panel = panel_of(*(seasonal_series(72, seed=i) for i in range(5)))
    cfg = load_config(overrides={**TINY, "holdout": holdout, "shard_size": 2})  # 2 folds of 6 months
    ctx = steps.RunContext(run_key="unit/plan", work_dir=str(tmp_path), config=cfg.to_dict(), mlflow_run_id="",
                           data_month="2005-12", source="", data_sha256="")
    panel.save(ctx.paths.panel)
    jobs = steps.plan(ctx)
    assert [job.shards for job in jobs[::expected_fits]] == [(0,), (1,), (2,)], "5 series in shards of at most 2"
    assert len(jobs) == 3 * expected_fits
    finals = [job for job in jobs if job.final]
    assert len(finals) == 3 and (finals[0].folds == (1,)) == (holdout == 6), "the last fold's fit is the final one"
    assert [job.train_end for job in jobs if job.shards == (0,)][:2] == ["2004-12", "2005-06"]
    assert all(steps.FitJob.of(job.to_json()) == job for job in jobs), "through XCom and back"
    assert jobs[0].to_json()["label"] == "shard 0, to 2004-12"


def test_plan_groups_shards_to_stay_within_max_map_length(tmp_path):
    """Past Airflow's max_map_length each task fits a few consecutive shards at one origin: every shard is fitted
    at every origin once, and the run is never refused for its size."""
    from pipeline.config import load_config
    from pipeline.errors import ConfigError
    from tests.conftest import panel_of

    panel = panel_of(*(seasonal_series(72, seed=i) for i in range(7)))
    cfg = load_config(overrides={**TINY, "holdout": 3, "shard_size": 1, "max_mapped_tasks": 7})  # 7 shards x 3
    ctx = steps.RunContext(run_key="unit/plan", work_dir=str(tmp_path), config=cfg.to_dict(), mlflow_run_id="",
                           data_month="2005-12", source="", data_sha256="")
    panel.save(ctx.paths.panel)
    jobs = steps.plan(ctx)
    assert len(jobs) <= 7
    assert sorted((k, job.origin) for job in jobs for k in job.shards) == sorted(
        (k, origin) for k in range(7) for origin in {job.origin for job in jobs}), "each shard at each origin, once"
    assert {job.shards for job in jobs} == {(0, 1, 2, 3), (4, 5, 6)}, "2 groups x 3 origins: 6 tasks"
    assert json.loads(ctx.paths.shards.read_text())["parts"] == [[0, 1, 2, 3], [4, 5, 6]], "evaluated by the same"
    assert jobs[0].to_json()["label"].startswith("shards 0-3, to ")
    files = steps.fit(ctx, jobs[0].to_json())
    assert [Path(f).name for f in files] == [ctx.paths.fit(k, jobs[0].origin).name for k in (0, 1, 2, 3)]
    with pytest.raises(ConfigError, match="3 training origins need at least 3 mapped tasks, over max_mapped_tasks 2"):
        steps.plan({**ctx.to_json(), "config": {**cfg.to_dict(), "max_mapped_tasks": 2}})


def test_a_run_keeps_the_configuration_it_started_with(state, tmp_path, synthetic_csv, caplog):
    """A deployment config edited while a run is in flight counts from the next run: a cleared or retried ingest of
    the same run reads back what its first one resolved (and says that the file changed)."""
    import yaml

    config = tmp_path / "deployment.yaml"
    config.write_text(yaml.safe_dump({**TINY, "csv_path": str(synthetic_csv), "epochs": 2}))
    first = steps.ingest("unit/kept", None, config_path=str(config))
    config.write_text(yaml.safe_dump({**TINY, "csv_path": str(synthetic_csv), "epochs": 3,
                                      "registered_model_name": "another_model"}))
    again = steps.ingest("unit/kept", None, config_path=str(config))
    assert again.config == first.config and again.cfg.epochs == 2
    assert again.mlflow_run_id == first.mlflow_run_id
    assert "the configuration changed since this run started (epochs, registered_model_name)" in caplog.text
    following = steps.ingest("unit/next", None, config_path=str(config))
    assert following.cfg.epochs == 3 and following.cfg.registered_model_name == "another_model"
