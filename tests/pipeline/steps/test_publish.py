"""Publish and summarize: the champion's forecast table in the state folder and MLflow, and the run summary."""

import json

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from pipeline import settings, steps
from pipeline.workspace import published_forecasts
from tests.conftest import TINY

pytestmark = pytest.mark.slow


def test_the_champions_forecast_is_published_and_the_run_summarized(state, synthetic_csv):
    result = steps.run_all("unit/publish", "2006-01-01", {**TINY, "csv_path": str(synthetic_csv)})
    table = pd.read_csv(result.paths.forecast)
    assert list(table.columns) == ["series", "month", "forecast", "model", "lower_80", "upper_80", "lower_95",
                                   "upper_95", "model_version"]
    assert table["month"].tolist() == ["2006-01", "2006-02", "2006-03", "2006-04", "2006-05", "2006-06"]
    assert set(table["model_version"]) == {1} and (table["lower_80"] <= table["forecast"]).all()
    folder = published_forecasts("lstm-monthly-retraining")
    text = result.paths.forecast.read_text()
    assert (folder / "2005-12.csv").read_text() == text == (folder / "latest.csv").read_text()
    summary = json.loads(result.paths.summary_json.read_text())
    assert summary["published_version"] == "1" and summary["dag_id"] == "pipeline run"
    assert summary["decision"] == result.decision and summary["metrics"] == result.metrics
    run = MlflowClient(settings.tracking_uri()).get_run(result.mlflow_run_id)
    assert run.data.tags["published_version"] == "1"
    assert run.data.tags["mlflow.note.content"] == result.paths.summary_markdown.read_text()
