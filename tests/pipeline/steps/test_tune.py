"""A tuning run's steps against a real MLflow store: trials as nested runs, the winner registered and gated like a
model, and the monthly run that takes it (tuned_config: latest)."""

import pytest

from pipeline import steps
from pipeline.errors import ConfigError
from pipeline.io import read_json
from pipeline.ops import registry
from pipeline.steps import tune
from tests.conftest import TINY, operator_config, tracking_client

pytestmark = pytest.mark.slow
NAME = "air_passengers_lstm"


def tuning_run(key, trigger=None):
    ctx = steps.validate(tune.ingest(key, "2006-01-01", trigger=trigger))
    jobs = tune.tune_plan(ctx)
    return ctx, jobs, read_json(tune.tune_select(ctx, [tune.tune_trial(ctx, job) for job in jobs]))


@pytest.fixture
def deployment(state, synthetic_csv, tmp_path, monkeypatch):
    values = {k: v for k, v in TINY.items() if k != "allow_any_csv_path"}
    monkeypatch.setenv("PIPELINE_CONFIG", str(operator_config(tmp_path / "op.yaml", csv_path=str(synthetic_csv),
                                                              **values)))
    return state


def test_a_tuning_run_logs_every_trial_and_registers_the_winner_only_when_it_is_better(deployment):
    ctx, jobs, chosen = tuning_run("tuning/a", {"tune_trials": 3})
    client = tracking_client()
    experiment = client.get_experiment_by_name("lstm-monthly-retraining-tuning")
    (run,) = client.search_runs([experiment.experiment_id], "tags.kind = 'tuning'")
    trials = client.search_runs([experiment.experiment_id], f"tags.`mlflow.parentRunId` = '{run.info.run_id}'")
    assert len(jobs) == 3 and sorted(int(t.data.tags["trial"]) for t in trials) == [0, 1, 2]
    assert all("mase" in t.data.metrics and "hidden_size" in t.data.params for t in trials)
    assert chosen["scored"] == 3 and chosen["tuning_months_end"] < ctx.data_month
    assert {f.path for f in client.list_artifacts(run.info.run_id, "tuned")} == {"tuned/config.json"}
    tuned = registry.tuned_name(NAME)
    assert chosen["version"] == "1" and chosen["moved"] == (chosen["trial"] != 0)
    alias = registry.alias_version(client, tuned, registry.TUNED)
    assert alias == ("1" if chosen["moved"] else None)
    assert "3 of 3 trials scored" in run.data.tags["mlflow.note.content"]
    # the same run key again: no second version, the same choice (deterministic for a seed)
    _, _, again = tuning_run("tuning/a", {"tune_trials": 3})
    assert again["version"] == "1" and again["params"] == chosen["params"] and again["mase"] == chosen["mase"]


def test_the_monthly_run_takes_the_tuned_settings_when_asked_and_says_so(deployment):
    plain = tune.prepare.ingest("monthly/plain", "2006-01-01", trigger={"tuned_config": "latest"})
    assert plain.tuned == "none registered yet: the configured values" and plain.cfg.hidden_size == TINY["hidden_size"]
    _, _, chosen = tuning_run("tuning/b", {"tune_trials": 4, "seed": 3})
    assert chosen["moved"], "four trials of bigger networks beat hidden_size 8 on this series"
    ctx = tune.prepare.ingest("monthly/tuned", "2006-01-01", trigger={"tuned_config": "latest", "batch_size": 8})
    params = {k: v for k, v in chosen["params"].items() if k != "batch_size"}
    assert {k: getattr(ctx.cfg, k) for k in params} == params and ctx.cfg.batch_size == 8, "a trigger still wins"
    assert ctx.tuned.startswith(f"v{chosen['version']} (trial {chosen['trial']} of tuning/b)")
    run = tracking_client().get_run(ctx.mlflow_run_id)
    assert run.data.tags["tuned_config"] == ctx.tuned and run.data.params["hidden_size"] == str(ctx.cfg.hidden_size)
    with pytest.raises(ConfigError, match="was tuned for preset 'lstm-direct', this run uses 'lstm-global'"):
        tune.prepare.ingest("monthly/other", "2006-01-01", trigger={"tuned_config": "latest",
                                                                    "preset": "lstm-global"})
