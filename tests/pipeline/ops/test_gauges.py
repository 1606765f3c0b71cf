import socket

from pipeline.ops import gauges


def test_gauges_reach_statsd_with_the_airflow_prefix(monkeypatch):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
        server.bind(("127.0.0.1", 0))
        server.settimeout(5)
        monkeypatch.setenv("AIRFLOW__METRICS__STATSD_ON", "True")
        monkeypatch.setenv("AIRFLOW__METRICS__STATSD_HOST", "127.0.0.1")
        monkeypatch.setenv("AIRFLOW__METRICS__STATSD_PORT", str(server.getsockname()[1]))
        monkeypatch.setenv("AIRFLOW__METRICS__STATSD_PREFIX", "af")
        assert gauges.send({"holdout_mape": 3.0812345, "promoted": 1.0}) == 2
        received = {server.recv(512).decode() for _ in range(2)}
    assert received == {"af.pipeline.holdout_mape:3.08123|g", "af.pipeline.promoted:1|g"}


def test_without_statsd_nothing_is_sent(monkeypatch):
    monkeypatch.delenv("AIRFLOW__METRICS__STATSD_ON", raising=False)
    assert gauges.send({"x": 1.0}) == 0
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_ON", "true")
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_HOST", "host.invalid")
    assert gauges.send({"x": 1.0}) == 0, "an unreachable StatsD never fails the run"
