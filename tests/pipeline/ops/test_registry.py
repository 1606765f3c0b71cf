import mlflow

from pipeline.ops import registry, tracking


def test_version_config_reads_the_versions_own_settings(state):
    from pipeline.config import load_config

    client = tracking.configure()
    tracking.ensure_experiment(client, "t")
    mlflow.set_experiment("t")
    client.create_registered_model("cfg")
    base = load_config()
    versions = {}
    for label, params in {"earlier release": {"lookback": 24, "hidden_size": 32},
                          "current": {"lookback": 12, "seasonal_lookback": 3, "hidden_size": 32}}.items():
        with mlflow.start_run() as run:
            mlflow.log_params(params)
        versions[label] = client.create_model_version("cfg", f"runs:/{run.info.run_id}/model", run.info.run_id).version
    earlier = registry.version_config(client, "cfg", versions["earlier release"], base)
    # trained before the year-over-year view existed: it had none, whatever today's default says
    assert (earlier.lookback, earlier.seasonal_lookback, earlier.hidden_size) == (24, 0, 32)
    current = registry.version_config(client, "cfg", versions["current"], base)
    assert (current.lookback, current.seasonal_lookback, current.epochs) == (12, 3, base.epochs)
