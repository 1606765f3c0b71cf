import json

from pipeline.ops import alerts


def test_webhook_connection_receives_the_message(webhook, monkeypatch):
    port, received = webhook
    monkeypatch.setenv("AIRFLOW_CONN_PIPELINE_ALERTS",
                       json.dumps({"conn_type": "http", "host": "127.0.0.1", "port": port, "schema": "hook"}))
    assert alerts.send("subject", "body") == "webhook"
    assert received == [("/hook", {"text": "subject\nbody", "subject": "subject", "message": "body"})]


def test_uri_connections_work_too(webhook, monkeypatch):
    port, received = webhook
    monkeypatch.setenv("AIRFLOW_CONN_OPS", f"http://127.0.0.1:{port}/alerts")
    assert alerts.send("s", "m", conn_id="ops") == "webhook" and received[0][0] == "/alerts"


def test_without_a_connection_the_message_is_logged(monkeypatch, caplog):
    monkeypatch.delenv("AIRFLOW_CONN_PIPELINE_ALERTS", raising=False)
    assert alerts.send("subject", "body") == "log"
    assert "ALERT subject: body" in caplog.text


def test_an_unreachable_channel_never_raises(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_PIPELINE_ALERTS", "http://127.0.0.1:9/none")
    assert alerts.send("s", "m") == "log"


def test_failure_message_names_task_error_and_log():
    ti = type("TI", (), {"dag_id": "d", "run_id": "r", "task_id": "validate", "log_url": "http://x/log"})()
    subject, text = alerts.failure_message({"task_instance": ti, "exception": ValueError("bad row 7")})
    assert subject == "[airflow] d failed: validate"
    assert "task validate failed" in text and "bad row 7" in text and "http://x/log" in text


def test_failure_records_and_notices_carry_a_bounded_escaped_error(state):
    leaked = "KEY=secret\x00" + "PATH=/usr/bin:" * 200  # what a library error could quote from a hostile file
    alerts.record_failure("dag/run-1", "validate", ValueError(leaked))
    recorded = alerts.recorded_failure("dag/run-1")["exception"]
    assert recorded.startswith("ValueError: KEY=secret\\x00PATH") and "\x00" not in recorded
    assert len(recorded) < alerts.MAX_ERROR_CHARS + 60 and recorded.endswith("(cut; the task log has the rest)")
    subject, text = alerts.failure_message({"exception": ValueError(leaked), "task_id": "validate"})
    assert "validate" in subject and len(text) < alerts.MAX_ERROR_CHARS + 200 and "\x00" not in text


def test_the_champions_alerts_say_what_went_wrong():
    from pipeline.config import load_config

    cfg = load_config()
    band = {"outside": 6, "checked": 6, "outside_share": 1.0, "level": 95, "expected_share": 0.05,
            "p_value": 0.05 ** 6, "months": [{"series": "air", "month": "1960-12", "value": 700.0, "lower": 400.0,
                                              "upper": 500.0}]}
    live = {"version": "3", "trained_to": "1960-06", "first": "1960-07", "last": "1960-12", "months": 6,
            "series": 1, "live_mape": 22.5, "worst": [{"series": "air", "live_mape": 22.5}], "band": band}
    (band_subject, band_text), (mape_subject, mape_text) = alerts.champion_alerts(live, cfg, "dag/run")
    assert band_subject == "[lstm-monthly-retraining] champion v3: 6 of 6 months outside its 95 % interval"
    assert "air 1960-12: 700 outside [400, 500]" in band_text and "(run dag/run)" in band_text
    assert mape_subject == "[lstm-monthly-retraining] champion v3 live MAPE 22.5%"
    assert "over the 15.0% alert threshold" in mape_text and "Worst: air 22.5%" in mape_text
    calm = {**live, "live_mape": 3.0, "band": {**band, "outside": 0, "p_value": 1.0}}
    assert alerts.champion_alerts(calm, cfg, "dag/run") == []
    assert alerts.champion_alerts(None, cfg, "dag/run") == []
