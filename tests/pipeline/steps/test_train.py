"""The fits: warm starts from last month's weights."""

import json
from pathlib import Path

import pytest

from pipeline import steps
from tests.conftest import TINY, tracking_client

pytestmark = pytest.mark.slow
NAME = "air_passengers_lstm"


def test_warm_start_fine_tunes_last_months_fits(state, synthetic_csv):
    overrides = {**TINY, "csv_path": str(synthetic_csv), "warm_start": True, "warm_epochs": 2}
    first = steps.run_all("unit/warm-1", "2005-12-01", overrides)  # data to 2005-11: nothing to start from
    second = steps.run_all("unit/warm-2", "2006-01-01", overrides)  # data to 2005-12: last month's two fits
    client = tracking_client()
    runs = [client.get_run(ctx.mlflow_run_id) for ctx in (first, second)]
    assert [r.data.tags["warm_start"] for r in runs] == ["0 of 2 fits", "2 of 2 fits"]
    assert [r.data.metrics["warm_started_fits"] for r in runs] == [0, 2]
    fits = sorted((second.paths.root / "fits").glob("*.json"))
    sources = [Path(json.loads(f.read_text())["warm_start"]["source"]).name for f in fits]
    assert sources == ["2004-11@2005-11.pt", "2005-05@2005-11.pt"]  # trained one month shorter, last month's run
    assert [m.step for m in client.get_metric_history(runs[1].info.run_id, "train_loss")] == [1, 2]  # warm_epochs
    assert "warm start: 2 of 2 fits started from last month's weights" in second.paths.summary_markdown.read_text()
    chain = sorted(p.relative_to(state / "warm") for p in (state / "warm").rglob("*.pt"))
    cold = steps.run_all("unit/cold-2", "2006-01-01", {**overrides, "warm_start": False})
    assert client.get_run(cold.mlflow_run_id).data.tags["warm_start"] == "off"
    assert sorted(p.relative_to(state / "warm") for p in (state / "warm").rglob("*.pt")) == chain  # untouched
    assert len(chain) == 4
