"""Short operational messages (failures, missed deadlines, live-performance alerts) to a webhook or SMTP.

The channel is an Airflow connection (default id ``pipeline_alerts``), given like any connection, e.g. as
``AIRFLOW_CONN_PIPELINE_ALERTS='{"conn_type": "http", "host": "hooks.example", "schema": "https", ...}'`` or
``'{"conn_type": "smtp", "host": "smtp.example", "port": 587, "login": ..., "password": ...,
"extra": {"to": "ops@example", "from": "airflow@example"}}'``. With no connection the message is only logged.
"""

from __future__ import annotations

import json
import logging
import os
import smtplib
import ssl
import urllib.request
from email.message import EmailMessage
from typing import Any

from pipeline.config import Config

logger = logging.getLogger(__name__)

CONN_ID = "pipeline_alerts"
MAX_ERROR_CHARS = 600


def _connection(conn_id: str) -> dict[str, Any] | None:
    """The connection as a dict: from ``AIRFLOW_CONN_<ID>`` (JSON or URI) or Airflow's secrets backends."""
    raw = os.environ.get(f"AIRFLOW_CONN_{conn_id.upper()}")
    if raw:
        if raw.lstrip().startswith("{"):
            return json.loads(raw)
        from urllib.parse import urlsplit

        parts = urlsplit(raw)
        return {"conn_type": parts.scheme, "host": parts.hostname, "port": parts.port, "schema": parts.path.lstrip("/"),
                "login": parts.username, "password": parts.password, "extra": {}}
    try:
        from airflow.sdk import BaseHook

        conn = BaseHook.get_connection(conn_id)
    except Exception:
        return None
    return {"conn_type": conn.conn_type, "host": conn.host, "port": conn.port, "schema": conn.schema,
            "login": conn.login, "password": conn.password, "extra": conn.extra_dejson}


def webhook_url(conn: dict[str, Any]) -> str:
    """``http(s)://host[:port]/endpoint`` from an http connection (``extra.endpoint`` or ``schema`` as the path)."""
    host = str(conn.get("host") or "")
    if "://" in host:
        base = host.rstrip("/")
    else:
        # https unless the connection says http (its type or extra.scheme)
        scheme = (conn.get("extra") or {}).get("scheme") or ("http" if conn.get("conn_type") == "http" else "https")
        base = f"{scheme}://{host}" + (f":{conn['port']}" if conn.get("port") else "")
    endpoint = (conn.get("extra") or {}).get("endpoint") or conn.get("schema") or ""
    return f"{base}/{endpoint.lstrip('/')}" if endpoint else base


def _send_mail(conn: dict[str, Any], mail: EmailMessage) -> None:
    """Send through an SMTP connection with verified TLS: implicit TLS on port 465 (or ``extra.ssl``), else STARTTLS
    when the server offers it. Credentials never travel in clear: a login over a connection without TLS is refused.
    The server's certificate is checked against the system's CAs (``extra.ca_file``: a private CA)."""
    extra = conn.get("extra") or {}
    context = ssl.create_default_context(cafile=extra.get("ca_file") or None)
    host, port = str(conn["host"]), int(conn.get("port") or 25)
    if port == 465 or str(extra.get("ssl", "")).lower() == "true":
        client: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=10, context=context)
    else:
        client = smtplib.SMTP(host, port, timeout=10)
    with client as smtp:
        secure = isinstance(smtp, smtplib.SMTP_SSL)
        smtp.ehlo()
        if not secure and smtp.has_extn("starttls"):
            smtp.starttls(context=context)
            smtp.ehlo()
            secure = True
        if conn.get("login"):
            if not secure:
                raise ConnectionError(f"SMTP server {host}:{port} offers no TLS: refusing to send the alert "
                                      "connection's login in clear")
            smtp.login(conn["login"], conn.get("password") or "")
        smtp.send_message(mail)


def send(subject: str, message: str, conn_id: str = CONN_ID) -> str:
    """Send ``message``; returns the channel used ("webhook", "smtp" or "log"). Never raises."""
    logger.warning("ALERT %s: %s", subject, message)
    conn = _connection(conn_id)
    if not conn:
        return "log"
    try:
        kind = str(conn.get("conn_type", "")).lower()
        if kind in ("http", "https", "webhook"):
            body = json.dumps({"text": f"{subject}\n{message}", "subject": subject, "message": message}).encode()
            request = urllib.request.Request(webhook_url(conn), data=body, method="POST",
                                             headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=10):
                return "webhook"
        if kind in ("smtp", "email"):
            extra = conn.get("extra") or {}
            mail = EmailMessage()
            mail["Subject"], mail["From"], mail["To"] = subject, extra.get("from", "airflow@localhost"), extra["to"]
            mail.set_content(message)
            _send_mail(conn, mail)
            return "smtp"
        logger.error("connection %s has unsupported type %r; alert only logged", conn_id, kind)
    except Exception:  # an alert must never hide the failure it reports
        logger.exception("could not send the alert through connection %s; it is only logged", conn_id)
    return "log"


