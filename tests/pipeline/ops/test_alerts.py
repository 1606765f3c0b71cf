"""Alerts through Airflow's notifier providers, to a real local SMTP server and a real local webhook receiver, the
connection given as JSON and as a URI."""

import json
from urllib.parse import quote

import pytest

from pipeline.ops import alerts
from tests.conftest import apprise_webhook


def test_an_apprise_connection_posts_the_alert_to_a_webhook(webhook, monkeypatch):
    port, received = webhook
    monkeypatch.setenv("AIRFLOW_CONN_PIPELINE_ALERTS", apprise_webhook(port))
    assert alerts.send("subject", "body", severity="failure") == "apprise"
    assert received == [("/hook", {"version": "1.0", "title": "subject", "message": "body", "attachments": [],
                                   "type": "failure"})]


def test_an_apprise_connection_as_a_uri(webhook, monkeypatch):
    port, received = webhook
    config = quote(json.dumps({"path": f"json://127.0.0.1:{port}/alerts"}))
    monkeypatch.setenv("AIRFLOW_CONN_OPS", f"apprise://?config={config}")
    assert alerts.send("s", "m", conn_id="ops") == "apprise" and received[0][0] == "/alerts"


@pytest.mark.parametrize("form", ["uri", "json"])
def test_an_smtp_connection_reaches_a_real_smtp_server(smtp_server, monkeypatch, form):
    """The recipients and sender come from the connection's extras, also when it is a URI (their query)."""
    port, messages = smtp_server
    extra = {"to": "ops@example.com, planner@example.com", "from_email": "airflow@example.com",
             "disable_ssl": "true", "disable_tls": "true"}  # a local relay: no TLS, so no login either
    conn = (f"smtp://127.0.0.1:{port}?" + "&".join(f"{k}={quote(v)}" for k, v in extra.items())) if form == "uri" \
        else json.dumps({"conn_type": "smtp", "host": "127.0.0.1", "port": port, "extra": extra})
    monkeypatch.setenv("AIRFLOW_CONN_PIPELINE_ALERTS", conn)
    assert alerts.send("[airflow] run failed", "task <fit> failed\nError: x") == "smtp"
    ((recipients, mail),) = messages
    assert recipients == ["ops@example.com", "planner@example.com"] and mail["From"] == "airflow@example.com"
    assert mail["Subject"] == "[airflow] run failed"
    body = next(part for part in mail.walk() if part.get_content_type() == "text/html").get_payload(decode=True)
    assert b"task &lt;fit&gt; failed" in body


def test_without_a_connection_the_message_is_logged(monkeypatch, caplog):
    monkeypatch.delenv("AIRFLOW_CONN_PIPELINE_ALERTS", raising=False)
    assert alerts.send("subject", "body") == "log"
    assert "ALERT subject: body" in caplog.text


def test_an_unreachable_or_unknown_channel_never_raises(monkeypatch, caplog):
    from tests.pipeline.ops.test_faults import free_port

    monkeypatch.setenv("AIRFLOW_CONN_PIPELINE_ALERTS", f"smtp://127.0.0.1:{free_port()}?to=ops%40example.com"
                                                       "&disable_ssl=true&disable_tls=true&retry_limit=0")
    assert alerts.send("s", "m") == "log"
    monkeypatch.setenv("AIRFLOW_CONN_PIPELINE_ALERTS", "http://hooks.example.com/x")  # the old webhook type
    assert alerts.send("s", "m") == "log" and "alerts go through smtp or apprise connections" in caplog.text


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
