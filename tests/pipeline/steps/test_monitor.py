"""Monitoring the champion month after month: live scores, drift, the band alert, the summary."""

import json

import pandas as pd
import pytest

from pipeline import steps
from pipeline.errors import ChampionMovedError
from tests.conftest import TINY, apprise_webhook, seasonal_series, tracking_client, write_csv

pytestmark = pytest.mark.slow
NAME = "air_passengers_lstm"


def test_next_month_scores_the_champion_live_and_summarizes(state, synthetic_csv):
    overrides = {**TINY, "csv_path": str(synthetic_csv)}
    steps.run_all("unit/june", "2005-07-01", overrides)
    later = steps.run_all("unit/december", "2006-01-01", overrides)
    client = tracking_client()
    run = client.get_run(later.mlflow_run_id)
    assert run.data.metrics["champion_live_months"] == 6 and run.data.metrics["champion_live_mape"] > 0
    assert run.data.metrics["months_added"] == 6 and run.data.tags["drift"] == "no", "a steady series"
    summary = later.paths.summary_markdown.read_text()
    assert run.data.tags["mlflow.note.content"] == summary
    assert "6 month(s) new since the last run (2005-06)" in summary and "live: champion v1 on 6 month(s)" in summary
    assert {"summary.md", "summary.json", "monitoring/monitor.json"} <= {
        f.path for folder in (None, "monitoring") for f in client.list_artifacts(run.info.run_id, folder)}
    (part,) = later.paths.root.glob("monitoring/part_*.json")  # its one part
    other = part.with_name("part_other.json")
    other.write_text(json.dumps({**json.loads(part.read_text()), "version": "7"}))
    with pytest.raises(ChampionMovedError, match=r"the champion moved while it was monitored \(parts of v1, v7\)"):
        steps.monitor(later.ctx, [str(part), str(other)])  # the alias moved between two of its parts


def test_months_outside_the_champions_band_raise_an_alert(state, tmp_path, webhook, monkeypatch):
    port, received = webhook
    monkeypatch.setenv("AIRFLOW_CONN_PIPELINE_ALERTS", apprise_webhook(port))
    series = seasonal_series()
    june = steps.run_all("unit/june", "2005-07-01", {**TINY, "csv_path": str(write_csv(tmp_path / "a.csv", series))})
    published = pd.read_csv(june.paths.candidate_forecast)
    assert {"lower_80", "upper_80"} <= set(published.columns) and published["lower_80"].notna().all()
    jumped = series.copy()
    jumped.iloc[-6:] *= 1.6  # every month since June far above anything the champion expected
    later = steps.run_all("unit/december", "2006-01-01",
                          {**TINY, "csv_path": str(write_csv(tmp_path / "b.csv", jumped))})
    band = [body for _, body in received if "outside its" in json.dumps(body)]
    assert band, received
    text = json.dumps(band[0])
    assert "6 of 6 months outside its 80 % interval" in text and "2005-12" in text and band[0]["type"] == "warning"
    run = tracking_client().get_run(later.mlflow_run_id)
    assert run.data.metrics["champion_outside_band_share"] == 1.0
    assert run.data.metrics["champion_outside_band_p"] == pytest.approx(0.2 ** 6)
    assert "6 of 6 months outside its 80 % interval" in later.paths.summary_markdown.read_text()