def describe(error: object, limit: int = MAX_ERROR_CHARS) -> str:
    """The error as one bounded line for alerts and failure records: the pipeline's own messages quote input
    only as short escaped excerpts; anything longer (a library's message) is cut and escaped."""
    text = f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else str(error)
    if len(text) > limit or not text.isprintable():
        cut = text[:limit].encode("unicode_escape").decode("ascii")[:limit]
        text = cut + (" … (cut; the task log has the rest)" if len(text) > limit else "")
    return text


def record_failure(run_key: str, task_id: str, error: BaseException) -> None:
    """Keep a failed step's error in the run's work folder, for the run-level failure notice."""
    from pipeline.io import write_json
    from pipeline.workspace import RunPaths

    write_json(RunPaths.of(run_key).failure, {"task_id": task_id, "exception": describe(error)})


def recorded_failure(run_key: str) -> dict[str, Any]:
    """The last error recorded by :func:`record_failure` for this run (empty if none)."""
    from pipeline.io import read_json
    from pipeline.workspace import RunPaths

    path = RunPaths.of(run_key).failure
    return read_json(path) if path.is_file() else {}


def failure_message(context: dict[str, Any]) -> tuple[str, str]:
    """(subject, text) for a failed task or DAG run, from an Airflow callback context."""
    ti = context.get("task_instance") or context.get("ti")
    run = context.get("dag_run")
    dag_id = getattr(run, "dag_id", None) or getattr(ti, "dag_id", "?")
    run_id = getattr(run, "run_id", None) or getattr(ti, "run_id", "?")
    task_id = context.get("task_id") or getattr(ti, "task_id", None) or "?"
    error = describe(context.get("exception") or context.get("reason") or "see the task log")
    log_url = getattr(ti, "log_url", None) or "n/a"
    subject = f"[airflow] {dag_id} failed: {task_id}"
    return subject, f"DAG {dag_id}, run {run_id}, task {task_id} failed.\nError: {error}\nLog: {log_url}"


def deadline_missed(context: dict[str, Any] | None = None, **kwargs: Any) -> None:
    """Deadline callback (Airflow ``SyncCallback``): a month's run has not finished in time."""
    context = context or kwargs.get("context") or {}
    run = context.get("dag_run")
    subject = f"[airflow] {getattr(run, 'dag_id', kwargs.get('dag_id', '?'))} missed its deadline"
    send(subject, f"Run {getattr(run, 'run_id', '?')} has not finished in time ({kwargs.get('limit', 'deadline')}).")


def champion_alerts(live: dict[str, Any] | None, cfg: Config, run_key: str) -> list[tuple[str, str]]:
    """(subject, text) of each alert the champion's live performance calls for: too many months outside its widest
    interval for a calibrated one (binomial p under ``band_alert_p``), or a live MAPE over ``live_mape_alert``."""
    if not live:
        return []
    out = []
    version, band = live.get("version"), live["band"]
    if band and band["p_value"] < cfg.band_alert_p:
        months = "; ".join(f"{m['series']} {m['month']}: {m['value']:g} outside [{m['lower']:.4g}, {m['upper']:.4g}]"
                           for m in band["months"])
        out.append((f"[{cfg.experiment_name}] champion v{version}: {band['outside']} of {band['checked']} months "
                    f"outside its {band['level']} % interval",
                    f"Since {live['trained_to']} ({live['first']}..{live['last']}), {band['outside']} of "
                    f"{band['checked']} actual months ({band['outside_share']:.0%}) fell outside the champion's "
                    f"{band['level']} % prediction interval, where a calibrated interval misses "
                    f"{band['expected_share']:.0%}: that many misses has probability {band['p_value']:.2g} "
                    f"(alert under {cfg.band_alert_p:g}). The series moved away from what the model expects (run "
                    f"{run_key}). Months: {months}."))
    if live["live_mape"] > cfg.live_mape_alert:
        worst = ", ".join(f"{w['series']} {w['live_mape']:.1f}%" for w in live["worst"][:3])
        out.append((f"[{cfg.experiment_name}] champion v{version} live MAPE {live['live_mape']:.1f}%",
                    f"The champion's mean MAPE over {live['series']} series on {live['months']} month(s) since "
                    f"{live['trained_to']} ({live['first']}..{live['last']}) is {live['live_mape']:.2f}%, over the "
                    f"{cfg.live_mape_alert:.1f}% alert threshold (run {run_key}). Worst: {worst}."))
    return out
