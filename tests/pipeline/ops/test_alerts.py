import json
import socket

from pipeline.ops import alerts, gauges


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


def test_statsd_gauges(monkeypatch):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(5)
        monkeypatch.setenv("AIRFLOW__METRICS__STATSD_ON", "True")
        monkeypatch.setenv("AIRFLOW__METRICS__STATSD_HOST", "127.0.0.1")
        monkeypatch.setenv("AIRFLOW__METRICS__STATSD_PORT", str(sock.getsockname()[1]))
        assert gauges.send({"holdout_mape": 4.25}) == 1
        assert sock.recv(1024) == b"airflow.pipeline.holdout_mape:4.25|g"
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_ON", "False")
    assert gauges.send({"x": 1}) == 0


def test_failure_records_and_notices_carry_a_bounded_escaped_error(state):
    leaked = "KEY=secret\x00" + "PATH=/usr/bin:" * 200  # what a library error could quote from a hostile file
    alerts.record_failure("dag/run-1", "validate", ValueError(leaked))
    recorded = alerts.recorded_failure("dag/run-1")["exception"]
    assert recorded.startswith("ValueError: KEY=secret\\x00PATH") and "\x00" not in recorded
    assert len(recorded) < alerts.MAX_ERROR_CHARS + 60 and recorded.endswith("(cut; the task log has the rest)")
    subject, text = alerts.failure_message({"exception": ValueError(leaked), "task_id": "validate"})
    assert "validate" in subject and len(text) < alerts.MAX_ERROR_CHARS + 200 and "\x00" not in text
