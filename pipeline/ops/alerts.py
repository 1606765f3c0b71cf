"""Short operational messages (failures, missed deadlines, live-performance alerts), sent through Airflow's
notifier providers: the connection (default id ``pipeline_alerts``) says which, by its type.

- ``smtp``: the SMTP provider's ``SmtpNotifier``; the recipients are the connection's ``to`` extra (comma-separated),
  the sender its ``from_email``. Given as JSON or as a URI, extras in the query:
  ``AIRFLOW_CONN_PIPELINE_ALERTS='smtp://user:pass@smtp.example:465?to=ops%40example.com&from_email=airflow%40example.com'``
  (implicit TLS; ``disable_ssl=true`` for STARTTLS on 587). A login is only ever sent over verified TLS: a connection
  that turns both off, or turns off the certificate check, while it has a login is refused.
- ``apprise``: the Apprise provider's ``AppriseNotifier``: Slack, Teams, Discord, a JSON webhook and many more, by
  the URL in the connection's ``config`` extra, e.g. ``{"conn_type": "apprise", "extra": {"config": {"path":
  "slack://T000/B000/XXXX"}}}`` (``json://host:port/path`` posts the message as JSON).

Without a connection the message is only logged; a message that cannot be sent is logged, never raised.
"""

from __future__ import annotations

import html
import logging
from typing import TYPE_CHECKING, Any

from pipeline.config import Config

if TYPE_CHECKING:
    from airflow.sdk import Connection

logger = logging.getLogger(__name__)

CONN_ID = "pipeline_alerts"
MAX_ERROR_CHARS = 600


def _connection(conn_id: str) -> Connection | None:
    """The connection, as Airflow resolves it (``AIRFLOW_CONN_<ID>`` as JSON or URI, a secrets backend, the
    metadata database); None when there is none."""
    from airflow.sdk import BaseHook

    try:
        return BaseHook.get_connection(conn_id)
    except Exception as exc:  # not defined (or no way to look it up here): the alert is logged
        logger.info("no alert connection %s (%s): alerts are only logged", conn_id, type(exc).__name__)
        return None


def clear_login(conn: Connection) -> str | None:
    """Why an SMTP connection would send its login without verified TLS (None: it would not)."""
    extra = conn.extra_dejson
    if not conn.login:
        return None
    # as the SMTP provider reads them: any value but an empty one turns SSL or STARTTLS off ("false" too)
    if bool(extra.get("disable_ssl", False)) and bool(extra.get("disable_tls", False)):
        return "it turns off both SSL and STARTTLS"
    if str(extra.get("ssl_context", "")).lower() == "none":
        return "it turns off the certificate check (ssl_context none)"
    return None


def send(subject: str, message: str, conn_id: str = CONN_ID, severity: str = "warning") -> str:
    """Send ``message`` through the connection's notifier; returns the channel used ("smtp", "apprise" or "log").
    Never raises: an alert must not hide the failure it reports."""
    logger.warning("ALERT %s: %s", subject, message)
    conn = _connection(conn_id)
    if conn is None:
        return "log"
    try:
        kind = str(conn.conn_type or "").lower()
        if kind in ("smtp", "email"):
            from airflow.providers.smtp.notifications.smtp import SmtpNotifier

            why = clear_login(conn)
            if why:
                raise ConnectionError(f"connection {conn_id} has a login but {why}: refusing to send it in clear")
            recipients = [to.strip() for to in str(conn.extra_dejson.get("to") or "").split(",") if to.strip()]
            if not recipients:
                raise ValueError(f"connection {conn_id} names no recipient (its 'to' extra)")
            SmtpNotifier(to=recipients, from_email=conn.extra_dejson.get("from_email") or "airflow@localhost",
                         subject=subject, html_content=f"<pre>{html.escape(message)}</pre>",
                         smtp_conn_id=conn_id).notify({})
            return "smtp"
        if kind == "apprise":
            from airflow.providers.apprise.notifications.apprise import AppriseNotifier
            from apprise import NotifyType

            AppriseNotifier(body=message, title=subject, notify_type=NotifyType(severity),
                            apprise_conn_id=conn_id).notify({})
            return "apprise"
        logger.error("connection %s is of type %r: alerts go through smtp or apprise connections; this one is only "
                     "logged", conn_id, kind)
    except Exception:
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
    send(subject, f"Run {getattr(run, 'run_id', '?')} has not finished in time ({kwargs.get('limit', 'deadline')}).",
         severity="failure")


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
