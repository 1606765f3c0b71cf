import json

import pytest

from pipeline.config import load_config
from pipeline.errors import ConfigError
from pipeline.steps import RunContext


def _context(tmp_path) -> RunContext:
    return RunContext(run_key="dag/manual__1", work_dir=str(tmp_path), config=load_config().to_dict(),
                      mlflow_run_id="abc", data_month="1960-12", source="data/AirPassengers.csv",
                      data_sha256="0" * 64, dag_id="lstm_monthly_retraining")


def test_the_context_crosses_xcom_as_plain_json(tmp_path):
    ctx = _context(tmp_path)
    back = RunContext.of(json.loads(json.dumps(ctx.to_json())))
    assert back == ctx and RunContext.of(ctx) is ctx
    assert back.cfg == load_config() and back.paths.panel == tmp_path / "panel.npz"


def test_anything_else_is_not_a_context(tmp_path):
    with pytest.raises(ConfigError, match=r"not a run context: unknown keys \['panel'\]"):
        RunContext.of({**_context(tmp_path).to_json(), "panel": "/somewhere/panel.npz"})
    with pytest.raises(TypeError):
        RunContext.of({"run_key": "k"})


def test_a_context_is_frozen(tmp_path):
    ctx = _context(tmp_path)
    with pytest.raises(AttributeError):
        ctx.data_month = "1961-01"
