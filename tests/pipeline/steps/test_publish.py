"""Publish and summarize: the champion's forecast table in the state folder and MLflow, and the run summary."""

import json
import sqlite3

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
    # the same rows in the forecast database (SQLite in the state folder), read with sqlite3, not the pipeline
    with sqlite3.connect(settings.state_dir() / "forecasts.db") as db:
        stored = pd.read_sql("SELECT * FROM forecasts ORDER BY series, month", db)
    assert set(stored["data_month"]) == {"2005-12-01"} and set(stored["run_id"]) == {result.mlflow_run_id}
    assert stored["month"].tolist() == [f"{m}-01" for m in table["month"]]
    assert set(stored["model_version"]) == {"1"} and stored["published_at"].notna().all()
    cols = ["forecast", "lower_80", "upper_80", "lower_95", "upper_95"]
    assert (stored[cols] - table[cols]).abs().max().max() < 5e-4 and stored["model"].tolist() == table["model"].tolist()
    # the database first: when it is down, the task fails (to be retried) and the files still say what it holds
    from pipeline.ops.forecast_table import ForecastStoreUnavailableError
    from tests.pipeline.ops.test_faults import free_port

    (folder / "latest.csv").write_text("the previous month's\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PIPELINE_FORECAST_DB_URL", f"postgresql+psycopg2://planner@127.0.0.1:{free_port()}/forecasts")
        with pytest.raises(ForecastStoreUnavailableError):
            steps.publish(result.ctx, [])
    assert (folder / "latest.csv").read_text() == "the previous month's\n"
    summary = json.loads(result.paths.summary_json.read_text())
    assert summary["published_version"] == "1" and summary["dag_id"] == "pipeline run"
    assert summary["decision"] == result.decision and summary["metrics"] == result.metrics
    run = MlflowClient(settings.tracking_uri()).get_run(result.mlflow_run_id)
    assert run.data.tags["published_version"] == "1"
    assert run.data.tags["mlflow.note.content"] == result.paths.summary_markdown.read_text()


def test_a_champion_kept_is_published_part_by_part_as_it_would_forecast_at_once(state, tmp_path):
    """When the candidate is not promoted, the champion forecasts each part's series (publish_part, a mapped task
    each) and publish puts them together: the same table, in the same order, as the champion forecasting the whole
    panel in one process."""
    from pipeline.data.panel import Panel
    from pipeline.ops import pyfunc
    from tests.conftest import seasonal_series

    rows = [pd.DataFrame({"series": f"s{i}", "Month": s.index.strftime("%Y-%m"), "#Passengers": s.to_numpy()})
            for i, s in enumerate(seasonal_series(72, level=100.0 * (i + 1), seed=i) for i in range(5))]
    csv = tmp_path / "panel.csv"
    pd.concat(rows).to_csv(csv, index=False)
    panel = {**TINY, "csv_path": str(csv), "series_column": "series", "shard_size": 2}  # 3 parts
    champion = steps.run_all("unit/panel-1", "2006-01-01", panel)
    kept = steps.run_all("unit/panel-2", "2006-01-01", {**panel, "epochs": 1, "learning_rate": 1e-5,
                                                        "baseline_gate": True})
    assert champion.promoted and not kept.promoted
    parts = sorted(kept.paths.root.glob("forecast/part_*.parquet"))
    assert len(parts) == 3, "one table a part"
    published = pd.read_csv(kept.paths.forecast)
    at_once = pyfunc.load_version("air_passengers_lstm", "1").forecast(Panel.load(kept.paths.panel), 6)
    pd.testing.assert_frame_equal(published.drop(columns="model_version"),
                                  pd.read_csv(pd.io.common.StringIO(at_once.to_csv(index=False,
                                                                                   float_format="%.3f"))))
    assert set(published["model_version"]) == {1}


def test_a_past_month_rerun_publishes_its_own_model_and_leaves_the_latest_forecast(state):
    """The champion saw the months a past month forecasts: that month publishes its own candidate's forecast (in the
    table and its month's file), and latest.csv stays the newest month's."""
    december = steps.run_all("unit/december", "1961-01-01", TINY)
    folder = published_forecasts("lstm-monthly-retraining")
    newest = (folder / "latest.csv").read_text()
    june = steps.run_all("unit/june", "1960-07-01", TINY)
    assert december.promoted and not june.promoted and "newer than this run's 1960-06" in june.decision["reason"]
    assert (folder / "latest.csv").read_text() == newest
    past = pd.read_csv(folder / "1960-06.csv")
    assert set(past["model_version"]) == {2} and past["month"].iloc[0] == "1960-07"
    with sqlite3.connect(settings.state_dir() / "forecasts.db") as db:
        rows = db.execute("SELECT data_month, model_version, count(*) FROM forecasts GROUP BY data_month, "
                          "model_version ORDER BY data_month").fetchall()
    assert rows == [("1960-06-01", "2", 6), ("1960-12-01", "1", 6)]
