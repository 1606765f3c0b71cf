"""A registered version runs only code this deployment shipped: its signature (an HMAC over every file, with a key
kept outside MLflow) is verified on a local copy before any of its code runs; a tampered, unsigned or foreign
version is refused with a clear error, and its code never ran."""

from pathlib import Path

import mlflow
import numpy as np
import pytest

from pipeline.errors import ModelIntegrityError
from pipeline.ops import pyfunc, registry, signing, tracking
from tests.conftest import panel_of, seasonal_series, untrained_forecaster

pytestmark = [pytest.mark.security, pytest.mark.slow]
NAME = "m"


@pytest.fixture
def version(state, monkeypatch):
    """A forecaster logged, signed and registered as the pipeline's evaluate and register steps do."""
    from pipeline.data.panel import shard_bounds, shards
    from pipeline.model.sharded import ShardedForecaster

    monkeypatch.setenv(signing.KEY_ENV, "k" * 40)
    history = panel_of(*[seasonal_series(48, seed=i) for i in range(2)], ids=["a", "b"])
    forecaster = ShardedForecaster([untrained_forecaster(np.linspace(100.0, 400.0, 48))],
                                   shard_bounds(history.ids, shards(history.ids, 1)), 12, 3, {})
    client = tracking.configure()
    tracking.ensure_experiment(client, "t")
    mlflow.set_experiment("t")
    with mlflow.start_run() as run:
        info = pyfunc.log_forecaster(forecaster.save(state / "m"), history, forecaster)
        signing.sign_logged_model(client, info.model_id)
    number = registry.register_version(client, NAME, info.model_uri, run.info.run_id)
    return client, number, Path(client.get_logged_model(info.model_id).artifact_location.removeprefix("file://")), \
        history


def test_a_signed_version_loads_and_carries_its_signature(version):
    client, number, _, history = version
    tag = client.get_model_version(NAME, number).tags[signing.TAG]
    assert tag.startswith("hmac-sha256-v1:") and tag == signing.version_signature(client, NAME, number)
    assert len(pyfunc.load_version(NAME, number).forecast(history, 3)) == 6


def test_a_tampered_version_is_refused_before_its_code_runs(version, tmp_path):
    _, number, stored, _ = version
    marker = tmp_path / "the-model-code-ran"
    code = stored / "mlflow_model.py"
    code.write_text(f"open({str(marker)!r}, 'w').close()\n" + code.read_text())
    with pytest.raises(ModelIntegrityError, match=r"registered model m v1: its files do not match its signature"):
        pyfunc.load_version(NAME, number)
    assert not marker.exists(), "the tampered model's code ran"


def test_replaced_weights_or_an_added_file_are_refused(version):
    _, number, stored, _ = version
    (stored / "artifacts" / "extra.py").write_text("print('hello')\n")
    with pytest.raises(ModelIntegrityError, match="do not match its signature"):
        pyfunc.load_version(NAME, number)


def test_an_unsigned_version_is_refused_and_an_operator_can_vouch_for_it(version):
    client, number, _, history = version
    found = client.get_model_version(NAME, number)
    client.delete_model_version_tag(NAME, number, signing.TAG)
    client.delete_logged_model_tag(found.source.removeprefix("models:/"), signing.TAG)
    with pytest.raises(ModelIntegrityError, match=r"registered model m v1 carries no signature .* refusing to load"):
        pyfunc.load_version(NAME, number)
    signing.sign_version(client, NAME, number)  # what `python -m pipeline sign-model 1` does
    assert len(pyfunc.load_version(NAME, number).forecast(history, 3)) == 6


def test_a_version_signed_with_another_key_is_refused(version, monkeypatch):
    _, number, _, _ = version
    monkeypatch.setenv(signing.KEY_ENV, "another-deployment-" * 3)
    with pytest.raises(ModelIntegrityError, match="signed with another key"):
        pyfunc.load_version(NAME, number)


def test_pickled_models_are_refused_in_every_process():
    from tests.conftest import ROOT

    assert "export MLFLOW_ALLOW_PICKLE_DESERIALIZATION := false" in (ROOT / "Makefile").read_text()
    assert "export MLFLOW_ALLOW_PICKLE_DESERIALIZATION=false" in (ROOT / "scripts" / "services.sh").read_text()
    compose = (ROOT / "docker" / "docker-compose.yaml").read_text()
    assert compose.count('MLFLOW_ALLOW_PICKLE_DESERIALIZATION: "false"') >= 2  # the Airflow services, model-server
