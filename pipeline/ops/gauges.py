"""The pipeline's own figures for ops dashboards, sent to the same StatsD as Airflow's metrics.

Configured like Airflow's metrics (``AIRFLOW__METRICS__STATSD_ON``, ``..._STATSD_HOST``, ``..._STATSD_PORT``,
``..._STATSD_PREFIX``); off when StatsD is off. Names: ``<prefix>.pipeline.<name>``.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

logger = logging.getLogger(__name__)


def _target() -> tuple[str, int, str] | None:
    if os.environ.get("AIRFLOW__METRICS__STATSD_ON", "").lower() not in ("true", "1"):
        return None
    return (os.environ.get("AIRFLOW__METRICS__STATSD_HOST", "localhost"),
            int(os.environ.get("AIRFLOW__METRICS__STATSD_PORT", "8125")),
            os.environ.get("AIRFLOW__METRICS__STATSD_PREFIX", "airflow"))


def send(values: Mapping[str, float]) -> int:
    """Send each value as a StatsD gauge; returns how many were sent (0 when StatsD is off). Never raises."""
    target = _target()
    if target is None:
        return 0
    host, port, prefix = target
    lines = [f"{prefix}.pipeline.{name}:{float(value):.6g}|g" for name, value in values.items()]
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for line in lines:
                sock.sendto(line.encode(), (host, port))
    except OSError:
        logger.warning("could not send %d gauge(s) to StatsD at %s:%d", len(lines), host, port)
        return 0
    return len(lines)
